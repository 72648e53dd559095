"""Regenerate the demo mirror from `world.py`: `python -m sources.demo.build`.

Each `gen_<source>` module writes the files of its sources into the mirror folder at the path their catalogue URL
maps to (`HOST/PATH`). A folder stands for a zip archive (the mirror server zips it on the fly).
"""

from __future__ import annotations

import importlib
import shutil
import unicodedata
from pathlib import Path
from urllib.parse import urlsplit

from sources import catalogue
from sources.demo import MIRROR_ROOT

GENERATORS = ["gen_cog", "gen_census", "gen_filosofi", "gen_etat_civil", "gen_caf"]


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


def build(root: Path = MIRROR_ROOT, only: list[str] | None = None) -> None:
    for name in only or GENERATORS:
        module = importlib.import_module(f"sources.demo.{name}")
        module.write(root)


if __name__ == "__main__":
    if MIRROR_ROOT.exists():
        shutil.rmtree(MIRROR_ROOT)
    build()
    print(f"demo mirror written to {MIRROR_ROOT}")
