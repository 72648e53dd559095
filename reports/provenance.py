"""Which sources a build read, as its record keeps them (`diagnostic-<stem>.json`, `sources` and `cog`), so that a
later publication can be compared with it (`abs-diag diff`): per source its vintage, the latest year of its
figures, its title, the geography of the publisher's file and the sha256 of the files staged."""

from __future__ import annotations

from reports.quality import source_quality, used_vintages
from storage.manifest import Manifest
from transforms.compute import Inputs


def sources_read(manifest: Manifest, inputs: Inputs | None = None) -> tuple[dict, ...]:
    """One dict per source read (`transforms.diff.SourceRead`): the vintage the indicators read (`inputs`), else
    the latest staged one (a manifest alone, as the national tables keep it), and the geography."""
    staged = dict(inputs.vintages) if inputs is not None else _latest_vintages(manifest)
    used = used_vintages(manifest, staged)
    out = []
    for q in source_quality(manifest, used):
        if not q.used:
            continue
        record = manifest.get(q.key).staged
        year = inputs.main_year(q.source) if inputs is not None and q.source in inputs.staged else None
        inputs_sha = ",".join(sha for _, sha in sorted((record.inputs or {}).items())) if record else ""
        out.append(
            {
                "source": q.source,
                "vintage": q.vintage,
                "title": q.title,
                "year": year,
                "geography": q.geography,
                "inputs": inputs_sha,
            }
        )
    return tuple(out)


def target_cog(manifest: Manifest) -> str:
    """The COG the tables are expressed in: the latest staged vintage of the commune list ('' when none)."""
    cogs = sorted(r.vintage for r in manifest.staged().values() if r.source == "cog_communes" and r.vintage)
    return cogs[-1] if cogs else ""


def _latest_vintages(manifest: Manifest) -> dict[str, str]:
    latest: dict[str, str] = {}
    for key in manifest.staged():
        source, vintage = Manifest.split(key)
        latest[source] = max(vintage, latest.get(source, vintage))
    return latest
