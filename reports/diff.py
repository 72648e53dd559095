"""`abs-diag diff`: what changed between two versions of a publication, as a French page, exports and a summary.

    read_version(folder)                   what one published version kept (its indicator table, sources, COG)
    choose_versions(publication, a, b)     the two versions to compare (by default the two latest)
    write_diff(old, new, out_dir)          compare (transforms.diff) and write changements-<stem>.html, .csv, .parquet
                                           and .json; returns a DiffResult (paths, French summary, markdown)
    diff_with_previous(publication, draft) the flows' step: the diff of a new draft against `latest`, written in it

A version of `territoires/<territory>` holds one report: its record (`diagnostic-<stem>.json`: sources and COG)
and its Parquet export are compared. A version of `indicateurs` (the refresh) or `national` holds the indicator
table of France (`indicateurs-france.parquet`) with the manifest copy (or the reports' records) it was computed
from: the whole of France is compared. The page uses the report's look (report.css, inline: it opens offline).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from reports import formats as F
from reports import notes as N
from reports.index import ReportRecord
from reports.provenance import sources_read, target_cog
from reports.templating import environment, pipeline_version
from storage.files import atomic_path
from storage.manifest import Manifest
from storage.publication import DRAFT, LATEST, METADATA, Publication
from transforms.diff import CHANGE_COLUMNS, Diff, Published, SourceRead, Thresholds, compare
from transforms.export import COLUMNS_FR as EXPORT_COLUMNS_FR
from transforms.export import IDENTITY, UNITS_FR, neutralised

FRANCE_TABLE = "indicateurs-france.parquet"
LEVELS_FR = {"TERRITORY": "Territoire", "EPCI": "EPCI", "COM": "Commune", "DEP": "Département", "FRANCE": "France"}
LEVEL_ORDER = {"TERRITORY": 0, "EPCI": 1, "COM": 2, "DEP": 3, "FRANCE": 4}
VALUE_CHANGES_FR = {
    "moved": "évolution au-delà du seuil",
    "became_available": "valeur désormais disponible",
    "became_missing": "valeur désormais indisponible",
    "reason_changed": "motif modifié",
}
FLAG_CHANGES_FR = {
    "appeared": "signal apparu",
    "disappeared": "signal disparu",
    "raised": "signal aggravé",
    "lowered": "signal atténué",
}
SOURCE_CHANGES_FR = {
    "new_vintage": "nouveau millésime",
    "earlier_vintage": "millésime antérieur",
    "new_year": "nouvelle année de données",
    "revised_file": "fichier révisé par le producteur",
    "added": "source ajoutée",
    "removed": "source retirée",
}
MOVE_UNITS_FR = {"points": "points", "percent": "%"}
FLAG_MARKS = {"vigilance": ("!", "flag-v"), "priorité": ("!!", "flag-p")}
PAGE_ROWS = 400  # rows of a table shown on the page; the exports hold them all (France has thousands)
# French column names of the CSV export, in order
COLUMNS_FR = {c: EXPORT_COLUMNS_FR[c] for c in IDENTITY} | {
    "old_year": "année avant",
    "new_year": "année après",
    "old_value": "valeur avant",
    "new_value": "valeur après",
    "old_status": "motif avant",
    "new_status": "motif après",
    "move": "évolution",
    "move_unit": "unité de l'évolution",
    "threshold": "seuil",
    "value_change": "changement de valeur",
    "old_flag": "signal avant",
    "new_flag": "signal après",
    "flag_change": "changement de signal",
}


class DiffError(ValueError):
    """Two versions cannot be compared: the message says why, in French, for the user."""


@dataclass(frozen=True)
class PublishedVersion:
    """One version of a publication as the comparison reads it."""

    folder: Path
    publication: str  # the publication's name (`territoires/epci-200029940`, `national`...)
    version: str
    published_at: str  # ISO 8601, '' for a draft
    key: str  # the territory: the report's stem (`epci-200029940`), or `france` for the national tables
    territory: str  # as the report names it
    demo: bool
    data: Published


@dataclass(frozen=True)
class DiffResult:
    diff: Diff
    old: PublishedVersion
    new: PublishedVersion
    paths: dict[str, Path] = field(default_factory=dict)  # format -> file written
    summary: str = ""  # French, for the console

    @property
    def page(self) -> Path:
        return self.paths["html"]


# -- reading publications ---------------------------------------------------------------------------------------


def read_version(folder: Path, version: str | None = None, publication: str | None = None) -> PublishedVersion:
    """What a published version (or a draft about to be `version` of `publication`) kept; a DiffError naming the
    folder if it is neither a report's version nor national tables."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DiffError(f"{folder} : ce dossier n'existe pas")
    meta = _metadata(folder)
    records = [ReportRecord.read(p) for p in sorted(folder.glob("diagnostic-*.json"))]
    name = meta.get("name") or publication or folder.parent.name
    version = version or meta.get("version") or folder.name.removeprefix(DRAFT)
    if (folder / FRANCE_TABLE).is_file():
        key, territory, table_path = "france", "France (communes, EPCI, départements)", folder / FRANCE_TABLE
        sources, cog = _national_sources(folder, records)
        demo = any(r.demo for r in records)
    elif len(records) == 1:
        record = records[0]
        key = record.file.removeprefix("diagnostic-").removesuffix(".html")
        territory, table_path, demo = record.territory, folder / f"indicateurs-{key}.parquet", record.demo
        sources, cog = tuple(SourceRead.of(s) for s in record.sources), record.cog
    else:
        raise DiffError(
            f"{folder} : ni un rapport (diagnostic-*.json) ni les tables nationales ({FRANCE_TABLE}) : "
            "ce n'est pas une version publiée d'un diagnostic"
        )
    if not table_path.is_file():
        raise DiffError(f"{folder} : la table d'indicateurs {table_path.name} manque")
    try:
        table = pl.read_parquet(table_path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DiffError(f"{table_path} : table d'indicateurs illisible ({exc})") from exc
    demo = demo or ("demo" in table.columns and bool(table["demo"].any()))
    return PublishedVersion(
        folder, name, version, meta.get("published_at", ""), key, territory, demo, Published(table, sources, cog)
    )


def _metadata(folder: Path) -> dict:
    path = folder / METADATA
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _national_sources(folder: Path, records: list[ReportRecord]) -> tuple[tuple[SourceRead, ...], str]:
    """The sources of the national tables: the manifest copy the refresh keeps beside them, else the record of
    any report of the run (they all read one state of the store)."""
    copy = folder / "manifest.json"
    if copy.is_file():
        manifest = Manifest.from_dict(json.loads(copy.read_text(encoding="utf-8")))
        return tuple(SourceRead.of(s) for s in sources_read(manifest)), target_cog(manifest)
    record = next((r for r in records if r.sources), None)
    return (tuple(SourceRead.of(s) for s in record.sources), record.cog) if record else ((), "")


def choose_versions(pub: Publication, old: str | None = None, new: str | None = None) -> tuple[Path, Path]:
    """The folders of the two versions to compare: `new` (default: `latest`) and `old` (default: the version
    before `new`). A version is a name of `pub` (or `latest`), or the path of a version folder."""
    versions = pub.versions()
    if not versions and not (_is_path(old) and _is_path(new)):
        raise DiffError(f"aucune version publiée de « {pub.name} » dans {pub.root}")
    new_folder = _version_folder(pub, versions, new or LATEST)
    if old is None:
        earlier = [v for v in versions if v < new_folder.name]
        if not earlier:
            raise DiffError(f"une seule version publiée : rien à comparer ({pub.name}, version {new_folder.name})")
        old_folder = pub.dir / earlier[-1]
    else:
        old_folder = _version_folder(pub, versions, old)
    if old_folder.resolve() == new_folder.resolve():
        raise DiffError(f"--from et --to désignent la même version ({new_folder.name}) : rien à comparer")
    return old_folder, new_folder


def _is_path(value: str | None) -> bool:
    return value is not None and (os.sep in value or value.startswith("."))


def _version_folder(pub: Publication, versions: list[str], name: str) -> Path:
    if _is_path(name):
        return Path(name)
    if name == LATEST:
        if pub.latest is None:
            raise DiffError(f"« {pub.name} » n'a pas de version `latest` dans {pub.root}")
        return pub.latest
    if name not in versions:
        shown = ", ".join(versions[-5:]) or "aucune"
        raise DiffError(f"version inconnue de « {pub.name} » : {name} (versions publiées : {shown})")
    return pub.dir / name


def publication_names(root: Path) -> list[str]:
    """The publications under `root` that have a `latest` (what a user may name), for an error message."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(str(link.parent.relative_to(root)) for link in root.rglob(LATEST) if link.is_symlink())


# -- comparing and writing --------------------------------------------------------------------------------------


def compare_versions(old: PublishedVersion, new: PublishedVersion, thresholds: Thresholds | None = None) -> Diff:
    if old.key != new.key:
        raise DiffError(
            f"les deux versions ne portent pas sur le même territoire : {old.territory} "
            f"({old.folder}) et {new.territory} ({new.folder})"
        )
    return compare(old.data, new.data, thresholds)


def write_diff(
    old: PublishedVersion,
    new: PublishedVersion,
    out_dir: Path,
    thresholds: Thresholds | None = None,
    generated_at: datetime | None = None,
) -> DiffResult:
    """Compare and write `changements-<key>.html`, `.csv` (`;`, decimal comma, BOM), `.parquet` and `.json`."""
    thresholds = thresholds or Thresholds.load()
    diff = compare_versions(old, new, thresholds)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"changements-{new.key}"
    demo = old.demo or new.demo
    paths = {fmt: out_dir / f"{stem}.{fmt}" for fmt in ("html", "csv", "parquet", "json")}
    changes = _ordered(diff.changes)
    with atomic_path(paths["parquet"]) as tmp:
        (changes.with_columns(demo=pl.lit(True)) if demo else changes).write_parquet(tmp)
    _write_csv(changes, paths["csv"], demo)
    _write_text(paths["json"], json.dumps(_record(diff, old, new, thresholds), ensure_ascii=False, indent=2))
    moment = generated_at or datetime.now(UTC)
    _write_text(paths["html"], render_page(diff, old, new, thresholds, moment, [p.name for p in paths.values()]))
    return DiffResult(diff, old, new, paths, summary_text(diff, old, new))


def _ordered(changes: pl.DataFrame) -> pl.DataFrame:
    return (
        changes.with_columns(_order=pl.col("level").replace_strict(LEVEL_ORDER, default=9))
        .sort(["_order", "code", "indicator"])
        .drop("_order")
    )


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _write_csv(changes: pl.DataFrame, path: Path, demo: bool) -> None:
    """For French spreadsheets, like the indicator exports: `;`, decimal comma, UTF-8 with BOM, labels in French
    and formula-like text neutralised."""
    fr = (
        changes.with_columns(
            [pl.col(c).round(3) for c in ("old_value", "new_value", "move")],
            level=pl.col("level").replace_strict(LEVELS_FR, default=pl.col("level"), return_dtype=pl.String),
            unit=pl.col("unit").replace_strict(UNITS_FR, default=pl.col("unit"), return_dtype=pl.String),
            move_unit=pl.col("move_unit").replace_strict(MOVE_UNITS_FR, default=None, return_dtype=pl.String),
            old_status=_reason_fr("old_status"),
            new_status=_reason_fr("new_status"),
            value_change=pl.col("value_change").replace_strict(VALUE_CHANGES_FR, default=None, return_dtype=pl.String),
            flag_change=pl.col("flag_change").replace_strict(FLAG_CHANGES_FR, default=None, return_dtype=pl.String),
        )
        .select(CHANGE_COLUMNS)
        .rename(COLUMNS_FR)
    )
    if demo:
        fr = fr.with_columns(pl.lit("synthétiques (démonstration)").alias("données"))
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        handle.write(b"\xef\xbb\xbf")
        neutralised(fr).write_csv(handle, separator=";", decimal_comma=True)


def _reason_fr(column: str) -> pl.Expr:
    return pl.col(column).map_elements(N.label, return_dtype=pl.String, skip_nulls=True)


def _record(diff: Diff, old: PublishedVersion, new: PublishedVersion, thresholds: Thresholds) -> dict:
    """The machine-readable summary written beside the page (and read by nothing else of the pipeline)."""

    def side(v):
        return {"publication": v.publication, "version": v.version, "folder": str(v.folder), "cog": v.data.cog}

    counts = diff.changes.group_by("value_change").len().drop_nulls().iter_rows()
    flags = diff.changes.group_by("flag_change").len().drop_nulls().iter_rows()
    return {
        "territory": new.territory,
        "key": new.key,
        "from": side(old),
        "to": side(new),
        "demo": old.demo or new.demo,
        "sources": [
            {
                "source": c.source,
                "title": c.title,
                "change": c.kind,
                "from": asdict(c.old) if c.old else None,
                "to": asdict(c.new) if c.new else None,
            }
            for c in diff.sources
        ],
        "places_removed": diff.places_removed.to_dicts(),
        "places_added": diff.places_added.to_dicts(),
        "indicators_removed": diff.indicators_removed.to_dicts(),
        "indicators_added": diff.indicators_added.to_dicts(),
        "value_changes": dict(counts),
        "flag_changes": dict(flags),
        "profiles": [asdict(p) for p in diff.profiles],
        "thresholds": {
            "units": {u: asdict(r) for u, r in thresholds.units.items()},
            "indicators": thresholds.indicators,
        },
    }


# -- the summary (console, Prefect artifact) --------------------------------------------------------------------


def summary_lines(diff: Diff, old: PublishedVersion, new: PublishedVersion) -> list[str]:
    """What changed, in a few French lines."""
    lines = [f"{new.territory} : version {old.version} → {new.version}"]
    if diff.empty:
        return lines + ["Aucun changement : mêmes sources, même géographie, aucune valeur au-delà des seuils."]
    for c in diff.sources:
        versions = _source_text(c.new) if c.kind == "revised_file" else f"{_source_text(c.old)} → {_source_text(c.new)}"
        lines.append(f"Source {c.title} : {SOURCE_CHANGES_FR[c.kind]} ({versions})")
    if diff.cog[0] != diff.cog[1]:
        lines.append(f"Géographie : COG {diff.cog[0] or '?'} → COG {diff.cog[1] or '?'}")
    for label, places in (("disparu(s)", diff.places_removed), ("apparu(s)", diff.places_added)):
        if places.height:
            shown = ", ".join(f"{n or c} ({c})" for c, n in places.select("code", "name").head(10).iter_rows())
            lines.append(f"Territoires {label} : {places.height} — {shown}")
    counts = dict(diff.changes.group_by("value_change").len().drop_nulls().iter_rows())
    for kind, text in VALUE_CHANGES_FR.items():
        if counts.get(kind):
            lines.append(f"Valeurs — {text} : {counts[kind]}")
    flags = dict(diff.changes.group_by("flag_change").len().drop_nulls().iter_rows())
    for kind, text in FLAG_CHANGES_FR.items():
        if flags.get(kind):
            lines.append(f"Signaux — {text} : {flags[kind]}")
    if diff.profiles:
        lines.append(
            f"Profils de besoins modifiés : {len(diff.profiles)} commune(s) — "
            + ", ".join(p.name for p in diff.profiles[:10])
        )
    return lines


def summary_text(diff: Diff, old: PublishedVersion, new: PublishedVersion) -> str:
    return "\n".join(summary_lines(diff, old, new))


def summary_markdown(lines: list[str], page: Path, files: list[str]) -> str:
    """The Prefect artifact: the summary (`summary_lines`) and where the page and its exports are."""
    body = "\n".join(f"- {line}" for line in lines[1:])
    names = ", ".join(f"`{name}`" for name in files)
    return f"# Ce qui a changé : {lines[0]}\n\n{body}\n\n- Page : [{page.name}]({page.as_uri()}) ; fichiers : {names}\n"


def _source_text(read: SourceRead | None) -> str:
    if read is None:
        return "—"
    year = f", données {read.year}" if read.year is not None and str(read.year) != read.vintage else ""
    return f"millésime {read.vintage}{year}"


# -- the page ---------------------------------------------------------------------------------------------------


def render_page(
    diff: Diff,
    old: PublishedVersion,
    new: PublishedVersion,
    thresholds: Thresholds,
    generated_at: datetime,
    files: list[str],
) -> str:
    """The French HTML page (nothing read or written)."""
    changes = _ordered(diff.changes)
    values = changes.filter(pl.col("value_change").is_not_null())
    flags = changes.filter(pl.col("flag_change").is_not_null())
    return (
        environment()
        .get_template("diff.html.j2")
        .render(
            old=old,
            new=new,
            demo=old.demo or new.demo,
            version=pipeline_version(),
            generated=F.long_date(generated_at),
            generated_iso=generated_at.isoformat(),
            files=files,
            published={"old": _date(old.published_at), "new": _date(new.published_at)},
            sources=[_source_row(c) for c in diff.sources],
            cog=diff.cog,
            places_removed=_place_rows(diff.places_removed),
            places_added=_place_rows(diff.places_added),
            indicators_removed=diff.indicators_removed.to_dicts(),
            indicators_added=diff.indicators_added.to_dicts(),
            values=[_value_row(r) for r in values.head(PAGE_ROWS).iter_rows(named=True)],
            n_values=values.height,
            flags=[_flag_row(r) for r in flags.head(PAGE_ROWS).iter_rows(named=True)],
            n_flags=flags.height,
            profiles=[_profile_row(p, diff.labels) for p in diff.profiles[:PAGE_ROWS]],
            n_profiles=len(diff.profiles),
            page_rows=PAGE_ROWS,
            thresholds=_threshold_rows(thresholds),
            empty=diff.empty,
        )
    )


def _date(iso: str) -> str:
    try:
        return F.long_date(datetime.fromisoformat(iso)) if iso else ""
    except ValueError:
        return iso


def _source_row(change) -> dict:
    return {
        "title": change.title,
        "source": change.source,
        "kind": SOURCE_CHANGES_FR[change.kind],
        "old": _source_text(change.old),
        "new": _source_text(change.new),
    }


def _place_rows(places: pl.DataFrame) -> list[dict]:
    return [
        {"level": LEVELS_FR.get(level, level), "code": code, "name": name or code}
        for level, code, name in places.select("level", "code", "name").iter_rows()
    ]


def _place(row: dict) -> str:
    name = row["name"] or row["code"]
    if row["level"] == "FRANCE":
        return name
    return f"{name} ({LEVELS_FR.get(row['level'], row['level'])}, {row['code']})"


def _cell(value: float | None, status: str | None, unit: str, year: int | None) -> dict:
    """A value as the page shows it: the number, or the reason it is empty (never 0), and its year."""
    if value is None:
        return {"text": N.label(status) if status else "donnée absente", "missing": True, "year": year}
    return {"text": F.value(value, unit), "missing": False, "year": year, "note": N.label(status) if status else ""}


def _move_text(row: dict) -> str:
    if row["value_change"] != "moved":
        return ""
    if row["move"] is None:
        return "depuis 0"
    if row["move_unit"] == "points":
        decimals = F.DECIMALS.get(row["unit"], 1)
        return F.number(row["move"], decimals, signed=True) + (
            f"{F.NNBSP}pt" if row["unit"] in ("percent", "per100", "percent_per_year") else ""
        )
    return F.number(row["move"], 1, signed=True) + f"{F.NNBSP}%"


def _value_row(row: dict) -> dict:
    return {
        "place": _place(row),
        "label": row["label"],
        "theme": row["theme_label"] or "",
        "old": _cell(row["old_value"], row["old_status"], row["unit"], row["old_year"]),
        "new": _cell(row["new_value"], row["new_status"], row["unit"], row["new_year"]),
        "move": _move_text(row),
        "kind": VALUE_CHANGES_FR[row["value_change"]],
        "kind_id": row["value_change"],
    }


def _flag_row(row: dict) -> dict:
    return {
        "place": _place(row),
        "label": row["label"],
        "old": FLAG_MARKS.get(row["old_flag"]),
        "new": FLAG_MARKS.get(row["new_flag"]),
        "old_flag": row["old_flag"] or "aucun",
        "new_flag": row["new_flag"] or "aucun",
        "kind": FLAG_CHANGES_FR[row["flag_change"]],
        "kind_id": row["flag_change"],
    }


def _profile_row(profile, labels: dict[str, str]) -> dict:
    return {
        "name": profile.name,
        "code": profile.code,
        "before": profile.before,
        "after": profile.after,
        "added": [labels.get(i, i) for i in profile.added],
        "removed": [labels.get(i, i) for i in profile.removed],
    }


def _threshold_rows(thresholds: Thresholds) -> list[str]:
    rows = []
    for unit, rule in thresholds.units.items():
        kind = "points" if rule.change == "points" else "% de la valeur précédente"
        rows.append(f"{UNITS_FR.get(unit, unit)} : {F.number(rule.threshold, 1)} {kind}")
    rows += [f"{indicator} : {F.number(t, 1)}" for indicator, t in sorted(thresholds.indicators.items())]
    return rows


# -- the flows' step --------------------------------------------------------------------------------------------


def diff_with_previous(
    pub: Publication, draft_folder: Path, version: str, thresholds: Thresholds | None = None
) -> DiffResult | None:
    """The diff of a draft (about to become `version` of `pub`) against the current `latest`, written into the
    draft beside its report; None when nothing was published before (or `latest` is another territory)."""
    if pub.latest is None:
        return None
    old = read_version(pub.latest)
    new = read_version(Path(draft_folder), version, pub.name)
    if old.key != new.key:
        return None
    return write_diff(old, new, Path(draft_folder), thresholds)


def existing_publication(root: Path | str | None, name: str, what: str) -> Publication:
    """The publication `name` under `root`; a DiffError naming `what` (« l'EPCI 200029940 ») and the
    publications that do exist when it was never published."""
    pub = Publication(root, name)
    if not pub.versions():
        known = publication_names(pub.root)
        raise DiffError(
            f"aucune publication pour {what} dans {pub.root} ({name}) ; publications existantes : "
            f"{', '.join(known) or 'aucune'}"
        )
    return pub


def run_diff(
    pub: Publication, old: str | None, new: str | None, out_dir: Path, thresholds: Thresholds | None = None
) -> DiffResult:
    """The command's work: choose the two versions of `pub`, compare them, write the page and exports."""
    old_folder, new_folder = choose_versions(pub, old, new)
    return write_diff(read_version(old_folder), read_version(new_folder), out_dir, thresholds)
