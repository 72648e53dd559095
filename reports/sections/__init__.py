"""The sections of a report, in reading order: this tuple is the one place a section is registered.

The page numbers the sections it builds in this order, lists them in its table of contents, adds their CSS to its
stylesheet and records them in the build's result (`reports.index.ReportRecord`). To add a section: a module here
with its `Section` (id, French title, the `ReportData` fields it needs, its build function, template and CSS),
one line below, and its test.
"""

from __future__ import annotations

from reports.sections import infra, key_figures, needs_matrix, quality_annex, reading_keys, themes
from reports.sections.base import BuiltSection, ReportData, Section, build_sections

SECTIONS: tuple[Section, ...] = (
    key_figures.SECTION,
    needs_matrix.SECTION,
    *themes.SECTIONS,  # one per theme of the indicator catalogue
    infra.SECTION,  # a commune's (or arrondissement's) IRIS and QPV
    reading_keys.SECTION,
    quality_annex.SECTION,
)

__all__ = ["SECTIONS", "BuiltSection", "ReportData", "Section", "build_sections"]
