"""What a source module declares about the files it stages, in one place (`SOURCES` of each module, gathered by
`sources.registry`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sources.catalogue import Entry
    from sources.geography import Geography
    from sources.staging import Staged

    StageFunction = Callable[[Entry, dict[str, Path], Geography | None], Staged]


@dataclass(frozen=True)
class SourceSpec:
    """One kind of upstream file and everything the pipeline needs to know about it besides the catalogue."""

    parser: str  # the catalogue's `parser` name of its entries
    ids: tuple[str, ...]  # the catalogue `source` ids it stages
    stage: StageFunction  # stage(entry, {file role: path}, geography) -> Staged (no network)
    label: str = ""  # the reports' source line, `{year}` filled with the reference year; '' for none
    demo: Callable[[Path], None] | None = None  # writes its files of the demo mirror under the given root
    # grid_cells(entry, files, geography) -> the cells of the grid its table fills whatever its file holds (the
    # BPE's zeros): its memory estimate (`sources.memory`) when larger than its text's; None for the others
    grid_cells: Callable[[Entry, dict[str, Path], Geography | None], int] | None = None
