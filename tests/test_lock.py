"""requirements.lock (what ./dev and CI install) satisfies every requirement of pyproject.toml: editing the ranges
without `./dev lock` fails here, not on a user's machine."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
PINNED = {
    canonicalize_name(name): version
    for name, version in (
        line.split("==", 1)
        for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
}
REQUIREMENTS = [*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["test"]]


@pytest.mark.parametrize("text", REQUIREMENTS)
def test_the_lock_pins_a_version_every_requirement_accepts(text):
    requirement = Requirement(text)
    name = canonicalize_name(requirement.name)
    assert name in PINNED, f"{requirement.name} is required by pyproject.toml but not in requirements.lock"
    assert requirement.specifier.contains(PINNED[name], prereleases=True), (
        f"requirements.lock pins {requirement.name}=={PINNED[name]}, outside {requirement.specifier}: run ./dev lock"
    )


def test_every_line_of_the_lock_is_an_exact_pin():
    lines = [
        line
        for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert lines and all("==" in line and " " not in line for line in lines), [
        line for line in lines if "==" not in line
    ]
