"""The catalogue (`transforms/indicators.toml`): its own rules, and every variable it reads exists in the staged tables.

The staged tables are those of the demo store, refreshed once for this module through the demo mirror (real HTTP on
127.0.0.1): their columns are the catalogue's expected columns of each source (sources/catalogue.toml).
"""

from __future__ import annotations

import dataclasses

import polars as pl
import pytest

from sources.bpe import LATER_TYPES
from sources.refresh import refresh
from storage.store import Store
from transforms.compute import Inputs
from transforms.pipeline import load_inputs, provenance
from transforms.registry import DIRECTIONS, KINDS, PUBLISHED_SOURCES, THEMES, UNITS, Indicator, Term, check, indicators


@pytest.fixture(scope="module")
def demo_inputs(tmp_path_factory, demo_mirror) -> Inputs:
    store = Store(tmp_path_factory.mktemp("indicators-registry"))
    report = refresh(store=store, mirror=demo_mirror.url, progress=False)
    assert not report.failed
    return load_inputs(store)


def test_at_least_45_indicators_with_unique_ids():
    ids = [i.id for i in indicators()]
    assert len(ids) >= 45
    assert len(set(ids)) == len(ids)


def test_every_indicator_is_defined_labelled_directed_and_themed():
    for i in indicators():
        assert i.label.strip() and i.definition.strip(), i.id
        assert i.direction in DIRECTIONS and i.theme in THEMES and i.kind in KINDS and i.unit in UNITS, i.id


def test_every_theme_has_indicators():
    used = {i.theme for i in indicators()}
    assert used == set(THEMES)


def test_issue_indicators_are_present():
    """The indicators the issue names, by theme (a catalogue edit cannot drop one silently)."""
    ids = {i.id for i in indicators()}
    assert {
        "population",
        "croissance_annuelle",
        "croissance_solde_naturel",
        "croissance_solde_migratoire",
        "naissances",
        "indice_jeunesse",
        "part_0002",
        "part_0305",
        "part_0610",
        "part_1117",
        "part_1824",
        "part_75p",
    } <= ids
    assert {
        "part_familles_monoparentales",
        "part_familles_nombreuses",
        "part_couples_avec_enfants",
        "part_menages_une_personne",
        "taille_moyenne_menages",
    } <= ids
    assert {
        "enfants_moins_3_ans",
        "taux_couverture_global",
        "taux_couverture_eaje",
        "taux_couverture_assmat",
        "taux_couverture_domicile",
        "taux_couverture_prescolarisation",
        "places_accueil_jeune_enfant",
        "foyers_paje",
        "foyers_cmg",
        "foyers_prepare",
    } <= ids
    assert {"taux_scolarisation_1824", "part_non_diplomes", "foyers_af", "foyers_cf", "foyers_asf"} <= ids
    assert {
        "revenu_median",
        "taux_pauvrete",
        "rapport_interdecile",
        "part_menages_imposes",
        "part_prestations_sociales",
        "population_couverte_caf",
        "foyers_rsa",
        "foyers_prime_activite",
        "foyers_aide_logement",
    } <= ids
    assert {"taux_chomage_rp", "taux_activite_femmes", "taux_emploi_femmes"} <= ids
    assert {
        "part_proprietaires",
        "part_locataires",
        "part_locataires_hlm",
        "taux_vacance",
        "part_suroccupation",
        "part_menages_sans_voiture",
    } <= ids
    assert {"indice_vieillissement", "part_80p", "part_80p_seuls"} <= ids


def test_ratios_declare_a_minimum_denominator_and_a_scale_matching_their_unit():
    for i in indicators():
        if i.kind != "ratio":
            continue
        assert i.min_denominator > 0, i.id
        # a percentage, "per 100" or an index is x 100; "per 1,000" x 1000; a mean (persons per household) is x 1
        assert i.scale == {"percent": 100, "per100": 100, "index": 100, "per1000": 1000}.get(i.unit, 1), i.id


