"""What a report section is, and what it may read.

A section is one `Section` object: its anchor id, its French title, the fields of `ReportData` it needs, the
function that builds its template's context from them, its template (Jinja source, autoescaped) and the CSS only
it uses. `reports.sections.SECTIONS` lists them in reading order; the page numbers them, lists them in its table
of contents and renders them in that order (`build_sections`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
from markupsafe import Markup

from reports.quality import SourceQuality
from reports.similar import Similar
from reports.templating import compiled
from reports.view import TerritoryView
from transforms.compare import FlagRules
from transforms.compute import Inputs
from transforms.registry import THEMES, Indicator, indicators


@dataclass(frozen=True)
class ReportData:
    """Everything a section may build from; a section receives only the fields it names in `needs`."""

    view: TerritoryView  # the territory, its places in reading order and its indicator rows
    inputs: Inputs  # the staged tables the indicators were computed from (age pyramid)
    geography: str  # « Géographie communale au 1er janvier 2025 (COG 2025). »
    comparison_year: int | None  # the earlier census the evolutions start from
    quality: list[SourceQuality]  # every manifest entry, for the annex
    data_years: dict[str, str]  # source/vintage -> year of its figures when it is not the vintage
    rules: FlagRules  # the flag rules the table was computed with
    state: str = ""  # the store state (reports.shared): values every report of that state shares
    series: pl.DataFrame | None = None  # the territory's rows of transforms.series (every year of each indicator)
    baseline: int | None = None  # the year every evolution of the series starts from
    evaluation: tuple = ()  # the indicators the CTG follows (transforms.evaluation); empty: the default set
    contours: pl.DataFrame | None = None  # staged commune contours (sources.contours); None when not staged
    similar: Similar | None = None  # the EPCIs the territory is compared with (reports.similar)


NEEDS = frozenset(f.name for f in dataclasses.fields(ReportData))


@dataclass(frozen=True)
class Section:
    id: str  # anchor of the section (`#chiffres-cles`): links, tests and screenshots use it
    title: str  # French title, in its heading and in the table of contents
    needs: tuple[str, ...]  # fields of ReportData that `build` takes as keyword arguments
    build: Callable[..., dict | None]  # context of `template`; None leaves the section out of this report
    template: str  # Jinja source of the section's body (under its numbered heading)
    css: str = ""  # styles only this section uses, added once to the page's stylesheet
    css_class: str = ""  # class of its <section> element
    # built before the others (still numbered in reading order): its many chart pictures are drawn meanwhile
    draws_first: bool = False

    def __post_init__(self):
        unknown = set(self.needs) - NEEDS
        if unknown:
            raise ValueError(f"section {self.id!r} needs {sorted(unknown)}, not fields of ReportData: {sorted(NEEDS)}")


@dataclass(frozen=True)
class BuiltSection:
    """A section as one report shows it: numbered in the order of the sections this report has."""

    id: str
    title: str
    number: int
    body: Markup
    css_class: str = ""


def build_sections(
    sections: tuple[Section, ...], data: ReportData, on_built: Callable[[BuiltSection], None] | None = None
) -> list[BuiltSection]:
    """The `sections` that apply to `data`, numbered in their order; `on_built` is told of each as soon as it is
    built (the report starts drawing its pictures meanwhile), those that draw first (`Section.draws_first`)
    built and told first."""
    order = sorted(range(len(sections)), key=lambda i: not sections[i].draws_first)  # stable: reading order kept
    bodies: dict[int, Markup] = {}
    for i in order:
        section = sections[i]
        context = section.build(**{name: getattr(data, name) for name in section.needs})
        if context is None:
            continue
        bodies[i] = Markup(compiled(section.template).render(context))
        if on_built is not None:  # told before the numbers are known: only its body is of use
            on_built(BuiltSection(section.id, section.title, 0, bodies[i], section.css_class))
    built = [(sections[i], bodies[i]) for i in sorted(bodies)]
    return [BuiltSection(s.id, s.title, n, body, s.css_class) for n, (s, body) in enumerate(built, start=1)]


def items_by_theme() -> dict[str, list[Indicator]]:
    """The catalogue's indicators grouped by theme, themes in their declared order."""
    by_theme: dict[str, list[Indicator]] = {t: [] for t in THEMES}
    for ind in indicators():
        by_theme[ind.theme].append(ind)
    return by_theme
