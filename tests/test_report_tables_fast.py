"""The theme tables drawn from one great-tables frame per report (`reports.tables.render_table`) are the HTML
great-tables gives when it formats, merges and fills every cell itself (`gt_table`), byte for byte: on hand-made
cells of every shape, and on every theme table of the demo reports."""

from __future__ import annotations

import re

import polars as pl
import pytest

from reports import notes as N
from reports import tables as T
from reports.inputs import report_inputs
from reports.view import COMMUNES, REFERENCES, TERRITORY, Place, TerritoryView, territory_view
from transforms.compare import PRIORITY, VIGILANCE
from transforms.pipeline import Selection, diagnostic_table
from transforms.registry import THEMES, get, indicators

NNBSP = "\u202f"
COMMUNE_ROWS = (("85020", "Benet"), ("85165", "L'Île-d'Elle <sud> & \"nord\""), ("85303", "Vix"))


def _view(cells: dict) -> TerritoryView:
    communes = tuple(Place("COM", c, n, COMMUNES) for c, n in COMMUNE_ROWS)
    territory = Place("EPCI", "200029940", "CC Vendée Sèvre Autise", TERRITORY)
    references = (Place("DEP", "85", "Vendée", REFERENCES), Place("FRANCE", "FR", "France", REFERENCES))
    places = communes + (territory,) + references
    return TerritoryView(Selection(epci="200029940"), pl.DataFrame(), places, communes, territory, None, cells)


def _both(view: TerritoryView, items: list) -> tuple[str, str]:
    spec = T.table_spec(view, items[0].theme, items, 2016, "Géographie communale (COG 2025).", 1, 2)
    return T.render_table(view, spec), T.gt_table(view, spec)


def test_every_cell_shape_renders_as_great_tables_renders_it():
    rsa, poverty, growth = get("foyers_rsa"), get("taux_pauvrete"), get("croissance_annuelle")
    cells = {
        # flagged priority, with its count and a falling evolution
        ("COM", "85020", rsa.id): {
            "value": 4.692687,
            "numerator": 1295.0,
            "flag": PRIORITY,
            "evolution": -0.4,
            "evolution_unit": "points",
            "source": "Cnaf, allocataires 2024",
            "year": 2024,
        },
        # vigilance, no evolution
        ("COM", "85165", rsa.id): {"value": 12345.678, "numerator": 2.0, "flag": VIGILANCE, "year": 2024},
        # secret: « — » and its mark, never 0; the EPCI has no row at all (not available)
        ("COM", "85303", rsa.id): {"value": None, "status": N.R.SECRET},
        ("DEP", "85", rsa.id): {"value": -0.04, "numerator": 0.0, "status": N.R.PARTIAL_SECRET, "coverage": 0.9997},
        ("FRANCE", "FR", rsa.id): {"value": 0.0, "status": N.R.EPCI_FALLBACK},
        ("COM", "85020", poverty.id): {
            "value": 999.95,
            "flag": VIGILANCE,
            "evolution": 0.01,
            "evolution_unit": "points",
            "source": "Insee, Filosofi 2021",
        },
        ("EPCI", "200029940", poverty.id): {"value": None, "status": N.R.NOT_AVAILABLE},
        ("COM", "85020", growth.id): {"value": -0.1101, "flag": PRIORITY, "comparison_year": 2016, "year": 2022},
        ("COM", "85303", growth.id): {"value": 0.004, "evolution": -1.2345, "evolution_unit": "percent_per_year"},
    }
    fast, reference = _both(_view(cells), [rsa, poverty, growth])
    assert fast == reference
    # what the three tints and marks are: a priority, a vigilance, and one of each on the other columns
    assert (
        fast.count('style="background-color: #f8d9d5;"') == 2 and fast.count('style="background-color: #fdf0d2;"') == 2
    )
    assert f'<span class="n">1{NNBSP}295</span>' in fast and "&lt;sud&gt; &amp; &quot;nord&quot;" in fast
    assert T.MARK not in fast


def test_a_frame_laid_out_otherwise_fails_loudly(monkeypatch):
    view = _view({})
    spec = T.table_spec(view, "demographie", [get("population")], None, "", 1, 1)
    frame = T.frame_html(T.row_shape(tuple(T.group_label(view, p) for p in view.places)), 1)
    monkeypatch.setattr(T, "frame_html", lambda *a: frame.replace('<td headers="', '<td data-x="1" headers="'))
    with pytest.raises(RuntimeError, match="tableau-demographie-1"):
        T.render_table(view, spec)


