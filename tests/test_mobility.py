"""INSEE home-work flows (`base-flux-mobilite-domicile-lieu-travail`): parser `sources.mobility`.

The fixture is a hand-made file in the real layout (BOM, CRLF, decimal points, Paris by arrondissement on both
sides, a place abroad, an undetermined place, a commune in no EPCI); expected values are summed by hand below.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import polars as pl
import pytest

from sources import catalogue
from sources.errors import ParseError, SourceValidationError
from sources.mobility import stage

MEMBER = "base-flux-mobilite-domicile-lieu-travail-2022.csv"
FLOWS = """CODGEO;LIBGEO;DCLT;L_DCLT;NBFLUX_C22_ACTOCC15P
44043;Clisson;44043;Clisson;100.5
44043;Clisson;44064;Gorges;40
44043;Clisson;49099;Cholet;30.25
44043;Clisson;BE540;Bruxelles;2
44043;Clisson;ZZZZZ;Lieu indéterminé;7.25
44064;Gorges;44043;Clisson;55
44064;Gorges;75108;Paris 8e Arrondissement;5
85113;L'Île-d'Yeu;85113;L'Île-d'Yeu;800
85113;L'Île-d'Yeu;44043;Clisson;12
75115;Paris 15e Arrondissement;75108;Paris 8e Arrondissement;1000
75115;Paris 15e Arrondissement;75115;Paris 15e Arrondissement;500
75115;Paris 15e Arrondissement;69383;Lyon 3e Arrondissement;20
75108;Paris 8e Arrondissement;75108;Paris 8e Arrondissement;300
"""


def _zip(tmp_path: Path, text: str = FLOWS, member: str = MEMBER) -> dict[str, Path]:
    path = tmp_path / "base-flux-mobilite-domicile-lieu-travail-2022_csv.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    return {"main": path}


def _values(frame: pl.DataFrame, level: str, code: str) -> dict[str, float | None]:
    rows = frame.filter((pl.col("level") == level) & (pl.col("code") == code))
    return dict(rows.select("variable", "value").iter_rows())


def test_the_counts_of_each_place_of_residence(tmp_path, geo):
    staged = stage(catalogue.get("mobility", "2022"), _zip(tmp_path), geo)
    frame = staged.frame
    assert set(frame["year"].unique()) == {2022}
    # Clisson: 100.5 + 40 + 30.25 + 2 + 7.25 = 180 employed; 180 - 7.25 (ZZZZZ) = 172.75 with a known place;
    # 100.5 in Clisson; outside CA Clisson Sèvre et Maine: Cholet 30.25 + abroad 2 = 32.25 (Gorges is in it)
    assert _values(frame, "COM", "44043") == {
        "ACTOCC": 180.0,
        "ACTOCC_LIEU_CONNU": 172.75,
        "ACTOCC_MEME_COM": 100.5,
        "ACTOCC_HORS_EPCI": 32.25,
        "ACTOCC_ETRANGER": 2.0,
    }
    # Gorges: 55 + 5 = 60, none at home, Paris 8e (5) outside its EPCI
    assert _values(frame, "COM", "44064") == {
        "ACTOCC": 60.0,
        "ACTOCC_LIEU_CONNU": 60.0,
        "ACTOCC_MEME_COM": 0.0,
        "ACTOCC_HORS_EPCI": 5.0,
        "ACTOCC_ETRANGER": 0.0,
    }
    # L'Île-d'Yeu is in no EPCI: working outside the commune (12) is working outside "its EPCI"
    assert _values(frame, "COM", "85113")["ACTOCC_HORS_EPCI"] == 12.0
    # Paris 15e: 1000 + 500 + 20 = 1520; Paris 8e and 15e are both Paris: 1500 in the commune; Lyon 20 outside
    assert _values(frame, "ARM", "75115") == {
        "ACTOCC": 1520.0,
        "ACTOCC_LIEU_CONNU": 1520.0,
        "ACTOCC_MEME_COM": 1500.0,
        "ACTOCC_HORS_EPCI": 20.0,
        "ACTOCC_ETRANGER": 0.0,
    }


def test_a_city_with_arrondissements_missing_is_not_a_partial_sum(tmp_path, geo):
    frame = stage(catalogue.get("mobility", "2022"), _zip(tmp_path), geo).frame
    paris = frame.filter((pl.col("level") == "COM") & (pl.col("code") == "75056"))
    # 2 of Paris' 20 arrondissements in the file: the city's rows are null not_available, never 1520 + 300
    assert paris.height == 5
    assert paris["value"].null_count() == 5
    assert set(paris["status"]) == {"not_available"}


def test_the_places_of_work_outside_each_commune(tmp_path, geo):
    frame = stage(catalogue.get("mobility_destinations", "2022"), _zip(tmp_path), geo).frame
    assert _values(frame, "COM", "44043") == {"44064": 40.0, "49099": 30.25, "ETRANGER": 2.0}
    # Paris 8e is Paris: Gorges' 5 go to the city
    assert _values(frame, "COM", "44064") == {"44043": 55.0, "75056": 5.0}
    # within Paris (15e -> 8e) is not outside the commune; Lyon 3e is Lyon
    assert _values(frame, "COM", "75056") == {"69123": 20.0}
    assert frame.filter(pl.col("level") == "ARM").is_empty()


def test_the_places_of_work_of_a_run_are_summed_and_staged_in_key_order(tmp_path, geo):
    # rows out of order; three arrondissements of Lyon and two places abroad, each group a run once sorted
    text = """CODGEO;LIBGEO;DCLT;L_DCLT;NBFLUX_C22_ACTOCC15P
