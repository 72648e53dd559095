"""The frames of tables (`reports.tables.frame_html`) depend only on the shape of their rows: filled with the names
of groups and places (`row_texts`), they are the HTML great-tables gives for the same table drawn with those names,
byte for byte; and they are kept between commands in the user's cache folder."""

from __future__ import annotations

import subprocess
import sys
from html import escape
from pathlib import Path

import polars as pl
import pytest

from reports import tables as T
from reports.sections.needs_matrix import MATRIX_LAYOUT

TITLE, SUBTITLE, NOTE = 'Titre & <co> "l\'a"', "Sous-titre", "Source : <b>Insee</b>"
TRICKY = ["Saint-Étienne & <Loire>", 'Le "Bourg"', "L'Île-d'Elle", "\u00a0Vix\u00a0", "  Benet  ", "Benet"]


def _gt_html(table_id: str, groups: list[str], places: list[str], columns: list[str], layout: T.FrameLayout) -> str:
    """The table drawn by great-tables itself, with the names of groups and places, one text cell a column."""
    from great_tables import GT, html

    data = {"groupe": groups, "lieu": places} | {
        c: [f"v{r}_{k}" for r in range(len(places))] for k, c in enumerate(columns)
    }
    width = T._column_width(len(columns), layout.stub_percent)
    gt = (
        GT(pl.DataFrame(data), rowname_col="lieu", groupname_col="groupe", id=table_id)
        .tab_header(title=TITLE, subtitle=SUBTITLE)
        .cols_label({c: html(f"<em>{c}</em>") for c in columns})
        .cols_align(layout.align, columns=columns)
        .cols_width({"lieu": f"{layout.stub_percent}%", **{c: width for c in columns}})
        .tab_source_note(html(NOTE))
        .pipe(T.house_style)
    )
    return gt.as_raw_html()


def _filled(table_id: str, groups: list[str], places: list[str], columns: list[str], layout: T.FrameLayout) -> str:
    """The same table from the frame of its shape, filled."""
    frame = T.frame_html(T.row_shape(tuple(groups)), len(columns), layout)
    texts = {"i": table_id, "t": escape(TITLE), "s": escape(SUBTITLE), "n": NOTE}
    texts |= {f"h{k}": f"<em>{c}</em>" for k, c in enumerate(columns)} | {f"k{k}": c for k, c in enumerate(columns)}
    texts |= T.row_texts(table_id, tuple(columns), tuple(groups), tuple(places))
    return T.fill_frame(frame, texts, lambda r, k: f"v{r}_{k}", lambda r, k: None)


