"""INSEE COG: communes (`v_commune_YYYY`), commune events (`v_mvt_commune_YYYY`) and the EPCI composition.

These are reference tables, staged in their own tidy shape (not the long value format): the geography every
other source is validated against and brought into.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from sources.catalogue import Entry, FileSpec
from sources.demo import gen_cog
from sources.errors import Failure, SourceValidationError
from sources.geography import NO_EPCI
from sources.reading import read_csv_file, read_xlsx_sheet, zip_member
from sources.spec import SourceSpec
from sources.staging import Staged
from sources.validation import CODE_PATTERNS, missing_columns

if TYPE_CHECKING:  # pandera is imported when a table is checked, not with the registry (a refresh with nothing new
    # to stage never loads it)
    import pandera.polars as pa

CODE = CODE_PATTERNS["COM"]
EVENT_MODS = [10, 20, 21, 30, 31, 32, 33, 34, 35, 41, 50, 70, 71, 72]
TYPECOMS = ["COM", "COMA", "COMD", "ARM"]


@cache
def _communes_model() -> pa.DataFrameSchema:
    import pandera.polars as pa

    return pa.DataFrameSchema(
        {
            "typecom": pa.Column(str, pa.Check.isin(TYPECOMS)),
            "code": pa.Column(str, pa.Check.str_matches(CODE)),
            "dep": pa.Column(str, pa.Check.str_matches(CODE_PATTERNS["DEP"]), nullable=True),
            "reg": pa.Column(str, pa.Check.str_matches(CODE_PATTERNS["REG"]), nullable=True),
            "name": pa.Column(str),
            "parent": pa.Column(str, pa.Check.str_matches(CODE), nullable=True),
        },
        checks=[
            pa.Check(
                lambda d: d.lazyframe.select((pl.col("typecom") != "COM") | pl.col("dep").is_not_null()),
                name="a commune (COM) has a département",
            ),
            pa.Check(
                lambda d: d.lazyframe.select((pl.col("typecom") == "COM") | pl.col("parent").is_not_null()),
                name="an arrondissement or delegated commune has a parent",
            ),
        ],
        unique=["typecom", "code"],
        name="cog_communes",
    )


@cache
def _events_model() -> pa.DataFrameSchema:
    import pandera.polars as pa

    return pa.DataFrameSchema(
        {
            "mod": pa.Column(pl.Int32, pa.Check.isin(EVENT_MODS)),
            "date": pa.Column(pl.Date),
            "typecom_av": pa.Column(str, pa.Check.isin(TYPECOMS)),
            "code_av": pa.Column(str, pa.Check.str_matches(CODE)),
            "name_av": pa.Column(str, nullable=True),
            "typecom_ap": pa.Column(str, pa.Check.isin(TYPECOMS)),
            "code_ap": pa.Column(str, pa.Check.str_matches(CODE)),
            "name_ap": pa.Column(str, nullable=True),
        },
        name="cog_events",
    )


def _epci_model(known: set[str]) -> pa.DataFrameSchema:
    import pandera.polars as pa

    return pa.DataFrameSchema(
        {
            "code": pa.Column(
                str,
                [
                    pa.Check.str_matches(CODE),
                    pa.Check(
                        lambda d: d.lazyframe.select(pl.col("code").is_in(sorted(known))),
                        name="code known to the COG of the file's geography",
                    ),
                ],
                unique=True,
            ),
            "name": pa.Column(str, nullable=True),
            "epci": pa.Column(str, pa.Check.str_matches(rf"^(\d{{9}}|{NO_EPCI})$")),
            "epci_name": pa.Column(str, nullable=True),
            "epci_nature": pa.Column(str, nullable=True),
            "dep": pa.Column(str, nullable=True),
            "reg": pa.Column(str, nullable=True),
        },
        name="epci",
    )


def _check(
    model: pa.DataFrameSchema, frame: pl.DataFrame, source: str, file: str, raw: Path, columns: dict[str, str]
) -> None:
    """Run a reference-table model; name the file's own columns in the error."""
    from pandera.errors import SchemaErrors

    try:
        model.validate(frame, lazy=True)
    except SchemaErrors as exc:
        failures: dict[tuple[str, str], Failure] = {}
        for case in exc.failure_cases.iter_rows(named=True):
            if "uniqueness" in case["check"]:  # pandera names the schema here: the key is the code column
                column, rule = columns.get("code", "(row)"), "unique key: duplicated row"
            else:
                column, rule = columns.get(case["column"] or "", case["column"] or "(row)"), case["check"]
            f = failures.setdefault((column, rule), Failure(column, rule, 0))
            f.count += 1
            if len(f.samples) < 5:
                index = case["index"]
                f.samples.append(str(frame.row(index, named=True)) if index is not None else str(case["failure_case"]))
        raise SourceValidationError(source, file, list(failures.values()), str(raw)) from None


