"""The Jinja environment of the report pages: autoescaped (names come from the data), with the French filters
the templates use. Section templates are Jinja sources held by their section module, compiled once.

Compiling the templates took about 8 % of a one-territory `abs-diag report`: their compiled code is kept between
runs in Jinja's own bytecode cache, in the user's cache folder (`$XDG_CACHE_HOME`, else `~/.cache`). Jinja writes
each entry to a temporary file renamed into place (two processes at once read the old entry or the new one, never
half of one) and checks the template's source checksum and Python's version when it loads one. The folder's name
holds Jinja's version and a digest of this file (where the environment's options are), so that an upgrade or a
new option never runs code compiled for another. A folder that cannot be created or written means compiling as
before, at each run."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import jinja2
from jinja2 import Environment, FileSystemBytecodeCache, PackageLoader, Template, select_autoescape
from jinja2.bccache import Bucket
from markupsafe import Markup

from reports import formats as F


@cache
def environment() -> Environment:
    return new_environment(bytecode_folder())


def new_environment(cache_folder: Path | None) -> Environment:
    """The report pages' environment, its compiled templates kept in `cache_folder` (None: not kept)."""
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        bytecode_cache=BytecodeCache(str(cache_folder)) if cache_folder else None,
    )
    env.filters["nombre"] = lambda x: F.count(x)
    env.filters["css_string"] = css_string
    env.filters["initiale"] = lambda s: s[:1].upper() + s[1:]  # `capitalize` would lower-case "CAF"
    return env


class BytecodeCache(FileSystemBytecodeCache):
    """Jinja's cache of compiled templates in a folder; one that cannot be read or written is only slower."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, EOFError, ValueError, pickle.UnpicklingError):  # Jinja lets these through: an entry cut
            bucket.reset()  # short, a folder replaced by a file...

    def dump_bytecode(self, bucket: Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def bytecode_folder() -> Path | None:
    """The user's cache folder of this Jinja and this environment (created), or None when there is none."""
    return user_cache_folder(f"jinja-{jinja2.__version__}-{environment_digest()}")


def user_cache_folder(name: str) -> Path | None:
    """`name` in abs-diag's folder of the user's cache (created), or None when there is none."""
    base = Path(os.environ.get("XDG_CACHE_HOME", ""))
    try:
        if not base.is_absolute():  # unset, or relative: ignored, as the XDG specification says
            base = Path.home() / ".cache"
        folder = base / "abs-diag" / name
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, RuntimeError):  # RuntimeError: no home folder
        return None
    return folder


def environment_digest() -> str:
    """A digest of this file: the environment's options, on which the compiled code depends."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


@cache
def compiled(source: str) -> Template:
    """A section's template, compiled once per process (a national run renders it thousands of times)."""
    return from_source(environment(), source)


def from_source(env: Environment, source: str) -> Template:
    """`env.from_string(source)`, its compiled code taken from the environment's bytecode cache when there."""
    cache_ = env.bytecode_cache
    if cache_ is None:
        return env.from_string(source)
    # the source's digest as the entry's name: one entry per source (the checksum inside guards the rest)
    bucket = cache_.get_bucket(env, hashlib.sha256(source.encode()).hexdigest(), None, source)
    if bucket.code is None:
        bucket.code = env.compile(source)  # no name, as from_string: the same code, autoescaped as a string
        cache_.set_bucket(bucket)
    return env.template_class.from_code(env, bucket.code, env.make_globals(None))


def css_string(text: str) -> Markup:
    """Text for a CSS string in double quotes: every character but letters, digits and spaces as a CSS escape,
    so no name can close the string or the <style> element."""
    return Markup("".join(c if c.isalnum() or c == " " else f"\\{ord(c):x} " for c in str(text)))


@cache
def pipeline_version() -> str:
    """The installed abs-diag's version, looked up once per process (each lookup scans the installed packages:
    1 to 4 ms, three times per report)."""
    try:
        return version("abs-diag")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "inconnue"
