"""Zip members inflated by ISA-L: the same bytes as zipfile's, and every refusal zipfile made, with its message.

Each hand-made archive is read by `zip_member` and by zipfile alone (`zipfile_read`: what `zip_member` did before
ISA-L), and both must give the same bytes or the same error.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from sources import reading
from sources.errors import ParseError
from sources.reading import zip_member

CSV = b"CODGEO;P22_POP\r\n" + b"".join(b"%05d;%d\r\n" % (i, i * 7 % 1000) for i in range(1001, 40_000))
LIMIT = 10_000_000


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def patched(body: bytes, *, local: dict[int, tuple[str, int]], central: dict[int, tuple[str, int]]) -> bytes:
    """`body` (one member) with fields of its local header and central directory record overwritten: offset ->
    (struct format, value), by APPNOTE's layout (local 4.3.7, central 4.3.12)."""
    out = bytearray(body)
    start_local, start_central = out.find(b"PK\x03\x04"), out.find(b"PK\x01\x02")
    for start, fields in ((start_local, local), (start_central, central)):
        for offset, (fmt, value) in fields.items():
            struct.pack_into(fmt, out, start + offset, value)
    return bytes(out)


def one_member_zip(name: str, stream: bytes, data: bytes) -> bytes:
    """A deflated member `name` holding `stream`, declaring the size and CRC of `data`, written by hand: local
    header, stream, central directory record and end record (APPNOTE 4.3.7, 4.3.12, 4.3.16)."""
    size, crc, raw_name = len(data), zlib.crc32(data), name.encode()
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(stream), size, len(raw_name), 0)
    central = struct.pack(
        "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(stream), size, len(raw_name), 0, 0, 0, 0, 0, 0
    )
    directory_start = len(local) + len(raw_name) + len(stream)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(raw_name), directory_start, 0)
    return local + raw_name + stream + central + raw_name + end


