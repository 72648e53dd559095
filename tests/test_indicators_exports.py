"""Exports of the indicator table (Parquet, French CSV, XLSX with definitions) and the `abs-diag indicators` command,
on the session's demo store (refreshed through the demo mirror, so its exports say their figures are synthetic)."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import polars as pl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from sources.refresh import refresh
from sources.store import Store
from transforms.export import COLUMNS_FR, DEMO_COLUMN_FR, definitions, write_exports
from transforms.pipeline import Selection, export_indicators
from transforms.registry import indicators
from transforms.territories import CustomTerritory

CSMA = "200067346"  # the demo's Clisson Sèvre et Maine Agglo: Clisson 44043, Gorges 44064, Haute-Goulaine 44071...
BOM = b"\xef\xbb\xbf"


@pytest.fixture(scope="module")
def store(demo_store) -> Store:
    """The session's demo store (tests/conftest.py), read only."""
    return demo_store


@pytest.fixture(scope="module")
def epci_export(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("epci-export")
    table, paths = export_indicators(store, out, Selection(epci=CSMA))
    return table, paths


def test_the_selection_holds_the_territory_its_communes_and_references(epci_export, store):
    table, _ = epci_export
    communes = table.filter(pl.col("level") == "COM")["code"].unique().sort().to_list()
    assert "44043" in communes and "44064" in communes
    assert sorted(table["level"].unique().to_list()) == ["COM", "DEP", "EPCI", "FRANCE"]
    assert table.filter(pl.col("level") == "EPCI")["code"].unique().to_list() == [CSMA]
    n = len(indicators())
    assert table.filter(pl.col("level") == "EPCI").height == n and table.filter(pl.col("level") == "FRANCE").height == n


def test_parquet_round_trips(epci_export):
    table, paths = epci_export
    assert paths["parquet"].name == f"indicateurs-epci-{CSMA}.parquet"
    back = pl.read_parquet(paths["parquet"])
    # a store refreshed from the demo mirror: every row says its figures are synthetic, even without `demo=True`
    assert back["demo"].to_list() == [True] * table.height
    assert back.drop("demo").equals(table)
    assert back.drop("demo").schema == table.schema


def test_csv_is_french_spreadsheet_friendly(epci_export):
    table, paths = epci_export
    raw = paths["csv"].read_bytes()
    assert raw.startswith(BOM)  # Excel reads UTF-8 only with it
    text = raw[len(BOM):].decode("utf-8")
    header = text.splitlines()[0].split(";")
    assert header[:5] == ["niveau", "code", "nom", "thème", "indicateur"]
    assert set(header) <= set(COLUMNS_FR.values()) | {DEMO_COLUMN_FR}
    back = pl.read_csv(raw[len(BOM):], separator=";", decimal_comma=True, infer_schema=False)
    assert back.height == table.height
    # the value of a non-integer rate is written with a decimal comma, rounded to 3 decimals
    row = table.filter((pl.col("level") == "EPCI") & (pl.col("indicator") == "taux_chomage_rp")).row(0, named=True)
    written = back.filter((pl.col("niveau") == "EPCI") & (pl.col("indicateur") == "taux_chomage_rp"))["valeur"][0]
    assert "," in written and "." not in written
    assert float(written.replace(",", ".")) == round(row["value"], 3)
    # statuses are spelt out for people
    labels = back.filter(pl.col("statut") == "epci_fallback")["motif"].unique().to_list()
    assert labels == ["taux de l'EPCI (non publié pour la commune)"]


def test_xlsx_has_the_table_and_the_definitions(epci_export):
    table, paths = epci_export
    book = openpyxl.load_workbook(paths["xlsx"], read_only=True)
    assert book.sheetnames == ["À lire", "indicateurs", "définitions"]  # the demo store's warning first
    book.close()
    sheet = pl.read_excel(paths["xlsx"], sheet_name="indicateurs")
    assert sheet.height == table.height and sheet.columns[:2] == ["niveau", "code"]
    defs = pl.read_excel(paths["xlsx"], sheet_name="définitions")
    assert defs.height == len(indicators()) == definitions().height
    assert defs["indicateur"].to_list() == [i.id for i in indicators()]
    assert defs.filter(pl.col("indicateur") == "taux_chomage_rp")["sens"][0] == "plus élevé = besoin plus fort"


def test_demo_exports_say_their_figures_are_synthetic(epci_export, tmp_path):
    table, _ = epci_export
    paths = write_exports(table, tmp_path, "demo", demo=True)
    plain = write_exports(table, tmp_path, "plain")
    parquet = pl.read_parquet(paths["parquet"])
    assert parquet["demo"].dtype == pl.Boolean and parquet["demo"].to_list() == [True] * table.height
    assert parquet.drop("demo").equals(table)
    csv = pl.read_csv(paths["csv"].read_bytes()[len(BOM):], separator=";", decimal_comma=True, infer_schema=False)
    assert csv["données"].unique().to_list() == ["synthétiques (démonstration)"]
    book = openpyxl.load_workbook(paths["xlsx"], read_only=True)
    assert book.sheetnames == ["À lire", "indicateurs", "définitions"]  # the warning is the sheet Excel opens on
    first = [row[0] for row in book["À lire"].iter_rows(values_only=True)]
    book.close()
    assert first[0].startswith("DÉMONSTRATION") and any("inventés" in line for line in first)
    assert pl.read_excel(paths["xlsx"], sheet_name="indicateurs")["données"].unique().to_list() == [
        "synthétiques (démonstration)"]
    # the real exports carry no such column
    assert "demo" not in pl.read_parquet(plain["parquet"]).columns
    assert "données" not in plain["csv"].read_bytes()[len(BOM):].decode("utf-8").splitlines()[0].split(";")


def test_a_custom_territory_export_is_named_after_it(store, tmp_path):
    territory = CustomTerritory("Vallée de l'Autise", ("44043", "44064"))
    table, paths = export_indicators(store, tmp_path, Selection(territory=territory))
    assert paths["csv"].name == "indicateurs-vallee-de-l-autise.csv"
    own = table.filter(pl.col("level") == "TERRITORY")
    assert own.height == len(indicators()) and own["name"].unique().to_list() == ["Vallée de l'Autise"]
    assert own.filter(pl.col("indicator") == "revenu_median")["status"].to_list() == ["non agrégeable"]


def _run(*args: str):
    return CliRunner().invoke(app, ["indicators", *args])


@pytest.mark.parametrize("args, stem, levels", [
    (["--epci", CSMA], f"epci-{CSMA}", {"COM", "EPCI", "DEP", "FRANCE"}),
    (["--commune", "44043"], "commune-44043", {"COM", "EPCI", "DEP", "FRANCE"}),
    (["--communes", "44043,44064", "--name", "Clisson et Gorges"], "clisson-et-gorges",
     {"COM", "TERRITORY", "EPCI", "DEP", "FRANCE"}),
    (["--all"], "france", {"COM", "EPCI", "DEP", "FRANCE"}),
])
def test_the_indicators_command_writes_the_exports(store, tmp_path, args, stem, levels):
    result = _run(*args, "--data-dir", str(store.root), "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    paths = {fmt: tmp_path / f"indicateurs-{stem}.{fmt}" for fmt in ("parquet", "csv", "xlsx")}
    assert all(p.exists() for p in paths.values())
    table = pl.read_parquet(paths["parquet"])
    assert set(table["level"].unique().to_list()) == levels
    assert f"{table.height} values" in result.output
    if args[0] == "--commune":
        assert table.filter(pl.col("level") == "COM")["code"].unique().to_list() == ["44043"]


@pytest.mark.parametrize("args, message", [
    (["--epci", "12345"], "9-digit SIREN"),
    (["--epci", "2000673AB"], "9-digit SIREN"),
    (["--commune", "4404"], "5 characters"),
    (["--communes", "44043,ABCDE"], "5 characters (01001, 2A004): ABCDE"),
    (["--epci", "999999999"], "not in the target COG's EPCI composition"),
    (["--commune", "99999"], "not in the target COG"),
    (["--epci", CSMA, "--commune", "44043"], "exactly one of"),
])
def test_the_indicators_command_refuses_malformed_codes(store, tmp_path, args, message):
    result = _run(*args, "--data-dir", str(store.root), "--out", str(tmp_path))
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())  # the usage box wraps long lines
    assert not list(Path(tmp_path).glob("indicateurs-*"))  # nothing written


def test_an_export_longer_than_an_excel_sheet_spans_several_sheets(tmp_path, monkeypatch):
    """France has ~2 million rows: Excel stops at 1,048,576 per sheet, so the rows go on in the next sheet."""
    from transforms import export

    monkeypatch.setattr(export, "XLSX_MAX_ROWS", 2)
    table = pl.DataFrame({"level": ["COM"] * 5, "code": [f"0100{i}" for i in range(1, 6)], "indicator": ["population"] * 5,
                          "value": [1.0, 2.0, 3.0, 4.0, 5.0], "status": [None] * 5, "unit": ["count"] * 5,
                          "evolution_unit": [None] * 5}, schema_overrides={"status": pl.String, "evolution_unit": pl.String})
    paths = export.write_exports(table, tmp_path, "t")
    book = openpyxl.load_workbook(paths["xlsx"], read_only=True)
    # 5 rows, 2 per sheet: 2 + 2 + 1
    assert book.sheetnames == ["indicateurs 1", "indicateurs 2", "indicateurs 3", "définitions"]
    assert [book[f"indicateurs {n}"].max_row - 1 for n in (1, 2, 3)] == [2, 2, 1]

