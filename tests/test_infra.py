"""The infra-communal figures (transforms/infra.py) and the commune report's section (reports/sections/infra.py).

Hand-made IRIS tables in the staged format, then the demo world's Cholet (six IRIS, one QPV); expected values are
literal cells with the arithmetic written out."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import polars as pl
import pytest

from reports import formats as F
from reports.site import ReportContext, render_report
from sources.values import STAGED_SCHEMA
from transforms import reasons as R
from transforms.infra import Infra, infra_indicators, iris_table, iris_values, load_infra
from transforms.pipeline import diagnostic_table, load_inputs
from transforms.territories import Territory

ITEMS = {i.indicator.id: i for i in infra_indicators()}


def _long(source: str, rows: list[tuple[str, str, float | None, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            (source, "2022", "IRIS", code, 2022, None, variable, value, status, None)
            for code, variable, value, status in rows
        ],
        schema=STAGED_SCHEMA,
        orient="row",
    )


def _reference(rows: list[tuple[str, str, str, str, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "code": pl.String,
            "name": pl.String,
            "type": pl.String,
            "commune": pl.String,
            "commune_target": pl.String,
        },
        orient="row",
    )


@pytest.fixture
def infra() -> Infra:
    families = _long(
        "rp_iris_families",
        [
            ("490990101", "C_FAMMONO", 120.0, None),
            ("490990101", "C_COUPAENF", 280.0, None),
            ("490990102", "C_FAMMONO", 6.0, None),
            ("490990102", "C_COUPAENF", 14.0, None),  # 20 families: < 30
            ("490990103", "C_FAMMONO", None, "not_available"),
            ("490990103", "C_COUPAENF", 300.0, None),
        ],
    )
    disp = _long(
        "filosofi_iris_disp", [("490990101", "DISP_MED", 21110.0, None), ("490990102", "DISP_MED", None, "secret")]
    )
    reference = _reference(
        [
            ("490990101", "Centre", "H", "49099", "49099"),
            ("490990102", "Nord", "H", "49099", "49099"),
            ("490990103", "Est", "H", "49099", "49099"),
            ("490990104", "Sud", "H", "49099", "49099"),
            ("441000000", "Monnières", "Z", "44100", "44088"),
            ("440880000", "Maisdon-sur-Sèvre", "Z", "44088", "44088"),
        ]
    )
    qpv = pl.DataFrame(
        {
            "code": ["QN04905M", "QN04906M", "QN04906M"],
            "name": ["Sud", "Lisière", "Lisière"],
            "commune": ["49099", "49099", "49192"],
            "commune_name": ["Cholet", "Cholet", "Maulévrier"],
            "commune_target": ["49099", "49099", "49192"],
        }
    )
    return Infra(
        tables={"iris_reference": reference, "rp_iris_families": families, "filosofi_iris_disp": disp, "qpv": qpv},
        vintages={"iris_reference": "2024", "rp_iris_families": "2022", "filosofi_iris_disp": "2021", "qpv": "2024"},
    )


def _by_code(frame: pl.DataFrame) -> dict[str, tuple]:
    return {r["code"]: (r["value"], r["status"]) for r in frame.iter_rows(named=True)}


def test_a_rate_per_iris_is_its_own_numerator_over_its_own_denominator(infra):
    got = _by_code(
        iris_values(infra, ["490990101", "490990102", "490990103", "490990104"], ITEMS["part_familles_monoparentales"])
    )
    assert got["490990101"] == (pytest.approx(30.0), None)  # 120 / (280 + 120) * 100 = 30
    assert got["490990102"] == (None, R.NOT_SIGNIFICANT)  # 14 + 6 = 20 families, under the minimum of 30
    assert got["490990103"] == (None, R.NOT_AVAILABLE)  # one term unknown: never the sum of the others
    assert got["490990104"] == (None, R.NOT_AVAILABLE)  # an IRIS without a row in the file


def test_a_published_figure_per_iris_keeps_its_secret(infra):
    got = _by_code(iris_values(infra, ["490990101", "490990102", "490990103"], ITEMS["revenu_median"]))
    assert got == {"490990101": (21110.0, None), "490990102": (None, R.SECRET), "490990103": (None, R.NOT_AVAILABLE)}


def test_the_iris_of_a_commune_follow_it_into_the_target_cog(infra):
    assert infra.iris_of("44088")["code"].to_list() == ["440880000", "441000000"]  # Monnières merged in 2025
    assert not infra.divided("44088") and infra.divided("49099")
    table = iris_table(infra, "49099")
    assert sorted(table["iris"].unique().to_list()) == ["490990101", "490990102", "490990103", "490990104"]
    # only the indicators whose sources are staged: the families file and the disposable-income file
    assert set(table["indicator"].unique().to_list()) == {
        "part_familles_monoparentales",
        "part_menages_une_personne",
        "revenu_median",
        "taux_pauvrete",
        "part_prestations_sociales",
    }


def test_the_qpv_of_a_commune_and_the_communes_it_lies_across(infra):
    assert infra.qpv_of("49099") == [
        {"code": "QN04905M", "name": "Sud", "others": []},
        {"code": "QN04906M", "name": "Lisière", "others": ["Maulévrier"]},
    ]
    assert infra.qpv_of("44043") == []


# -- the demo world: Cholet ------------------------------------------------------------------------------------


def test_cholet_s_iris_from_the_demo_files(demo_store):
    infra = load_infra(demo_store)
    assert infra.vintages == {
        "iris_reference": "2024",
        "rp_iris_population": "2022",
        "rp_iris_families": "2022",
        "rp_iris_housing": "2022",
        "rp_iris_activity": "2022",
        "filosofi_iris_disp": "2021",
        "qpv": "2024",
    }
    got = _by_code(iris_values(infra, ["490990104", "490990106"], ITEMS["part_familles_monoparentales"]))
    # base-ic-couples-familles-menages-2022.CSV, 490990104: C22_COUPAENF 727.13232322581, C22_FAMMONO
    # 1116.2245586856: 1116.2245586856 / (727.13232322581 + 1116.2245586856) * 100 = 60.554...
    assert got["490990104"][0] == pytest.approx(1116.2245586856 / (727.13232322581 + 1116.2245586856) * 100)
    # BASE_TD_FILO_IRIS_2021_DISP.csv: 490990106;ns;ns;ns;ns;ns;ns;1 and 490990104;18020;…;26,6;11,4;0
    income = _by_code(iris_values(infra, ["490990104", "490990106"], ITEMS["revenu_median"]))
    assert income == {"490990104": (18020.0, None), "490990106": (None, R.SECRET)}


def _section(page: str) -> str:
    match = re.search(r'<section id="infra-communal".*?</section>', page, re.DOTALL)
    return match.group(0) if match else ""


@pytest.fixture(scope="module")
def built(demo_store):
    inputs = load_inputs(demo_store)
    return diagnostic_table(demo_store, inputs=inputs), inputs


def _page(built, **territory) -> str:
    table, inputs = built
    context = ReportContext(generated_at=datetime(2026, 1, 5, tzinfo=UTC), demo=True)
    return render_report(table, inputs, Territory(**territory), context)


def test_the_commune_report_shows_its_iris_against_the_commune(built):
    section = _section(_page(built, commune="49099"))
    assert "Cholet compte 6 IRIS" in section
    rows = re.findall(r"<tr(?: class=\"own\")?><td>(.*?)<br>", section)
    assert rows == [
        "Cholet Centre (démo)",
        "Cholet Nord (démo)",
        "Cholet Est (démo)",
        "Cholet Sud - quartier prioritaire (démo)",
        "Cholet Ouest (démo)",
        "Cholet Zone d&#39;activités (démo)",
        "Cholet",
    ]
    secret_row = re.search(r"Zone d&#39;activités.*?</tr>", section, re.DOTALL).group(0)
    # the secret IRIS: the three income columns carry the mark s, with no number (never 0 €)
    assert secret_row.count('<sup class="mk" title="secret statistique">s</sup>') == 3 and "€" not in secret_row
    # 490990104: 18020 € and a poverty rate of "26,6"
    sud = re.search(r"Cholet Sud - quartier prioritaire.*?</tr>", section, re.DOTALL).group(0)
    assert f'<td class="num">{F.value(18020, "euros")}</td>' in sud
    assert "26,6" in sud
    assert "Cholet Sud (démo)</strong> (QN04905M)" in section
    assert "secret statistique" in section  # the legend under the table


def test_who_gets_the_section(built):
    assert _section(_page(built, epci="200071678")) == ""  # an EPCI report: no infra-communal section
    assert _section(_page(built, commune="44043")) == ""  # not divided into IRIS, no QPV
    ajaccio = _section(_page(built, commune="2A004"))  # a QPV, no IRIS in the demo: the QPV part alone
    assert "Ajaccio Les Hauts (démo)" in ajaccio and "Les IRIS" not in ajaccio
    paris = _section(_page(built, commune="75101"))
    assert "aucun indicateur n'existe seulement pour la ville entière" in paris


def test_a_city_lists_the_qpv_of_its_arrondissements():
    qpv = pl.DataFrame(
        {
            "code": ["QN07501M", "QN07501M", "QN09301M"],
            "name": ["Porte", "Porte", "Cité"],
            "commune": ["75119", "75120", "93066"],
            "commune_name": ["Paris 19e Arrondissement", "Paris 20e Arrondissement", "Saint-Denis"],
            "commune_target": ["75119", "75120", "93066"],
        }
    )
    infra = Infra(tables={"qpv": qpv})
    # a QPV across two arrondissements of Paris is one QPV of Paris, lying across no other commune
    assert infra.qpv_of("75056") == [{"code": "QN07501M", "name": "Porte", "others": []}]
    assert infra.qpv_of("75119") == [{"code": "QN07501M", "name": "Porte", "others": ["Paris 20e Arrondissement"]}]
