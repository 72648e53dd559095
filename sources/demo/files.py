"""Where the demo mirror keeps each file, and how it writes them (helpers of the `gen_*` modules)."""

from __future__ import annotations

import unicodedata
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
