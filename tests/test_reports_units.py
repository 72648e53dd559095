"""Pure functions of the report: French formats, footnote marks, cells, the needs matrix, chart geometry, the
quality annex. Expected values are worked out by hand in the comments."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime

import polars as pl
import pytest
from great_tables import vals

from reports import ages, charts
from reports import formats as F
from reports import notes as N
from reports import tables as T
from reports.matrix import needs_matrix, score
from reports.quality import source_quality, used_vintages
from reports.sections.needs_matrix import matrix_table
from reports.sections.themes import highlights
from reports.templating import css_string
from reports.view import COMMUNES, REFERENCES, TERRITORY, Place, TerritoryView
from storage.manifest import Manifest
from transforms import reasons as R
from transforms.pipeline import Selection
from transforms.registry import THEMES, get

NNBSP = "\u202f"


# -- formats ----------------------------------------------------------------------------------------------------


def test_numbers_use_a_decimal_comma_and_narrow_no_break_spaces():
    assert F.number(12345.678, 1) == f"12{NNBSP}345,7"
    assert F.number(2823549.4) == f"2{NNBSP}823{NNBSP}549"
    assert F.number(-1234.5, 1) == f"\u22121{NNBSP}234,5"  # a true minus sign
    assert F.number(-0.04, 1) == "0,0"  # rounds to zero: never "-0,0"
    assert F.number(0.35, 2, signed=True) == "+0,35"


def test_numbers_are_formatted_as_babels_french_pattern():
    # the fast path (Python's digits, babel's marks) against babel itself, over every decimals the report uses
    import random

    from babel.numbers import parse_pattern

    rng = random.Random(14)
    xs = [0.0, 0.5, 0.125, 2.675, 999.95, 999_999.5, 1e15 - 1, 123456789012.345, 76834748699589.6]
    xs += [rng.uniform(0, 10 ** rng.randint(0, 16)) for _ in range(5000)]
    for decimals in (0, 1, 2, 3):
        pattern = parse_pattern("#,##0" + ("." + "0" * decimals if decimals else ""))
        for x in xs:
            rounded = round(x, decimals)
            assert F._digits(rounded, decimals) == pattern.apply(rounded, "fr_FR"), (x, decimals)
    # by hand: above 10^15 babel formats the shortest form (1.2345678901234567e20: 17 digits and 4 zeros)
    assert F.number(1.2345678901234567e20) == NNBSP.join(["123", "456", "789", "012", "345", "670", "000"])
    assert F.number(999_999.5) == f"1{NNBSP}000{NNBSP}000"  # rounds half to even: 999 999,5 -> 1 000 000


def test_values_by_unit():
    assert F.value(16.04, "percent") == f"16,0{NNBSP}%"
    assert F.value(21590, "euros") == f"21{NNBSP}590{NNBSP}€"
    assert F.value(58.54, "per100") == "58,5"  # places per 100 children: not a percentage
    assert F.value(2.254, "ratio") == "2,25"
    assert F.value(85.27, "index") == "85,3"
    assert F.value(0.1101, "percent_per_year") == f"+0,11{NNBSP}%"
    assert F.value(1295.0, "count") == f"1{NNBSP}295"
    assert F.value(None, "percent") == ""


def test_evolutions_carry_an_arrow_of_their_sign():
    assert F.evolution(1.23, "points") == f"↗{NNBSP}+1,2{NNBSP}pt"
    assert F.evolution(-0.382587, "percent_per_year") == f"↘{NNBSP}\u22120,38{NNBSP}%/an"
    assert F.evolution(0.04, "points") == f"≈{NNBSP}0,0{NNBSP}pt"  # 0.04 shows as 0,0: stable, no arrow
    assert F.evolution(-0.04, "points") == f"≈{NNBSP}0,0{NNBSP}pt"  # nor a down arrow for an invisible fall
    assert F.evolution(3.1, "difference") == f"↗{NNBSP}+3,1"
    assert F.evolution(3.14, "difference", "index") == f"↗{NNBSP}+3,1"  # an index keeps its 1 decimal
    # household size 2.26 -> 2.24: a ratio keeps its 2 decimals, 2.24 - 2.26 = -0.02, a falling arrow
    assert F.evolution(2.24 - 2.26, "difference", "ratio") == f"↘{NNBSP}\u22120,02"
    assert F.evolution(0.004, "difference", "ratio") == f"≈{NNBSP}0,00"  # 0.004 rounds to 0.00
    assert F.evolution(1234.4, "difference", "euros") == f"↗{NNBSP}+1{NNBSP}234"  # euros: whole numbers
    assert F.evolution(None, "points") == ""


def test_french_dates_and_typography():
    assert F.long_date(date(2026, 11, 1)) == "1er novembre 2026"
    assert F.long_date(datetime(2026, 11, 23, 9, 0)) == "23 novembre 2026"
    assert F.typography("Taux de pauvreté (seuil à 60 %)") == f"Taux de pauvreté (seuil à 60{NNBSP}%)"
    assert F.typography("communes de plus de 10 000 habitants") == f"communes de plus de 10{NNBSP}000 habitants"
    assert F.typography("en 2022 500 communes") == "en 2022 500 communes"  # not a grouped number: 2022 has 4 digits


# -- footnote marks and cells -----------------------------------------------------------------------------------


def test_marks_say_why_a_cell_is_empty():
    assert N.mark(R.SECRET) == "s" and N.label(R.SECRET) == "secret statistique"
    assert N.cell_reason(None, R.SECRET) == R.SECRET
    assert N.cell_reason(None, None) == R.MISSING  # an unexplained blank is still explained
    assert N.cell_reason(58.5, R.EPCI_FALLBACK) == R.EPCI_FALLBACK  # a borrowed value keeps its mark
    assert N.cell_reason(3.0, None) is None
    assert N.mark("a reason nobody declared") == N.UNKNOWN_MARK
    # the legend follows the order of MARKS whatever the order of the cells, each reason once
    assert N.legend([R.NOT_PUBLISHED, None, R.SECRET, R.SECRET]) == [
        ("s", "secret statistique"),
        ("np", R.LABELS_FR[R.NOT_PUBLISHED]),
    ]


def _cell(row: dict | None, indicator, code: str = "49192") -> str:
    """The HTML of the one cell of a theme table of one commune (`row` is its indicator row, None for none)."""
    place = Place("COM", code, "Maulévrier", COMMUNES)
    cells = {("COM", code, indicator.id): row} if row is not None else {}
    view = TerritoryView(
        Selection.model_construct(commune=code),  # a code as read from the data, unchecked
        pl.DataFrame(),
        (place,),
        (place,),
        place,
        None,
        cells,
    )
    [table] = T.theme_tables(view, indicator.theme, [indicator], None, "")
    [cell] = re.findall(r'<div class="c" .*?</div>', table)
    return cell


def test_great_tables_french_marks_are_its_french_locale():
    # tables.FRENCH gives great-tables the marks of its `locale="fr"` directly (that call re-reads its locale file)
    xs = [12345.678, -1234.5, -0.04, 0.0, 2823549.4, 0.125, 999.95]
    for decimals in (0, 1, 2):
        assert vals.fmt_number(xs, decimals=decimals, **T.FRENCH) == vals.fmt_number(xs, decimals=decimals, locale="fr")
    # worked by hand: U+202F between thousands, decimal comma, a true minus, no "-0,0"
    assert vals.fmt_number([12345.678, -1234.5, -0.04], decimals=1, **T.FRENCH) == [
        f"12{NNBSP}345,7",
        f"\u22121{NNBSP}234,5",
        "0,0",
    ]


def test_a_secret_cell_shows_its_mark_never_zero():
    cell = _cell({"code": "49192", "value": None, "status": R.SECRET}, get("taux_pauvrete"))
    assert '<span class="v miss">—<sup class="mk" title="secret statistique">s</sup></span>' in cell
    assert not any(ch.isdigit() for ch in cell.replace("49192", ""))


def test_a_place_without_a_row_shows_not_available():
    assert '—<sup class="mk" title="non disponible">nd</sup>' in _cell(None, get("taux_pauvrete"))


def test_a_cell_holds_value_flag_count_and_evolution():
    row = {
        "code": "49099",
        "value": 4.692687,
        "status": None,
        "flag": "priorité",
        "numerator": 1295.0,
        "evolution": -0.4,
        "evolution_unit": "points",
    }
    cell = _cell(row, get("foyers_rsa"), "49099")
    # RSA households « pour 100 ménages »: a rate per 100, never shown with « % » (issue 13)
    assert '<span class="v">4,7</span>' in cell and "%" not in cell.split('class="v"')[1].split("</span>")[0]
    assert 'class="flag flag-p"' in cell and ">!!<" in cell
    assert f'<span class="n">1{NNBSP}295</span>' in cell
    assert f'<span class="ev">↘{NNBSP}\u22120,4{NNBSP}pt</span>' in cell
    fallback = _cell({"code": "49192", "value": 58.5, "status": R.EPCI_FALLBACK}, get("taux_couverture_global"))
    assert '<span class="v">58,5<sup class="mk" title="' in fallback and ">e</sup>" in fallback
    assert 'class="n"' not in fallback and 'class="ev"' not in fallback and "flag" not in fallback


def test_a_growth_rate_is_signed_and_a_count_has_no_count_line():
    growth = _cell({"code": "1", "value": 0.1101, "status": None}, get("croissance_annuelle"), "1")
    assert f">+0,11{NNBSP}%<" in growth  # 0.1101 at two decimals, signed
    population = _cell({"code": "1", "value": 1295.0, "status": None, "numerator": 1295.0}, get("population"), "1")
    assert f'<span class="v">1{NNBSP}295</span>' in population and 'class="n"' not in population


def test_cell_text_from_data_is_escaped():
    code = '"><script>alert(1)</script>'
    cell = _cell({"code": code, "value": 1.0, "status": None}, get("part_0002"), code)
    assert "<script>" not in cell and 'data-code="&quot;&gt;&lt;script&gt;' in cell


def test_columns_are_split_into_even_tables():
    # six columns a table (issue 13: a compact print): 11 = 6 + 5; 13 > 2 x 6: three tables of 5, 4, 4
    assert [len(c) for c in T.chunks(list(range(11)))] == [6, 5]
    assert [len(c) for c in T.chunks(list(range(13)))] == [5, 4, 4]
    assert [len(c) for c in T.chunks(list(range(7)))] == [4, 3]
    assert [len(c) for c in T.chunks(list(range(6)))] == [6]
    assert T.chunks([]) == []


def test_sources_are_listed_once():
    assert T.distinct_sources(
        ["Cnaf, allocataires décembre 2024 ; Insee, recensement 2022", "Insee, recensement 2022", None]
    ) == ["Cnaf, allocataires décembre 2024", "Insee, recensement 2022"]


def test_css_strings_cannot_close_the_style_element():
    text = css_string('Saint-Jean "<\\/style><script>')
    assert '"' not in text and "<" not in text and ">" not in text
    assert text.startswith("Saint\\2d Jean ")  # CSS hex escapes, each ended by a space


# -- the needs matrix -------------------------------------------------------------------------------------------


def test_matrix_counts_flags_per_commune_and_theme():
    rows = pl.DataFrame(
        {
            "level": ["COM"] * 6 + ["EPCI"] * 2,
            "code": ["A", "A", "A", "B", "B", "B", "E", "E"],
            "theme": ["familles", "familles", "logement", "familles", "logement", "logement", "familles", "logement"],
            "direction": [
                "higher_is_need",
                "higher_is_need",
                "higher_is_need",
                "neutral",
                "lower_is_need",
                "higher_is_need",
                "higher_is_need",
                "higher_is_need",
            ],
            "unit": ["percent", "percent", "count", "percent", "percent", "percent", "percent", "percent"],
            "flag": ["vigilance", "priorité", None, None, "priorité", "priorité", "vigilance", None],
        }
    )
    grid = needs_matrix(rows, [("COM", "A"), ("COM", "B"), ("EPCI", "E")])
    cell = {
        (r["code"], r["theme"]): (r["vigilance"], r["priorite"], r["flaggable"]) for r in grid.iter_rows(named=True)
    }
    # A, familles: one vigilance, one priorité, two flaggable rates
    assert cell[("A", "familles")] == (1, 1, 2)
    # A, logement: one count (never flaggable), no flag
    assert cell[("A", "logement")] == (0, 0, 0)
    # B, familles: a neutral indicator, not flaggable; B, logement: two priorités out of two
    assert cell[("B", "familles")] == (0, 0, 0)
    assert cell[("B", "logement")] == (0, 2, 2)
    assert cell[("E", "familles")] == (1, 0, 1)
    assert cell[("A", "vieillissement")] == (0, 0, 0)  # a theme without rows counts zero
    assert grid.height == 3 * len(THEMES)  # every place by every theme
    assert grid["code"].to_list()[: len(THEMES)] == ["A"] * len(THEMES)  # places in the given order


def test_matrix_cells_count_the_flags_and_say_them():
    rows = pl.DataFrame(
        {
            "level": ["COM", "COM", "COM", "EPCI"],
            "code": ["85020", "85020", "85165", "200029940"],
            "theme": ["familles", "familles", "logement", "familles"],
            "direction": ["higher_is_need"] * 4,
            "unit": ["percent"] * 4,
            "flag": ["vigilance", "priorité", None, "vigilance"],
        }
    )
    html = matrix_table(replace(_view({}), rows=rows))
    cells = dict(re.findall(r'<span class="mx" data-code="(\d+)" data-theme="familles">(.*?)</span></td>', html))
    # Benet: one priorité and one vigilance in familles; Oulmes and Vix none; the EPCI one vigilance
    assert cells["85020"] == (
        '<span class="mxp" title="1 en priorité">1&#8239;!!</span> '
        '<span class="mxv" title="1 en vigilance">1&#8239;!</span>'
    )
    assert cells["85165"] == cells["85303"] == '<span class="mx0" title="aucun indicateur signalé">·</span>'
    assert cells["200029940"] == '<span class="mxv" title="1 en vigilance">1&#8239;!</span>'
    # the last column counts the themes with a flag, each theme once (issue 13): Benet 1 (familles), Oulmes 0
    totals = dict(re.findall(r'data-code="(\d+)" data-theme="total" title="[^"]*">(\d+)</span>', html))
    assert totals["85020"] == "1" and totals["85165"] == "0" and totals["200029940"] == "1"
    # the tint: 1 vigilance + 2 x 1 priorité = 3 points, the second class; no tint on the total
    assert html.count("background-color: #F9D2A6") + html.count("background-color: #f9d2a6") == 1


def test_matrix_intensity():
    # points = vigilance + 2 x priorité: 0 -> 0; 1, 2 -> 1; 3, 4 -> 2; 5 and more -> 3
    assert [score(0, 0), score(1, 0), score(0, 1), score(3, 0), score(2, 1), score(1, 2), score(3, 1)] == [
        0,
        1,
        1,
        2,
        2,
        3,
        3,
    ]


# -- charts -----------------------------------------------------------------------------------------------------


def test_local_scale_of_a_positioning_line():
    # values 3.2, 3.3, 3.3: spread 0.1, margin = max(0.05, 0.15 x 3.3 = 0.495) = 0.495
    lo, hi = charts.local_domain([3.2, 3.3, 3.3])
    assert lo == pytest.approx(3.2 - 0.495) and hi == pytest.approx(3.3 + 0.495)
    # values 0.14, 0.16, -0.38: spread 0.54, margin 0.27 -> [-0.65, 0.43]
    assert charts.local_domain([0.14, 0.16, -0.38]) == pytest.approx((-0.65, 0.43))
    # positive values: the scale stops at zero (0.5, 3.1: margin 1.3 would reach -0.8)
    assert charts.local_domain([0.5, 3.1])[0] == 0.0


def test_charts_escape_names_and_are_deterministic():
    name = "<script>alert(1)</script>"
    bands = [charts.AgeBand("0-14 ans", 8.5, 7.9, 8.7, 8.0), charts.AgeBand("15-29 ans", 8.2, 7.9, 8.4, 8.1)]
    svg = charts.pyramid(bands, name, "Vendée (85)", "g1")
    assert svg.startswith("<svg") and "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg == charts.pyramid(bands, name, "Vendée (85)", "g1")


def test_ranked_dots_put_the_highest_first_and_empty_values_last():
    bars = [charts.Bar("B", 2.0), charts.Bar("A", None, mark="s"), charts.Bar("C", 5.0, "priorité")]
    svg = charts.ranked_dots(bars, [charts.Reference("France", 3.0, "france")], "percent", "t", "g2")
    assert svg.index(">C<") < svg.index(">B<") < svg.index(">A<")
    assert "—s" in svg and ">!!<" in svg


# -- ages -------------------------------------------------------------------------------------------------------


def test_age_bands_are_shares_of_each_population():
    own = {"P_POP": 200.0} | {f"P_H{b}": 10.0 for b in ages.BANDS} | {f"P_F{b}": 20.0 for b in ages.BANDS}
    ref = {"P_POP": 1000.0} | {f"P_H{b}": 50.0 for b in ages.BANDS} | {f"P_F{b}": 80.0 for b in ages.BANDS}
    bands, by_sex = ages.age_bands({("EPCI", "1"): own, ("DEP", "85"): ref}, ("EPCI", "1"), ("DEP", "85"))
    assert by_sex and len(bands) == 7
    # 10 men of 200 people = 5 %; 20 women = 10 %; département 50 / 1000 = 5 %, 80 / 1000 = 8 %
    assert (bands[0].men, bands[0].women, bands[0].ref_men, bands[0].ref_women) == (5.0, 10.0, 5.0, 8.0)


def test_age_bands_without_sex_fall_back_to_both_sexes():
    own = {"P_POP": 100.0} | {f"P_POP{b}": 10.0 for b in ages.BANDS} | {"P_H0014": None}
    bands, by_sex = ages.age_bands({("COM", "1"): own, ("DEP", "1"): own}, ("COM", "1"), ("DEP", "1"))
    assert not by_sex and bands[0].men == 10.0 and bands[0].women is None  # 10 / 100


# -- quality annex ----------------------------------------------------------------------------------------------


MANIFEST = Manifest.from_dict(
    {
        "entries": {  # a manifest of an earlier release: `cog` without `source_cog`
            "filosofi/2021": {
                "source": "filosofi",
                "vintage": "2021",
                "files": {"main": {"url": "https://www.insee.fr/f.zip"}},
                "staged": {
                    "title": "Filosofi 2021",
                    "publisher": "INSEE",
                    "cog": 2024,
                    "rows": 1890,
                    "secret_cells": 210,
                    "staged_at": "2026-11-23T05:35:10+00:00",
                    "null_cells": {"secret": 210, "not_available": 54, "non_recalculable": 0},
                    "geo_changes": [
                        {"cog": 2024, "kind": "merged", "new": ["44088"], "old": "44088"},
                        {"cog": 2024, "kind": "merged", "new": ["44088"], "old": "44100"},
                        {"cog": 2023, "kind": "merged", "new": ["44088"], "old": "44100"},
                    ],
                    "notes": ["a note"],
                },
            },
            "caf_benefits/2024": {
                "source": "caf_benefits",
                "vintage": "2024",
                "files": {"main": {"url": "https://data.caf.fr/a.csv"}, "hist": {"url": "https://data.caf.fr/b.csv"}},
                "staged": {"title": "Cnaf : foyers allocataires", "publisher": "CAF", "cog_offset": 1},
                "last_failure": {"at": "2026-11-24T08:00:00+00:00", "error": "column missing"},
            },
            "cog_communes/2025": {"source": "cog_communes", "vintage": "2025", "staged": {"title": "COG"}},
        }
    }
)


def test_quality_annex_reads_the_manifest_in_french():
    rows = {q.key: q for q in source_quality(MANIFEST, {"filosofi": "2021"})}
    filo = rows["filosofi/2021"]
    assert filo.used and filo.publisher == "Insee" and filo.geography == "COG 2024"
    assert filo.null_cells == [("secret statistique", 210), ("non disponible", 54)]  # zero counts left out
    assert filo.missing_cells == 264  # 210 + 54
    # the same merge in two COGs is one line with both years; the surviving commune's own line is not repeated
    assert filo.geo_changes == ["fusion : 44100 → 44088 (COG 2023, 2024)"]
    assert filo.staged_at == "23 novembre 2026" and filo.hosts == [("www.insee.fr", "https://www.insee.fr/f.zip")]
    caf = rows["caf_benefits/2024"]
    assert not caf.used and caf.title == "Foyers allocataires" and caf.publisher == "Cnaf"
    assert caf.geography == "COG de l'année N+1" and caf.last_failure == "24 novembre 2026 : column missing"
    assert caf.hosts == [("data.caf.fr", "https://data.caf.fr/a.csv")]  # two files, one host


def test_the_geography_sources_count_as_used():
    assert used_vintages(MANIFEST, {"filosofi": "2021"}) == {"cog_communes": "2025", "filosofi": "2021"}


def test_a_growth_rate_header_gives_its_period():
    # a mean annual growth between the 2016 and 2022 censuses is a rate over 2016-2022, not a 2022 figure
    assert "en % par an, 2016-2022" in T.header_html(get("croissance_annuelle"), 2022, 2016)
    assert "en %, 2022<" in T.header_html(get("part_0002"), 2022, 2016)  # a plain rate keeps its year


def test_an_unknown_reference_does_not_hide_the_sexes_of_the_territory():
    # the territory: 100 people, 0-14 ans 10 men + 10 women; the reference (France) has an unknown population
    own = {"P_POP": 100.0} | {f"P_{s}{b}": 0.0 for s in "HF" for b in ages.BANDS} | {"P_H0014": 10.0, "P_F0014": 10.0}
    bands, by_sex = ages.age_bands(
        {("DEP", "85"): own, ("FRANCE", "FR"): {"P_POP": None}}, ("DEP", "85"), ("FRANCE", "FR")
    )
    assert by_sex
    assert bands[0].men == pytest.approx(10.0) and bands[0].women == pytest.approx(10.0)  # 10 / 100 = 10 %
    assert all(b.ref_men is None and b.ref_women is None for b in bands)


# -- « À retenir » ------------------------------------------------------------------------------------------------


def _view(cells: dict, *, departement: bool = True) -> TerritoryView:
    """A hand-made report view: an EPCI of three communes (or the Vendée itself), its département and France."""
    communes = tuple(
        Place("COM", c, n, COMMUNES) for c, n in (("85020", "Benet"), ("85165", "Oulmes"), ("85303", "Vix"))
    )
    france = Place("FRANCE", "FR", "France", REFERENCES)
    if departement:
        territory, dep = (
            Place("EPCI", "200029940", "CC Vendée Sèvre Autise", TERRITORY),
            Place("DEP", "85", "Vendée", REFERENCES),
        )
        places, selection = communes + (territory, dep, france), Selection(epci="200029940")
    else:
        territory, dep = Place("DEP", "85", "Vendée", TERRITORY), None
        places, selection = communes + (territory, france), Selection(departement="85")
    rows = {
        (level, code, ind): {"value": v, "flag": flag, "ref_dep": ref_dep, "ref_france": ref_fr}
        for (level, code, ind), (v, flag, ref_dep, ref_fr) in cells.items()
    }
    return TerritoryView(selection, pl.DataFrame(), places, communes, territory, dep, rows)


POVERTY, RSA = get("taux_pauvrete"), get("foyers_rsa")


def test_highlights_list_the_communes_in_vigilance_too():
    view = _view(
        {
            ("EPCI", "200029940", POVERTY.id): (9.5, None, 9.0, 11.0),
            ("COM", "85020", POVERTY.id): (10.0, "vigilance", 9.0, 11.0),
            ("COM", "85020", RSA.id): (3.0, "vigilance", 2.7, 3.9),
            ("COM", "85303", RSA.id): (2.9, "vigilance", 2.7, 3.9),
            ("COM", "85165", RSA.id): (4.4, "priorité", 2.7, 3.9),
        }
    )
    lines = highlights(view, [POVERTY, RSA])
    assert [h.text for h in lines] == [
        f"Communes en priorité, {F.typography(RSA.label)} : Oulmes (4,4).",  # per 100 households: no « % »
        # Benet has two indicators in vigilance, Vix one: most flagged first
        "Points de vigilance dans les communes : Benet (2), Vix (1).",
    ]
    assert lines[1].items == (
        f"Benet : {F.typography(POVERTY.label)}, {F.typography(RSA.label)}",
        f"Vix : {F.typography(RSA.label)}",
    )


def test_highlights_are_empty_only_when_no_cell_is_flagged():
    calm = {("COM", "85020", POVERTY.id): (10.0, None, 9.0, 11.0), ("DEP", "85", POVERTY.id): (9.0, None, None, 11.0)}
    assert highlights(_view(calm), [POVERTY]) == []
    # only the département's row is flagged (against France): still said, not « aucun »
    flagged_dep = calm | {("DEP", "85", POVERTY.id): (12.0, "vigilance", None, 11.0)}
    [line] = highlights(_view(flagged_dep), [POVERTY])
    assert "Vendée (85) (1)" in line.text


def test_a_departement_is_set_against_france():
    view = _view(
        {
            ("DEP", "85", POVERTY.id): (12.0, "vigilance", None, 11.0),
            ("DEP", "85", RSA.id): (5.0, "priorité", None, 3.9),
        },
        departement=False,
    )
    assert view.compared_with == "la France"
    lines = highlights(view, [POVERTY, RSA])
    # the flags of a DEP row compare it with France (ref_dep is null): 12,0 % against 11,0 %, 5,0 % against 3,9 %
    assert lines[0].text == f"Priorité : {F.typography(RSA.label)}, 5,0 contre 3,9 en France."  # per 100: no %
    assert lines[1].text == "Point de vigilance face à la France :"
    assert lines[1].items == (f"{F.typography(POVERTY.label)} : 12,0{NNBSP}% contre 11,0{NNBSP}%",)
