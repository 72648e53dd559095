"""The Jinja environment of the report pages: autoescaped (names come from the data), with the French filters
the templates use. Section templates are Jinja sources held by their section module, compiled once."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

from jinja2 import Environment, PackageLoader, Template, select_autoescape
from markupsafe import Markup

from reports import formats as F


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["nombre"] = lambda x: F.count(x)
    env.filters["css_string"] = css_string
    env.filters["initiale"] = lambda s: s[:1].upper() + s[1:]  # `capitalize` would lower-case "CAF"
    return env


@cache
def compiled(source: str) -> Template:
    """A section's template, compiled once per process (a national run renders it thousands of times)."""
    return environment().from_string(source)


def css_string(text: str) -> Markup:
    """Text for a CSS string in double quotes: every character but letters, digits and spaces as a CSS escape,
    so no name can close the string or the <style> element."""
    return Markup("".join(c if c.isalnum() or c == " " else f"\\{ord(c):x} " for c in str(text)))


def pipeline_version() -> str:
    try:
        return version("abs-diag")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "inconnue"
