"""Reading raw files into all-text polars frames: zip members by exact name, text decoding, CSV and xlsx.

Every column comes back as `pl.String`, so codes keep their leading zeros (`01001`, `2A004`) and the source's own
markers (`s`, `nd`, empty) are still visible to the parsers, which type the values themselves.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import polars as pl

from sources.catalogue import FileSpec
from sources.errors import ParseError


def zip_member(path: Path, member: str, *, source: str) -> bytes:
    """The bytes of `member`, chosen by its exact name (`meta_*` and overseas `*-COM.CSV` are never picked)."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        if member not in names:
            raise ParseError(source, path.name, f"member {member!r} not in the archive; it holds {names}")
        return zf.read(member)


def zip_first_present(path: Path, candidates: tuple[str, ...]) -> str | None:
    """The first of `candidates` that the archive holds, or None."""
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
    return next((c for c in candidates if c in names), None)


def decode(raw: bytes, spec: FileSpec, *, source: str, name: str) -> str:
    """UTF-8 (with or without BOM) first; the declared fallback encoding only if UTF-8 fails."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if not spec.fallback_encoding:
            raise ParseError(source, name, f"not valid UTF-8 ({exc})") from exc
        return raw.decode(spec.fallback_encoding)


def read_csv_text(text: str, separator: str, *, source: str, name: str) -> pl.DataFrame:
    """A delimited text as an all-String frame (CRLF or LF, quoted or not)."""
    if not text.strip():
        raise ParseError(source, name, "the file is empty")
    try:
        return pl.read_csv(
            text.encode("utf-8"), separator=separator, infer_schema=False, quote_char='"', truncate_ragged_lines=False
        )
    except pl.exceptions.ComputeError as exc:
        raise ParseError(source, name, f"malformed CSV: {exc}") from exc


def read_csv_file(path: Path, spec: FileSpec, *, source: str, member: str | None = None) -> pl.DataFrame:
    """Read a CSV file, or the member `member` (default `spec.member`) of a zip file."""
    member = member or spec.member
    if spec.format == "zip":
        if not member:
            raise ParseError(source, path.name, "the catalogue names no member for this archive")
        raw, name = zip_member(path, member, source=source), member
    else:
        raw, name = path.read_bytes(), spec.name
    return read_csv_text(decode(raw, spec, source=source, name=name), spec.separator, source=source, name=name)


def read_xlsx_sheet(data: bytes, sheet: str, expected: tuple[str, ...], *, source: str, name: str) -> pl.DataFrame:
    """An xlsx sheet whose header row is found by its content, not a fixed index.

    INSEE sheets carry title lines above the header (header on row 6); readers count leading blank rows
    differently, so the header is the first row holding every `expected` name (decisions.md "Downloads").
    """
    try:
        grid = pl.read_excel(io.BytesIO(data), sheet_name=sheet, has_header=False, infer_schema_length=0)
    except Exception as exc:  # fastexcel raises its own types for a missing sheet or a broken file
        raise ParseError(source, name, f"cannot read sheet {sheet!r}: {exc}") from exc
    want = set(expected)
    for index, row in enumerate(grid.iter_rows()):
        cells = [str(c).strip() if c is not None else "" for c in row]
        if want <= set(cells):
            header = [c or f"_blank_{i}" for i, c in enumerate(cells)]
            body = grid.slice(index + 1)
            body.columns = header
            return body.select(pl.all().cast(pl.String))
        if index > 50:
            break
    raise ParseError(source, name, f"sheet {sheet!r}: no row holds the expected header {sorted(want)}")
