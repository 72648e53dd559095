"""INSEE COG: communes (`v_commune_YYYY`), commune events (`v_mvt_commune_YYYY`) and the EPCI composition.

These are reference tables, staged in their own tidy shape (not the long value format): the geography every
other source is validated against and brought into.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from sources.catalogue import Entry, FileSpec
from sources.demo import gen_cog
from sources.errors import Failure, SourceValidationError
from sources.geography import NO_EPCI
from sources.reading import Workbook, read_csv_file, zip_member
from sources.spec import SourceSpec
from sources.staging import Staged
from sources.validation import CODE_PATTERNS, missing_columns
from sources.values import per_run

if TYPE_CHECKING:  # pandera is imported when a table is checked, not with the registry (a refresh with nothing new
    # to stage never loads it)
    import pandera.polars as pa

CODE = CODE_PATTERNS["COM"]
EVENT_MODS = [10, 20, 21, 30, 31, 32, 33, 34, 35, 41, 50, 70, 71, 72]
TYPECOMS = ["COM", "COMA", "COMD", "ARM"]


@dataclass(frozen=True, eq=False)
class Column:
    """A column of a reference table: its type and what its values must be (each rule skips empty cells)."""

    dtype: pl.DataType = pl.String()
    pattern: str | None = None  # every value matches it from its start (pandera's `str_matches`)
    values: tuple | None = None  # every value one of these
    known: AbstractSet[str] | pl.Series | None = None  # every value one of these, said as `known_rule`
    known_rule: str = ""
    nullable: bool = False
    unique: bool = False


@dataclass(frozen=True, eq=False)
class Reference:
    """The rules of a reference table: read by a polars screen first, by pandera only when the screen fails (for
    its report of the failing rows). Pandera's import and its checks cost more than the table itself (cog_communes
    0.21 s of CPU, 0.19 of them pandera's)."""

    columns: dict[str, Column]
    name: str | None = None
    unique: tuple[str, ...] = ()
    row_rules: tuple[tuple[str, pl.Expr], ...] = ()  # (name, true where the row is right)

    def passes(self, frame: pl.DataFrame) -> bool:
        """True when `frame` surely passes `schema()`: may be stricter than pandera (then pandera decides), never
        laxer. A row rule's null fails here, a duplicated null in a unique column too."""
        if any(frame.schema.get(name) != column.dtype for name, column in self.columns.items()):
            return False
        rules = [*[rule.fill_null(False).all() for _, rule in self.row_rules]]
        if self.unique:
            rules.append(~pl.struct(self.unique).is_duplicated().any())
        for name, column in self.columns.items():
            rules += _column_rules(pl.col(name), column)
        return all(r is True for r in frame.select(*[r.alias(f"rule_{i}") for i, r in enumerate(rules)]).row(0))

    def schema(self) -> pa.DataFrameSchema:
        import pandera.polars as pa

        def checks(name: str, column: Column) -> list[pa.Check]:
            out = []
            if column.pattern is not None:
                out.append(pa.Check.str_matches(column.pattern))
            if column.values is not None:
                out.append(pa.Check.isin(list(column.values)))
            if column.known is not None:
                known = sorted(column.known)
                out.append(pa.Check(lambda d: d.lazyframe.select(pl.col(name).is_in(known)), name=column.known_rule))
            return out

        return pa.DataFrameSchema(
            {
                name: pa.Column(column.dtype, checks(name, column), nullable=column.nullable, unique=column.unique)
                for name, column in self.columns.items()
            },
            checks=[
                pa.Check(lambda d, rule=rule: d.lazyframe.select(rule), name=name) for name, rule in self.row_rules
            ],
            unique=list(self.unique) or None,
            name=self.name,
        )


def _column_rules(value: pl.Expr, column: Column) -> list[pl.Expr]:
    rules = [] if column.nullable else [value.is_not_null().all()]
    if column.pattern is not None:
        pattern = column.pattern if column.pattern.startswith("^") else f"^{column.pattern}"
        rules.append((value.is_null() | value.str.contains(pattern)).all())
    if column.values is not None:
        rules.append((value.is_null() | value.is_in(list(column.values))).all())
    if column.known is not None:
        known = (
            column.known if isinstance(column.known, pl.Series) else pl.Series(list(column.known), dtype=column.dtype)
        )
        rules.append((value.is_null() | value.is_in(known.implode())).all())
    if column.unique:
        rules.append(~value.is_duplicated().any())
    return rules


