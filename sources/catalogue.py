"""The source catalogue (`catalogue.toml`) as typed records.

One `Entry` per staged source and vintage; one `FileSpec` per download of that entry. Expected column names are
templates filled from the entry's `params` (`P{yy}_POP` -> `P22_POP`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

CATALOGUE_PATH = Path(__file__).with_name("catalogue.toml")
MB = 1_000_000
# Defaults when neither the file nor the catalogue's [limits] table sets one: generous for the real files (census
# and Filosofi zips are tens of MB, CAF exports up to ~100 MB), far below what a hostile upstream could send.
DEFAULT_MAX_DOWNLOAD = 400 * MB  # bytes written to disk (after any Content-Encoding is decoded)
DEFAULT_MAX_UNPACKED = 1000 * MB  # bytes all the members of an archive hold together once inflated


@dataclass(frozen=True)
class FileSpec:
    """One file to download for an entry."""

    url: str
    format: str  # "csv" or "zip"
    role: str = "main"  # "main", or "hist" for a CAF `_hist` twin
    member: str | None = None  # exact zip member name (never "the first CSV")
    members: dict[str, tuple[str, ...]] = field(default_factory=dict)  # level -> candidate member names
    sheets: tuple[str, ...] = ()
    separator: str = ";"
    encoding: str = "utf-8"  # decoded as UTF-8 (BOM or not) first; `fallback_encoding` only if that fails
    fallback_encoding: str | None = None  # declared per file in the catalogue (decisions.md "Downloads")
    sha256: str | None = None
    size: int | None = None
    max_download: int = DEFAULT_MAX_DOWNLOAD  # bytes; catalogue keys `max_download_mb` (file or [limits])
    max_unpacked: int = DEFAULT_MAX_UNPACKED  # bytes; catalogue keys `max_unpacked_mb` (file or [limits])
    redirect_hosts: tuple[str, ...] = ()  # other hosts a redirect may lead to (the source's own host always may)

    @property
    def name(self) -> str:
        """A short file name for messages and the raw store: the last path segment of the URL.

        Opendatasoft exports all end in `/exports/csv`: they are named after their dataset (`s_ben_com_f.csv`).
        """
        path = self.url.split("?", 1)[0].rstrip("/")
        export = re.search(r"/datasets/([^/]+)/exports/(\w+)$", path)
        if export:
            return f"{export.group(1)}.{export.group(2)}"
        return path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Columns:
    required: tuple[str, ...]
    optional: tuple[str, ...]
    code: str | None = None
    # whole -> the columns never above it in the same row (a part and its whole, or an ordering like D1 <= MED)
    parts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    part_tolerance: float = 0.0  # what the publisher's rounding allows a part to exceed its whole by


@dataclass(frozen=True)
class Coverage:
    """The share of the geography a file must cover, in every year it holds (checked by `sources.coverage`)."""

    level: str  # the level whose units are counted: COM, EPCI, DEP or FRANCE; IRIS counts the communes with IRIS
    min_share: float  # minimum share of the geography's units of that level present
    above_population: int | None = None  # COM only: the file covers the communes of at least this population


@dataclass(frozen=True)
class Entry:
    source: str
    vintage: str
    publisher: str
    title: str
    parser: str
    files: tuple[FileSpec, ...]
    columns_key: str
    cog: int | None = None  # geography of the file's codes; None when it depends on the row (CAF: year + offset)
    cog_offset: int | None = None
    params: dict[str, str] = field(default_factory=dict)
    coverage: Coverage | None = None  # None for the COG reference tables: they define the geography
    max_row_drop: float = 0.1  # share of rows a new staging may lose against the previous one without an override

    @property
    def key(self) -> str:
        return f"{self.source}/{self.vintage}"

    @property
    def fixed_cog(self) -> int:
        """The COG of every row of a file with one geography (IRIS, QPV): `cog`, which its entry must give."""
        if self.cog is None:
            raise ValueError(f"{self.key}: the catalogue gives no cog for a file with one geography")
        return self.cog

    def file(self, role: str = "main") -> FileSpec:
        for f in self.files:
            if f.role == role:
                return f
        raise KeyError(f"{self.key} has no file with role {role!r}")

    def columns(self, key: str | None = None) -> Columns:
        """Expected columns of this entry (or of another column list), placeholders filled from `params`."""
        spec = _raw()["columns"][key or self.columns_key]
        fill = lambda names: tuple(n.format(**self.params) for n in names)  # noqa: E731
        parts = {whole.format(**self.params): fill(names) for whole, names in spec.get("parts", {}).items()}
        return Columns(
            fill(spec.get("required", [])),
            fill(spec.get("optional", [])),
            spec.get("code"),
            parts,
            float(spec.get("part_tolerance", 0)),
        )

    def cog_for_year(self, year: int) -> int:
        """COG of the rows of reference year `year` (CAF December N is localised in COG N+1)."""
        if self.cog is not None:
            return self.cog
        assert self.cog_offset is not None, f"{self.key}: neither cog nor cog_offset"
        return year + self.cog_offset


@cache
def _raw() -> dict:
    return tomllib.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))


def _file(spec: dict) -> FileSpec:
    spec = _raw().get("limits", {}) | spec  # the file's own limits win over the catalogue's defaults
    spec["members"] = {k: tuple(v) for k, v in spec.get("members", {}).items()}
    spec["sheets"] = tuple(spec.get("sheets", ()))
    spec["redirect_hosts"] = tuple(h.lower() for h in spec.get("redirect_hosts", ()))
    for key in ("max_download", "max_unpacked"):
        if f"{key}_mb" in spec:
            spec[key] = int(float(spec.pop(f"{key}_mb")) * MB)
    return FileSpec(**spec)


@cache
def entries() -> tuple[Entry, ...]:
    raw = _raw()
    out = []
    for e in raw["entry"]:
        out.append(
            Entry(
                source=e["source"],
                vintage=str(e["vintage"]),
                publisher=e["publisher"],
                title=e["title"],
                parser=e["parser"],
                files=tuple(_file(f) for f in e["file"]),
                columns_key=e["columns"],
                cog=e.get("cog"),
                cog_offset=e.get("cog_offset"),
                params={k: str(v) for k, v in e.get("params", {}).items()},
                coverage=Coverage(**e["coverage"]) if "coverage" in e else None,
                max_row_drop=float(e.get("max_row_drop", raw["max_row_drop"])),
            )
        )
    keys = [e.key for e in out]
    duplicated = {k for k in keys if keys.count(k) > 1}
    if duplicated:
        raise ValueError(f"catalogue.toml: duplicated source/vintage {sorted(duplicated)}")
    return tuple(out)


def plausible_max() -> dict[str, dict[str, float]]:
    """kind -> level -> the largest plausible value (catalogue `[plausibility.max]`)."""
    return {
        kind: {level: float(v) for level, v in by_level.items()}
        for kind, by_level in _raw()["plausibility"]["max"].items()
    }


def default_cog() -> int:
    return int(_raw()["default_cog"])


def sources() -> list[str]:
    """Source names in catalogue order, without duplicates."""
    return list(dict.fromkeys(e.source for e in entries()))


def select(names: list[str] | None = None, vintages: dict[str, str] | None = None) -> list[Entry]:
    """Entries for the given source names (all when None); `vintages` pins a vintage per source."""
    unknown = set(names or []) - set(sources())
    if unknown:
        raise KeyError(f"unknown source(s) {sorted(unknown)}; known: {', '.join(sources())}")
    chosen = [e for e in entries() if names is None or e.source in names]
    if vintages:
        chosen = [e for e in chosen if e.source not in vintages or e.vintage == vintages[e.source]]
    return chosen


def get(source: str, vintage: str) -> Entry:
    for e in entries():
        if e.source == source and e.vintage == vintage:
            return e
    raise KeyError(f"no catalogue entry {source}/{vintage}")
