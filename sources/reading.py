"""Reading raw files into all-text polars frames: zip members by exact name, text decoding, CSV and xlsx.

Every column comes back as `pl.String`, so codes keep their leading zeros (`01001`, `2A004`) and the source's own
markers (`s`, `nd`, empty) are still visible to the parsers, which type the values themselves.

Archives are untrusted: what their members declare is checked against the file's `max_unpacked` before anything
is inflated, and a member is read with the same cap (a zip bomb may declare less than it holds). A deflated member
is inflated by ISA-L (`isal`, 2-3 times less CPU than zlib); anything else, or anything unexpected in it, is read by
`zipfile`, which says what is wrong. A CSV member is held once, as bytes: UTF-8 is checked in pieces and the bytes go
to polars as they are (no str copy).
"""

from __future__ import annotations

import codecs
import io
import os
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, cast

import polars as pl
from isal import isal_zlib

from sources.catalogue import DEFAULT_MAX_UNPACKED, FileSpec
from sources.errors import ParseError

if TYPE_CHECKING:  # imported when a workbook is opened, as polars does
    import fastexcel

CHUNK = 1 << 20
BOM = b"\xef\xbb\xbf"
_NOT_BLANK = re.compile(rb"\S")
# A local file header (APPNOTE 4.3.7): signature, version, flags, 18 bytes (method, time, date, CRC-32, sizes,
# which the central directory gives, zip64 included), then the lengths of the name and extra field that follow it
LOCAL_HEADER = struct.Struct("<4s2xH18xHH")
LOCAL_SIGNATURE = b"PK\x03\x04"
# Flags of a plain deflated member (APPNOTE 4.4.4): the compression options (bits 1, 2), the sizes and CRC in a
# data descriptor (3), a UTF-8 name (11). Any other (encryption, patched data, a masked header) goes to zipfile.
PLAIN_FLAGS = 0x0002 | 0x0004 | 0x0008 | 0x0800
UTF8_NAME = 0x0800
INFLATE_ERROR = cast(type[Exception], isal_zlib.error)  # the package's stubs declare it an instance


def archive_too_large(zf: zipfile.ZipFile, limit: int) -> str | None:
    """Why the members of `zf` would inflate beyond `limit` bytes, by their declared sizes (None if they fit)."""
    total = 0
    for info in zf.infolist():
        if info.file_size > limit:
            return (
                f"member {info.filename!r} declares {_n(info.file_size)} bytes once inflated, above the limit "
                f"of {_n(limit)} bytes (catalogue max_unpacked_mb)"
            )
        total += info.file_size
    if total > limit:
        return (
            f"the {len(zf.infolist())} members declare {_n(total)} bytes once inflated, above the limit of "
            f"{_n(limit)} bytes (catalogue max_unpacked_mb)"
        )
    return None


def _n(count: int) -> str:
    return f"{count:,}".replace(",", " ")


def zip_member(path: Path, member: str, *, source: str, limit: int = DEFAULT_MAX_UNPACKED) -> bytes:
    """The bytes of `member`, chosen by its exact name (`meta_*` and overseas `*-COM.CSV` are never picked), at
    most `limit` bytes whatever the archive declares."""
    try:
        with path.open("rb") as file, zipfile.ZipFile(file) as zf:
            names = zf.namelist()
            if member not in names:
                raise ParseError(source, path.name, f"member {member!r} not in the archive; it holds {names}")
            too_large = archive_too_large(zf, limit)
            if too_large:
                raise ParseError(source, path.name, too_large)
            data = _inflated_plain(file, zf.getinfo(member))
            if data is None:
                with zf.open(member) as f:
                    data = f.read(limit + 1)  # zipfile also stops at the declared size, and checks the CRC there
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:  # a bad CRC, a corrupt deflate stream
        raise ParseError(source, path.name, f"cannot read member {member!r}: {exc}") from exc
    if len(data) > limit:
        raise ParseError(
            source,
            path.name,
            f"member {member!r} inflates beyond the limit of {_n(limit)} bytes (catalogue max_unpacked_mb)",
        )
    return data


