"""The codes of French territories: the pattern of each level's code (one place for the whole project) and the
checks that turn a mistyped code into a clear message, the SIREN's Luhn check digit included."""

from __future__ import annotations

import re
from typing import overload

CODE_PATTERNS = {
    "COM": r"^(\d{5}|2[AB]\d{3})$",
    "ARM": r"^(751\d\d|6938\d|132\d\d|693XX|132XX)$",
    "EPCI": r"^\d{9}$",
    "DEP": r"^(\d{2}|2[AB]|97\d)$",
    "REG": r"^\d{2}$",
    "FRANCE": r"^FR$",
    # 9 characters: the commune's or arrondissement's code and 4 digits; a commune not divided into IRIS has the
    # one pseudo-IRIS <code>0000 (supply-space-time-sources §5.1)
    "IRIS": r"^(\d{5}|2[AB]\d{3})\d{4}$",
    # QPV of the 2024 generation: QN, the département on 3 characters, 2 digits, a letter (QN04901M, QN97414I)
    "QPV": r"^QN(\d{3}|02[AB])\d{2}[A-Z]$",
}
# a commune or a municipal arrondissement (the commune column of IRIS and QPV lists, which name either)
COMMUNE_OR_ARM = f"^(({CODE_PATTERNS['COM'][1:-1]})|({CODE_PATTERNS['ARM'][1:-1]}))$"


# The three cities divided into arrondissements municipaux, by the prefix of their arrondissements' codes (COG:
# TYPECOM ARM, COMPARENT the city). `693XX` / `132XX` (arrondissement unknown) are no arrondissement of their own.
ARRONDISSEMENT_CITIES = (
    (r"^751(0[1-9]|1\d|20)$", "75056"),
    (r"^6938[1-9]$", "69123"),
    (r"^132(0[1-9]|1[0-6])$", "13055"),
)


def city_of_arrondissement(code: str) -> str | None:
    """The city of an arrondissement municipal (75101 -> 75056, 69381 -> 69123, 13201 -> 13055), else None."""
    return next((city for pattern, city in ARRONDISSEMENT_CITIES if re.match(pattern, code)), None)


def luhn_ok(digits: str) -> bool:
    """SIREN numbers carry a Luhn check digit: a mistyped digit is caught before anything runs."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


# The checks take any value (pydantic runs them before its own type checks): strings are checked and returned
# cleaned, anything else goes on to pydantic's own error. (The overloads say a string comes back a string.)


@overload
def check_siren(value: str) -> str: ...
@overload
def check_siren(value: object) -> object: ...
def check_siren(value: object) -> object:
    if isinstance(value, str):
        value = value.strip()
        if not re.match(CODE_PATTERNS["EPCI"], value):
            raise ValueError(f"an EPCI is named by its SIREN, 9 digits (200067346), not {value!r}")
        if not luhn_ok(value):
            raise ValueError(f"{value} is not a valid SIREN: its check digit is wrong (a mistyped digit?)")
    return value


@overload
def check_commune(value: str) -> str: ...
@overload
def check_commune(value: object) -> object: ...
def check_commune(value: object) -> object:
    return _cleaned(value, "COM", "a commune code has 5 characters (44043, 2A004), not {!r}")


@overload
def check_departement(value: str) -> str: ...
@overload
def check_departement(value: object) -> object: ...
def check_departement(value: object) -> object:
    return _cleaned(value, "DEP", "a département code is 01 to 95, 2A, 2B or 971 to 976, not {!r}")


def _cleaned(value: object, level: str, message: str) -> object:
    """A code of `level` stripped and upper-cased (2a004 -> 2A004), or ValueError with `message`."""
    if isinstance(value, str):
        value = value.strip().upper()
        if not re.match(CODE_PATTERNS[level], value):
            raise ValueError(message.format(value))
    return value
