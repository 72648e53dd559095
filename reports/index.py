"""What a build wrote, and the index page made from it.

Each report is recorded beside itself as `diagnostic-<stem>.json` (territory, title, sections, demo or not, the
files): the index lists these records, this build's and those of earlier builds into the same folder (a national
run builds its index after its batches wrote their reports), never by reading the HTML back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from reports import formats as F
from reports.templating import environment, pipeline_version
from storage.files import atomic_path


@dataclass(frozen=True)
class ReportRecord:
    file: str  # the report's file name, in the folder of the build
    territory: str  # as the report names it: « CC Vendée Sèvre Autise », « Vendée (85) »
    kind: str  # « Commune (code Insee 49099) »
    title: str  # the page's title
    generated: str  # French date of the build
    generated_at: str  # ISO 8601
    version: str  # version of the pipeline
    demo: bool  # the figures are synthetic
    sections: tuple[tuple[int, str, str], ...]  # (number, id, title) in the report's order
    exports: tuple[str, ...] = field(default=())  # file names of its indicator tables, sorted
    # what `abs-diag diff` compares with a later build: the sources read (reports.provenance) and the target COG
    sources: tuple[dict, ...] = field(default=())
    cog: str = ""

    @property
    def record_name(self) -> str:
        return record_name(self.file)

    def write(self, folder: Path) -> Path:
        target = folder / self.record_name
        with atomic_path(target) as tmp:
            tmp.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=2), encoding="utf-8")
        return target

    @classmethod
    def read(cls, path: Path) -> ReportRecord:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["sections"] = tuple(tuple(s) for s in data.get("sections", ()))
        data["exports"] = tuple(data.get("exports", ()))
        data["sources"] = tuple(data.get("sources", ()))
        return cls(**data)


def record_name(report_file: str) -> str:
    return report_file.removesuffix(".html") + ".json"


def folder_records(out_dir: Path) -> list[ReportRecord]:
    """The records of the reports in `out_dir`. A report without one (written before builds recorded
    themselves) is listed by its file name."""
    records = []
    for report in sorted(out_dir.glob("diagnostic-*.html")):
        path = out_dir / record_name(report.name)
        if path.is_file():
            records.append(ReportRecord.read(path))
        else:
            records.append(
                ReportRecord(
                    file=report.name,
                    territory=report.stem,
                    kind="",
                    title=report.stem,
                    generated="",
                    generated_at="",
                    version="",
                    demo=False,
                    sections=(),
                )
            )
    return records


def render_index(out_dir: Path, demo: bool, generated_at: datetime, records: Sequence[ReportRecord] = ()) -> str:
    """The list of the reports of `out_dir`: `records` (this build's) and the records found there.

    The index says the figures are synthetic when `demo` is set or any report it lists says so."""
    by_file = {r.file: r for r in folder_records(Path(out_dir))} | {r.file: r for r in records}
    entries = [by_file[name] for name in sorted(by_file)]
    return (
        environment()
        .get_template("index.html.j2")
        .render(
            entries=entries,
            demo=demo or any(r.demo for r in entries),
            generated=F.long_date(generated_at),
            version=pipeline_version(),
        )
    )
