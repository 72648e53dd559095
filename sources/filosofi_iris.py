"""INSEE Filosofi by IRIS: `BASE_TD_FILO_IRIS_2021_DISP_CSV.zip` (disposable income, poverty) and its `_DEC_` twin
(declared income).

`;` separator, decimal comma, key `IRIS`, columns `DISP_MED21`, `DISP_TP6021`… (prefix, measure, year), and a
note column `DISP_NOTE21` (supply-space-time-sources §5.3). Published for the IRIS of communes of 5,000
inhabitants or more only: about 16,000 of the 48,600 IRIS.

Quirks handled:
- markers `ns` (non significatif: too few households) -> secret, `nd` -> not_available, `s` -> secret; a row whose
  note column is not 0 has every figure withheld -> secret, whatever its cells say; never a 0;
- IRIS codes are 9-character strings (`751083006`); the year is read from the header (`DISP_MED21`);
- the file is in the IRIS geography of 2022 (one repository, §5.3): rows are staged as published (level IRIS)
  and matched by code to the IRIS reference at report time (`transforms/infra.py`), where an IRIS recoded since
  has no figure, never another IRIS's; medians are never averaged into a commune's.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from sources.catalogue import Entry
from sources.codes import CODE_PATTERNS
from sources.demo import gen_iris
from sources.errors import Failure, SourceValidationError
from sources.geography import Geography
from sources.reading import read_csv_file
from sources.spec import SourceSpec
from sources.staging import Staged, conclude
from sources.validation import Rules, missing_columns
from sources.values import NOT_AVAILABLE, SECRET, melt

IRIS = "IRIS"
LEVEL = "IRIS"
MARKERS = {"ns": SECRET, "s": SECRET, "nd": NOT_AVAILABLE}
# kind of each measure, by its name without prefix and year
KINDS = {
    "MED": "amount",
    "D1": "amount",
    "D9": "amount",
    "RD": "ratio",
    "S80S20": "ratio",
    "GI": "ratio",
    "TP60": "rate",
    "PIMPOT": "signed_share",
} | {m: "income_share" for m in ("PACT", "PTSA", "PCHO", "PBEN", "PPEN", "PPAT", "PPSOC", "PPMINI", "PPLOGT")}


def measure(column: str, prefix: str, yy: str) -> str:
    """`DISP_TP6021` -> `TP60` (the year is appended after the measure, as in the communal file)."""
    return column[len(prefix) + 1 : -len(yy)]


def _year(entry: Entry, columns: list[str], *, file: str, raw_path: str) -> str:
    prefix, yy = entry.params["p"], entry.params["yy"]
    found = sorted({m.group(1) for c in columns if (m := re.fullmatch(rf"{prefix}_MED(\d\d)", c))})
    if found != [yy]:
        raise SourceValidationError(
            entry.source,
            file,
            [
                Failure(
                    f"{prefix}_MED{yy}",
                    f"the header names the median of year 20{yy} ({prefix}_MED{yy})",
                    1,
                    [f"median columns in the header: {', '.join(f'{prefix}_MED{y}' for y in found) or 'none'}"],
                )
            ],
            raw_path,
        )
    return yy


def _withheld(raw: pl.DataFrame, note: str | None) -> pl.Expr:
    """Rows whose note column says their figures are not disseminated (any value other than 0)."""
    if note is None:
        return pl.lit(False)
    text = pl.col(note).str.strip_chars()
    return text.is_not_null() & (text != "") & (text.str.replace(",", ".").cast(pl.Float64, strict=False) != 0)


def stage(entry: Entry, files: dict[str, Path], geo: Geography | None) -> Staged:
    spec, path = entry.file(), files["main"]
    file, raw_path = spec.member or spec.name, str(path)
    raw = read_csv_file(path, spec, source=entry.source)
    expected = entry.columns()
    missing_columns(raw.columns, (IRIS, *expected.required), source=entry.source, file=file, raw_path=raw_path)
    prefix, yy = entry.params["p"], _year(entry, raw.columns, file=file, raw_path=raw_path)
    note = f"{prefix}_NOTE{yy}" if f"{prefix}_NOTE{yy}" in raw.columns else None
    _check_iris_codes(raw, entry.source, file, raw_path)
    values = [c for c in (*expected.required, *expected.optional) if c in raw.columns and c != note]
    raw = raw.with_columns(_withheld=_withheld(raw, note))
    long = _long(raw, values, yy)
    rules = Rules(
        kinds={c: KINDS[measure(c, prefix, yy)] for c in values},
        levels=(LEVEL,),
        code_column=IRIS,
        parts=expected.parts,
    )
    notes = _notes(raw, long, values, note, file, entry)
    rename = {c: f"{prefix}_{measure(c, prefix, yy)}" for c in values}
    return conclude(long, entry, rules, geo, file=file, raw_path=raw_path, notes=notes, rename=rename)


def _check_iris_codes(raw: pl.DataFrame, source: str, file: str, raw_path: str) -> None:
    bad = raw.filter(~pl.col(IRIS).str.strip_chars().str.contains(CODE_PATTERNS["IRIS"]).fill_null(False))
    if bad.height:
        failure = Failure(
            IRIS,
            "an IRIS code has 9 characters: the commune's code and 4 digits",
            bad.height,
            [str(c) for c in bad[IRIS].head(5).to_list()],
        )
        raise SourceValidationError(source, file, [failure], raw_path)


def _long(raw: pl.DataFrame, values: list[str], yy: str) -> pl.DataFrame:
    """The long frame of the value columns; a withheld row is secret in every cell, whatever a cell holds (a
    value there is never shown)."""
    index = {
        "level": pl.lit(LEVEL),
        "code": pl.col(IRIS).str.strip_chars(),
        "year": pl.lit(2000 + int(yy), pl.Int32),
        "_withheld": pl.col("_withheld"),
    }
    long = melt(raw, index=index, columns=values, markers=MARKERS)
    withheld, status = pl.col("_withheld"), pl.col("status")
    return long.with_columns(
        value=pl.when(withheld).then(None).otherwise(pl.col("value")),
        status=pl.when(withheld & (status.is_null() | (status != NOT_AVAILABLE)))
        .then(pl.lit(SECRET))
        .otherwise(status),
    ).drop("_withheld")


def _notes(
    raw: pl.DataFrame, long: pl.DataFrame, values: list[str], note: str | None, file: str, entry: Entry
) -> list[str]:
    withheld = int(raw["_withheld"].sum())
    by_status = dict(long.group_by("status").len().drop_nulls("status").rows())
    notes = [
        (
            f"{file}: {raw.height} IRIS (IRIS geography {entry.cog}), {len(values)} measures; {withheld} row(s) "
            f"withheld by the note column {note} (secret); cells secret (ns/s): {by_status.get(SECRET, 0)}, "
            f"not available (nd): {by_status.get(NOT_AVAILABLE, 0)}"
        )
    ]
    if note is None:
        notes.append(f"{file}: no note column: only the ns/nd markers say what is withheld")
    return notes


SOURCES = (
    SourceSpec(
        "filosofi_iris",
        ("filosofi_iris_disp", "filosofi_iris_dec"),
        stage,
        label="Insee, Filosofi {year} par IRIS",
        demo=gen_iris.write,
    ),
)