def test_what_the_issue_says_about_definitions():
    by_id = {i.id: i for i in indicators()}
    assert "BIT" in by_id["taux_chomage_rp"].caveat  # the census rate is not the ILO rate: said
    assert "familles avec" in by_id["part_familles_monoparentales"].definition  # its denominator is said
    assert by_id["part_suroccupation"].evolution is False  # the 2022 definition break
    assert [i.id for i in indicators() if not i.evolution] == ["part_suroccupation"]
    assert by_id["taux_couverture_global"].fallback == "epci"


def test_the_checker_refuses_a_broken_catalogue():
    good = indicators()[0]
    with pytest.raises(ValueError, match="duplicated id population"):
        check((good, good))
    with pytest.raises(ValueError, match="unknown theme"):
        check((dataclasses.replace(good, theme="loisirs"),))
    with pytest.raises(ValueError, match="unknown direction"):
        check((dataclasses.replace(good, direction="up"),))
    with pytest.raises(ValueError, match="a label and a definition are required"):
        check((dataclasses.replace(good, definition=""),))
    with pytest.raises(ValueError, match="needs a numerator and a denominator"):
        check(
            (
                Indicator(
                    id="x",
                    theme="familles",
                    label="x",
                    kind="ratio",
                    unit="percent",
                    direction="neutral",
                    definition="x",
                    numerator=(Term("rp_families", "C_FAM"),),
                ),
            )
        )
    with pytest.raises(ValueError, match="'source:VARIABLE'"):
        Term.parse("C_FAM")
    # « pour 100 allocataires » is not a share of the allocataires' population: never shown with « % »
    with pytest.raises(ValueError, match="needs unit per100, not percent"):
        check((dataclasses.replace(good, label="Foyers bénéficiaires (pour 100 ménages)", unit="percent"),))


def _variables(frame: pl.DataFrame, year: int) -> set[str]:
    return set(frame.filter(pl.col("year") == year)["variable"].unique().to_list())


def test_every_term_exists_in_the_staged_table_of_its_source(demo_inputs):
    """Each variable an indicator reads is in its source's staged table, at the year the engine reads."""
    missing = []
    for ind in indicators():
        if ind.published:
            for level, source in PUBLISHED_SOURCES[ind.published.source].items():
                frame = demo_inputs.staged[source]
                if ind.published.variable not in _variables(frame, int(frame["year"].max())):
                    missing.append(f"{ind.id}: {source}:{ind.published.variable} ({level})")
            continue
        for term in ind.terms:
            frame = demo_inputs.staged[term.source]
            if ind.kind in ("natural", "migration") and term.source in ("births", "deaths"):
                main = demo_inputs.main_year("rp_population")
                years = range(demo_inputs.comparison_year("rp_population"), main)  # the years between censuses
            else:
                years = [demo_inputs.main_year(term.source)]
            for year in years:
                # a BPE type introduced after the demo's release (micro-crèches) is absent by design: null there
                later = term.source == "bpe" and LATER_TYPES.get(term.variable, 0) > year
                if term.variable not in _variables(frame, year) and not later:
                    missing.append(f"{ind.id}: {term.key} in {year}")
    assert not missing, missing


def test_every_indicator_has_a_source_and_a_year(demo_inputs):
    prov = provenance(demo_inputs, indicators())
    assert prov.height == len(indicators())
    assert prov["year"].null_count() == 0
    assert all(s and "?" not in s for s in prov["source"].to_list())
    by_id = dict(zip(prov["indicator"].to_list(), prov["source"].to_list()))
    assert by_id["revenu_median"] == "Insee, Filosofi 2021"
    assert by_id["taux_chomage_rp"] == "Insee, recensement 2022"
    assert by_id["taux_couverture_global"] == "Cnaf, ONAPE 2023"


def test_every_unit_has_its_formats_in_every_output():
    from reports import formats as F
    from transforms import export, wide
    from transforms.registry import DIRECTIONS, UNITS

    assert set(UNITS) <= set(wide.NUMBER_FORMATS), "the wide XLSX has no number format for a unit"
    assert set(UNITS) <= set(export.UNITS_FR), "the long exports have no label for a unit"
    assert set(UNITS) <= set(F.DECIMALS) and set(UNITS) <= set(F.UNIT_HINTS), "the report cannot show a unit"
    assert set(export.DIRECTIONS_FR) >= set(DIRECTIONS), "the long exports cannot say a direction"