def stage_communes(entry: Entry, files: dict[str, Path], geo=None) -> Staged:
    spec, path = entry.file(), files["main"]
    raw = read_csv_file(path, spec, source=entry.source)
    raw.columns = [c.upper() for c in raw.columns]  # 2019-2020 files had lower-case headers
    missing_columns(raw.columns, entry.columns().required, source=entry.source, file=spec.name, raw_path=str(path))
    frame = raw.select(typecom="TYPECOM", code="COM", dep="DEP", reg="REG", name="LIBELLE", parent="COMPARENT")
    names = {"typecom": "TYPECOM", "code": "COM", "dep": "DEP", "reg": "REG", "name": "LIBELLE", "parent": "COMPARENT"}
    _check(_communes_model(), frame, entry.source, spec.name, path, names)
    counts = frame.group_by("typecom").len().sort("typecom").rows()
    return Staged(frame.sort("typecom", "code"), notes=[f"{n} {t}" for t, n in counts])


def stage_events(entry: Entry, files: dict[str, Path], geo=None) -> Staged:
    spec, path = entry.file(), files["main"]
    raw = read_csv_file(path, spec, source=entry.source)
    raw.columns = [c.upper() for c in raw.columns]
    missing_columns(raw.columns, entry.columns().required, source=entry.source, file=spec.name, raw_path=str(path))
    frame = raw.select(
        mod=pl.col("MOD").cast(pl.Int32, strict=False),
        date=pl.col("DATE_EFF").str.to_date("%Y-%m-%d", strict=False),
        typecom_av="TYPECOM_AV",
        code_av="COM_AV",
        name_av="LIBELLE_AV",
        typecom_ap="TYPECOM_AP",
        code_ap="COM_AP",
        name_ap="LIBELLE_AP",
    )
    names = {
        "mod": "MOD",
        "date": "DATE_EFF",
        "typecom_av": "TYPECOM_AV",
        "code_av": "COM_AV",
        "typecom_ap": "TYPECOM_AP",
        "code_ap": "COM_AP",
    }
    _check(_events_model(), frame, entry.source, spec.name, path, names)
    return Staged(frame.sort("date", "mod", "code_av", "code_ap"), notes=[f"{frame.height} event rows"])


@cache
def _departements_model() -> pa.DataFrameSchema:
    import pandera.polars as pa

    return pa.DataFrameSchema(
        {
            "dep": pa.Column(str, pa.Check.str_matches(CODE_PATTERNS["DEP"]), unique=True),
            "reg": pa.Column(str, pa.Check.str_matches(CODE_PATTERNS["REG"])),
            "name": pa.Column(str),
        },
        name="cog_departements",
    )


def stage_departements(entry: Entry, files: dict[str, Path], geo=None) -> Staged:
    spec, path = entry.file(), files["main"]
    raw = read_csv_file(path, spec, source=entry.source)
    raw.columns = [c.upper() for c in raw.columns]
    missing_columns(
        raw.columns, entry.columns().required, source=entry.source, file=spec.member or spec.name, raw_path=str(path)
    )
    frame = raw.select(dep="DEP", reg="REG", name="LIBELLE")
    _check(
        _departements_model(),
        frame,
        entry.source,
        spec.member or spec.name,
        path,
        {"dep": "DEP", "reg": "REG", "name": "LIBELLE"},
    )
    return Staged(frame.sort("dep"), notes=[f"{frame.height} départements"])


