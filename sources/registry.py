"""Every source the pipeline stages, as its own module declares it (`SOURCES`: `sources.spec.SourceSpec`).

The catalogue's entries name their parser (`parser = "census"`); this registry gives the function that stages
them, the line the reports cite them with, and the generator of their demo files. Adding a source: a module with
its stage function and `SOURCES`, its import below, its catalogue entries, tests and fixture.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sources import (
    bpe,
    caf_benefits,
    caf_childcare,
    census,
    cog,
    contours,
    etat_civil,
    filosofi,
    filosofi_iris,
    france_services,
    iris_census,
    iris_reference,
    mobility,
    qpv,
)
from sources.catalogue import Entry
from sources.geography import Geography
from sources.spec import SourceSpec
from sources.staging import Staged

SPECS: tuple[SourceSpec, ...] = (
    *cog.SOURCES,
    *census.SOURCES,
    *filosofi.SOURCES,
    *etat_civil.SOURCES,
    *caf_benefits.SOURCES,
    *caf_childcare.SOURCES,
    *bpe.SOURCES,
    *france_services.SOURCES,
    *mobility.SOURCES,
    *contours.SOURCES,
    *iris_reference.SOURCES,
    *iris_census.SOURCES,
    *filosofi_iris.SOURCES,
    *qpv.SOURCES,
)
BY_PARSER: dict[str, SourceSpec] = {spec.parser: spec for spec in SPECS}

# What staging depends on besides the parser modules themselves: a change here stages every table again
# (`sources.refresh.code_version`). Downloading, the store and the reports are not in it.
STAGING_HELPERS = (
    "caf_common",
    "catalogue",
    "codes",
    "geography",
    "reading",
    "staging",
    "validation",
    "values",
    "wide",
)
SOURCES_DIR = Path(__file__).parent


def by_parser(name: str) -> SourceSpec:
    """The source a catalogue `parser` name stands for."""
    try:
        return BY_PARSER[name]
    except KeyError:
        raise KeyError(f"no source module declares the parser {name!r}; known: {', '.join(BY_PARSER)}") from None


def stage(entry: Entry, files: dict[str, Path], geo: Geography | None) -> Staged:
    """Stage a catalogue entry's downloaded files ({role: path}) with the function its module declares."""
    return by_parser(entry.parser).stage(entry, files, geo)


def report_label(source: str, year: int | None) -> str:
    """The reports' source line of a catalogue source, or of a family of them (`caf_coverage` for
    `caf_coverage_com`, `caf_coverage_epci`...); the name itself when no module gives one."""
    for spec in SPECS:
        if spec.label and any(i == source or i.startswith(f"{source}_") for i in spec.ids):
            return spec.label.format(year=year if year is not None else "?")
    return source


def demo_generators(parsers: list[str] | None = None) -> list[Callable[[Path], None]]:
    """The demo mirror's generators, of the given parsers (all when None), each once."""
    chosen = [by_parser(p) for p in parsers] if parsers else SPECS
    return list(dict.fromkeys(spec.demo for spec in chosen if spec.demo))


def staging_files(root: Path = SOURCES_DIR) -> list[Path]:
    """The files a staged table depends on: the parser modules and the helpers they stage with (under `root`,
    the `sources` folder)."""
    modules = {spec.stage.__module__.rsplit(".", 1)[-1] for spec in SPECS} | set(STAGING_HELPERS)
    return sorted(root / f"{name}.py" for name in modules)