def zipfile_read(path: Path, member: str, limit: int = LIMIT) -> bytes | str:
    """The member as zipfile alone reads it, or the message `zip_member` gives zipfile's error."""
    try:
        with zipfile.ZipFile(path) as zf, zf.open(member) as f:
            return f.read(limit + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        return f"cannot read member {member!r}: {exc}"


def read_both(tmp_path: Path, body: bytes, member: str = "data.csv") -> tuple[bytes | str, bytes | str]:
    path = tmp_path / "f.zip"
    path.write_bytes(body)
    try:
        ours: bytes | str = zip_member(path, member, source="test", limit=LIMIT)
    except ParseError as exc:
        ours = str(exc)
    return ours, zipfile_read(path, member)


@pytest.fixture
def inflations(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(max_length asked, bytes given) of each ISA-L inflation `reading` makes."""
    calls: list[tuple[int, int]] = []
    real = reading.isal_zlib.decompressobj

    class Recorder:
        def __init__(self, wbits: int) -> None:
            self.inner = real(wbits)

        def decompress(self, data: bytes, max_length: int) -> bytes:
            out = self.inner.decompress(data, max_length)
            calls.append((max_length, len(out)))
            return out

        @property
        def eof(self) -> bool:
            return self.inner.eof

    monkeypatch.setattr(reading.isal_zlib, "decompressobj", Recorder)
    return calls


def test_a_deflated_member_is_inflated_by_isal_to_zipfiles_bytes(tmp_path, inflations):
    ours, theirs = read_both(tmp_path, zip_of({"meta_data.csv": b"x;y\n", "data.csv": CSV}))
    assert ours == theirs == CSV
    assert inflations == [(len(CSV) + 1, len(CSV))]


def test_the_member_is_chosen_by_its_exact_name(tmp_path):
    body = zip_of({"meta_data.csv": b"meta;\n", "data.csv": CSV, "data-COM.csv": b"com;\n"})
    assert read_both(tmp_path, body)[0] == CSV
    assert read_both(tmp_path, body, "meta_data.csv")[0] == b"meta;\n"
    with pytest.raises(ParseError, match=r"member 'DATA.csv' not in the archive; it holds \['meta_data.csv', 'data.cs"):
        zip_member(tmp_path / "f.zip", "DATA.csv", source="test")


def test_an_empty_member_is_read(tmp_path, inflations):
    assert read_both(tmp_path, zip_of({"data.csv": b""})) == (b"", b"")
    assert inflations == [(1, 0)]


def test_a_bad_crc_is_refused_as_zipfile_refused_it(tmp_path):
    body = patched(zip_of({"data.csv": CSV}), local={14: ("<I", 1234)}, central={16: ("<I", 1234)})
    ours, theirs = read_both(tmp_path, body)
    assert isinstance(ours, str) and "cannot read member 'data.csv': Bad CRC-32 for file 'data.csv'" in ours
    assert ours.endswith(theirs)


def test_a_corrupt_deflate_stream_is_refused_with_zlibs_message(tmp_path):
    body = bytearray(zip_of({"data.csv": CSV}))
    start = 30 + len("data.csv") + 5  # a few bytes into the member's deflate data
    body[start : start + 8] = bytes(b ^ 0xFF for b in body[start : start + 8])
    ours, theirs = read_both(tmp_path, bytes(body))
    assert isinstance(ours, str) and "cannot read member 'data.csv': Error -3 while decompressing data" in ours
    assert ours.endswith(theirs)


def test_a_truncated_deflate_stream_is_refused(tmp_path):
    # the stream cut in half, the archive's sizes declaring what is left: it ends before its last block
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = compressor.compress(CSV) + compressor.flush()
    ours, theirs = read_both(tmp_path, one_member_zip("data.csv", stream[: len(stream) // 2], CSV))
    assert isinstance(ours, str) and "cannot read member 'data.csv': Bad CRC-32" in ours
    assert ours.endswith(theirs)


def test_a_member_inflating_past_its_declared_size_gives_no_more(tmp_path, inflations):
    bomb = b"0" * 50_000_000
    crc = zlib.crc32(bomb[:1000])  # declares 1 000 bytes and their CRC: zipfile returned them, nothing noticed
    consistent = patched(
        zip_of({"data.csv": bomb}),
        local={22: ("<I", 1000), 14: ("<I", crc)},
        central={24: ("<I", 1000), 16: ("<I", crc)},
    )
    assert read_both(tmp_path, consistent) == (b"0" * 1000, b"0" * 1000)
    assert inflations == [(1001, 1001)]  # ISA-L stops one byte past the declared size; zipfile reads it then

    lying = patched(zip_of({"data.csv": bomb}), local={22: ("<I", 1000)}, central={24: ("<I", 1000)})
    ours, theirs = read_both(tmp_path, lying)
    assert isinstance(ours, str) and "cannot read member 'data.csv': Bad CRC-32" in ours
    assert ours.endswith(theirs)
    assert max(given for _, given in inflations) == 1001


def test_a_member_declaring_more_than_the_limit_is_refused_before_inflating(tmp_path, inflations):
    path = tmp_path / "f.zip"
    path.write_bytes(zip_of({"data.csv": CSV}))
    with pytest.raises(ParseError, match=r"member 'data.csv' declares 424 717 bytes once inflated, above the limit"):
        zip_member(path, "data.csv", source="test", limit=100_000)
    assert inflations == []


def test_a_stored_member_is_read_by_zipfile(tmp_path, inflations):
    assert read_both(tmp_path, zip_of({"data.csv": CSV}, zipfile.ZIP_STORED)) == (CSV, CSV)
    assert inflations == []
    body = patched(zip_of({"data.csv": CSV}, zipfile.ZIP_STORED), local={14: ("<I", 7)}, central={16: ("<I", 7)})
    ours, theirs = read_both(tmp_path, body)
    assert isinstance(ours, str) and "Bad CRC-32 for file 'data.csv'" in ours and ours.endswith(theirs)


def test_a_zip64_member_is_inflated_by_isal(tmp_path, inflations):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("data.csv", "w", force_zip64=True) as f:
        f.write(CSV)
    body = buf.getvalue()
    assert struct.unpack_from("<H", body, 28)[0] == 20  # the local header's zip64 extra field, skipped by its length
    assert read_both(tmp_path, body) == (CSV, CSV)
    assert inflations == [(len(CSV) + 1, len(CSV))]


@pytest.mark.parametrize(
    ("local", "central", "error", "message"),
    [
        # the encryption flag (bit 0), in the local header and the central directory
        (
            {6: ("<H", 1)},
            {8: ("<H", 1)},
            RuntimeError,
            "File 'data.csv' is encrypted, password required for extraction",
        ),
        # method 9, deflate64
        ({8: ("<H", 9)}, {10: ("<H", 9)}, NotImplementedError, "That compression method is not supported"),
    ],
    ids=["encrypted", "unsupported-method"],
)
def test_a_member_isal_does_not_handle_is_left_to_zipfile(tmp_path, inflations, local, central, error, message):
    path = tmp_path / "f.zip"
    path.write_bytes(patched(zip_of({"data.csv": CSV}), local=local, central=central))
    with pytest.raises(error, match=message):
        zip_member(path, "data.csv", source="test", limit=LIMIT)
    assert inflations == []


def test_a_local_header_naming_another_member_is_refused_by_zipfile(tmp_path, inflations):
    body = zip_of({"data.csv": CSV}).replace(b"data.csv", b"dat2.csv", 1)  # the local header's name only
    ours, theirs = read_both(tmp_path, body)
    assert isinstance(ours, str) and "File name in directory 'data.csv' and header b'dat2.csv' differ" in ours
    assert ours.endswith(theirs)
    assert inflations == []


def test_a_local_header_without_its_signature_is_refused_by_zipfile(tmp_path, inflations):
    body = zip_of({"data.csv": CSV}).replace(b"PK\x03\x04", b"PK\x03\x05", 1)
    ours, theirs = read_both(tmp_path, body)
    assert isinstance(ours, str) and "cannot read member 'data.csv': Bad magic number for file header" in ours
    assert ours.endswith(theirs)
    assert inflations == []


def test_a_member_whose_data_would_pass_the_end_of_the_file_is_left_to_zipfile(tmp_path, inflations):
    body = zip_of({"data.csv": CSV})
    size = len(body) * 2
    ours, theirs = read_both(tmp_path, patched(body, local={18: ("<I", size)}, central={20: ("<I", size)}))
    assert ours == theirs == CSV  # zipfile reads the stream to its end, the rest declared is never read
    assert inflations == []


def test_a_missing_archive_says_so(tmp_path):
    with pytest.raises(ParseError, match=r"cannot read member 'data.csv': \[Errno 2\] No such file or directory"):
        zip_member(tmp_path / "f.zip", "data.csv", source="test")
