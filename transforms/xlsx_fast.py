"""An xlsxwriter Workbook whose sheets' cells and notes are written faster when it is closed: the same bytes.

    book = FastWorkbook(path, options)      xlsxwriter's Workbook; its sheets are `FastSheet`s unless asked otherwise

xlsxwriter writes a workbook's files when it is closed, element by element through generic tag writers that escape
every attribute. Two parts of our workbooks are written here by one f-string each, around the parts that do not
vary, which xlsxwriter itself writes once:
- the cells (`FastSheet`): xlsxwriter visits every column of the sheet's range in every row, twice (the rows'
  spans, then the cells); here each row's own cells are read, and a number, a shared string or a blank is written
  by one f-string (any other kind of cell, and a row with a height, format or outline, by xlsxwriter);
- the notes (comments): a wide workbook notes each empty cell with its reason (`transforms.wide`), about 8,500 for
  a département, which xlsxwriter writes twice, as a shape of the sheet's VML drawing and as a comment of its
  comments part, 0.4 ms of CPU each (about 1.7 s of a département's wide workbook). A note's shape's fill,
  shadow and text box and its comment's formatted text are written once by xlsxwriter's methods and reused. The
  notes' positions are still computed by xlsxwriter (`Worksheet._prepare_vml_objects`); a workbook with header
  images or buttons has its drawings written by xlsxwriter.
The parts are zipped from memory, each deflated by ISA-L (`_IsalZip`) rather than by zlib at its level 6, which
xlsxwriter asks of `zipfile` and offers no way to change: a fourteenth of the time (a département's long workbook,
28 MB of XML: 36 ms of CPU instead of 520), a file about a fifth larger (3.3 MB to 4.0). The zip's entries are
xlsxwriter's in-memory ones otherwise (names, order, dates, attributes).
`tests/test_xlsx_fast.py` checks every file of such workbooks against xlsxwriter's own writing. xlsxwriter is held
to 3.3.x by pyproject.toml: these are its internals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from io import BytesIO, StringIO
from typing import IO, Any, Literal
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

from isal import isal_zlib
from xlsxwriter.comments import Comments, CommentType
from xlsxwriter.packager import Packager
from xlsxwriter.sharedstrings import SharedStrings
from xlsxwriter.utility import _utf16_len, xl_col_to_name, xl_rowcol_to_cell
from xlsxwriter.vml import Vml
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import CellBlankTuple, CellNumberTuple, CellStringTuple, Worksheet


class FastSheet(Worksheet):
    """An xlsxwriter Worksheet whose rows of numbers, shared strings and blanks are written by f-strings."""

    def _write_rows(self) -> None:
        if self.constant_memory or self.dim_colmin is None:
            super()._write_rows()
            return
        spans = self._spans()
        self.row_spans = spans
        table, comments, row_info = self.table, self.comments, self.row_info
        first, last = self.dim_colmin, self.dim_colmax
        write = self.fh.write
        made: tuple[dict, dict] = ({}, {})  # column -> its letters, id(format) -> its index attribute, this writing's
        for row in range(self.dim_rowmin, self.dim_rowmax + 1):
            cells = table.get(row)
            info = row_info.get(row)
            if not (cells or info is not None or row in comments):
                continue
            span = spans.get(row // 16)
            if not cells:
                self._write_empty_row(row, span, info)
                continue
            self._start_row(row, span, info)
            self._write_row_cells(row, [(col, cells[col]) for col in sorted(cells) if first <= col <= last], made)
            write("</row>")

    def _write_row_cells(self, row: int, cells: list[tuple[int, Any]], made: tuple[dict, dict]) -> None:
        """A row's cells (column, cell), `Worksheet._write_cell`'s bytes: a number, a shared string or a blank by
        an f-string, the row's joined and written at once, each column's letters and each format's index
        attribute made once a sheet (`made`); any other kind of cell by xlsxwriter."""
        number = str(row + 1)
        names, styles = made
        parts: list[str] = []
        for col, cell in cells:
            kind = type(cell)
            if kind is not CellNumberTuple and kind is not CellStringTuple and kind is not CellBlankTuple:
                self.fh.write("".join(parts))
                parts = []
                self._write_cell(row, col, cell)
                continue
            name = names.get(col)
            if name is None:
                name = names[col] = xl_col_to_name(col)
            style = styles.get(id(cell.format)) if cell.format else None
            if style is None:  # a cell without a format takes its row's or column's: looked up each time
                index = self._style_index(row, col, cell.format)
                style = "" if index is None else f' s="{index}"'
                if cell.format:
                    styles[id(cell.format)] = style
            if kind is CellNumberTuple:
                parts.append(f'<c r="{name}{number}"{style}><v>{cell.number:.16G}</v></c>')
            elif kind is CellStringTuple:  # its index in the shared strings (never in-line: constant_memory off)
                parts.append(f'<c r="{name}{number}"{style} t="s"><v>{cell.string}</v></c>')
            else:
                parts.append(f'<c r="{name}{number}"{style}/>')
        self.fh.write("".join(parts))

    def drop_contents(self) -> None:
        """Drop the sheet's cells and notes (`FastWorkbook.drop_contents`)."""
        self.table.clear()
        self.comments.clear()
        self.comments_list.clear()

    def write_note(self, row: int, col: int, text: str) -> int:
        """`write_comment(row, col, text)` without options, its note made from a default note's attributes: a
        note made by xlsxwriter parses its default colour again (a département's wide workbook's 8,500 notes:
        29 ms of CPU, 53 to 68 by `write_comment`). The notes share that colour, which nothing changes."""
        if self._check_dimensions(row, col):
            return -1
        # a character is 2 UTF-16 units at most: only a long text is counted
        if len(text) > self.xls_strmax // 2 and _utf16_len(text) > self.xls_strmax:
            return -2
        self.has_vml = self.has_comments = True
        note = CommentType.__new__(CommentType)
        note.__dict__.update(_default_note())
        note.row, note.col, note.text, note.vertices = row, col, text, []
        note.set_offsets(row, col)
        self.comments[row][col] = note
        return 0

    def _start_row(self, row: int, span: str | None, info: Any = None) -> None:
        """`Worksheet._write_row`'s start tag: by an f-string for a row of the default height and no format."""
        if info is None and self.default_row_height == self.original_row_height and self.excel_version != 2010:
            self.fh.write(f'<row r="{row + 1}" spans="{span}">' if span else f'<row r="{row + 1}">')
        else:
            self._write_row(row, span, info)

    def _spans(self) -> dict[int, str]:
        """`Worksheet._calculate_spans`: each block of 16 rows' first and last columns holding a cell or a note
        (counted from 1), from each row's own cells."""
        spans: dict[int, str] = {}
        first, last = self.dim_colmin, self.dim_colmax
        block: list[int] = []  # the block's columns: the lowest and highest of each row's so far
        for row in range(self.dim_rowmin, self.dim_rowmax + 1):
            for held in (self.table.get(row), self.comments.get(row)):
                cols = [col for col in held or () if first <= col <= last]
                if cols:
                    block += (min(cols), max(cols))
            if ((row + 1) % 16 == 0 or row == self.dim_rowmax) and block:
                spans[row // 16] = f"{min(block) + 1}:{max(block) + 1}"
                block = []
        return spans

    def _style_index(self, row: int, col: int, cell_format: Any) -> int | None:
        """The cell's format's index, else its row's, else its column's, as `Worksheet._write_cell` picks it."""
        if cell_format:
            return cell_format._get_xf_index()
        info = self.row_info.get(row)
        if info is not None and info.row_format:
            return info.row_format._get_xf_index()
        column = self.col_info.get(col)
        if column is not None and column.column_format is not None:
            return column.column_format._get_xf_index()
        return None


@cache
def _default_note() -> dict[str, Any]:
    """The attributes of a note written without options, its position apart (set by `write_note`)."""
    return vars(CommentType(0, 0, ""))


# ISA-L's level for the zip's parts (0 to 3). A département's long workbook (28 MB of XML), CPU and zip: zlib's
# level 6 (xlsxwriter's) 520 ms, 3.28 MB; zlib 1 143 ms, 4.45 MB; ISA-L 0 34 ms, 5.27 MB; 1 36 ms, 4.04 MB;
# 2 36 ms, 4.03 MB; 3 192 ms, 3.92 MB
ZIP_LEVEL = 2
# each part is zipped from memory (xlsxwriter's `in_memory`), not from a temporary file written, dated and removed
# (a sixth of an EPCI's workbook time): its zip entry is dated 1 January 1980 (Excel's own date) rather than
# 31 January 1980, without the regular-file bit in its attributes, which no spreadsheet reads
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class FastWorkbook(Workbook):
    """An xlsxwriter Workbook whose sheets are `FastSheet`s (unless another class is asked for), whose notes are
    written by `_NotesVml` and `_NotesComments` and whose parts are always zipped from memory by `_IsalZip`."""

    worksheet_class = FastSheet

    def __init__(self, filename: str | IO[bytes], options: dict | None = None) -> None:
        # xlsxwriter's own zip is made in memory, left empty and dropped: the parts are zipped to `target`
        super().__init__(BytesIO(), (options or {}) | {"in_memory": True})
        self.target = filename
        self.parts: list[tuple[Any, str, bool]] = []  # (its text or bytes, its name, binary?), as packaged

    def drop_contents(self) -> None:
        """Drop what its sheets hold (a sheet of another class: left as it is) once the workbook is closed, here
        or by a child that inherited it."""
        for sheet in self.worksheets():
            if isinstance(sheet, FastSheet):
                sheet.drop_contents()

    def _get_packager(self) -> Packager:
        return _NotesPackager()

    def _store_workbook(self) -> None:
        """xlsxwriter's, its parts handed over by the packager (`_NotesPackager._create_package`) and zipped here."""
        super()._store_workbook()
        with _IsalZip(self.target, "w", compression=ZIP_DEFLATED, allowZip64=self.allow_zip64) as archive:
            for content, name, binary in self.parts:
                entry = ZipInfo(name, ZIP_DATE)
                entry.compress_type = ZIP_DEFLATED
                data = content.getvalue()
                archive.writestr(entry, data if binary else data.encode("utf-8"))
        self.parts = []


class _IsalZip(ZipFile):
    """A ZipFile whose deflated members are deflated by ISA-L at `ZIP_LEVEL`: the compressor of `zipfile`'s writing
    handle replaced, for this archive's members only (`zipfile` itself is left as it is)."""

    def open(
        self, name: str | ZipInfo, mode: Literal["r", "w"] = "r", pwd: bytes | None = None, *, force_zip64: bool = False
    ) -> IO[bytes]:
        handle: Any = super().open(name, mode, pwd, force_zip64=force_zip64)
        if mode == "w" and handle._zinfo.compress_type == ZIP_DEFLATED:
            handle._compressor = isal_zlib.compressobj(ZIP_LEVEL, isal_zlib.DEFLATED, -15)  # raw deflate, as zipfile's
        return handle


class _NotesPackager(Packager):
    """xlsxwriter's Packager, its sheets' notes written by the classes below (sheets with buttons or header
    images: by xlsxwriter's own, as the whole workbook then is), its parts handed to the workbook to zip."""

    def _create_package(self) -> list:
        self.workbook.parts = super()._create_package()
        return []

    def _write_shared_strings_file(self) -> None:
        """`Packager._write_shared_strings_file`, each text's element written by `_KnownStrings`."""
        strings = _KnownStrings()
        strings.string_table = self.workbook.str_table
        if not self.workbook.str_table.count:
            return
        strings._set_xml_writer(self._filename("xl/sharedStrings.xml"))
        strings._assemble_xml_file()

    def _notes_only(self) -> bool:
        return not any(sheet.buttons_list or sheet.has_header_vml for sheet in self.workbook.worksheets())

    def _write_vml_files(self) -> None:
        if self._notes_only():
            self._write_notes(_VML_PART)
        else:
            super()._write_vml_files()

    def _write_comment_files(self) -> None:
        if self._notes_only():
            self._write_notes(_COMMENTS_PART)
        else:
            super()._write_comment_files()

    def _write_notes(self, part: _NotesPart) -> None:
        """Each sheet's part of its notes, the sheets holding one numbered from 1 as the package numbers them."""
        sheets = [sheet for sheet in self.workbook.worksheets() if getattr(sheet, part.holds)]
        for index, sheet in enumerate(sheets, start=1):
            writer = part.writer()
            writer._set_xml_writer(self._filename(part.name.format(index)))
            writer._assemble_xml_file(*part.arguments(sheet))


def written(writer: Any, write) -> str:
    """What `write()` writes through `writer`'s file handle, captured."""
    handle, writer.fh = writer.fh, StringIO()
    try:
        write()
        return writer.fh.getvalue()
    finally:
        writer.fh = handle


class _KnownStrings(SharedStrings):
    """The shared strings part, each text's `<si>` element as `SharedStrings._write_si` writes it, kept between
    workbooks (`_si_element`): a batch's workbooks share most of their texts (labels, units, reasons, sources, the
    definitions sheet), which xlsxwriter escapes again in each (three regular expressions a text)."""

    def _write_sst_strings(self) -> None:
        self.fh.write("".join([_si_element(text) for text in self.string_table.string_array]))


# texts whose `<si>` element is kept: an EPCI report's two workbooks hold about 900 texts, a département's a few
# thousand (its communes' names)
KNOWN_STRINGS = 16384


@lru_cache(maxsize=KNOWN_STRINGS)
def _si_element(text: str) -> str:
    """A text's `<si>` element, written by xlsxwriter's `SharedStrings._write_si`."""
    writer = SharedStrings()
    return written(writer, lambda: writer._write_si(text))


class _NotesVml(Vml):
    """A note's shape: `Vml._write_comment_shape`'s bytes, its constant elements written once."""

    def __init__(self) -> None:
        super().__init__()
        self._box: str | None = None  # fill, shadow, path and text box: alike for every note
        self._flags = ""  # the client data's first elements
        self._colour: Any = None  # the last note's colour and its attribute's text: the notes share one
        self._fill = ""

    def _write_comment_shape(self, shape_id: int, z_index: int, comment: Any) -> None:
        box = self._box
        if box is None:
            box = self._box = written(self, self._note_box)
            self._flags = written(self, self._note_flags)
        left, top, width, height = self._pixels_to_points(comment.vertices)
        visibility = "visible" if comment.is_visible else "hidden"
        style = (
            f"position:absolute;margin-left:{left:.15g}pt;margin-top:{top:.15g}pt;width:{width:.15g}pt;"
            f"height:{height:.15g}pt;z-index:{z_index};visibility:{visibility}"
        )
        col_start, row_start, x1, y1, col_end, row_end, x2, y2 = comment.vertices[:8]
        anchor = f"{col_start}, {x1}, {row_start}, {y1}, {col_end}, {x2}, {row_end}, {y2}"  # Excel's order
        shown = "<x:Visible/>" if comment.is_visible else ""
        if comment.color is not self._colour:
            self._colour, self._fill = comment.color, self._escape_attributes(comment.color._vml_rgb_hex_value())
        self.fh.write(
            f'<v:shape id="_x0000_s{shape_id}" type="#_x0000_t202" style="{style}" '
            f'fillcolor="{self._fill}" o:insetmode="auto">{box}'
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
            text = self._texts[key] = written(self, lambda: self._write_text(comment))
        author = f' authorId="{author_id}"' if author_id != -1 else ""
        self.fh.write(f'<comment ref="{xl_rowcol_to_cell(comment.row, comment.col)}"{author}>{text}</comment>')


@dataclass(frozen=True)
class _NotesPart:
    """One of the two parts a sheet's notes are written in: which sheets hold it, its file, its writer and what
    the writer's `_assemble_xml_file` is given (as xlsxwriter's Packager gives it)."""

    holds: str
    name: str
    writer: Callable[[], Any]
    arguments: Callable[[Any], tuple]


_VML_PART = _NotesPart(
    "has_vml",
    "xl/drawings/vmlDrawing{}.vml",
    _NotesVml,
    lambda sheet: (sheet.vml_data_id, sheet.vml_shape_id, sheet.comments_list, sheet.buttons_list),
)
_COMMENTS_PART = _NotesPart("has_comments", "xl/comments{}.xml", _NotesComments, lambda sheet: (sheet.comments_list,))
