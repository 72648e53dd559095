"""The indicator catalogue (`indicators.toml`) as typed records, checked when loaded."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATALOGUE_PATH = Path(__file__).with_name("indicators.toml")
GAPS_PATH = Path(__file__).with_name("gaps.toml")

THEMES = {
    "demographie": "Démographie",
    "familles": "Familles",
    "petite_enfance": "Petite enfance",
    "enfance_jeunesse": "Enfance et jeunesse",
    "revenus_precarite": "Revenus et précarité",
    "emploi_insertion": "Emploi et insertion",
    "logement": "Logement",
    "mobilite": "Mobilité",
    "vieillissement": "Vieillissement",
    "acces_aux_droits": "Accès aux droits",
    # themes whose indicators are equipment counts and rates only (BPE)
    "parentalite_vie_sociale": "Parentalité et vie sociale",
    "sante": "Santé",
    "handicap": "Handicap",
}
KINDS = ("ratio", "count", "published", "growth", "natural", "migration")
UNITS = ("count", "percent", "per100", "ratio", "index", "euros", "percent_per_year", "per1000")
# two_sided: a marked gap either way is a signal (population growth: a decline empties services, fast growth strains
# them); the flags then say « écart marqué », never « plus défavorable »
DIRECTIONS = ("higher_is_need", "lower_is_need", "neutral", "two_sided")

# A published figure comes from one source per level (CAF files are one dataset per scale).
PUBLISHED_SOURCES = {
    "filosofi": {"COM": "filosofi", "EPCI": "filosofi", "DEP": "filosofi", "FRANCE": "filosofi"},
    "caf_coverage": {
        "COM": "caf_coverage_com",
        "EPCI": "caf_coverage_epci",
        "DEP": "caf_coverage_dep",
        "FRANCE": "caf_coverage_nat",
    },
    "caf_places": {"COM": "caf_places_com", "EPCI": "caf_places_epci", "DEP": "caf_places_dep"},
}


@dataclass(frozen=True)
class Term:
    source: str
    variable: str
    sign: int = 1

    @classmethod
    def parse(cls, text: str) -> Term:
        sign = -1 if text.startswith("-") else 1
        source, _, variable = text.lstrip("-").partition(":")
        if not source or not variable:
            raise ValueError(f"term {text!r} is not 'source:VARIABLE'")
        return cls(source, variable, sign)

    @property
    def key(self) -> str:
        return f"{self.source}:{self.variable}"


@dataclass(frozen=True)
class Indicator:
    id: str
    theme: str
    label: str
    kind: str
    unit: str
    direction: str
    definition: str
    caveat: str = ""
    numerator: tuple[Term, ...] = ()
    denominator: tuple[Term, ...] = ()
    scale: float = 1.0
    min_denominator: float = 0.0
    published: Term | None = None
    fallback: str | None = None
    evolution: bool = True
    map: bool = False  # a key indicator of its theme: mapped commune by commune (reports/sections/maps.py)

    @property
    def published_term(self) -> Term:
        """The publisher's figure a `published` indicator reads (`check` makes sure it names one)."""
        if self.published is None:
            raise ValueError(f"{self.id} is a {self.kind} indicator, not a published one")
        return self.published

    @property
    def terms(self) -> tuple[Term, ...]:
        return self.numerator + self.denominator

    @property
    def sources(self) -> tuple[str, ...]:
        """The staged sources this indicator reads (published families expanded)."""
        if self.published:
            return tuple(dict.fromkeys(PUBLISHED_SOURCES[self.published.source].values()))
        return tuple(dict.fromkeys(t.source for t in self.terms))


def _indicator(raw: dict) -> Indicator:
    raw = dict(raw)
    raw["numerator"] = tuple(Term.parse(t) for t in raw.get("numerator", []))
    raw["denominator"] = tuple(Term.parse(t) for t in raw.get("denominator", []))
    if "published" in raw:
        raw["published"] = Term.parse(raw["published"])
    raw["scale"] = float(raw.get("scale", 1))
    raw["min_denominator"] = float(raw.get("min_denominator", 0))
    return Indicator(**raw)


def check(indicators: tuple[Indicator, ...]) -> None:
    """The catalogue's own rules: unique ids, known themes/kinds/units/directions, the terms each kind needs."""
    problems = []
    ids = [i.id for i in indicators]
    problems += [f"duplicated id {d}" for d in sorted({i for i in ids if ids.count(i) > 1})]
    for i in indicators:
        if i.theme not in THEMES:
            problems.append(f"{i.id}: unknown theme {i.theme}")
        if i.kind not in KINDS:
            problems.append(f"{i.id}: unknown kind {i.kind}")
        if i.unit not in UNITS:
            problems.append(f"{i.id}: unknown unit {i.unit}")
        if i.direction not in DIRECTIONS:
            problems.append(f"{i.id}: unknown direction {i.direction}")
        if not i.definition or not i.label:
            problems.append(f"{i.id}: a label and a definition are required")
        if "pour 100" in i.label and i.unit != "per100":  # « pour 100 allocataires » is not a share: never « % »
            problems.append(f"{i.id}: a label « pour 100 … » needs unit per100, not {i.unit}")
        if i.kind == "published" and (i.published is None or i.published.source not in PUBLISHED_SOURCES):
            problems.append(f"{i.id}: a published indicator names a known publisher family")
        if i.kind in ("ratio", "natural", "migration") and not (i.numerator and i.denominator):
            problems.append(f"{i.id}: {i.kind} needs a numerator and a denominator")
        if i.kind in ("count", "growth") and (not i.numerator or i.denominator):
            problems.append(f"{i.id}: {i.kind} needs a numerator only")
    if problems:
        raise ValueError("indicators.toml: " + "; ".join(problems))


@cache
def indicators() -> tuple[Indicator, ...]:
    raw = tomllib.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))
    out = tuple(_indicator(r) for r in raw["indicator"])
    check(out)
    return out


def get(indicator_id: str) -> Indicator:
    for i in indicators():
        if i.id == indicator_id:
            return i
    raise KeyError(indicator_id)


@dataclass(frozen=True)
class Gap:
    """Something a CTG theme asks for that the open data does not give at commune or EPCI level (`gaps.toml`)."""

    theme: str
    topic: str
    reason: str
    nearest: str


@cache
def gaps() -> tuple[Gap, ...]:
    raw = tomllib.loads(GAPS_PATH.read_text(encoding="utf-8"))
    out = tuple(Gap(**g) for g in raw.get("gap", []))
    unknown = [f"{g.topic}: unknown theme {g.theme}" for g in out if g.theme not in THEMES]
    if unknown:
        raise ValueError("gaps.toml: " + "; ".join(unknown))
    return out
