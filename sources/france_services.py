"""ANCT list of the France services structures (data.gouv.fr, « Liste des structures France services »).

One row per structure (supply-space-time-sources §3): `,`-separated, every text field double-quoted, numbers and
empty fields unquoted, UTF-8, and some quoted fields hold line breaks (a real CSV parser reads them). Staged per
commune: `FS_PRINCIPAL` and `FS_ANTENNE`, the structures of each `type_fs`, counted apart.

Quirks handled:
- the header is checked (the schema changed once, from the 2019-2020 sheet): a missing column is an error;
- `insee_com` of Paris, Lyon and Marseille is an arrondissement (75112, 69388, 13202): counted at level ARM and
  summed into the city's commune row (the list never carries the city itself);
- `977` / `978` (Saint-Barthélemy, Saint-Martin: collectivités absent from the COG commune list) are left out of
  the commune counts with a note;
- the list is exhaustive: a commune with no structure has 0 of each type (staged explicitly, for every commune of
  the COG);
- the list carries no date: its year is that of the latest labellisation it records (`labellisation_fs`,
  « Espace labellisé dd/mm/yyyy »), said in the notes; a list with no readable date is refused;
- a `type_fs` other than Principal/Antenne, or a repeated `id_fs`, is refused.
The BPE's type A128 counts the same network at 1 January; this list is its current state.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from sources.caf_common import city_of
from sources.catalogue import Entry
from sources.demo import gen_france_services
from sources.errors import Failure, SourceValidationError
from sources.geography import Geography
from sources.reading import read_csv_file
from sources.spec import SourceSpec
from sources.staging import Staged, conclude
from sources.validation import Rules, missing_columns

TYPES = {"Principal": "FS_PRINCIPAL", "Antenne": "FS_ANTENNE"}
NOT_IN_COG = ("977", "978")  # Saint-Barthélemy, Saint-Martin: no commune of the COG
ARM_PATTERN = r"^(751\d\d|6938\d|132\d\d)$"
LABEL_DATE = r"(\d{2})/(\d{2})/(\d{4})"


def stage(entry: Entry, files: dict[str, Path], geo: Geography | None) -> Staged:
    spec, path = entry.file(), files["main"]
    file, raw_path = spec.name, str(path)
    raw = read_csv_file(path, spec, source=entry.source)
    missing_columns(raw.columns, entry.columns().required, source=entry.source, file=file, raw_path=raw_path)

    def fail(column: str, rule: str, rows: pl.DataFrame, shown: str) -> SourceValidationError:
        samples = [
            f"id_fs {r['id_fs']} (insee_com {r['insee_com']}): {shown} = {r[shown]!r}"
            for r in rows.head(5).iter_rows(named=True)
        ]
        return SourceValidationError(entry.source, file, [Failure(column, rule, rows.height, samples)], raw_path)

    frame = raw.with_columns(pl.col(c).str.strip_chars() for c in ("id_fs", "insee_com", "type_fs"))
    _check(frame, fail)
    year, last = _year(frame, fail)
    notes = [f"list of {frame.height} structures; latest labellisation {last}: staged as year {year}"]
    outside = frame.filter(pl.col("insee_com").str.slice(0, 3).is_in(NOT_IN_COG))
    if outside.height:
        notes.append(
            f"{outside.height} structure(s) of Saint-Barthélemy or Saint-Martin (977, 978), collectivités "
            "absent from the COG commune list, left out of the commune counts"
        )
    frame = frame.filter(~pl.col("insee_com").str.slice(0, 3).is_in(NOT_IN_COG))
    long, in_order, count_notes = _counts(frame, year, _communes(frame, geo, entry.cog_for_year(year)))
    notes += count_notes
    rules = Rules(kinds={v: "count" for v in TYPES.values()}, levels=("COM", "ARM"), code_column="insee_com")
    return conclude(long, entry, rules, geo, file=file, raw_path=raw_path, notes=notes, presorted=in_order)


def _check(frame: pl.DataFrame, fail) -> None:
    """Known structure types, unique ids, a 5-character commune code."""
    other = frame.filter(~pl.col("type_fs").fill_null("").is_in(list(TYPES)))
    if other.height:
        raise fail("type_fs", f"one of {', '.join(TYPES)}", other, "type_fs")
    repeated = frame.filter(pl.col("id_fs").is_duplicated())
    if repeated.height:
        raise fail("id_fs", "unique structure id", repeated, "id_fs")
    bad = frame.filter(~pl.col("insee_com").fill_null("").str.contains(r"^(\d{5}|2[AB]\d{3})$"))
    if bad.height:
        raise fail("insee_com", "a commune code of 5 characters", bad, "insee_com")


def _year(frame: pl.DataFrame, fail) -> tuple[int, str]:
    """The year of the latest labellisation date of the list (dd/mm/yyyy), and that date."""
    dates = frame.select(d=pl.col("labellisation_fs").str.extract_groups(LABEL_DATE)).unnest("d")
    parsed = dates.select(
        pl.date(pl.col("3").cast(pl.Int32), pl.col("2").cast(pl.Int8), pl.col("1").cast(pl.Int8)).alias("date")
    ).drop_nulls()
    if parsed.is_empty():
        raise fail(
            "labellisation_fs", "a date « Espace labellisé dd/mm/yyyy » in at least one row", frame, "labellisation_fs"
        )
    last: date = parsed["date"].max()  # type: ignore[assignment]  # a Date column's max is a date
    return last.year, last.strftime("%d/%m/%Y")


def _communes(frame: pl.DataFrame, geo: Geography | None, cog: int) -> list[str]:
    if geo is not None:
        return sorted(geo.communes_at(cog))
    com = frame.filter(~pl.col("insee_com").str.contains(ARM_PATTERN))["insee_com"].unique().to_list()
    cities = frame.filter(pl.col("insee_com").str.contains(ARM_PATTERN)).select(city_of(pl.col("insee_com")))
    return sorted(set(com) | set(cities.to_series().to_list()))


def _counts(frame: pl.DataFrame, year: int, communes: list[str]) -> tuple[pl.DataFrame, bool, list[str]]:
    """Structures per commune and type, arrondissements summed into their city, 0 where there is none; and whether
    the rows are in key order (ARM rows, then the grid of the sorted `communes` x types: unless the list names a
    commune outside `communes`, which validation then refuses). Built in that order, the 70,000 rows of France
    are not sorted again (0.068 to 0.047 s of CPU)."""
    is_arm = pl.col("insee_com").str.contains(ARM_PATTERN)
    keyed = frame.select(code="insee_com", variable=pl.col("type_fs").replace_strict(TYPES), arm=is_arm)
    arm = keyed.filter(pl.col("arm")).group_by("code", "variable").len().sort("code", "variable")
    city = keyed.with_columns(code=pl.when(pl.col("arm")).then(city_of(pl.col("code"))).otherwise(pl.col("code")))
    com = city.group_by("code", "variable").len()
    variables = sorted(TYPES.values())
    # gathered by position (numpy arrays of text take ten times as long to become polars columns)
    width, size = len(variables), len(communes)
    grid = pl.DataFrame(
        {
            "code": pl.Series(communes, dtype=pl.String).gather(np.repeat(np.arange(size), width)),
            "variable": pl.Series(variables, dtype=pl.String).gather(np.tile(np.arange(width), size)),
        }
    )
    outside = com.join(grid, on=["code", "variable"], how="anti")
    com = pl.concat([grid.join(com, on=["code", "variable"], how="left", maintain_order="left"), outside])
    com = com.with_columns(pl.col("len").fill_null(0))
    rows = pl.concat([arm.with_columns(level=pl.lit("ARM")), com.with_columns(level=pl.lit("COM"))])
    long = rows.select(
        level="level",
        code="code",
        year=pl.lit(year, pl.Int32),
        variable="variable",
        value=pl.col("len").cast(pl.Float64),
        status=pl.lit(None, pl.String),
    )
    notes = [f"{k}: {frame.filter(pl.col('type_fs') == k).height} structure(s)" for k in TYPES]
    if arm.height:
        cities = sorted(set(city.filter(pl.col("arm"))["code"].to_list()))
        notes.append(
            f"structures of Paris/Lyon/Marseille are listed by arrondissement: counted in their city "
            f"({', '.join(cities)}) too; ARM rows kept"
        )
    return long, outside.is_empty(), notes


SOURCES = (
    SourceSpec(
        "france_services",
        ("france_services",),
        stage,
        label="ANCT, liste des France services {year}",
        demo=gen_france_services.write,
    ),
)
