"""The chart pictures drawn by Skia (reports.raster): shapes where the SVG puts them, text placed by its anchor and
spans, a halo under map labels, a valid PNG, and resvg for whatever SVG this renderer does not draw.

Pictures are decoded with Skia's own PNG decoder (libpng), not with the code under test. Expected pixels are worked
out from the SVG by hand: zoom 1.5 maps user unit u to pixels [1.5u, 1.5(u+1))."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import resvg_py
import skia

from reports import pictures, raster
from reports.raster import Unsupported

FONT = "font-family=\"Arial, 'Liberation Sans', sans-serif\""


def svg(body: str, width: int = 40, height: int = 20, extra: str = "") -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" {FONT} font-size="10" fill="#1d2733"{extra}>{body}</svg>'
    )


def pixels(png: bytes) -> np.ndarray:
    image = skia.Image.MakeFromEncoded(skia.Data.MakeWithCopy(png))
    assert image is not None, "not a PNG libpng reads"
    return image.toarray(colorType=skia.kRGBA_8888_ColorType)[:, :, :3].astype(int)


def ink_columns(image: np.ndarray) -> np.ndarray:
    """The columns where something is drawn on the white canvas."""
    return np.flatnonzero((image < 200).any(axis=(0, 2)))


def test_shapes_are_drawn_where_the_svg_puts_them_at_the_zoom():
    png = raster.svg_to_png(svg('<rect x="10" y="4" width="10" height="12" fill="#2171b5"/>'), 1.5)
    image = pixels(png)
    assert image.shape == (30, 60, 3)  # 40 x 20 at 1.5
    assert image[15, 22].tolist() == [0x21, 0x71, 0xB5]  # inside the rect: pixels 15-29 by 6-23
    assert image[15, 14].tolist() == [255, 255, 255]  # left of it, on the white canvas
    assert image[3, 22].tolist() == [255, 255, 255]  # above it


def test_the_png_is_8_bit_rgba_with_unfiltered_rows_in_a_standard_zlib_stream():
    png = raster.svg_to_png(svg('<rect x="0" y="0" width="40" height="20" fill="#ff0000"/>'), 1.0)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", png[8:16])
    width, height, depth, colour, _, _, _ = struct.unpack(">IIBBBBB", png[16 : 16 + length])
    assert (kind, width, height, depth, colour) == (b"IHDR", 40, 20, 8, 6)
    idat = png.index(b"IDAT")
    size = struct.unpack(">I", png[idat - 4 : idat])[0]
    assert struct.unpack(">I", png[idat + 4 + size : idat + 8 + size])[0] == zlib.crc32(png[idat : idat + 4 + size])
    rows = zlib.decompress(png[idat + 4 : idat + 4 + size])  # the standard library's zlib reads ISA-L's stream
    assert len(rows) == 20 * (1 + 40 * 4)
    assert rows[: 1 + 8] == b"\x00\xff\x00\x00\xff\xff\x00\x00\xff"  # filter byte 0, then opaque red pixels
    assert rows[1 + 40 * 4] == 0  # the second row's filter byte


def test_red_green_and_blue_are_not_swapped():
    # a shape over another at half opacity: 0x21 * 0.5 + 0xff * 0.5 = 0x90 (144), whatever the channel order
    body = '<rect width="40" height="20" fill="#ffffff"/><rect width="40" height="20" fill="#2171b5" opacity="0.5"/>'
    drawn = pixels(raster.svg_to_png(svg(body), 1.0))
    assert np.abs(drawn[10, 20] - [0x90, 0xB8, 0xDA]).max() <= 1


def test_a_thin_line_has_its_stroke_colour_not_a_dark_hairline():
    # y 9.7-10.3 covers 45 % of pixel rows 14 and 15: 255 - 0.45 * (255 - 217) = 238 on the red channel
    image = pixels(
        raster.svg_to_png(svg('<line x1="0" x2="40" y1="10" y2="10" stroke="#d9dee4" stroke-width="0.6"/>'), 1.5)
    )
    assert abs(image[14, 20, 0] - 238) <= 2 and abs(image[15, 20, 0] - 238) <= 2
    assert image[13, 20, 0] == 255 and image[16, 20, 0] == 255


@pytest.mark.parametrize(("anchor", "low", "high"), [("start", 75, 80), ("middle", None, None), ("end", 70, 75)])
def test_text_is_placed_by_its_anchor(anchor, low, high):
    image = pixels(raster.svg_to_png(svg(f'<text x="50" y="15" text-anchor="{anchor}">HHH</text>', 100, 20), 1.5))
    ink = ink_columns(image)
    assert len(ink), "no text drawn"
    if anchor == "start":  # the first H's stem starts just after x = 50, pixel 75
        assert low <= ink.min() <= high
    elif anchor == "end":  # the last H's stem ends just before x = 50
        assert low <= ink.max() <= high
    else:  # three H are symmetric about their middle
        assert abs((ink.min() + ink.max()) / 2 - 75) <= 1.5


def test_a_span_dx_moves_the_text_after_it():
    plain = ink_columns(pixels(raster.svg_to_png(svg('<text x="2" y="15">H<tspan>H</tspan></text>', 100, 20), 1.5)))
    moved = ink_columns(
        pixels(raster.svg_to_png(svg('<text x="2" y="15">H<tspan dx="20">H</tspan></text>', 100, 20), 1.5))
    )
    assert plain.min() == moved.min()  # the first H stays
    assert moved.max() - plain.max() == pytest.approx(30, abs=1)  # 20 units at 1.5


def test_spans_with_x_and_dy_are_lines_of_their_own():
    image = pixels(
        raster.svg_to_png(
            svg('<text x="5" y="12"><tspan x="5">HH</tspan><tspan x="5" dy="15">HH</tspan></text>', 60, 40), 1.5
        )
    )
    rows = np.flatnonzero((image < 200).any(axis=(1, 2)))
    # two lines of capitals: baselines at 12 and 27 (pixels 18 and 40.5), cap height about 7 units
    assert rows.min() >= 18 - 12 and rows.max() <= 41
    assert not (image[20:28] < 200).any(), "a gap between the two lines"
    first = ink_columns(image[:20])
    second = ink_columns(image[28:])
    assert first.min() == second.min()  # both start at x = 5


def test_shapes_take_their_colours_in_each_spelling_read_here():
    body = (
        '<defs><pattern id="p" width="4" height="4" patternUnits="userSpaceOnUse">'
        '<rect width="4" height="4" fill="#00ff00"/></pattern></defs>'
        '<rect x="0" y="0" width="10" height="10" fill="#f00"/>'
        '<g fill="#0000ff"><rect x="10" y="0" width="10" height="10"/></g>'
        "<rect x='20' y='0' width='10' height='10' fill='url(#p)'/>"
        '<rect x="30" y="0" width="10" height="10" color="#ff0000" fill="currentColor"/>'
        '<rect x="1" y="11" width="8" height="8" fill="#ffffff" stroke="#0000ff" stroke-width="2"/>'
        '<rect x="10" y="10" width="10" height="10" fill="black"/>'
    )
    image = pixels(raster.svg_to_png(svg(body), 1.0))
    assert image[5, 5].tolist() == [255, 0, 0]
    assert image[5, 15].tolist() == [0, 0, 255]  # the group's fill
    assert image[5, 25].tolist() == [0, 255, 0]  # the pattern's
    assert image[5, 35].tolist() == [255, 0, 0]  # its colour
    assert image[11, 5].tolist() == [0, 0, 255] and image[15, 5].tolist() == [255, 255, 255]  # stroke, fill
    assert image[15, 15].tolist() == [0, 0, 0]


@pytest.mark.parametrize(
    "shape",
    [
        '<rect width="9" height="9" fill="red"/>',
        "<rect width='9' height='9' fill='rgb(255, 0, 0)'/>",
        '<rect width="9" height="9" stroke=" #ff0000"/>',
        '<rect width="9" height="9" fill="url(#p) #ff0000"/>',
        '<rect width="9" height="9" color="hsl(0, 100%, 50%)" fill="currentColor"/>',
    ],
)
def test_a_shape_s_colour_in_a_spelling_not_read_here_is_refused(shape):
    with pytest.raises(Unsupported, match="colour"):
        raster.svg_to_png(svg(shape), 1.5)


def test_the_halo_is_drawn_under_the_letters_with_paint_order_stroke():
    def red_pixels(order: str) -> int:
        text = f'<text x="2" y="30" font-size="30" fill="#ff0000" stroke="#0000ff" stroke-width="3"{order}>Il</text>'
        image = pixels(raster.svg_to_png(svg(text, 60, 40), 1.5))
        return int(((image[:, :, 0] > 200) & (image[:, :, 2] < 60)).sum())

    # the fill on top of the stroke shows the whole letter; under it, the stroke hides its edges
    assert red_pixels(' paint-order="stroke"') > 1.5 * red_pixels("")


def test_text_takes_the_style_of_the_groups_around_it_and_each_text_its_own_colour():
    body = (
        '<g fill="#ff0000" font-size="30"><g><text x="2" y="30">I</text></g></g>'
        '<text x="40" y="30" font-size="30" fill="#0000ff">I</text>'
    )
    assert_a_red_i_then_a_blue_one(pixels(raster.svg_to_png(svg(body, 60, 40), 1.5)))


def assert_a_red_i_then_a_blue_one(image) -> None:
    """A red capital I left of x = 30 (45 pixels) and a blue one right of it, both 30 units tall."""
    red = (image[:, :, 0] > 200) & (image[:, :, 1] < 60) & (image[:, :, 2] < 60)
    blue = (image[:, :, 2] > 200) & (image[:, :, 0] < 60) & (image[:, :, 1] < 60)
    # a 30-unit capital I of Liberation Sans: a stem 0.72 em tall (32 pixels) and 0.095 em wide (4.3 pixels), so 3
    # or 4 columns of pixels wholly in its colour
    assert 32 * 3 <= red.sum() <= 33 * 5 and 32 * 3 <= blue.sum() <= 33 * 5
    assert red[:, :45].sum() == red.sum() and blue[:, 45:].sum() == blue.sum()


def test_the_same_label_at_another_place_is_drawn_there_with_the_same_pixels():
    chart = svg('<text x="2" y="15">HHH</text><text x="62" y="25">HHH</text>', 120, 40)
    image = pixels(raster.svg_to_png(chart, 1.5))
    # 60 units right and 10 down at 1.5: 90 and 15 pixels, whole pixels, so the same anti-aliasing
    first, second = image[0:30, 0:60], image[15:45, 90:150]
    assert (first < 200).any(), "no text drawn"
    assert np.array_equal(first, second)


def test_the_same_label_in_groups_of_other_colours_takes_each_group_s_colour():
    body = (
        '<g fill="#ff0000" font-size="30"><text x="2" y="30">I</text></g>'
        '<g fill="#0000ff" font-size="30"><text x="40" y="30">I</text></g>'
    )
    assert_a_red_i_then_a_blue_one(pixels(raster.svg_to_png(svg(body, 60, 40), 1.5)))


def test_the_same_letters_at_another_size_are_drawn_at_that_size():
    def ink_width(size: int) -> int:
        ink = ink_columns(
            pixels(raster.svg_to_png(svg(f'<text x="2" y="30" font-size="{size}">HHH</text>', 120, 40), 1.5))
        )
        return int(ink.max() - ink.min() + 1)

    small, large = ink_width(10), ink_width(20)  # drawn one after the other: outlines kept from the first
    assert large == pytest.approx(2 * small, abs=3)


def test_a_map_drawn_with_use_elements_is_filled():
    body = (
        '<defs><path id="c-1" d="M0 0h20v20h-20z"/></defs>'
        '<g stroke="#ffffff" stroke-width="0.8"><use href="#c-1" fill="#08519c" data-code="1"/></g>'
        '<text x="10" y="14" text-anchor="middle" fill="#ffffff" stroke="#1d2733" stroke-width="3" '
        'paint-order="stroke">1</text>'
    )
    image = pixels(raster.svg_to_png(svg(body), 1.5))
    assert image[3, 3].tolist() == [0x08, 0x51, 0x9C]


@pytest.mark.parametrize(
    "body",
    [
        '<text x="1" y="10" transform="rotate(-90)">a</text>',
        '<g opacity="0.5"><text x="1" y="10">a</text></g>',
        '<style>text { fill: red }</style><text x="1" y="10">a</text>',
        '<text x="1 2 3" y="10">abc</text>',
        '<text x="1" y="10" fill="rgb(1, 2, 3)">a</text>',
        '<text x="1" y="10" font-size="1em">a</text>',
        '<text x="1" y="10"><textPath href="#p">a</textPath></text>',
        '<text x="1" y="10" dominant-baseline="middle">a</text>',
        '<a href="#x"><text x="1" y="10">a</text></a>',
        '<a href="#x"><g><text x="1" y="10">a</text></g></a>',  # a group, but in a link
        '<defs><g id="t"><text x="1" y="10">a</text></g></defs>',
        '<g><g transform="scale(2)"><text x="1" y="10">a</text></g></g>',
    ],
)
def test_svg_outside_what_this_renderer_draws_is_refused(body):
    with pytest.raises(Unsupported):
        raster.svg_to_png(svg(body), 1.5)


def test_a_refused_chart_is_drawn_by_resvg():
    chart = svg('<text x="1" y="10" transform="rotate(-10)">Rotation</text>')
    assert pictures.svg_to_png(chart) == bytes(
        resvg_py.svg_to_bytes(svg_string=chart, zoom=pictures.ZOOM, background="#ffffff")
    )


def test_a_chart_within_the_subset_is_drawn_by_skia():
    chart = svg('<text x="1" y="10">Lisible</text>')
    assert pictures.svg_to_png(chart) == raster.svg_to_png(chart, pictures.ZOOM)


@pytest.mark.parametrize(
    "chart",
    [
        svg('<filter id="f"><feGaussianBlur stdDeviation="2"/></filter><rect width="9" height="9" filter="url(#f)"/>'),
        svg('<foreignObject width="9" height="9"><p xmlns="http://www.w3.org/1999/xhtml">a</p></foreignObject>'),
        svg('<rect width="9" height="9"/>').replace('width="40"', 'width="80"', 1),  # stretched: SVG would centre it
    ],
)
def test_shapes_outside_the_charts_elements_or_a_stretched_viewbox_are_refused(chart):
    with pytest.raises(Unsupported):
        raster.svg_to_png(chart, 1.5)


def test_a_character_no_installed_font_has_is_refused_rather_than_drawn_as_a_box():
    with pytest.raises(Unsupported, match="no font"):
        raster.svg_to_png(svg('<text x="1" y="10">a\U0010fffd</text>'), 1.5)


HALO = 'fill="#ffffff" stroke="#1d2733" stroke-width="3" stroke-linejoin="round" paint-order="stroke"'
LABELS = f'<text x="2" y="15">HHH</text><text x="30" y="30" font-size="14" {HALO}>Lille 12,5 %</text>'


class CountedRuns(raster.DrawnRuns):
    """The memo of drawn runs, counting its replays."""

    def __init__(self, budget: int):
        super().__init__(budget)
        self.replays = 0

    def replay(self, key, before):
        after = super().replay(key, before)
        self.replays += after is not None
        return after


@pytest.fixture
def runs(monkeypatch) -> CountedRuns:
    memo = CountedRuns(1 << 20)
    monkeypatch.setattr(raster, "DRAWN_RUNS", memo)
    return memo


def test_runs_drawn_again_at_the_same_places_over_the_same_pixels_are_replayed_with_the_same_pixels(runs):
    chart = svg(f'<rect x="20" y="20" width="60" height="15" fill="#9ecae1"/>{LABELS}', 120, 40)
    drawn = raster.svg_to_png(chart, 1.5)
    assert runs.replays == 0
    assert raster.svg_to_png(chart, 1.5) == drawn  # the halo too: nothing of it left out of the replayed pixels
    assert runs.replays == 2


def test_a_run_drawn_before_over_other_pixels_is_drawn_anew(runs, monkeypatch):
    on_white = svg(LABELS, 120, 40)
    on_red = svg(f'<rect width="120" height="40" fill="#ff0000"/>{LABELS}', 120, 40)
    raster.svg_to_png(on_white, 1.5)
    assert runs.replays == 0
    warm = raster.svg_to_png(on_red, 1.5)
    assert runs.replays == 0
    assert raster.svg_to_png(on_red, 1.5) == warm and runs.replays == 0  # now drawn each time
    monkeypatch.setattr(raster, "DRAWN_RUNS", raster.DrawnRuns(1 << 20))
    assert warm == raster.svg_to_png(on_red, 1.5)  # as drawn by a process that never drew them on white
    image = pixels(warm)
    assert image[0, 0].tolist() == [255, 0, 0]
    assert (image[15:23, 0:60] == [255, 0, 0]).all(axis=2).any(), "red between the letters of HHH"


def test_the_same_run_elsewhere_or_at_another_zoom_is_drawn_anew(runs):
    raster.svg_to_png(svg('<text x="2" y="15">HHH</text>', 120, 40), 1.5)
    raster.svg_to_png(svg('<text x="3" y="15">HHH</text>', 120, 40), 1.5)
    raster.svg_to_png(svg('<text x="2" y="15">HHH</text>', 120, 40), 2.0)
    assert runs.replays == 0


def test_the_same_run_in_a_picture_of_another_size_is_replayed_unless_the_picture_s_edge_cuts_it(runs, monkeypatch):
    raster.svg_to_png(svg('<text x="2" y="15">HHH</text>', 120, 40), 1.5)
    smaller = svg('<text x="2" y="15">HHH</text>', 100, 30)
    replayed = raster.svg_to_png(smaller, 1.5)
    assert runs.replays == 1
    # three 10-unit capitals H are about 22 units wide from x = 2: pictures 12 and 14 units wide cut them
    raster.svg_to_png(svg('<text x="2" y="15">HHH</text>', 12, 40), 1.5)
    raster.svg_to_png(svg('<text x="2" y="15">HHH</text>', 14, 40), 1.5)
    assert runs.replays == 1
    monkeypatch.setattr(raster, "DRAWN_RUNS", raster.DrawnRuns(1 << 20))
    assert raster.svg_to_png(smaller, 1.5) == replayed  # as drawn by a process that never drew it before


@pytest.fixture
def shifted(monkeypatch, runs) -> list[bool]:
    """Fresh memos of drawn runs; the outcomes of the picture's looks for a run drawn whole pixels away."""
    monkeypatch.setattr(raster, "SHIFTED_RUNS", raster.ShiftedRuns(1 << 20))
    outcomes: list[bool] = []
    replay = raster.TextPainter._replay_shifted

    def counted(painter, key, origin):
        outcomes.append(replay(painter, key, origin))
        return outcomes[-1]

    monkeypatch.setattr(raster.TextPainter, "_replay_shifted", counted)
    return outcomes


