"""The « Constats »: sentences of a hand-made territory compared with sentences written by hand."""

from __future__ import annotations

import polars as pl

from reports.constats import gap_class, theme_constats
from reports.view import COMMUNES, REFERENCES, TERRITORY, Place, TerritoryView
from transforms.pipeline import Selection
from transforms.registry import indicators

NNBSP = "\u202f"
MINUS = "\u2212"
IND = {i.id: i for i in indicators()}

TERR = Place("EPCI", "200000172", "CC du Test", TERRITORY)
AUBIGNY, BOURG, CHAMPS = (
    Place("COM", c, n, COMMUNES) for c, n in (("85008", "Aubigny"), ("85031", "Bourg"), ("85048", "Champs"))
)
DEP = Place("DEP", "85", "Vendée", REFERENCES)
FR = Place("FRANCE", "FR", "France", REFERENCES)


def row(value, *, status=None, flag=None, year=2021, **more) -> dict:
    return {"value": value, "status": status, "flag": flag, "year": year, **more}


def view_of(cells: dict, communes=(AUBIGNY, BOURG, CHAMPS)) -> TerritoryView:
    places = (*communes, TERR, DEP, FR)
    return TerritoryView(
        Selection(epci=TERR.code),
        pl.DataFrame(),
        places,
        tuple(communes),
        TERR,
        DEP,
        {(p.level, p.code, ind): r for (p, ind), r in cells.items()},
    )


def test_gaps_in_words_follow_the_rules():
    # relative to the reference: 10.4 / 10.0 = +4 % -> near; 10.5 -> +5 % -> above; 12.0 -> +20 % -> marked
    assert gap_class(10.4, 10.0, "percent") == 0
    assert gap_class(10.5, 10.0, "percent") == 1
    assert gap_class(12.0, 10.0, "percent") == 2
    assert gap_class(7.9, 10.0, "percent") == -2  # -21 %
    # 10.04 and 10.0 both print 10,0 %: the reader sees no gap
    assert gap_class(10.04, 10.0, "percent") == 0
    # annual growth compares in points: 0.14 vs 0.16 (0.02 pt) near; 0.14 vs -0.38 (0.52 pt) marked
    assert gap_class(0.14, 0.16, "percent_per_year") == 0
    assert gap_class(0.14, -0.38, "percent_per_year") == 2
    assert gap_class(0.14, 0.0, "percent_per_year") == 1  # 0.14 pt, between 0.10 and 0.50


def income_view() -> TerritoryView:
    return view_of(
        {
            # poverty rate: the territory 15.4 against 14.0 (+10 %) and 14.5 (+6.2 %): above both, a priorité
            (TERR, "taux_pauvrete"): row(15.4, flag="priorité"),
            (DEP, "taux_pauvrete"): row(14.0),
            (FR, "taux_pauvrete"): row(14.5),
            (AUBIGNY, "taux_pauvrete"): row(21.3, flag="priorité"),
            (BOURG, "taux_pauvrete"): row(None, status="secret"),
            (CHAMPS, "taux_pauvrete"): row(8.2),
            # median income: 21 600 against 21 900 (-1.4 %, near) and 23 000 (-6.1 %, below)
            (TERR, "revenu_median"): row(21600.0),
            (DEP, "revenu_median"): row(21900.0),
            (FR, "revenu_median"): row(23000.0),
            # the interdecile ratio of the territory is secret: no comparison, said not available
            (TERR, "rapport_interdecile"): row(None, status="secret"),
            (DEP, "rapport_interdecile"): row(3.1),
            (FR, "rapport_interdecile"): row(3.4),
        }
    )


def test_constats_of_a_hand_made_territory():
    items = [IND["revenu_median"], IND["taux_pauvrete"], IND["rapport_interdecile"]]
    constats = theme_constats(income_view(), "revenus_precarite", items, IND["taux_pauvrete"])
    assert constats.sentences == (
        # the priorité first, both gaps in the same class share their words
        f"Taux de pauvreté (seuil à 60{NNBSP}%) : 15,4{NNBSP}% en 2021, au-dessus des niveaux départemental "
        f"(Vendée : 14,0{NNBSP}%) et national (14,5{NNBSP}%) ; priorité.",
        # a small gap is "proche de"
        f"Niveau de vie médian : 21{NNBSP}600{NNBSP}€ en 2021, proche du niveau départemental "
        f"(Vendée : 21{NNBSP}900{NNBSP}€) et en dessous du niveau national (23{NNBSP}000{NNBSP}€).",
        # the flagged commune; Bourg's secret is not a value, and two communes with a value give no spread
        f"Communes signalées : Aubigny (priorité : taux de pauvreté (seuil à 60{NNBSP}%) à 21,3{NNBSP}%).",
        "Non disponible pour CC du Test : Rapport interdécile D9/D1 (secret statistique).",
    )


