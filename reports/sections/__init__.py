"""The sections of a report, in reading order: this tuple is the one place a section is registered.

The page numbers the sections it builds in this order, lists them in its table of contents, adds their CSS to its
stylesheet and records them in the build's result (`reports.index.ReportRecord`). To add a section: a module here
with its `Section` (id, French title, the `ReportData` fields it needs, its build function, template and CSS),
one line below, and its test.
"""

from __future__ import annotations

from reports.sections import (
    early_childhood,
    evaluation,
    infra,
    key_figures,
    maps,
    needs_matrix,
    open_data_gaps,
    quality_annex,
    reading_keys,
    similar_territories,
    themes,
    trends,
    workplaces,
)
from reports.sections.base import BuiltSection, ReportData, Section, build_sections

SECTIONS: tuple[Section, ...] = (
    key_figures.SECTION,
    similar_territories.SECTION,  # EPCI and custom territories only
    needs_matrix.SECTION,
    *themes.SECTIONS,  # one per theme of the indicator catalogue
    infra.SECTION,  # a commune's (or arrondissement's) IRIS and QPV
    maps.SECTION,  # the communes mapped for the key indicators of each theme
    trends.SECTION,  # the yearly indicators since the baseline year
    evaluation.SECTION,  # the CTG's yearly evaluation
    early_childhood.SECTION,
    workplaces.SECTION,
    open_data_gaps.SECTION,
    reading_keys.SECTION,
    quality_annex.SECTION,
)

__all__ = ["SECTIONS", "BuiltSection", "ReportData", "Section", "build_sections"]
