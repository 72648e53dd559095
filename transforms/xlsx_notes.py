"""Cell notes (comments) written into a workbook's files by one f-string each instead of xlsxwriter's tag writers.

    book = NotedWorkbook(path, options)      an xlsxwriter Workbook whose comments files are written faster

A wide workbook notes each empty cell with its reason (`transforms.wide`): about 8,500 notes for a département.
xlsxwriter writes each note twice when the workbook is closed, as a shape of the sheet's VML drawing and as a
comment of its comments part, through generic tag writers that escape every attribute: 0.4 ms of CPU a note
(about 1.7 s of a département's wide workbook). Here every part of a note that does not depend on its place (its
shape's fill, shadow and text box; its comment's formatted text) is written once by xlsxwriter's own methods and
reused, and the rest (ids, position, anchor, cell) is put in around it: the same bytes, checked against xlsxwriter's
own writing in `tests/test_xlsx_notes.py`. The notes' positions are still computed by xlsxwriter
(`Worksheet._prepare_vml_objects`). A sheet with header or footer images or buttons is written by xlsxwriter as
before.
"""

from __future__ import annotations

from io import StringIO
from typing import Any

from xlsxwriter.comments import Comments
from xlsxwriter.packager import Packager
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.vml import Vml
from xlsxwriter.workbook import Workbook


class NotedWorkbook(Workbook):
    """An xlsxwriter Workbook whose notes are written by `_NotesVml` and `_NotesComments`."""

    def _get_packager(self) -> Packager:
        return _NotesPackager()


class _NotesPackager(Packager):
    """xlsxwriter's Packager, its sheets' notes written by the classes below (sheets with buttons or header
    images: by xlsxwriter's own, as the whole workbook then is)."""

    def _notes_only(self) -> bool:
        return not any(sheet.buttons_list or sheet.has_header_vml for sheet in self.workbook.worksheets())

    def _write_vml_files(self) -> None:
        if not self._notes_only():
            super()._write_vml_files()
            return
        index = 1
        for sheet in self.workbook.worksheets():
            if not sheet.has_vml:
                continue
            vml = _NotesVml()
            vml._set_xml_writer(self._filename(f"xl/drawings/vmlDrawing{index}.vml"))
            vml._assemble_xml_file(sheet.vml_data_id, sheet.vml_shape_id, sheet.comments_list, sheet.buttons_list)
            index += 1

    def _write_comment_files(self) -> None:
        if not self._notes_only():
            super()._write_comment_files()
            return
        index = 1
        for sheet in self.workbook.worksheets():
            if not sheet.has_comments:
                continue
            comments = _NotesComments()
            comments._set_xml_writer(self._filename(f"xl/comments{index}.xml"))
            comments._assemble_xml_file(sheet.comments_list)
            index += 1


def _written(writer: Any, write) -> str:
    """What `write()` writes through `writer`'s file handle, captured."""
    handle, writer.fh = writer.fh, StringIO()
    try:
        write()
        return writer.fh.getvalue()
    finally:
        writer.fh = handle


class _NotesVml(Vml):
    """A note's shape: `Vml._write_comment_shape`'s bytes, its constant elements written once."""

    def __init__(self) -> None:
        super().__init__()
        self._box: str | None = None  # fill, shadow, path and text box: alike for every note
        self._flags = ""  # the client data's first elements

    def _write_comment_shape(self, shape_id: int, z_index: int, comment: Any) -> None:
        box = self._box
        if box is None:
            box = self._box = _written(self, self._note_box)
            self._flags = _written(self, self._note_flags)
        left, top, width, height = self._pixels_to_points(comment.vertices)
        visibility = "visible" if comment.is_visible else "hidden"
        style = (
            f"position:absolute;margin-left:{left:.15g}pt;margin-top:{top:.15g}pt;width:{width:.15g}pt;"
            f"height:{height:.15g}pt;z-index:{z_index};visibility:{visibility}"
        )
        col_start, row_start, x1, y1, col_end, row_end, x2, y2 = comment.vertices[:8]
        anchor = f"{col_start}, {x1}, {row_start}, {y1}, {col_end}, {x2}, {row_end}, {y2}"  # Excel's order
        shown = "<x:Visible/>" if comment.is_visible else ""
        self.fh.write(
            f'<v:shape id="_x0000_s{shape_id}" type="#_x0000_t202" style="{style}" '
            f'fillcolor="{self._escape_attributes(comment.color._vml_rgb_hex_value())}" o:insetmode="auto">{box}'
            f'<x:ClientData ObjectType="Note">{self._flags}<x:Anchor>{anchor}</x:Anchor><x:AutoFill>False</x:AutoFill>'
            f"<x:Row>{comment.row}</x:Row><x:Column>{comment.col}</x:Column>{shown}</x:ClientData></v:shape>"
        )

    def _note_box(self) -> None:
        self._write_comment_fill()
        self._write_shadow()
        self._write_comment_path(None, "none")
        self._write_comment_textbox()

    def _note_flags(self) -> None:
        self._write_move_with_cells()
        self._write_size_with_cells()


class _NotesComments(Comments):
    """A note's comment: `Comments._write_comment`'s bytes, each distinct formatted text written once."""

    def __init__(self) -> None:
        super().__init__()
        self._texts: dict[tuple, str] = {}  # (text, font size, name, family) -> its <text> element

    def _write_comment(self, comment: Any, author_id: int) -> None:
        key = (comment.text, comment.font_size, comment.font_name, comment.font_family)
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = _written(self, lambda: self._write_text(comment))
        author = f' authorId="{author_id}"' if author_id != -1 else ""
        self.fh.write(f'<comment ref="{xl_rowcol_to_cell(comment.row, comment.col)}"{author}>{text}</comment>')
