"""The data-quality annex and the cover's list of sources, read from the store manifest."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from reports import formats as F
from reports import notes as N
from storage.manifest import LastFailure, Manifest, StagedRecord

GEO_CHANGES_FR = {"merged": "fusion", "split": "rétablissement (scission)", "renamed": "changement de code"}
PUBLISHERS_FR = {"INSEE": "Insee", "CAF": "Cnaf"}


@dataclass(frozen=True)
class SourceQuality:
    key: str  # source/vintage
    source: str
    vintage: str
    title: str
    publisher: str
    used: bool  # the vintage the indicators read
    geography: str  # "COG 2024", "COG de l'année N+1"
    staged_at: str  # French date, '' when never staged
    rows: int | None
    secret_cells: int | None
    null_cells: list[tuple[str, int]]  # (French reason, cells), most frequent first
    geo_changes: list[str]  # "fusion : 44100 → 44088 (COG 2024)"
    last_failure: str  # '' when the last refresh succeeded
    urls: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # the parsers' own notes (technical, in English)

    @property
    def hosts(self) -> list[tuple[str, str]]:
        """(host, first URL) per publisher host: a link to where the files come from, each host once."""
        out: dict[str, str] = {}
        for url in self.urls:
            out.setdefault(urlsplit(url).netloc, url)
        return sorted(out.items())

    @property
    def missing_cells(self) -> int:
        return sum(n for _, n in self.null_cells)


def _date(text: str | None) -> str:
    if not text:
        return ""
    try:
        return F.long_date(datetime.fromisoformat(text))
    except ValueError:
        return text


def _geography(staged: StagedRecord) -> str:
    """The geography of the publisher's file (the staged table is always in the target COG)."""
    if staged.cog_offset is not None:
        return f"COG de l'année N+{staged.cog_offset}"
    if staged.file_geography:
        return f"COG {staged.file_geography}"
    return ""


def _geo_changes(changes: list[dict]) -> list[str]:
    """One line per distinct change (the same merge recorded for several years is said once, with its years)."""
    years: dict[tuple[str, str, tuple[str, ...]], list[int | None]] = {}  # a change may carry no COG
    for c in changes:
        if c.get("kind") == "merged" and c.get("new") == [c.get("old")]:
            continue  # the surviving commune of a merge: its absorbed neighbour's line says it all
        key = (c.get("kind", ""), c.get("old", ""), tuple(c.get("new") or ()))
        years.setdefault(key, []).append(c.get("cog"))
    lines = []
    for (kind, old, new), cogs in sorted(years.items()):
        cog_list = sorted({y for y in cogs if y})
        when = f" (COG {', '.join(str(y) for y in cog_list)})" if cog_list else ""
        lines.append(f"{GEO_CHANGES_FR.get(kind, kind)} : {old} → {', '.join(new)}{when}")
    return lines


def _title(staged: StagedRecord, publisher: str) -> str:
    """The catalogue title without a leading `Cnaf : ` that repeats the publisher column."""
    title = staged.title or ""
    title = title.removeprefix(f"{publisher} : ") if publisher else title
    return F.typography(title[:1].upper() + title[1:])


def source_quality(manifest: Manifest, used: dict[str, str]) -> list[SourceQuality]:
    """Every manifest entry, sorted by source then vintage; `used` maps a source to the vintage read."""
    out = []
    for key, entry in sorted(manifest.entries.items()):
        staged = entry.staged or StagedRecord()
        key_source, key_vintage = Manifest.split(key)
        source, vintage = entry.source or key_source, entry.vintage or key_vintage
        null_cells = Counter({N.label(reason): n for reason, n in staged.null_cells.items() if n})
        publisher = PUBLISHERS_FR.get(staged.publisher or "", staged.publisher or "")
        out.append(
            SourceQuality(
                key=key,
                source=source,
                vintage=vintage,
                title=_title(staged, publisher),
                publisher=publisher,
                used=used.get(source) == vintage,
                geography=_geography(staged),
                staged_at=_date(staged.staged_at),
                rows=staged.rows,
                secret_cells=staged.secret_cells,
                null_cells=sorted(null_cells.items(), key=lambda x: (-x[1], x[0])),
                geo_changes=_geo_changes(staged.geo_changes),
                last_failure=_failure(entry.last_failure),
                urls=sorted({f.url for f in entry.files.values() if f.url}),
                notes=list(staged.notes),
            )
        )
    return out


def _failure(failure: LastFailure | None) -> str:
    """`<French date> : <error>`, '' when the last refresh succeeded."""
    return f"{_date(failure.at)} : {failure.error or ''}" if failure else ""


def used_vintages(manifest: Manifest, staged_vintages: dict[str, str]) -> dict[str, str]:
    """The vintage of every source the report reads: the indicators' inputs and the geography (latest staged)."""
    geography: dict[str, str] = {}
    for entry in manifest.staged().values():
        source, vintage = entry.source, entry.vintage
        if source and vintage and source.startswith(GEOGRAPHY_PREFIXES):
            geography[source] = max(vintage, geography.get(source, vintage))
    return geography | dict(staged_vintages)


GEOGRAPHY_PREFIXES = ("cog_", "epci")