def _inflated_plain(file: io.BufferedReader, info: zipfile.ZipInfo) -> bytes | None:
    """The member inflated by ISA-L when it is a plain deflated member whose stream ends at its declared size with
    its CRC-32; None otherwise, for zipfile to read it as before (its own errors, or what it accepts). At most the
    declared size (checked against the limit) plus one byte is inflated."""
    if info.compress_type != zipfile.ZIP_DEFLATED or info.flag_bits & ~PLAIN_FLAGS:
        return None
    start = _data_start(file, info)
    if start is None or start + info.compress_size > os.fstat(file.fileno()).st_size:
        return None
    file.seek(start)
    inflater = isal_zlib.decompressobj(-15)  # raw deflate, as zip members are
    try:
        data = inflater.decompress(file.read(info.compress_size), info.file_size + 1)
    except INFLATE_ERROR:
        return None
    if not inflater.eof or len(data) != info.file_size or isal_zlib.crc32(data) != info.CRC:
        return None
    return data


def _data_start(file: io.BufferedReader, info: zipfile.ZipInfo) -> int | None:
    """Where the member's data starts, after its local header, name and extra field; None when the header is not
    one or names another member (zipfile then says so)."""
    file.seek(info.header_offset)
    header = file.read(LOCAL_HEADER.size)
    if len(header) != LOCAL_HEADER.size:
        return None
    signature, flags, name_length, extra_length = LOCAL_HEADER.unpack(header)
    if signature != LOCAL_SIGNATURE:
        return None
    try:
        name = file.read(name_length).decode("utf-8" if flags & UTF8_NAME else "cp437")  # zipfile's rule
    except UnicodeDecodeError:
        return None
    if name != info.orig_filename:
        return None
    return info.header_offset + LOCAL_HEADER.size + name_length + extra_length


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