def test_a_stray_marker_in_the_frame_fails_loudly(monkeypatch):
    view = _view({})
    spec = T.table_spec(view, "demographie", [get("population")], None, "", 1, 1)
    frame = T.frame_html(T.row_shape(tuple(T.group_label(view, p) for p in view.places)), 1)
    monkeypatch.setattr(T, "frame_html", lambda *a: frame.replace("</tbody>", f"{T.MARK}</tbody>"))  # unpaired
    with pytest.raises(RuntimeError, match="marker this renderer does not recognise"):
        T.render_table(view, spec)


@pytest.fixture(
    params=[Selection(epci="200029940"), Selection(departement="85"), Selection(commune="85020")], ids=lambda s: s.stem
)
def demo_view(request, demo_store) -> TerritoryView:
    """The demo's view of an EPCI, a département and a commune."""
    inputs = report_inputs(demo_store)
    return territory_view(diagnostic_table(demo_store, inputs=inputs), inputs.membership, request.param)


def test_every_demo_theme_table_renders_as_great_tables_renders_it(demo_view):
    view = demo_view
    checked = 0
    for theme in THEMES:
        items = [i for i in indicators() if i.theme == theme]
        parts = T.table_parts(view, items)
        for n, chunk in enumerate(parts, start=1):
            spec = T.table_spec(view, theme, chunk, 2016, "COG 2025.", n, len(parts))
            fast, reference = T.render_table(view, spec), T.gt_table(view, spec)
            assert fast == reference, spec.id
            checked += len(re.findall(r'<div class="c" ', fast))
    assert checked > 100  # the demo's tables hold hundreds of cells


def test_a_table_of_any_column_count_renders_as_great_tables_renders_it():
    # the frames of 2 to 8 columns repeat the one column great-tables drew (reports.tables.frame_html)
    rates = [i for i in indicators() if i.unit == "percent"][: T.MAX_PRINT_COLUMNS]
    cells = {
        ("COM", code, ind.id): {"value": 10.0 + k, "flag": PRIORITY if k % 3 == 0 else None}
        for k, ind in enumerate(rates)
        for code, _ in COMMUNE_ROWS
    }
    view = _view(cells)
    for n in range(1, T.MAX_PRINT_COLUMNS + 1):
        fast, reference = _both(view, rates[:n])
        assert fast == reference, n
        assert fast.count('<td style="background-color: #f8d9d5;" ') == 3 * len(range(0, n, 3))


def _matrix_rows(flags: dict[tuple[str, str], list[str | None]]) -> pl.DataFrame:
    """Rows of the long table: per (commune code, theme) one rate per flag given."""
    keys = [(code, theme, flag) for (code, theme), given in flags.items() for flag in given]
    return pl.DataFrame(
        {
            "level": ["EPCI" if code == "200029940" else "COM" for code, _, _ in keys],
            "code": [code for code, _, _ in keys],
            "theme": [theme for _, theme, _ in keys],
            "direction": ["higher_is_need"] * len(keys),
            "unit": ["percent"] * len(keys),
            "flag": [flag for _, _, flag in keys],
        }
    )


def test_the_needs_matrix_renders_as_great_tables_renders_it():
    from dataclasses import replace

    from reports.sections import needs_matrix as M

    v, p = VIGILANCE, PRIORITY
    rows = _matrix_rows(
        {
            # one vigilance (tint 1), a priorité and a vigilance (3 points: tint 2), 1,002 vigilances and two
            # priorités (tint 3, a thousands mark), nothing flagged among two rates
            ("85020", "familles"): [v],
            ("85020", "logement"): [p, v],
            ("85165", "logement"): [v] * 1002 + [p, p],
            ("85303", "sante"): [None, None],
            ("200029940", "handicap"): [p],
        }
    )
    view = replace(_view({}), rows=rows)
    fast, reference = M.matrix_table(view), M.gt_matrix_table(view)
    assert fast == reference
    assert f"1{NNBSP}002&#8239;!</span>" in fast and T.MARK not in fast
    for colour in ("#fdf0d2", "#f9d2a6", "#f3b4aa"):  # tint 1 twice (familles, handicap), tints 2 and 3 once
        assert fast.count(f'<td style="background-color: {colour};" ') == (2 if colour == "#fdf0d2" else 1)


def test_every_demo_needs_matrix_renders_as_great_tables_renders_it(demo_view):
    from reports.sections import needs_matrix as M

    view = demo_view
    fast = M.matrix_table(view)
    assert fast == M.gt_matrix_table(view)
    assert len(re.findall(r'<span class="mx[ "]', fast)) == len(M._places(view)) * (len(THEMES) + 1)