def _code(expr: pl.Expr, width: int) -> pl.Expr:
    """A code read from an xlsx cell: text as is; a number stored by Excel (`1002`, `200071678.0`) repaired."""
    text = expr.cast(pl.String).str.strip_chars().str.strip_suffix(".0")
    padded = pl.when(text.str.contains(r"^\d+$")).then(text.str.zfill(width)).otherwise(text)
    # a code as long as its width has no zero to get back: the others only tested (France's composition, four code
    # columns: 0.037 to 0.016 s of CPU)
    return pl.when(text.str.len_bytes() < width).then(padded).otherwise(text)


def read_epci_composition(entry: Entry, spec: FileSpec, path: Path) -> tuple[pl.DataFrame, str]:
    """The commune -> EPCI table of an `EPCI_au_01-01-YYYY.xlsx` (sheets EPCI and Composition_communale).

    Returns (frame with code, name, epci, epci_name, epci_nature, dep, reg; a file label for messages).
    """
    data = zip_member(path, spec.member or "", source=entry.source) if spec.format == "zip" else path.read_bytes()
    list_sheet, composition_sheet = spec.sheets
    file = f"{spec.member or spec.name}"
    listing = read_xlsx_sheet(
        data, list_sheet, entry.columns("epci_list").required, source=entry.source, name=f"{file} [{list_sheet}]"
    )
    composition = read_xlsx_sheet(
        data,
        composition_sheet,
        entry.columns("epci_composition").required,
        source=entry.source,
        name=f"{file} [{composition_sheet}]",
    )
    listing = listing.filter(pl.col("EPCI").is_not_null()).select(
        epci=_code(pl.col("EPCI"), 9), epci_nature=pl.col("NATURE_EPCI")
    )
    composition = composition.filter(pl.col("CODGEO").is_not_null())
    frame = (
        composition.select(
            code=_code(pl.col("CODGEO"), 5),
            name="LIBGEO",
            epci=_code(pl.col("EPCI"), 9),
            epci_name="LIBEPCI",
            dep=_code(pl.col("DEP"), 2),
            reg=_code(pl.col("REG"), 2),
        )
        .join(listing, on="epci", how="left")
        .select("code", "name", "epci", "epci_name", "epci_nature", "dep", "reg")
    )
    return frame, f"{file} [{composition_sheet}]"


def stage_epci(entry: Entry, files: dict[str, Path], geo) -> Staged:
    spec, path = entry.file(), files["main"]
    frame, label = read_epci_composition(entry, spec, path)
    names = {"code": "CODGEO", "name": "LIBGEO", "epci": "EPCI", "epci_name": "LIBEPCI", "dep": "DEP", "reg": "REG"}
    if geo is not None:
        known = set(geo.communes.filter(pl.col("typecom") == "COM")["code"].to_list())
        _check(_epci_model(known), frame, entry.source, label, path, names)
    outside = frame.filter(pl.col("epci") == NO_EPCI).height
    epcis = frame.filter(pl.col("epci") != NO_EPCI)["epci"].n_unique()
    notes = [f"{epcis} EPCI", f"{outside} commune(s) in no EPCI ({NO_EPCI})"]
    return Staged(frame.sort("code"), notes=notes)


SOURCES = (
    SourceSpec("cog_communes", ("cog_communes",), stage_communes, demo=gen_cog.write_communes),
    SourceSpec("cog_events", ("cog_events",), stage_events, demo=gen_cog.write_events),
    SourceSpec("epci", ("epci",), stage_epci, demo=gen_cog.write_epci),
    SourceSpec("cog_departements", ("cog_departements",), stage_departements, demo=gen_cog.write_departements),
)
