"""The yearly evaluation: the user's file (CSV or YAML) with its errors, and the report's trend and evaluation
sections with and without it, on the hand-made world and on the demo store."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from test_indicators import ALPHA, BRAVO, E1, MEMBERSHIP, world_inputs
from typer.testing import CliRunner

from reports import formats as F
from reports.sections import evaluation as EV
from reports.sections import trends as TR
from reports.site import DEMO_EPCI, build_site
from reports.view import territory_view
from transforms import series as S
from transforms.evaluation import DEFAULT_ITEMS, EvaluationFileError, EvaluationItem, read_evaluation
from transforms.pipeline import Selection, diagnostic_table
from transforms.registry import get

WHEN = datetime(2026, 7, 1, tzinfo=UTC)


# -- the file ------------------------------------------------------------------------------------------------------


def test_a_csv_file_with_targets_directions_and_communes(tmp_path):
    path = tmp_path / "ctg.csv"
    path.write_text(
        "indicateur;cible;sens;communes\ntaux_couverture_global;65,5;hausse;\n"
        "foyers_rsa;;baisse;44001 44002\nnaissances;;;\n",
        encoding="utf-8-sig",
    )
    assert read_evaluation(path) == (
        EvaluationItem(indicator="taux_couverture_global", target=65.5, direction="hausse"),
        EvaluationItem(indicator="foyers_rsa", direction="baisse", communes=("44001", "44002")),
        EvaluationItem(indicator="naissances"),
    )


def test_a_yaml_file(tmp_path):
    path = tmp_path / "ctg.yaml"
    path.write_text("- indicateur: foyers_rsa\n  cible: 3\n  sens: decrease\n  communes: ['49099']\n", encoding="utf-8")
    assert read_evaluation(path) == (
        EvaluationItem(indicator="foyers_rsa", target=3.0, direction="baisse", communes=("49099",)),
    )


@pytest.mark.parametrize(
    "content, message",
    [
        (
            "indicateur;cible\ntaux_couvertur;\n",
            ("line 2: unknown indicator 'taux_couvertur'; close ids: taux_couverture_eaje, taux_couverture_global"),
        ),
        ("indicateur;cible\nfoyers_rsa;beaucoup\n", "line 2: target 'beaucoup' is not a number"),
        ("indicateur;sens\nfoyers_rsa;mieux\n", "line 2: direction 'mieux' is hausse or baisse"),
        ("indicateur;objectif\nfoyers_rsa;3\n", "line 2: unknown column 'objectif'"),
        ("indicateur\ncroissance_annuelle\n", "croissance_annuelle is an evolution between two censuses"),
        ("indicateur;communes\nfoyers_rsa;4400\n", "line 2:"),
        ("indicateur\n", "no indicator listed"),
    ],
)
def test_a_bad_file_is_refused_with_the_file_the_line_and_the_rule(tmp_path, content, message):
    path = tmp_path / "ctg.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EvaluationFileError) as error:
        read_evaluation(path)
    assert str(error.value).startswith(str(path)) and message in str(error.value)


def test_the_command_refuses_a_bad_file_before_anything_runs(tmp_path):
    from flows.cli import app

    path = tmp_path / "ctg.csv"
    path.write_text("indicateur\nfoyers_rs\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--epci",
            DEMO_EPCI,
            "--evaluation",
            str(path),
            "--data-dir",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 2
    assert "unknown indicator 'foyers_rs'; close ids: foyers_rsa" in result.output
    assert not (tmp_path / "out").exists()


# -- the sections on the hand-made world ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world_view_and_series():
    inputs = world_inputs()
    table = diagnostic_table(None, inputs=inputs)
    world = Selection.model_construct(epci=E1)  # the world's invented SIREN has no check digit
    view = territory_view(table, MEMBERSHIP, world)
    from transforms.pipeline import select

    return view, select(S.compute_series(inputs), MEMBERSHIP, world)


def test_evaluation_with_a_user_file_says_the_trend_in_words(world_view_and_series):
    view, series = world_view_and_series
    items = (
        EvaluationItem(indicator="foyers_rsa", target=5.0),  # higher is a need: a fall is hoped for
        EvaluationItem(indicator="places_accueil_jeune_enfant", direction="hausse"),
        EvaluationItem(indicator="foyers_rsa", communes=(ALPHA, BRAVO)),
    )
    context = EV.build(view, series, 2023, items)
    assert context["years"] == [2023, 2024] and context["user_file"] is True
    rsa, places, alpha, bravo = context["rows"]
    # E1: 9,1 per 100 households in 2023 (910 / 10000) -> 4,55 in 2024 (455 / 10000): a fall of 4,55 points, the
    # hoped-for way; 4,55 <= the target 5 (a rate per 100 shows no « % »)
    assert rsa["cells"][0] == "9,1" and rsa["change"].startswith("↘\u202f\u22124,")
    assert rsa["verdict"] == "✔ dans le bon sens" and rsa["expected"] == "baisse"
    assert rsa["target_words"] == "objectif atteint"
    # places: the series ends in 2023, the baseline year: nothing to compare yet
    assert places["verdict"] == "non évaluable : aucune année publiée après l'année de référence"
    # Alpha: 2023 = 800 / 8000 = 10 per 100, 2024 = 400 / 8000 = 5; Bravo: 60 / 1200 = 5, 30 / 1200 = 2,5
    assert (alpha["scope"], alpha["cells"]) == ("Alpha", ["10,0", "5,0"])
    assert (bravo["scope"], bravo["cells"]) == ("Bravo", ["5,0", "2,5"])


def test_a_commune_outside_the_territory_is_refused(world_view_and_series):
    view, series = world_view_and_series
    with pytest.raises(ValueError, match="commune\\(s\\) 75056 of the row foyers_rsa are not in CC de Test"):
        EV.build(view, series, 2023, (EvaluationItem(indicator="foyers_rsa", communes=("75056",)),))


def test_a_definition_break_is_not_evaluated(world_view_and_series):
    view, series = world_view_and_series
    (row,) = EV.build(view, series, 2016, (EvaluationItem(indicator="part_suroccupation"),))["rows"]
    # 2016: 420 / 9400 = 4,5 % is shown, but under the older definition: no verdict
    assert row["cells"][0] == "4,5\u202f%"
    assert row["verdict"] == "non évaluable : définition modifiée entre les deux recensements"


def test_evaluation_without_a_file_shows_the_default_set(world_view_and_series):
    view, series = world_view_and_series
    context = EV.build(view, series, 2023, ())
    shown = [r["label"] for r in context["rows"]]
    assert context["user_file"] is False
    # every default id has rows in the world's series (Filosofi 2021 a single year): all shown, in their order
    assert all(not series.filter(pl.col("indicator") == i.indicator).is_empty() for i in DEFAULT_ITEMS)
    assert shown == [F.typography(get(i.indicator).label) for i in DEFAULT_ITEMS]
    poverty = context["rows"][[i.indicator for i in DEFAULT_ITEMS].index("taux_pauvrete")]
    # E1's poverty rate 16,0 % (Filosofi 2021) is outside the 2023-2024 columns: no verdict, said why
    assert poverty["cells"] == ["", ""] and (poverty["latest"], poverty["latest_year"]) == ("16,0\u202f%", 2021)
    assert poverty["verdict"] == "non évaluable : aucune année publiée après l'année de référence"


def test_trend_table_and_charts_of_the_world(world_view_and_series):
    view, series = world_view_and_series
    context = TR.build(view, series, 2023)
    themes = {t["id"]: t for t in context["themes"]}
    revenus = themes["evolutions-revenus_precarite"]
    rsa = next(r for r in revenus["rows"] if r["label"].startswith("Foyers bénéficiaires du RSA"))
    # E1 9,1 -> 4,55 per 100 households (no « % »: a rate per 100); DEP 44 (Alpha + Bravo + Charlie + Delta + Echo): 2024 (455 + 10) / (10000 + 400)
    # = 4,471 %, 2023 twice the numerator 8,942 %: -4,471 pt -> "↘ −4,5 pt"
    assert rsa["baseline"] == "9,1" and rsa["latest_year"] == 2024
    assert rsa["refs"][0][1]["text"] == "↘\u202f\u22124,5\u202fpt"
    assert [c["id"] for c in revenus["charts"]] == [
        "tendance-foyers_rsa",
        "tendance-foyers_prime_activite",
        "tendance-foyers_aide_logement",
        "tendance-foyers_rsa-communes",
    ]
    assert "Cnaf, allocataires décembre 2023 à 2024 ; Insee, recensement 2022" == revenus["sources"]


# -- the demo report -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("baseline", [None, 2022])
def test_the_demo_epci_report_shows_trends_since_the_baseline(demo_store, tmp_path, baseline):
    site = build_site(
        demo_store, [Selection(epci=DEMO_EPCI)], tmp_path, demo=True, generated_at=WHEN, baseline=baseline
    )
    page = site.reports[0].read_text(encoding="utf-8")
    since = 2020 if baseline is None else 2022  # the default: the oldest year every yearly source holds
    for chart in (
        "tendance-naissances",
        "tendance-taux_couverture_global",
        "tendance-foyers_rsa",
        "tendance-places_accueil_jeune_enfant",
    ):
        assert f'id="{chart}"' in page
    assert f"référence {since}" in page and f"Évolution depuis {since}" in page
    assert f"Évaluation annuelle depuis {since}" in page
    # the 2015 gap of the births line is said under the chart
    assert "Valeur inconnue pour CC Vendée Sèvre Autise : 2015 (secret statistique)" in page


def test_the_demo_report_with_a_user_file(demo_store, tmp_path):
    items = (
        EvaluationItem(indicator="taux_couverture_global", target=65.0, direction="hausse"),
        EvaluationItem(indicator="foyers_rsa", communes=("85020",)),
    )
    site = build_site(
        demo_store, [Selection(epci=DEMO_EPCI)], tmp_path, demo=True, generated_at=WHEN, baseline=2021, evaluation=items
    )
    page = site.reports[0].read_text(encoding="utf-8")
    section = page[page.index('id="evaluation"') : page.index('id="observatoire-petite-enfance"')]
    assert "tels que listés dans le fichier" in section and section.count('<tr><th scope="row">') == 2
    assert "Benet" in section and "objectif non atteint" in section


def test_the_diagnostic_flow_takes_a_baseline_and_an_evaluation():
    from flows.diagnostic import diagnostic

    params = diagnostic.validate_parameters(
        {
            "territory": {"epci": DEMO_EPCI},
            "baseline": 2022,
            "evaluation": [{"indicator": "foyers_rsa", "target": 3.2, "direction": "baisse", "communes": ["85020"]}],
        }
    )
    assert params["baseline"] == 2022
    assert params["evaluation"] == [
        EvaluationItem(indicator="foyers_rsa", target=3.2, direction="baisse", communes=("85020",))
    ]
    schema = diagnostic.parameters.model_dump()["properties"]
    assert {"baseline", "evaluation"} <= set(schema)


def test_a_deployment_parameter_follows_the_same_rules():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown indicator 'foyers_rs'; close ids: foyers_rsa"):
        EvaluationItem(indicator="foyers_rs")
    with pytest.raises(ValidationError, match="direction 'mieux' is hausse or baisse"):
        EvaluationItem(indicator="foyers_rsa", direction="mieux")
    assert EvaluationItem(indicator="foyers_rsa", direction="Decrease").direction == "baisse"