def test_evolution_and_spread_between_communes():
    view = view_of(
        {
            # 31.1 against 29.4 (+5.8 %, above) and 34.3 (-9.3 %, below); +1.8 points since 2016 from 29.3
            (TERR, "part_familles_monoparentales"): row(
                31.1, year=2022, evolution=1.8, evolution_unit="points", comparison_year=2016, value_comparison=29.3
            ),
            (DEP, "part_familles_monoparentales"): row(29.4, year=2022),
            (FR, "part_familles_monoparentales"): row(34.3, year=2022),
            (AUBIGNY, "part_familles_monoparentales"): row(37.6, year=2022),
            (BOURG, "part_familles_monoparentales"): row(27.8, year=2022),
            (CHAMPS, "part_familles_monoparentales"): row(30.0, year=2022),
        }
    )
    item = IND["part_familles_monoparentales"]
    label = "Part des familles monoparentales (parmi les familles avec enfants)"
    assert theme_constats(view, "familles", [item], item).sentences == (
        f"{label} : 31,1{NNBSP}% en 2022, au-dessus du niveau départemental (Vendée : 29,4{NNBSP}%) et en dessous "
        f"du niveau national (34,3{NNBSP}%). En hausse de 1,8 point depuis 2016 (29,3{NNBSP}% en 2016).",
        f"{label} selon les communes : de 27,8{NNBSP}% (Bourg) à 37,6{NNBSP}% (Aubigny).",
    )


def test_a_growth_rate_is_given_over_its_period_and_a_stable_evolution_said_stable():
    view = view_of(
        {
            # +0.14 against +0.16 (0.02 pt: near) and -0.38 (0.52 pt: marked)
            (TERR, "croissance_annuelle"): row(0.14, year=2022),
            (DEP, "croissance_annuelle"): row(0.16, year=2022),
            (FR, "croissance_annuelle"): row(-0.38, year=2022),
            # 40.84 % in 2016, 40.8 % now: -0.04 pt, which rounds to 0,0 pt
            (TERR, "part_menages_une_personne"): row(
                40.8, year=2022, evolution=-0.04, evolution_unit="points", comparison_year=2016, value_comparison=40.84
            ),
        }
    )
    growth = theme_constats(view, "demographie", [IND["croissance_annuelle"]], None, comparison_year=2016)
    assert growth.sentences == (
        f"Taux de variation annuel moyen de la population : +0,14{NNBSP}% par an entre 2016 et 2022, proche du "
        f"niveau départemental (Vendée : +0,16{NNBSP}% par an) et nettement au-dessus du niveau national "
        f"({MINUS}0,38{NNBSP}% par an).",
    )
    single = theme_constats(view, "familles", [IND["part_menages_une_personne"]], None)
    # -0.04 pt rounds to 0,0 pt: stable; no reference has a value, so no comparison is written
    assert single.sentences == (
        f"Part des ménages d'une personne : 40,8{NNBSP}% en 2022. Stable depuis 2016 (40,8{NNBSP}% en 2016).",
    )


def test_a_commune_is_compared_with_its_epci_first_and_a_borrowed_value_is_not_its_own():
    commune = Place("COM", "85008", "Aubigny", COMMUNES)
    epci = Place("EPCI", TERR.code, TERR.name, REFERENCES)
    cells = {
        ("COM", "85008", "taux_chomage_rp"): row(12.0, year=2022),
        ("EPCI", TERR.code, "taux_chomage_rp"): row(10.0, year=2022),
        ("DEP", "85", "taux_chomage_rp"): row(11.9, year=2022),
        ("COM", "85008", "taux_couverture_global"): row(61.0, status="epci_fallback", year=2023),
        ("EPCI", TERR.code, "taux_couverture_global"): row(61.0, year=2023),
    }
    view = TerritoryView(
        Selection(commune="85008"), pl.DataFrame(), (commune, epci, DEP), (commune,), commune, DEP, cells
    )
    items = [IND["taux_chomage_rp"], IND["taux_couverture_global"]]
    constats = theme_constats(view, "emploi_insertion", items, None)
    # 12.0 against 10.0 (+20 %: marked) and 11.9 (+0.8 %: near); no France row: left out
    assert constats.sentences == (
        f"{IND['taux_chomage_rp'].label} : 12,0{NNBSP}% en 2022, nettement au-dessus du niveau intercommunal "
        f"(CC du Test : 10,0{NNBSP}%) et proche du niveau départemental (Vendée : 11,9{NNBSP}%).",
    )