def drawn_by_skia(chart: str, monkeypatch) -> bytes:
    """`chart` drawn with every run's outlines filled by Skia (no memo of drawn runs)."""
    with monkeypatch.context() as patched:
        patched.setattr(raster, "DRAWN_RUNS", raster.DrawnRuns(0))
        patched.setattr(raster.TextPainter, "_replay_shifted", lambda painter, key, origin: False)
        return raster.svg_to_png(chart, 1.5)


def test_a_run_drawn_whole_pixels_away_on_white_gets_the_pixels_skia_draws_there(shifted, monkeypatch):
    # 60 units right and 10 down at 1.5: 90 and 15 pixels; every point of the outlines lands on a 2 ** -12 grid
    chart = svg('<text x="2" y="15">Hé 8,4</text><text x="62" y="25">Hé 8,4</text>', 120, 40)
    drawn = raster.svg_to_png(chart, 1.5)
    assert shifted == [False, True]  # nothing to find for the first
    assert drawn == drawn_by_skia(chart, monkeypatch)


@pytest.mark.parametrize(
    "second",
    [
        '<text x="62.5" y="25">Hé 8,4</text>',  # 93.75 pixels: not whole pixels away
        '<rect x="60" y="16" width="30" height="12" fill="#9ecae1"/><text x="62" y="25">Hé 8,4</text>',  # not on white
        '<text x="110" y="25">Hé 8,4</text>',  # cut by the picture's edge
    ],
)
def test_a_run_elsewhere_than_whole_pixels_away_on_white_inside_the_picture_is_drawn_by_skia(
    second, shifted, monkeypatch
):
    chart = svg(f'<text x="2" y="15">Hé 8,4</text>{second}', 120, 40)
    drawn = raster.svg_to_png(chart, 1.5)
    assert True not in shifted
    assert drawn == drawn_by_skia(chart, monkeypatch)


