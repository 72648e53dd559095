"""Damaged data that parses: NaN/inf, absurd counts, a part above its whole, a truncated or header-only file.

Inputs are the demo files (real formats) with one cell or a few lines changed; expected values are the literal
cells of those files, quoted in the comments, and the arithmetic is done by hand.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from sources import catalogue, coverage
from sources.caf_benefits import stage as stage_benefits
from sources.caf_childcare import stage as stage_childcare
from sources.census import stage as stage_census
from sources.demo.files import entry_path
from sources.errors import SourceValidationError
from sources.mirror import serve
from sources.refresh import refresh, summary_markdown
from sources.staging import Staged
from sources.validation import FINITE_RULE
from storage.manifest import EntryRecord, StagedRecord
from storage.store import Store
from tests.flow_support import mirror_copy
from tests.test_caf import _edit, _replace_line
from tests.test_census import edited_zip, replace_line

BEN = catalogue.get("caf_benefits", "2024")
POP22 = catalogue.get("rp_population", "2022")
POP_MEMBER = "base-cc-evol-struct-pop-2022.CSV"
BEN_FILE = "s_ben_com_f.csv"
# `2024-12;49099;CHOLET;9055;21825;3803300.0;1650;110;905;…`: indfoy_ndur 9055, indnbp_ndur 21825,
# indfoy_ndurpaje 1650, indfoy_pn 110, indfoy_ab 905; …;indfoy_rsa 1295
CHOLET_2024 = "2024-12;49099"


def only(err: SourceValidationError):
    assert len(err.failures) == 1, str(err)
    return err.failures[0]


def _drop_lines(*prefixes: str):
    def edit(lines: list[str]) -> list[str]:
        kept = [line for line in lines if not line.startswith(prefixes)]
        assert len(kept) < len(lines), prefixes
        return kept

    return edit


# -- finite values ---------------------------------------------------------------------------------------------


def test_nan_in_a_caf_count_is_refused(demo_files, tmp_path, geo):
    path = _edit(demo_files("caf_benefits", "2024")["main"], tmp_path, _replace_line(CHOLET_2024, "1295", "NaN"))
    with pytest.raises(SourceValidationError) as err:
        stage_benefits(BEN, {"main": path}, geo)
    failure = only(err.value)  # neither the rounding rule nor a part/whole rule repeats it
    assert (failure.column, failure.rule, failure.count) == ("indfoy_rsa", FINITE_RULE, 1)
    assert failure.samples == ["COM 49099 2024-12 = nan"]
    assert BEN_FILE in str(err.value) and "nothing was staged" in str(err.value)


def test_inf_in_a_census_count_is_refused(tmp_path, geo):
    path = edited_zip(tmp_path, "rp_population", "2022", replace_line("44043", "P22_POP", "inf"))
    with pytest.raises(SourceValidationError) as err:
        stage_census(POP22, {"main": path}, geo)
    failure = only(err.value)
    assert (failure.column, failure.rule) == ("P22_POP", FINITE_RULE)
    assert failure.samples == ["COM 44043 2022 = inf"]
    assert POP_MEMBER in str(err.value)


def test_minus_inf_in_a_caf_rate_is_refused(demo_files, tmp_path, geo):
    # `2017;49099;CHOLET;…;txcouv_com = 59.5`
    files = demo_files("caf_coverage_com", "2024")
    path = _edit(files["main"], tmp_path, _replace_line("2017;49099", "59.5", "-inf"))
    with pytest.raises(SourceValidationError) as err:
        stage_childcare(catalogue.get("caf_coverage_com", "2024"), {"main": path}, geo)
    failure = only(err.value)
    assert (failure.column, failure.rule) == ("txcouv_com", FINITE_RULE)
    assert failure.samples == ["COM 49099 2017 = -inf"]
    assert "txcouv_pe_com.csv" in str(err.value)


# -- plausible counts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code, value, rule, shown",
    [
        ("44043", "1e300", "count at level COM at most 3 000 000 (plausible for France)", "COM 44043 2022 = 1e+300"),
        # the 15e arrondissement (232 508 in the demo, 0.23 M in reality) given 600 000
        ("75115", "600000", "count at level ARM at most 500 000 (plausible for France)", "ARM 75115 2022 = 600000.0"),
    ],
)
def test_an_absurd_population_is_refused(tmp_path, geo, code, value, rule, shown):
    path = edited_zip(tmp_path, "rp_population", "2022", replace_line(code, "P22_POP", value))
    with pytest.raises(SourceValidationError) as err:
        stage_census(POP22, {"main": path}, geo)
    failure = only(err.value)
    assert (failure.column, failure.rule, failure.samples) == ("P22_POP", rule, [shown])


def test_paris_is_below_the_commune_bound(demo_files, geo):
    # 75056 P22_POP 2 113 705 (the real order of size) passes the 3 000 000 bound
    frame = stage_census(POP22, demo_files("rp_population", "2022"), geo).frame
    paris = frame.filter((pl.col("code") == "75056") & (pl.col("variable") == "P_POP") & (pl.col("year") == 2022))
    assert paris["value"].to_list() == [2113705]


# -- a part never above its whole ------------------------------------------------------------------------------


def test_caf_part_above_its_whole_is_refused(demo_files, tmp_path, geo):
    # indfoy_ab 905 -> 1660 > indfoy_ndurpaje 1650 + 5
    path = _edit(demo_files("caf_benefits", "2024")["main"], tmp_path, _replace_line(CHOLET_2024, "905", "1660"))
    with pytest.raises(SourceValidationError) as err:
        stage_benefits(BEN, {"main": path}, geo)
    failure = only(err.value)
    assert failure.column == "indfoy_ab"
    assert failure.rule == "never above indfoy_ndurpaje in the same row (+5 for rounding)"
    assert failure.samples == ["COM 49099 2024-12 = 1660.0 > indfoy_ndurpaje = 1650.0"]


def test_caf_rounding_tolerance_and_absent_whole(demo_files, tmp_path, geo):
    ben = demo_files("caf_benefits", "2024")["main"]
    # 1655 = 1650 + 5: one rounding step above its whole is what rounding each count to 5 can do
    stage_benefits(BEN, {"main": _edit(ben, tmp_path, _replace_line(CHOLET_2024, "905", "1655"), name="a")}, geo)

    # indfoy_ndurpaje empty (missing): indfoy_ab 5000 is compared with nothing
    def blank_whole(lines):
        lines = _replace_line(CHOLET_2024, "1650", "")(lines)
        return _replace_line(CHOLET_2024, "905", "5000")(lines)

    staged = stage_benefits(BEN, {"main": _edit(ben, tmp_path, blank_whole, name="b")}, geo)
    ab = staged.frame.filter(
        (pl.col("code") == "49099") & (pl.col("year") == 2024) & (pl.col("variable") == "indfoy_ab")
    )
    assert ab["value"].to_list() == [5000]


@pytest.mark.parametrize(
    "code, column, value, whole, shown",
    [
        # 44043: P22_POP 7458, P22_POP0014 1251.53 -> 7460
        ("44043", "P22_POP0014", "7460", "P22_POP", "COM 44043 2022 = 7460.0 > P22_POP = 7458.0"),
        # a comparison year: 44064 P16_POP 4543, P16_POP0014 885.69 -> 4600
        ("44064", "P16_POP0014", "4600", "P16_POP", "COM 44064 2016 = 4600.0 > P16_POP = 4543.0"),
    ],
)
def test_census_part_above_its_whole_is_refused(tmp_path, geo, code, column, value, whole, shown):
    path = edited_zip(tmp_path, "rp_population", "2022", replace_line(code, column, value))
    with pytest.raises(SourceValidationError) as err:
        stage_census(POP22, {"main": path}, geo)
    failure = only(err.value)
    assert failure.column == column
    assert failure.rule == f"never above {whole} in the same row (+0.001 for rounding)"
    assert failure.samples == [shown]


def test_declared_parts_are_columns_of_their_entry():
    """A typo in `parts` would silently check nothing: every name must be a required or optional column."""
    for entry in catalogue.entries():
        columns = entry.columns()
        known = {*columns.required, *columns.optional}
        for whole, parts in columns.parts.items():
            assert {whole, *parts} <= known, (entry.key, {whole, *parts} - known)


def test_every_source_but_the_cog_declares_its_coverage():
    for entry in catalogue.entries():
        # reference tables: the COG, and the IRIS reference and QPV list (they place units, they count nothing)
        if entry.source.startswith("cog_") or entry.source in ("epci", "iris_reference", "qpv"):
            assert entry.coverage is None, entry.key
        else:
            assert entry.coverage is not None and 0 < entry.coverage.min_share <= 1, entry.key


# -- coverage of the geography ---------------------------------------------------------------------------------


def test_header_only_file_is_refused_even_when_a_drop_is_accepted(demo_files, tmp_path, geo):
    path = _edit(demo_files("caf_benefits", "2024")["main"], tmp_path, lambda lines: lines[:1])
    staged = stage_benefits(BEN, {"main": path}, geo)
    for accept in (False, True):
        with pytest.raises(SourceValidationError) as err:
            coverage.check(BEN, staged, geo, Store(tmp_path / "store"), accept=accept)
        failure = only(err.value)
        assert (failure.column, failure.rule) == ("numcomdo", "the file holds rows of its level (COM)")
        assert failure.samples == ["no COM row: an empty or header-only file"]
        assert BEN_FILE in str(err.value)


def test_communes_missing_from_a_year_are_refused(demo_files, tmp_path, geo):
    # the 2024 rows of the 8 communes of Vendée (85020 85084 85113 85133 85162 85165 85212 85303) removed:
    # 21 - 8 = 13 communes of the 21 of COG 2025, 62 % < 95 %
    path = _edit(demo_files("caf_benefits", "2024")["main"], tmp_path, _drop_lines("2024-12;85"))
    staged = stage_benefits(BEN, {"main": path}, geo)
    with pytest.raises(SourceValidationError) as err:
        coverage.check(BEN, staged, geo, Store(tmp_path / "store"), accept=False)
    failure = only(err.value)
    assert failure.column == "numcomdo"
    assert failure.rule == "at least 95% of the communes of COG 2025 present in every year of the file"
    assert failure.samples[0] == (
        "2024: 13 of 21 communes of COG 2025 (62%); absent: 85020, 85084, 85113, 85133, 85162…"
    )
    assert failure.samples[-1] == "to stage it anyway: abs-diag refresh --accept-drop caf_benefits"
    assert failure.count == 1  # 2020-2023 are complete

    accepted = coverage.check(BEN, staged, geo, Store(tmp_path / "store"), accept=True)
    assert accepted["rows_before"] is None and accepted["rows_after"] == staged.frame.height
    assert accepted["accepted"][0]["rule"] == failure.rule
    assert any(n.startswith("accepted by the user (--accept-drop caf_benefits)") for n in staged.notes)


def test_half_of_the_census_file_is_refused(tmp_path, geo):
    # 50 rows (21 communes, 29 arrondissements); the first 25 end at 75103: 01001 2A004 44043 44064 44071 44088
    # 44142 49099 49192 49299 49332 69123 75056 = 13 of 21 communes in each year of the file (2011, 2016, 2022)
    def first_half(text: str) -> str:
        lines = text.split("\r\n")
        assert len(lines) == 1 + 50 + 1  # header, rows, the empty string after the last CRLF
        return "\r\n".join(lines[: 1 + 25]) + "\r\n"

    staged = stage_census(POP22, {"main": edited_zip(tmp_path, "rp_population", "2022", first_half)}, geo)
    with pytest.raises(SourceValidationError) as err:
        coverage.check(POP22, staged, geo, Store(tmp_path / "store"), accept=False)
    failure = only(err.value)
    assert (failure.column, failure.count) == ("CODGEO", 3)
    assert failure.samples[:3] == [
        f"{year}: 13 of 21 communes of COG 2025 (62%); absent: 85020, 85084, 85113, 85133, 85162…"
        for year in (2011, 2016, 2022)
    ]
    assert POP_MEMBER in str(err.value)


def stage_table(store: Store, source: str, vintage: str, frame: pl.DataFrame) -> None:
    """`frame` staged as a refresh stages a table: written in a run, then switched into the store."""
    run = store.begin_run()
    path = run.write_staged(source, vintage, frame)
    run.record(f"{source}/{vintage}", EntryRecord(source=source, vintage=vintage, staged=StagedRecord(path=str(path))))
    run.commit()


@pytest.fixture
def census_store(tmp_path, demo_files, geo) -> Store:
    """A store holding the demo census population (Cholet 54 074, Paris, Lyon, Ajaccio 73 250: the 4 communes of
    10 000 inhabitants or more of the demo; the others are below 8 000)."""
    store = Store(tmp_path / "store")
    stage_table(store, "rp_population", "2022", stage_census(POP22, demo_files("rp_population", "2022"), geo).frame)
    return store


def test_big_communes_missing_from_a_file_of_big_communes(demo_files, tmp_path, geo, census_store):
    entry = catalogue.get("caf_coverage_com", "2024")
    path = _edit(demo_files("caf_coverage_com", "2024")["main"], tmp_path, _drop_lines("2023;49099;"))
    staged = stage_childcare(entry, {"main": path}, geo)
    with pytest.raises(SourceValidationError) as err:
        coverage.check(entry, staged, geo, census_store, accept=False)
    failure = only(err.value)
    assert failure.column == "numcom"
    assert failure.rule == (
        "at least 80% of the communes of 10 000 inhabitants or more (census) present in every year of the file"
    )
    # Paris and Lyon count through their arrondissements (the file has no city row for rates)
    assert failure.samples[0] == "2023: 3 of 4 communes of 10 000 inhabitants or more (census) (75%); absent: 49099"


def test_file_of_big_communes_without_a_staged_census_is_noted(demo_files, tmp_path, geo):
    entry = catalogue.get("caf_coverage_com", "2024")
    path = _edit(demo_files("caf_coverage_com", "2024")["main"], tmp_path, _drop_lines("2023;49099;"))
    staged = stage_childcare(entry, {"main": path}, geo)
    assert coverage.check(entry, staged, geo, Store(tmp_path / "empty"), accept=False) is None
    assert (
        "coverage of the communes of 10 000 inhabitants or more not checked: rp_population is not staged yet"
        in staged.notes
    )


def test_epci_missing_from_a_year_are_refused(demo_files, tmp_path, geo):
    # nbpla_pe_epci 2023 without CC Vendée Sèvre Autise and the Métropole de Lyon: 6 of the 8 EPCI (75 % < 80 %)
    entry = catalogue.get("caf_places_epci", "2024")
    files = demo_files("caf_places_epci", "2024")
    main = _edit(files["main"], tmp_path, _drop_lines("2023;200029940;", "2023;200046977;"))
    staged = stage_childcare(entry, {"main": main, "hist": files["hist"]}, geo)
    with pytest.raises(SourceValidationError) as err:
        coverage.check(entry, staged, geo, Store(tmp_path / "store"), accept=False)
    failure = only(err.value)
    assert (failure.column, failure.rule) == (
        "numepci",
        "at least 80% of the EPCI of COG 2025 present in every year of the file",
    )
    assert failure.samples[0] == "2023: 6 of 8 EPCI of COG 2025 (75%)"


# -- rows against the previous staging -------------------------------------------------------------------------


def _rows_only(entry):
    return replace(entry, coverage=None)  # isolates the row count rule


def test_row_drop_beyond_the_tolerance(tmp_path, geo):
    store = Store(tmp_path / "store")
    store.record(BEN.key, EntryRecord(staged=StagedRecord(rows=1000, staged_at="2025-01-15T05:00:00+00:00")))
    frame = pl.DataFrame({"n": range(850)})
    with pytest.raises(SourceValidationError) as err:
        coverage.check(_rows_only(BEN), Staged(frame), geo, store, accept=False)
    failure = only(err.value)
    assert (failure.column, failure.rule) == ("(rows)", "at most 10% fewer rows than the previous staging")
    assert failure.samples[0] == "1 000 rows in caf_benefits/2024 staged 2025-01-15T05:00:00+00:00, 850 now (-15%)"
    # 900 rows: a drop of exactly 10 % is within the tolerance
    assert coverage.check(_rows_only(BEN), Staged(pl.DataFrame({"n": range(900)})), geo, store, accept=False) is None
    accepted = coverage.check(_rows_only(BEN), Staged(frame), geo, store, accept=True)
    assert (accepted["rows_before"], accepted["rows_after"]) == (1000, 850)
    assert accepted["previous"] == "caf_benefits/2024 staged 2025-01-15T05:00:00+00:00"


def test_a_new_vintage_is_compared_with_the_latest_staged_one(tmp_path, geo):
    # no record of rp_population/2022: its previous staging is rp_population/2021 (a parquet of 40 rows, no record)
    store = Store(tmp_path / "store")
    stage_table(store, "rp_population", "2021", pl.DataFrame({"n": range(40)}))
    assert coverage.previous_rows(store, POP22) == (40, "rp_population/2021 staged")
    with pytest.raises(SourceValidationError) as err:
        coverage.check(_rows_only(POP22), Staged(pl.DataFrame({"n": range(30)})), geo, store, accept=False)
    assert only(err.value).samples[0] == "40 rows in rp_population/2021 staged, 30 now (-25%)"


def test_an_unknown_source_to_accept_is_refused(tmp_path):
    with pytest.raises(KeyError, match="--accept-drop: unknown source"):
        refresh(["caf_benefits"], store=Store(tmp_path), accept_drop=["caf_benefit"])


def test_cli_refuses_an_unknown_source_to_accept_before_anything_runs(tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    result = CliRunner().invoke(
        app,
        ["refresh", "--accept-drop", "caf_benefit", "--data-dir", str(tmp_path / "d"), "--out", str(tmp_path / "pub")],
    )
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: --accept-drop: unknown source(s): caf_benefit (known: cog_communes, ")
    assert not (tmp_path / "d").exists()


# -- end to end: a truncated s_ben_com_f through refresh() over HTTP -------------------------------------------


def test_truncated_benefits_file_is_refused_then_accepted(tmp_path):
    root = mirror_copy(tmp_path)
    store = Store(tmp_path / "data")
    with serve(root) as mirror:
        first = refresh(store=store, mirror=mirror.url)
        assert first.failed == [], [r.error for r in first.failed]
        staged = store.staged_path("caf_benefits", "2024")
        before_bytes = staged.read_bytes()
        rows_before = store.previous(BEN.key).staged.rows

        # the first half of the rows: 2020-12 and 2021-12 whole, then the first 25 rows of 2022-12
        export = entry_path(root, "caf_benefits", "2024", "main")
        assert export.read_bytes().decode("utf-8-sig").rstrip("\n").count("\n") == 243  # rows after the header
        _truncate_benefits(root)

        refused = refresh(["caf_benefits"], store=store, mirror=mirror.url)
        (failed,) = [r for r in refused.failed if r.source == "caf_benefits"]
        assert failed.error_kind == "validation" and failed.file == BEN_FILE
        rules = {f["column"]: f for f in failed.failures}
        # 2022: 01001 2A004 44043 44064 44071 44088(+44100) 44142 49099 49192 49299 49332, Lyon (its 9
        # arrondissements) and Paris (75101-75104) = 13 of the 21 communes
        assert rules["numcomdo"]["samples"][0] == (
            "2022: 13 of 21 communes of COG 2025 (62%); absent: 85020, 85084, 85113, 85133, 85162…"
        )
        assert rules["(rows)"]["rule"] == "at most 10% fewer rows than the previous staging"
        assert "--accept-drop caf_benefits" in failed.error
        assert staged.read_bytes() == before_bytes  # the previous table is kept byte for byte
        assert store.previous(BEN.key).staged.rows == rows_before
        assert store.previous(BEN.key).last_failure is not None

        accepted = refresh(["caf_benefits"], store=store, mirror=mirror.url, accept_drop=["caf_benefits"])
        (result,) = [r for r in accepted.results if r.source == "caf_benefits"]
        assert result.status == "staged" and result.change.endswith("drop accepted (--accept-drop)")
        record = store.previous(BEN.key).staged.accepted_drop
        assert record["rows_before"] == rows_before
        assert record["rows_after"] == store.read_staged("caf_benefits", "2024").height < rows_before
        assert {f["column"] for f in record["accepted"]} == {"numcomdo", "(rows)"}
        assert record["at"]
        assert "drop accepted (--accept-drop)" in summary_markdown(accepted)


def _truncate_benefits(root: Path) -> None:
    export = entry_path(root, "caf_benefits", "2024", "main")
    lines = export.read_bytes().decode("utf-8-sig").rstrip("\n").split("\n")
    export.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines[: 1 + 121]).encode("utf-8") + b"\n")


@pytest.mark.usefixtures("prefect_harness")
def test_refresh_flow_passes_accept_drop_to_its_tasks(tmp_path, demo_store):
    from flows.refresh import RefreshFailed
    from flows.refresh import refresh as refresh_flow

    data = tmp_path / "data"
    shutil.copytree(demo_store.root, data)
    store = Store(data)
    rows_before = store.previous(BEN.key).staged.rows
    root = mirror_copy(tmp_path)
    _truncate_benefits(root)
    with serve(root) as mirror:
        params = dict(sources=["caf_benefits"], mirror=mirror.url, data_dir=str(data), publish=False)
        state = refresh_flow(**params, return_state=True)
        refused = state.result(raise_on_failure=False)
        assert isinstance(refused, RefreshFailed)
        assert "caf_benefits/2024" in str(refused) and store.previous(BEN.key).staged.rows == rows_before

        outcome = refresh_flow(**params, accept_drop=["caf_benefits"])
    (result,) = [r for r in outcome["report"].results if r.source == "caf_benefits"]
    assert result.status == "staged"
    assert store.previous(BEN.key).staged.accepted_drop["rows_before"] == rows_before
