"""Where the demo mirror keeps each file, and how it writes them (helpers of the `gen_*` modules)."""

from __future__ import annotations

import io
import unicodedata
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sources import catalogue


def mirror_path(root: Path, url: str) -> Path:
    parts = urlsplit(url)
    return root / parts.netloc / parts.path.lstrip("/")


def entry_path(root: Path, source: str, vintage: str, role: str = "main") -> Path:
    """Where the file of a catalogue entry lives in the mirror (a folder for a zip archive)."""
    return mirror_path(root, catalogue.get(source, vintage).file(role).url)


def write_text(path: Path, text: str, *, bom: bool = False, crlf: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if crlf:
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))


def upper_ascii(name: str) -> str:
    """INSEE's NCC / CAF's upper-case names: no accents, upper case."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().upper()


# Written with xlsxwriter and a fixed creation date: a workbook is the same bytes at every build, whatever XML library
# is installed (openpyxl's output changes when lxml is present).
WORKBOOK_CREATED = datetime(2026, 11, 23, 5, 19, 45)


def xlsx_workbook(sheets: list[tuple[str, list[str], list[list[object]]]]) -> bytes:
    """An xlsx of (sheet name, title lines, rows): each sheet has its titles (one per row, "" an empty row), then
    its rows (header first) from the row after them, as INSEE's workbooks do (the header on row 6)."""
    import xlsxwriter

    buffer = io.BytesIO()
    with xlsxwriter.Workbook(buffer, {"in_memory": True}) as book:
        book.set_properties({"created": WORKBOOK_CREATED})
        for name, titles, rows in sheets:
            sheet = book.add_worksheet(name)
            for r, line in enumerate(titles):
                if line:
                    sheet.write_string(r, 0, line)
            for r, row in enumerate(rows, start=len(titles)):
                for c, value in enumerate(row):
                    sheet.write(r, c, value)
    return buffer.getvalue()