def test_a_run_with_a_halo_whole_pixels_away_is_drawn_by_skia(shifted, monkeypatch):
    # the halo's stroke is an outline Skia works out in float32 from the run's: its points are off the exact grid
    chart = svg(f'<text x="2" y="15" {HALO}>Hé 8,4</text><text x="62" y="25" {HALO}>Hé 8,4</text>', 120, 40)
    drawn = raster.svg_to_png(chart, 1.5)
    assert shifted == []
    assert drawn == drawn_by_skia(chart, monkeypatch)


def test_a_place_off_the_grid_of_float32_sums_has_no_exact_translation():
    grid = raster.Grid(11, 30.0)  # points on a 2 ** -11 grid, within ±30 units
    # 1.5 * 2 = 3 exactly; the points then on a 2 ** -12 grid within ±48 pixels: 6 + 12 bits
    assert raster._exact_move(1.5, 0.0, 2.0, grid) == 3.0
    assert raster._exact_move(1.5, 0.25, 2.0, grid) == 3.25
    # 2.1 as a float32 is 4404019 / 2 ** 21, times 1.5 on a 2 ** -22 grid: with points beyond ±32 pixels, 28 bits
    assert raster._exact_move(1.5, 0.0, 2.0999999046325684, grid) is None
    assert raster._fits_float32(12, 2047.5)  # below 2 ** 11: 11 + 12 bits
    assert not raster._fits_float32(13, 4095.0)  # below 2 ** 12: 12 + 13 bits
    assert raster._fraction_bits(3.25) == 2 and raster._fraction_bits(7.0) == 0