85113;L'Île-d'Yeu;44043;Clisson;12
44043;Clisson;69383;Lyon 3e Arrondissement;1.5
44043;Clisson;BE540;Bruxelles;2
44043;Clisson;69381;Lyon 1er Arrondissement;2.25
44043;Clisson;LU320;Luxembourg;0.5
44043;Clisson;44064;Gorges;40
44043;Clisson;69382;Lyon 2e Arrondissement;0.125
"""
    frame = stage(catalogue.get("mobility_destinations", "2022"), _zip(tmp_path, text), geo).frame
    assert frame.select("code", "variable", "value").rows() == [
        ("44043", "44064", 40.0),
        ("44043", "69123", 3.875),  # Lyon: 1.5 + 2.25 + 0.125
        ("44043", "ETRANGER", 2.5),  # abroad: 2 + 0.5
        ("85113", "44043", 12.0),
    ]


def test_a_residence_working_only_at_home_has_no_destination_rows(tmp_path, geo):
    text = "CODGEO;LIBGEO;DCLT;L_DCLT;NBFLUX_C22_ACTOCC15P\n85113;L'Île-d'Yeu;85113;L'Île-d'Yeu;800\n"
    frame = stage(catalogue.get("mobility_destinations", "2022"), _zip(tmp_path, text), geo).frame
    assert frame.is_empty()


def test_the_year_is_read_from_the_measure_name(tmp_path, geo):
    text = FLOWS.replace("NBFLUX_C22_ACTOCC15P", "NBFLUX_C21_ACTOCC15P")
    with pytest.raises(SourceValidationError, match="NBFLUX_C22_ACTOCC15P"):  # the catalogue's 2022 entry
        stage(catalogue.get("mobility", "2022"), _zip(tmp_path, text), geo)
    two = FLOWS.replace("NBFLUX_C22_ACTOCC15P", "NBFLUX_C22_ACTOCC15P;NBFLUX_C21_ACTOCC15P").replace("\n4", ";1\n4")
    with pytest.raises(ParseError, match="expected one column NBFLUX_CYY_ACTOCC15P"):
        stage(catalogue.get("mobility", "2022"), _zip(tmp_path, two), geo)


@pytest.mark.parametrize(
    "old, new, column, rule",
    [
        ("44043;Clisson;49099", "4404;Clisson;49099", "CODGEO", "a commune or arrondissement code"),
        ("44064;Gorges;75108", "44064;Gorges;BELG", "DCLT", "place of work"),
        ("Cholet;30.25", "Cholet;-3", "NBFLUX_C22_ACTOCC15P", "a number >= 0"),
        ("Cholet;30.25", "Cholet;s", "NBFLUX_C22_ACTOCC15P", "a number >= 0"),
    ],
)
def test_a_bad_row_is_named(tmp_path, geo, old, new, column, rule):
    with pytest.raises(SourceValidationError) as info:
        stage(catalogue.get("mobility", "2022"), _zip(tmp_path, FLOWS.replace(old, new)), geo)
    message = str(info.value)
    assert MEMBER in message and f"column {column!r}" in message and rule in message


def test_a_residence_unknown_to_the_cog_is_refused(tmp_path, geo):
    text = FLOWS.replace("44064;Gorges;44043", "44999;Nulle part;44043")
    with pytest.raises(SourceValidationError, match="code known to the COG"):
        stage(catalogue.get("mobility", "2022"), _zip(tmp_path, text), geo)


@pytest.mark.parametrize("table", ["mobility", "mobility_destinations"])
@pytest.mark.parametrize(
    "old, new, rule",
    [
        ("44064;Gorges;44043", "44999;Nulle part;44043", "code known to the COG"),
        ("Cholet;30.25", "Cholet;3000001", "count at level COM at most 3 000 000"),
    ],
)
def test_each_table_refuses_a_row_that_breaks_a_rule(tmp_path, geo, table, old, new, rule):
    """The destinations are screened on their own rows (a residence's code once, each value): a rule broken there
    still sends them to validation, whose error names it."""
    with pytest.raises(SourceValidationError, match=rule):
        stage(catalogue.get(table, "2022"), _zip(tmp_path, FLOWS.replace(old, new)), geo)


def test_the_demo_file_stages_every_commune_of_the_world(demo_files, geo):
    from sources.demo.world import COMMUNES

    staged = stage(catalogue.get("mobility", "2022"), demo_files("mobility", "2022"), geo)
    communes = set(staged.frame.filter(pl.col("level") == "COM")["code"])
    assert communes == {c.code for c in COMMUNES}
    # every whole is at least its parts, and the city is the sum of its arrondissements
    paris = _values(staged.frame, "COM", "75056")["ACTOCC"]
    arms = staged.frame.filter(
        (pl.col("level") == "ARM") & pl.col("code").str.starts_with("751") & (pl.col("variable") == "ACTOCC")
    )["value"].sum()
    assert paris == pytest.approx(arms)


# -- the report's places of work -------------------------------------------------------------------------------


def _staged(rows: list[tuple[str, str, float | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        [("COM", c, 2022, v, x, None if x is not None else "secret") for c, v, x in rows],
        schema={
            "level": pl.String,
            "code": pl.String,
            "year": pl.Int32,
            "variable": pl.String,
            "value": pl.Float64,
            "status": pl.String,
        },
        orient="row",
    )


def test_the_places_of_work_of_a_territory_leave_it():
    from reports.sections.workplaces import places_of_work
    from transforms.compute import Inputs

    destinations = _staged(
        [
            ("44043", "44064", 40.0),
            ("44043", "49099", 30.0),
            ("44043", "ETRANGER", 2.0),
            ("44064", "44043", 55.0),
            ("44064", "49099", 10.0),
            ("44064", "75056", None),
        ]
    )
    summary = _staged(
        [
            ("44043", "ACTOCC_LIEU_CONNU", 172.0),
            ("44064", "ACTOCC_LIEU_CONNU", 68.0),
            ("49099", "ACTOCC_LIEU_CONNU", 900.0),
        ]
    )
    inputs = Inputs(
        staged={"mobility_destinations": destinations, "mobility": summary}, vintages={}, membership=pl.DataFrame()
    )
    flows, total = places_of_work(inputs, ["44043", "44064"])
    # Clisson <-> Gorges stays inside; Cholet 30 + 10 = 40, abroad 2; the secret cell adds nothing
    assert flows.rows() == [("49099", 40.0), ("ETRANGER", 2.0)]
    assert total == 172.0 + 68.0
    # one commune alone: Gorges is outside it
    flows, total = places_of_work(inputs, ["44043"])
    assert flows.rows() == [("44064", 40.0), ("49099", 30.0), ("ETRANGER", 2.0)] and total == 172.0


def test_without_staged_flows_there_is_no_section():
    from reports.sections.workplaces import places_of_work
    from transforms.compute import Inputs

    flows, total = places_of_work(Inputs(staged={}, vintages={}, membership=pl.DataFrame()), ["44043"])
    assert flows.is_empty() and total is None


def test_a_part_above_its_whole_is_refused():
    from sources.mobility import PART_TOLERANCE, PARTS, SUMMARY_VARIABLES
    from sources.validation import Rules, validate
    from sources.values import finish

    # the counts are derived from the flows, so only a bug could break the parts: the rule still runs at staging
    values = {
        "ACTOCC": 100.0,
        "ACTOCC_LIEU_CONNU": 90.0,
        "ACTOCC_MEME_COM": 95.0,
        "ACTOCC_HORS_EPCI": 5.0,
        "ACTOCC_ETRANGER": 0.0,
    }
    long = pl.DataFrame(
        {
            "level": "COM",
            "code": "44043",
            "year": 2022,
            "variable": list(values),
            "value": list(values.values()),
            "status": None,
        },
        schema_overrides={"year": pl.Int32, "status": pl.String},
    )
    rules = Rules(
        kinds=dict.fromkeys(SUMMARY_VARIABLES, "count"),
        levels=("COM", "ARM"),
        code_column="CODGEO",
        parts=PARTS,
        part_tolerance=PART_TOLERANCE,
    )
    with pytest.raises(SourceValidationError) as info:
        validate(finish(long, "mobility", "2022"), rules, source="mobility", file=MEMBER)
    assert "ACTOCC_MEME_COM" in str(info.value) and "never above ACTOCC_LIEU_CONNU" in str(info.value)


def _workplaces_body(rows: list[dict]) -> str:
    from reports.sections.workplaces import SECTION
    from reports.templating import compiled

    context = {
        "territory": "CC Test",
        "total": "240",
        "leaving": "42" if rows else "0",
        "leaving_share": "17,5 %" if rows else "0,0 %",
        "rows": rows,
        "rest": None,
        "outside": "du territoire",
        "inside": "sur le territoire",
        "source": "Insee, RP 2022",
    }
    return compiled(SECTION.template).render(context)


def test_a_territory_nobody_leaves_has_no_empty_table_of_places():
    body = _workplaces_body([])
    assert "0 (0,0 %) travaillent en dehors du territoire." in body
    assert "<table" not in body and "principaux lieux" not in body.lower()
    assert "Source : Insee, RP 2022" in body


def test_the_places_of_work_are_listed_when_some_leave():
    row = {"rank": 1, "place": "Cholet (49)", "flow": "40", "share": "16,7 %"}
    body = _workplaces_body([row])
    assert "Leurs principaux lieux de travail :</p>" in body
    assert body.count("<tr>") == 2 and '<th scope="row">Cholet (49)</th><td>40</td><td>16,7 %</td>' in body


# -- the file read once for its two tables ---------------------------------------------------------------------


def _counting_reads(monkeypatch) -> list[str]:
    """A fresh `SharedRead`, and the names of the files `read_csv_file` reads from here on."""
    import sources.mobility as mobility

    reads: list[str] = []
    real = mobility.read_csv_file

    def counted(path, *args, **kwargs):
        reads.append(path.name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(mobility, "READS", mobility.SharedRead())
    monkeypatch.setattr(mobility, "read_csv_file", counted)
    return reads


def _copy(files: dict[str, Path], folder: Path) -> dict[str, Path]:
    """The same download in another folder (each entry has its own raw file)."""
    folder.mkdir()
    copy = folder / files["main"].name
    copy.write_bytes(files["main"].read_bytes())
    return {"main": copy}


def test_the_two_tables_of_one_file_read_it_once(tmp_path, geo, monkeypatch):
    reads = _counting_reads(monkeypatch)
    files = _zip(tmp_path)
    summary = stage(catalogue.get("mobility", "2022"), files, geo).frame
    destinations = stage(catalogue.get("mobility_destinations", "2022"), _copy(files, tmp_path / "other"), geo).frame
    assert len(reads) == 1
    # the same tables as read alone: Clisson's 180 employed, its 40 to Gorges
    assert _values(summary, "COM", "44043")["ACTOCC"] == 180.0
    assert _values(destinations, "COM", "44043")["44064"] == 40.0
    # both tables took the flows: they are let go, and the next refresh reads the file again
    stage(catalogue.get("mobility", "2022"), files, geo)
    assert len(reads) == 2


def test_a_changed_file_is_read_again(tmp_path, geo, monkeypatch):
    reads = _counting_reads(monkeypatch)
    stage(catalogue.get("mobility", "2022"), _zip(tmp_path), geo)
    (tmp_path / "changed").mkdir()
    changed = _zip(tmp_path / "changed", FLOWS.replace("Gorges;40", "Gorges;41"))
    destinations = stage(catalogue.get("mobility_destinations", "2022"), changed, geo).frame
    assert len(reads) == 2
    assert _values(destinations, "COM", "44043")["44064"] == 41.0


def test_the_tables_staged_at_once_read_the_file_once(tmp_path, geo, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    reads = _counting_reads(monkeypatch)
    files = _zip(tmp_path)
    entries = [(catalogue.get("mobility", "2022"), files)]
    entries.append((catalogue.get("mobility_destinations", "2022"), _copy(files, tmp_path / "other")))
    with ThreadPoolExecutor(2) as pool:
        staged = list(pool.map(lambda pair: stage(*pair, geo), entries))
    assert len(reads) == 1
    summary, destinations = (s.frame for s in staged)
    assert _values(summary, "COM", "44043")["ACTOCC"] == 180.0
    assert _values(destinations, "COM", "44043")["44064"] == 40.0


def test_a_file_that_fails_is_refused_by_each_table(tmp_path, geo, monkeypatch):
    reads = _counting_reads(monkeypatch)
    files = _zip(tmp_path, FLOWS.replace("Cholet;30.25", "Cholet;-3"))
    for source in ("mobility", "mobility_destinations"):
        with pytest.raises(SourceValidationError) as info:
            stage(catalogue.get(source, "2022"), files, geo)
        assert info.value.source == source and "a number >= 0" in str(info.value)
    assert len(reads) == 2
