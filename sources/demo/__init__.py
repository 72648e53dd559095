"""The embedded demo: a synthetic territory served through the mirror mechanism, in the real file formats."""

from pathlib import Path

MIRROR_ROOT = Path(__file__).with_name("mirror")