COMMUNES = Reference(
    {
        "typecom": Column(values=tuple(TYPECOMS)),
        "code": Column(pattern=CODE),
        "dep": Column(pattern=CODE_PATTERNS["DEP"], nullable=True),
        "reg": Column(pattern=CODE_PATTERNS["REG"], nullable=True),
        "name": Column(),
        "parent": Column(pattern=CODE, nullable=True),
    },
    name="cog_communes",
    unique=("typecom", "code"),
    row_rules=(
        ("a commune (COM) has a département", (pl.col("typecom") != "COM") | pl.col("dep").is_not_null()),
        (
            "an arrondissement or delegated commune has a parent",
            (pl.col("typecom") == "COM") | pl.col("parent").is_not_null(),
        ),
    ),
)

EVENTS = Reference(
    {
        "mod": Column(pl.Int32(), values=tuple(EVENT_MODS)),
        "date": Column(pl.Date()),
        "typecom_av": Column(values=tuple(TYPECOMS)),
        "code_av": Column(pattern=CODE),
        "name_av": Column(nullable=True),
        "typecom_ap": Column(values=tuple(TYPECOMS)),
        "code_ap": Column(pattern=CODE),
        "name_ap": Column(nullable=True),
    },
    name="cog_events",
)


def _epci_table(known: AbstractSet[str] | pl.Series) -> Reference:
    return Reference(
        {
            "code": Column(
                pattern=CODE, known=known, known_rule="code known to the COG of the file's geography", unique=True
            ),
            "name": Column(nullable=True),
            "epci": Column(pattern=rf"^(\d{{9}}|{NO_EPCI})$"),
            "epci_name": Column(nullable=True),
            "epci_nature": Column(nullable=True),
            "dep": Column(nullable=True),
            "reg": Column(nullable=True),
        },
        name="epci",
    )


def _check(model: Reference, frame: pl.DataFrame, source: str, file: str, raw: Path, columns: dict[str, str]) -> None:
    """Screen a reference table; when it fails, run its pandera model and name the file's own columns in the error."""
    if model.passes(frame):
        return
    from pandera.errors import SchemaErrors

    try:
        model.schema().validate(frame, lazy=True)
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
    _check(COMMUNES, frame, entry.source, spec.name, path, names)
    counts = frame.group_by("typecom").len().sort("typecom").rows()
    # (typecom, code) is unique: sorted by code, then stably by type (2.7 ms of CPU, where polars' sort on both
    # columns of text took 22 ms for France's 35,000 rows)
    return Staged(frame.sort("code").sort("typecom", maintain_order=True), notes=[f"{n} {t}" for t, n in counts])


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
    _check(EVENTS, frame, entry.source, spec.name, path, names)
    return Staged(frame.sort("date", "mod", "code_av", "code_ap"), notes=[f"{frame.height} event rows"])