def test_drawn_runs_beyond_the_budget_are_forgotten_least_recently_replayed_first():
    memo = raster.DrawnRuns(100)
    after = np.zeros(20, np.uint8)
    memo.keep("a", b"\x00" * 20, after.copy())  # 20 bytes before, 20 after: 40
    memo.keep("b", b"\x00" * 20, after.copy())  # 80
    assert memo.replay("a", b"\x00" * 20) is not None  # "b" is now the least recently replayed
    memo.keep("c", b"\x00" * 20, after.copy())  # 120: "b" goes, 80 left
    assert memo.replay("b", b"\x00" * 20) is None
    assert memo.replay("a", b"\x00" * 20) is not None and memo.replay("c", b"\x00" * 20) is not None
    memo.keep("white", b"\xff" * 20, after.copy())  # white pixels before are kept without their bytes: 100
    assert memo.size == 100
    assert memo.replay("white", b"\xff" * 20) is not None


def test_a_run_found_over_other_pixels_is_drawn_without_copies_from_then_on():
    memo = raster.DrawnRuns(1000)
    assert memo.known("a") is raster.UNKNOWN
    memo.keep("a", b"\x00" * 20, np.zeros(20, np.uint8))
    assert memo.size == 40 and memo.known("a") not in (raster.UNKNOWN, raster.CHANGING)
    assert memo.replay("a", b"\x00" * 19 + b"\x01") is None  # other pixels before
    assert memo.known("a") is raster.CHANGING and memo.size == raster.CHANGING_SIZE  # its pixels forgotten
    assert memo.replay("a", b"\x00" * 20) is None  # not even over its first pixels
    memo.keep("a", b"\x00" * 20, np.zeros(20, np.uint8))
    assert memo.known("a") is raster.CHANGING and memo.size == raster.CHANGING_SIZE


@pytest.mark.parametrize("size", [0, 40, (1 << 20) + 4])  # within the kept white prefix, and beyond it
def test_pixels_are_white_only_when_every_byte_is_255(size):
    assert raster._white(b"\xff" * size)
    if size:
        assert not raster._white(b"\xff" * (size - 1) + b"\xfe")
        assert not raster._white(b"\x00" + b"\xff" * (size - 1))