def utf8_bytes(raw: bytes, spec: FileSpec, *, source: str, name: str) -> bytes:
    """`raw` itself when it is UTF-8 (with or without BOM, which polars skips), else its declared fallback
    encoding re-encoded as UTF-8; the same rule as `decode`, without holding the text as a str."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(raw)
    try:
        for start in range(0, len(view), CHUNK):
            decoder.decode(view[start : start + CHUNK], final=start + CHUNK >= len(view))
        return raw
    except UnicodeDecodeError as exc:
        if not spec.fallback_encoding:
            where = start + exc.start
            raise ParseError(
                source, name, f"not valid UTF-8 (byte 0x{raw[where]:02x} at position {where}: {exc.reason})"
            ) from exc
    return raw.decode(spec.fallback_encoding).encode("utf-8")


def read_csv_frame(
    data: bytes,
    separator: str,
    *,
    columns: list[str] | None = None,
    n_rows: int | None = None,
    numbers: list[str] | tuple[str, ...] = (),
) -> pl.DataFrame:
    """The project's read of delimited bytes, polars' errors as they come: every column text but `numbers` (read as
    Float64 by the reader), quoted by `"`, a line longer than the header refused; only `columns` if given."""
    return pl.read_csv(
        data,
        separator=separator,
        infer_schema=False,
        quote_char='"',
        truncate_ragged_lines=False,
        columns=columns,
        n_rows=n_rows,
        schema_overrides=dict.fromkeys(numbers, pl.Float64) if numbers else None,
    )


def read_csv_bytes(
    data: bytes, separator: str, *, source: str, name: str, columns: list[str] | None = None, header_only: bool = False
) -> pl.DataFrame:
    """UTF-8 delimited bytes as an all-String frame (CRLF or LF, quoted or not); only `columns` if given (names
    of the header: a wide file of which a few columns are staged is not held whole); no rows if `header_only`."""
    if not _NOT_BLANK.search(data, len(BOM) if data.startswith(BOM) else 0):
        raise ParseError(source, name, "the file is empty")
    try:
        frame = read_csv_frame(data, separator, columns=columns, n_rows=0 if header_only else None)
    except pl.exceptions.ComputeError as exc:
        raise ParseError(source, name, f"malformed CSV: {exc}") from exc
    if frame.width == 1:
        _refuse_other_separator(frame.columns[0], separator, source=source, name=name)
    return frame


def _refuse_other_separator(header: str, separator: str, *, source: str, name: str) -> None:
    """A one-column header holding another usual separator: the file was written with that one."""
    found = [s for s in (";", ",", "\t", "|") if s != separator and header.count(s) >= 2]
    if found:
        shown = {"\t": "tab"}.get(found[0], repr(found[0]))
        raise ParseError(
            source,
            name,
            f"the header is one column separated by {shown}, not by the expected "
            f"separator {separator!r}: {header[:80]!r}…",
        )


def read_csv_text(text: str, separator: str, *, source: str, name: str) -> pl.DataFrame:
    """A delimited text as an all-String frame (CRLF or LF, quoted or not)."""
    return read_csv_bytes(text.encode("utf-8"), separator, source=source, name=name)


def read_csv_file(path: Path, spec: FileSpec, *, source: str, member: str | None = None) -> pl.DataFrame:
    """Read a CSV file, or the member `member` (default `spec.member`) of a zip file."""
    data, name = csv_file_bytes(path, spec, source=source, member=member)
    return read_csv_bytes(data, spec.separator, source=source, name=name)


def csv_file_bytes(path: Path, spec: FileSpec, *, source: str, member: str | None = None) -> tuple[bytes, str]:
    """The UTF-8 bytes of a CSV file, or of the member `member` (default `spec.member`) of a zip file, and the
    name messages give it."""
    member = member or spec.member
    if spec.format == "zip":
        if not member:
            raise ParseError(source, path.name, "the catalogue names no member for this archive")
        raw, name = zip_member(path, member, source=source, limit=spec.max_unpacked), member
    else:
        raw, name = path.read_bytes(), spec.name
    return utf8_bytes(raw, spec, source=source, name=name), name


def read_xlsx_sheet(
    data: bytes, sheet: str, expected: tuple[str, ...], *, source: str, name: str, limit: int = DEFAULT_MAX_UNPACKED
) -> pl.DataFrame:
    """An xlsx sheet whose header row is found by its content, not a fixed index (`Workbook.sheet`)."""
    return Workbook(data, source=source, limit=limit).sheet(sheet, expected, name=name)


class Workbook:
    """An xlsx workbook read by calamine (fastexcel), opened once for all the sheets read from it: each opening
    parses the shared strings again (16 ms of CPU for the EPCI composition's 1.8 MB). The sheets come out as
    `pl.read_excel(data, sheet_name=sheet, has_header=False, infer_schema_length=0)` gave them (the same options
    to fastexcel, its errors and polars' own), without polars' wrapper opening the workbook for each sheet.

    An xlsx is a zip: its parts must declare at most `limit` bytes once inflated, checked before it is opened.
    """

    def __init__(self, data: bytes, *, source: str, limit: int = DEFAULT_MAX_UNPACKED) -> None:
        self.data, self.source, self.limit = data, source, limit
        self._reader: fastexcel.ExcelReader | None = None

    def sheet(self, sheet: str, expected: tuple[str, ...], *, name: str) -> pl.DataFrame:
        """The sheet under its header row: INSEE sheets carry title lines above the header (header on row 6);
        readers count leading blank rows differently, so the header is the first row holding every `expected`
        name (decisions.md "Downloads"). Every column `pl.String`; `name` is the file as messages give it."""
        try:
            grid = self._grid(sheet, name)
        except ParseError:
            raise
        except Exception as exc:  # fastexcel raises its own types for a missing sheet or a broken file
            raise ParseError(self.source, name, f"cannot read sheet {sheet!r}: {exc}") from exc
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
        raise ParseError(self.source, name, f"sheet {sheet!r}: no row holds the expected header {sorted(want)}")

    def _grid(self, sheet: str, name: str) -> pl.DataFrame:
        """The sheet's cells as text, its rows entirely empty dropped (what `pl.read_excel` does)."""
        if self._reader is None:
            import fastexcel

            _check_xlsx_size(self.data, self.limit, source=self.source, name=name)
            self._reader = fastexcel.read_excel(self.data)
        if sheet not in self._reader.sheet_names:
            raise ValueError(f"no matching sheet found when `sheet_name` is {sheet!r}")
        grid = pl.DataFrame(self._reader.load_sheet(sheet, header_row=None, dtypes="string"))
        if grid.height == grid.width == 0:
            raise pl.exceptions.NoDataError(
                "empty Excel sheet\n\nIf you want to read this as an empty DataFrame, set `raise_if_empty=False`."
            )
        grid.columns = [f"column_{i}" for i in range(grid.width)]
        return grid.filter(~pl.all_horizontal(pl.all().is_null()))


def _check_xlsx_size(data: bytes, limit: int, *, source: str, name: str) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            too_large = archive_too_large(zf, limit)
    except zipfile.BadZipFile as exc:
        raise ParseError(source, name, f"not an xlsx workbook (not a zip archive: {exc})") from exc
    if too_large:
        raise ParseError(source, name, too_large)