DEPARTEMENTS = Reference(
    {
        "dep": Column(pattern=CODE_PATTERNS["DEP"], unique=True),
        "reg": Column(pattern=CODE_PATTERNS["REG"]),
        "name": Column(),
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
        DEPARTEMENTS,
        frame,
        entry.source,
        spec.member or spec.name,
        path,
        {"dep": "DEP", "reg": "REG", "name": "LIBELLE"},
    )
    return Staged(frame.sort("dep"), notes=[f"{frame.height} départements"])


def _code(expr: pl.Expr, width: int) -> pl.Expr:
    """A code read from an xlsx cell: text as is; a number stored by Excel (`1002`, `200071678.0`) repaired."""
    text = _stripped_code(expr)
    # a code as long as its width has no zero to get back: the others only tested (France's composition, four code
    # columns: 0.037 to 0.016 s of CPU)
    return pl.when(text.str.len_bytes() < width).then(_padded(text, width)).otherwise(text)


def _codes(column: pl.Series, width: int) -> pl.Series:
    """`_code` of a whole column, the codes shorter than `width` repaired alone: polars' when/then computes both
    its branches on every row (France's 35,000 communes: 3.5 to 1.4 ms of CPU)."""
    text = column.to_frame().select(_stripped_code(pl.first())).to_series()
    short = (text.str.len_bytes() < width).arg_true()
    if short.is_empty():
        return text
    repaired = text.gather(short).to_frame().select(_padded(pl.first(), width)).to_series()
    return text.scatter(short, repaired)


def _stripped_code(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String).str.strip_chars().str.strip_suffix(".0")


def _padded(text: pl.Expr, width: int) -> pl.Expr:
    return pl.when(text.str.contains(r"^\d+$")).then(text.str.zfill(width)).otherwise(text)


def read_epci_composition(entry: Entry, spec: FileSpec, path: Path) -> tuple[pl.DataFrame, str]:
    """The commune -> EPCI table of an `EPCI_au_01-01-YYYY.xlsx` (sheets EPCI and Composition_communale).

    Returns (frame with code, name, epci, epci_name, epci_nature, dep, reg; a file label for messages).
    """
    book, file = _workbook(entry, spec, path)
    list_sheet = spec.sheets[0]
    listing = book.sheet(list_sheet, entry.columns("epci_list").required, name=f"{file} [{list_sheet}]")
    listing = listing.filter(pl.col("EPCI").is_not_null()).select(
        epci=_code(pl.col("EPCI"), 9), epci_nature=pl.col("NATURE_EPCI")
    )
    members, label = _members(entry, spec, book, file)
    frame = members.join(listing, on="epci", how="left").select(
        "code", "name", "epci", "epci_name", "epci_nature", "dep", "reg"
    )
    return frame, label


def read_epci_members(entry: Entry, spec: FileSpec, path: Path) -> tuple[pl.DataFrame, str]:
    """Each commune's EPCI in an `EPCI_au_01-01-YYYY.xlsx`, from its sheet Composition_communale alone (the sheet
    of the EPCIs' natures is not read: opening the workbook for it took 0.04 s of CPU for France).

    Returns (frame with code, name, epci, epci_name, dep, reg; a file label for messages).
    """
    book, file = _workbook(entry, spec, path)
    return _members(entry, spec, book, file)


def _workbook(entry: Entry, spec: FileSpec, path: Path) -> tuple[Workbook, str]:
    """The workbook, opened once for both its sheets, and its name for messages."""
    data = zip_member(path, spec.member or "", source=entry.source) if spec.format == "zip" else path.read_bytes()
    return Workbook(data, source=entry.source), f"{spec.member or spec.name}"


def _members(entry: Entry, spec: FileSpec, book: Workbook, file: str) -> tuple[pl.DataFrame, str]:
    composition_sheet = spec.sheets[1]
    label = f"{file} [{composition_sheet}]"
    composition = book.sheet(composition_sheet, entry.columns("epci_composition").required, name=label)
    frame = composition.filter(pl.col("CODGEO").is_not_null()).select(
        code="CODGEO", name="LIBGEO", epci="EPCI", epci_name="LIBEPCI", dep="DEP", reg="REG"
    )
    frame = frame.with_columns(_codes(frame.get_column("code"), 5))
    # the communes come in code order, so each EPCI's, département's and région's code in runs: repaired once a run
    # (10 against 3.3 ms of CPU a column of France's 35,000 communes)
    for column, width in (("epci", 9), ("dep", 2), ("reg", 2)):
        frame = per_run(frame, column, **{column: _code(pl.col(column), width)})
    return frame, label


def stage_epci(entry: Entry, files: dict[str, Path], geo) -> Staged:
    spec, path = entry.file(), files["main"]
    frame, label = read_epci_composition(entry, spec, path)
    names = {"code": "CODGEO", "name": "LIBGEO", "epci": "EPCI", "epci_name": "LIBEPCI", "dep": "DEP", "reg": "REG"}
    if geo is not None:
        # the codes as a Series, looked up as they are (a set of them made a Series again: 4 ms of CPU)
        known = geo.communes.filter(pl.col("typecom") == "COM").get_column("code")
        _check(_epci_table(known), frame, entry.source, label, path, names)
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
