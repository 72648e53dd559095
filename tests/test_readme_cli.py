"""Every command and option of `abs-diag` is documented in the README (as sqlite-utils checks its own docs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from flows.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
COMMANDS = typer.main.get_command(app).commands


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_and_option_is_in_the_readme(name):
    assert f"abs-diag {name}" in README, f"`abs-diag {name}` is not in the README"
    # a flag on by default is used as its `--no-` form; the `--no-` form of a flag off by default says nothing
    options = [
        o
        for p in COMMANDS[name].params
        for o in (*p.opts, *(getattr(p, "secondary_opts", []) if p.default is True else []))
        if o.startswith("--") and o != "--help"
    ]
    missing = [o for o in options if not re.search(re.escape(o) + r"(?![\w-])", README)]
    assert missing == [], f"`abs-diag {name}` options missing from the README: {missing}"
