"""French number and date formats of the report: decimal comma, U+202F narrow no-break space for thousands and
before `%` and `€`, a true minus sign (U+2212), never `-0,0`.

Pure functions of a value and its unit (the `unit` of `transforms/indicators.toml`); babel holds the French
locale data (CLDR), so nothing here re-implements digit grouping.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import cache, lru_cache

from babel import Locale
from babel.numbers import NumberPattern, parse_pattern

NNBSP = "\u202f"  # narrow no-break space: thousands separator and before % and €
MINUS = "\u2212"
LOCALE = "fr_FR"

# unit -> decimals shown
DECIMALS = {
    "count": 0,
    "percent": 1,
    "per100": 1,
    "ratio": 2,
    "index": 1,
    "euros": 0,
    "percent_per_year": 2,
    "per1000": 2,
}
SUFFIX = {"percent": f"{NNBSP}%", "euros": f"{NNBSP}€", "percent_per_year": f"{NNBSP}%"}
# what a column header says under the label
UNIT_HINTS = {
    "count": "effectif",
    "percent": "en %",
    "per100": "pour 100",
    "ratio": "rapport",
    "index": "indice",
    "euros": "en € par an",
    "percent_per_year": "en % par an",
    "per1000": "pour 1 000",
}
EVOLUTION_SUFFIX = {"points": f"{NNBSP}pt", "percent_per_year": f"{NNBSP}%/an", "difference": ""}
EVOLUTION_DECIMALS = {"points": 1, "percent_per_year": 2}
# an evolution whose shown value rounds to zero is said stable (≈), never given the arrow of an invisible change
ARROWS = {1: "↗", 0: "≈", -1: "↘"}


# the texts of the numbers already formatted: a report formats about 14,000 values, a few thousand distinct (its
# places' values in the tables, charts and sentences), and two equal numbers format alike (-0.0 as 0.0)
FORMATTED = 1 << 16


@lru_cache(maxsize=FORMATTED)
def number(value: float, decimals: int = 0, *, signed: bool = False) -> str:
    """12345.678 -> `12 345,7` (U+202F); -0.04 -> `0,0`, never `-0,0`; `signed` adds `+` to positives."""
    rounded = round(float(value), decimals)
    if rounded == 0:
        rounded = 0.0  # drops the sign of -0.0
    text = _digits(abs(rounded), decimals)
    if rounded < 0:
        return MINUS + text
    return ("+" + text) if signed and rounded > 0 else text


# With at most 15 significant digits (DBL_DIG), Python prints a rounded float with exactly the digits of its shortest
# form, the decimal babel reads; beyond, the digits of the binary value (7.68e13 at 2 decimals: `…589,59` for
# `…589,6`; 1.2345678901234567e20 as 123456789012345677877): babel then.
SIGNIFICANT_DIGITS = 15


def _digits(x: float, decimals: int) -> str:
    """`x` (positive, rounded to `decimals`) in babel's French pattern: a report formats about 14,000 numbers, and
    Python's own formatting with babel's marks gives the same text 20 times faster where the pattern groups digits
    by three (tests/test_reports_units.py holds the two equal)."""
    marks = _marks()
    if marks is None or not x < 10.0 ** (SIGNIFICANT_DIGITS - decimals):  # NaN and infinity: babel's words
        return _pattern(decimals).apply(x, _locale())
    group, decimal = marks
    return f"{x:,.{decimals}f}".replace(",", group).replace(".", decimal)


@cache
def _marks() -> tuple[str, str] | None:
    """(group, decimal) symbols of the locale (babel's CLDR data); None when its pattern does not group by three."""
    if _pattern(0).grouping != (3, 3):
        return None
    symbols = _locale().number_symbols["latn"]
    return symbols["group"], symbols["decimal"]


@cache
def _pattern(decimals: int) -> NumberPattern:
    """The CLDR pattern of `decimals` decimals, parsed once (a report formats thousands of numbers)."""
    return parse_pattern("#,##0" + ("." + "0" * decimals if decimals else ""))


@cache
def _locale() -> Locale:
    return Locale.parse(LOCALE)


@lru_cache(maxsize=FORMATTED)
def value(x: float | None, unit: str) -> str:
    """An indicator value as the report prints it (`16,0 %`, `21 590 €`, `58,5`); empty string for None."""
    if x is None:
        return ""
    signed = unit == "percent_per_year"  # growth rates read better with their sign
    return number(x, DECIMALS.get(unit, 1), signed=signed) + SUFFIX.get(unit, "")


def count(x: float | None) -> str:
    """A count: whole number with grouped thousands (census counts of the complementary survey are estimates)."""
    return "" if x is None else number(x, 0)


def evolution(x: float | None, evolution_unit: str | None, unit: str | None = None) -> str:
    """`↗ +1,2 pt`, `↘ −0,35 %/an`, `↘ −0,02`: the change since the comparison year, with the arrow of the sign
    of the value shown (`≈ 0,0 pt` when it rounds to zero).

    A plain difference (indices, ratios) keeps the decimals of the indicator's `unit`: a household size going from
    2,26 to 2,24 is `−0,02`, not a rounded-away `0,0`."""
    if x is None or evolution_unit is None:
        return ""
    decimals = EVOLUTION_DECIMALS.get(evolution_unit, DECIMALS.get(unit or "", 1))
    shown = round(float(x), decimals)
    direction = (shown > 0) - (shown < 0)
    text = number(x, decimals, signed=True) + EVOLUTION_SUFFIX.get(evolution_unit, "")
    return f"{ARROWS[direction]}{NNBSP}{text}"


@lru_cache(maxsize=4096)  # labels, said again in every table, chart and sentence
def typography(text: str) -> str:
    """French typography of labels: narrow no-break spaces before % and € and inside numbers (`10 000`), so that
    `60 %` or `10 000 habitants` never break across two lines."""
    text = re.sub(r"(?<!\d)(\d{1,3})((?: \d{3})+)\b", lambda m: m.group(1) + m.group(2).replace(" ", NNBSP), text)
    return text.replace(" %", f"{NNBSP}%").replace(" €", f"{NNBSP}€")


def long_date(moment: date | datetime) -> str:
    """`1er novembre 2026`, `23 novembre 2026` (French writes the first day of a month as an ordinal)."""
    from babel.dates import format_date  # imported when a date is written (with babel's local time zone: 13 ms)

    day = moment.day
    rest = format_date(moment, format="MMMM y", locale=LOCALE)
    return f"{'1er' if day == 1 else day} {rest}"
