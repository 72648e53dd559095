"""Reader of the real INSEE "comparateur de territoires" base (`base_cc_comparateur_csv.zip`), for tests only.

Not a pipeline source (decisions.md "The comparateur"): one real file of the January 2022 release (RP 2018,
births and deaths 2020, Filosofi 2019, establishments 2018; COG 2021) kept in `../shared/data/insee/` so that the
parsing rules and, later, the indicator arithmetic run on real values.

Quirks: member `base_cc_comparateur.CSV` next to `meta_base_cc_comparateur.CSV` (chosen by exact name); `;`,
CRLF, decimal point with long floats (`3230.99999968229`); communes and the 45 arrondissements municipaux (ARM)
together; a secret is an EMPTY cell, not `s`: empty Filosofi cells (NBMENFISC19, PIMP19, MED19, TP6019) are
`secret`, other empty cells (the RP fields of Mayotte) are `not_available`. Codes are checked against their
level's pattern only: the COG 2021 list is not available offline (decisions.md "Validation of codes").
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from sources.catalogue import FileSpec
from sources.errors import Failure, SourceValidationError
from sources.reading import decode, read_csv_text, zip_member
from sources.validation import Rules, validate
from sources.values import NOT_AVAILABLE, SECRET, finish, melt

SOURCE = "comparateur"
URL = "https://www.insee.fr/fr/statistiques/fichier/2521169/base_cc_comparateur_csv.zip"
MEMBER = "base_cc_comparateur.CSV"
SPEC = FileSpec(url=URL, format="zip", member=MEMBER)
CODE = "CODGEO"
COG = 2021  # geography of the 2022-01 release; also the year of its undated surface area (SUPERF)
ARM_CODE = r"^(751\d\d|6938\d|132\d\d)$"
FILOSOFI = {"NBMENFISC", "PIMP", "MED", "TP60"}  # their empty cells are the publisher's secret
KINDS = {"PIMP": "rate", "TP60": "rate", "MED": "amount"}  # every other variable is a count (additive)


def split_year(column: str, geography_year: int = COG) -> tuple[str, int]:
    """(variable without its year, year) of a comparateur column.

    `P18_POP` -> (`P_POP`, 2018); `NAISD20` -> (`NAISD`, 2020); `TP6019` -> (`TP60`, 2019); `ETTEF118` ->
    (`ETTEF1`, 2018); the five-year counts keep their period in the name: `NAIS1318` -> (`NAIS1318`, 2018);
    `SUPERF` has no year: the geography's.
    """
    if m := re.fullmatch(r"([PC])(\d\d)_(.+)", column):
        return f"{m.group(1)}_{m.group(3)}", 2000 + int(m.group(2))
    if m := re.fullmatch(r"(NAIS|DECE)(\d\d)(\d\d)", column):
        return column, 2000 + int(m.group(3))
    if m := re.fullmatch(r"(TP60|[A-Z][A-Z0-9_]*?)(\d\d)", column):
        return m.group(1), 2000 + int(m.group(2))
    return column, geography_year


def _kind(name: str) -> str:
    return KINDS.get(name, "count")


def read_comparateur(path: Path, *, vintage: str = "2022") -> pl.DataFrame:
    """The comparateur zip as validated long staged rows (codes as published, COG 2021)."""
    raw = read_csv_text(
        decode(zip_member(path, MEMBER, source=SOURCE), SPEC, source=SOURCE, name=MEMBER),
        ";",
        source=SOURCE,
        name=MEMBER,
    )
    if CODE not in raw.columns:
        raise SourceValidationError(
            SOURCE, MEMBER, [Failure(CODE, "required column missing from the file", 1)], str(path)
        )
    columns = [c for c in raw.columns if c != CODE]
    named = {c: split_year(c) for c in columns}
    code = pl.col(CODE).str.strip_chars()
    level = pl.when(code.str.contains(ARM_CODE)).then(pl.lit("ARM")).otherwise(pl.lit("COM"))
    year_of = {c: y for c, (_, y) in named.items()}

    def long_of(subset: list[str], empty: str) -> pl.DataFrame:
        if not subset:
            return pl.DataFrame()
        out = melt(raw, index={"level": level, "code": code}, columns=subset, markers={}, empty=empty)
        return out.with_columns(year=pl.col("variable").replace_strict(year_of, return_dtype=pl.Int32))

    filosofi = [c for c in columns if named[c][0] in FILOSOFI]
    others = [c for c in columns if c not in filosofi]
    parts = [p for p in (long_of(filosofi, SECRET), long_of(others, NOT_AVAILABLE)) if p.height]
    frame = finish(pl.concat(parts, how="diagonal"), SOURCE, vintage)
    rules = Rules(kinds={c: _kind(named[c][0]) for c in columns}, levels=("COM", "ARM"), code_column=CODE)
    validate(frame, rules, source=SOURCE, file=MEMBER, raw_path=str(path))
    rename = {c: name for c, (name, _) in named.items()}
    return frame.with_columns(pl.col("variable").replace(rename)).sort(["level", "code", "year", "variable"])