@pytest.fixture(autouse=True)
def frame_cache(tmp_path, monkeypatch):
    """A cache folder of the test's own, and no frame kept in the process before or after."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    caches = (T._frame_folder, T._one_column_frame, T.frame_html)
    for c in caches:
        c.cache_clear()
    yield tmp_path / "xdg"
    for c in caches:
        c.cache_clear()


CASES = {
    "tricky names, 1 column": (["Communes"] * 4 + ["Territoire", "Références"], TRICKY, ["population"]),
    "groups with tricky names, a group of one place, 3 columns": (
        ["Réf & <x> \"y\" 'z'", "Réf & <x> \"y\" 'z'", "\u00a0Été ", "  Benet  "],
        ["a", "b", "c", "Benet"],
        ["population", "taux_pauvrete", "foyers_rsa"],
    ),
    # `&&` leaves nothing for an id: « group », then « group-2 » for the group named so; a group named as a
    # column, the title or a row's id takes their ids' next number
    "groups whose ids are taken, 8 columns": (
        ["&&", "group", "title", "population", "stub-6", "stub-6"],
        ["a", "b", "c", "d", "e", "f"],
        ["population", "c2", "c3", "c4", "c5", "c6", "c7", "c8"],
    ),
    # great-tables draws a group's rows together, in the order the groups first appear
    "a group in two runs of rows": (["A", "B", "A", "C"], ["a1", "b1", "a2", "c1"], ["x", "y"]),
}


@pytest.mark.parametrize("layout", [T.THEME_LAYOUT, MATRIX_LAYOUT], ids=["theme", "matrix"])
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_filled_frame_is_great_tables_own_table(case, layout):
    groups, places, columns = CASES[case]
    assert _filled("tableau-x-1", groups, places, columns, layout) == _gt_html(
        "tableau-x-1", groups, places, columns, layout
    )


def test_the_ids_great_tables_derives_from_names():
    groups, places, columns = CASES["groups whose ids are taken, 8 columns"]
    html = _filled("t", groups, places, columns, T.THEME_LAYOUT)
    for heading in ("t-group", "t-group-2", "t-title-2", "t-population-2", "t-stub-6"):
        assert f'scope="colgroup" id="{heading}">' in html
    # the sixth row comes after the group named « stub-6 »: its id is the next one
    assert 'id="t-stub-6-2" class="gt_row gt_left gt_stub">f</th>' in html
    assert 'headers="t-stub-6 t-stub-6-2 t-c8"' in html
    tricky = _filled("t", *CASES["tricky names, 1 column"], T.THEME_LAYOUT)
    assert 'id="t-stub-1" class="gt_row gt_left gt_stub">Saint-Étienne &amp; &lt;Loire&gt;</th>' in tricky
    assert ">Le &quot;Bourg&quot;</th>" in tricky and ">L&#x27;Île-d&#x27;Elle</th>" in tricky
    assert ">\u00a0Vix\u00a0</th>" in tricky and ">  Benet  </th>" in tricky


def test_one_frame_serves_every_table_of_the_same_shape():
    T.frame_html(T.row_shape(("Communes", "Communes", "Références")), 2, T.THEME_LAYOUT)
    before = T.frame_html.cache_info().misses
    a = _filled("t", ["Communes", "Communes", "Références"], ["a", "b", "France"], ["x", "y"], T.THEME_LAYOUT)
    b = _filled("t", ["Intercommunalités"] * 2 + ["Territoire"], ["c", "d", "Gironde"], ["x", "y"], T.THEME_LAYOUT)
    assert T.frame_html.cache_info().misses == before
    assert ">Références</th>" in a and ">Territoire</th>" in b and "Références" not in b


def test_a_name_holding_a_marker_or_an_empty_group_is_refused():
    with pytest.raises(ValueError, match="gtmark"):
        _filled("t", ["A"], [f"x{T.MARK}y"], ["x"], T.THEME_LAYOUT)
    with pytest.raises(ValueError, match="no name"):
        _filled("t", [""], ["a"], ["x"], T.THEME_LAYOUT)


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("abs-diag/gt-frames-*/*.html"))


def test_a_frame_drawn_once_is_read_from_the_cache_folder(frame_cache, monkeypatch):
    shape = T.row_shape(("A", "A", "B"))
    drawn = T.frame_html(shape, 3)
    (entry,) = _entries(frame_cache)
    from importlib.metadata import version

    assert entry.parent.name.startswith(f"gt-frames-{version('great-tables')}-")
    T._one_column_frame.cache_clear()
    T.frame_html.cache_clear()
    monkeypatch.setattr(T, "_drawn_frame", lambda *a: pytest.fail("drawn again"))
    assert T.frame_html(shape, 3) == drawn


def test_a_damaged_entry_is_drawn_again_and_replaced(frame_cache):
    shape = T.row_shape(("A", "A", "B"))
    drawn = T._one_column_frame(shape, T.THEME_LAYOUT)
    (entry,) = _entries(frame_cache)
    kept = entry.read_text(encoding="utf-8")
    for damaged in (kept[: len(kept) // 2], kept.replace("gt_table", "gt_tablx"), b"\xff\xfe"):
        if isinstance(damaged, bytes):
            entry.write_bytes(damaged)
        else:
            entry.write_text(damaged, encoding="utf-8")
        T._one_column_frame.cache_clear()
        assert T._one_column_frame(shape, T.THEME_LAYOUT) == drawn
        assert entry.read_text(encoding="utf-8") == kept


def test_no_usable_cache_folder_means_drawing_at_each_run(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    T._frame_folder.cache_clear()
    assert T._frame_folder() is None
    assert "gtmarkc1_0gtmark" in T._one_column_frame(T.row_shape(("A", "B")), T.THEME_LAYOUT)


def test_shapes_have_entries_of_their_own(frame_cache):
    T._one_column_frame((0, 0, 1), T.THEME_LAYOUT)
    T._one_column_frame((0, 1, 1), T.THEME_LAYOUT)
    T._one_column_frame((0, 1, 1), MATRIX_LAYOUT)
    assert len(_entries(frame_cache)) == 3


RENDER = """
import sys
from reports import tables as T
print(T.frame_html(T.row_shape(("A", "A", "B")), 2).count("<tr"), "great_tables" in sys.modules)
"""


def test_a_shape_seen_before_imports_no_great_tables(frame_cache):
    def run() -> str:
        env = {
            "XDG_CACHE_HOME": str(frame_cache),
            "PYTHONPATH": str(Path(T.__file__).parents[1]),
            "HOME": "/nonexistent",
        }
        return subprocess.run(
            [sys.executable, "-c", RENDER], env=env, capture_output=True, text=True, check=True
        ).stdout

    # title, subtitle, column labels, group headings (2), places (3), source note
    assert run() == "9 True\n"
    assert run() == "9 False\n"
