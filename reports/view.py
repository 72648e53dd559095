"""What one report shows: the places of its tables in reading order and a lookup of the indicator rows.

Reading order, as observatories print it: the units of the territory (its communes, alphabetical), the territory
itself, then the references (its EPCI when it is not the territory, its département(s), France). A group of more
than MAX_COMMUNE_ROWS communes spread over several EPCIs, and a département whatever its size, have their EPCIs as
units instead (with the communes in no EPCI, which no EPCI row covers): a table of 300 communes per indicator helps
nobody, and the commune detail stays in the exports.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

import polars as pl

from transforms.pipeline import Selection, select

COMMUNES, EPCIS, TERRITORY, REFERENCES = "Communes", "Intercommunalités", "Territoire", "Références"
MAX_COMMUNE_ROWS = 60


@dataclass(frozen=True)
class Place:
    level: str  # COM, ARM (an arrondissement municipal), EPCI, TERRITORY, DEP, FRANCE
    code: str
    name: str  # as the data names it (escaped when rendered)
    group: str  # COMMUNES, TERRITORY or REFERENCES

    @property
    def key(self) -> tuple[str, str]:
        return self.level, self.code

    @property
    def display(self) -> str:
        """The row label: a département with its code, an EPCI said to be one, other names as they are."""
        if self.level == "DEP" and not self.name.endswith(f"({self.code})") and not self.name.endswith(self.code):
            return f"{self.name} ({self.code})"
        if self.level == "EPCI" and self.group == REFERENCES:
            return f"{self.name} (EPCI)"
        if self.level == "COM" and self.group == REFERENCES:  # the city of an arrondissement
            return f"{self.name} (ville entière)"
        return self.name


@dataclass(frozen=True)
class TerritoryView:
    selection: Selection
    rows: pl.DataFrame  # the selected long indicator table
    places: tuple[Place, ...]  # table rows, in reading order
    communes: tuple[Place, ...]  # every commune of the territory, alphabetical
    territory: Place  # the territory the report is about (a commune for a commune's ABS)
    # the reference département of the territory (the one holding most of its population); None when the territory
    # is a département: its only reference is France (transforms.compare flags a DEP row against France)
    departement: Place | None
    cells: dict[tuple[str, str, str], dict]  # (level, code, indicator) -> row, for the places of `places`
    # the rows of the other places (a département's communes, which only its maps read), made dicts when asked for
    others: OtherRows | None = None

    # the places' groups, worked out once: the sections ask for them thousands of times a report
    @cached_property
    def units(self) -> tuple[Place, ...]:
        """The rows under the territory: its communes, or its EPCIs for a large group of communes."""
        return tuple(p for p in self.places if p.group in (COMMUNES, EPCIS))

    @cached_property
    def units_are_epcis(self) -> bool:
        return any(p.group == EPCIS for p in self.places)

    @property
    def territory_is_unit(self) -> bool:
        """A commune's or an arrondissement's report: the territory is its own single unit row."""
        return self.territory.group == COMMUNES

    @property
    def local_reference(self) -> Place | None:
        """The nearest reference of a commune (its EPCI) or of an arrondissement (its whole city); None otherwise."""
        if not self.selection.commune:
            return None
        level = "COM" if self.selection.arrondissement else "EPCI"
        return next((p for p in self.references if p.level == level), None)

    @cached_property
    def references(self) -> tuple[Place, ...]:
        return tuple(p for p in self.places if p.group == REFERENCES)

    @property
    def kind(self) -> str:
        """What the territory is, in French, for the cover."""
        if self.selection.epci:
            return f"Établissement public de coopération intercommunale (SIREN {self.selection.epci})"
        if self.selection.arrondissement:
            city = next((p.name for p in self.references if p.level == "COM"), "")
            return f"Arrondissement municipal de {city} (code Insee {self.selection.commune})"
        if self.selection.commune:
            return f"Commune (code Insee {self.selection.commune})"
        if self.selection.departement:
            return f"Département (code {self.selection.departement})"
        return "Regroupement de communes"

    @cached_property
    def france(self) -> Place | None:
        return next((p for p in self.references if p.level == "FRANCE"), None)

    @property
    def compared_with(self) -> str:
        """What the territory is set against, after « face à »: « Vendée (85) et à la France », « la France », or
        for a commune « CA du Choletais (EPCI), à Maine-et-Loire (49) et à la France »."""
        epci = commune_epci(self)
        if epci and self.departement:
            return f"{epci.display}, à {self.departement.display} et à la France"
        return f"{self.departement.display} et à la France" if self.departement else "la France"

    def column(self, indicator: str) -> tuple[dict | None, ...]:
        """The indicator's row of each place of `places`, in their order (None where it has none): made once, the
        tables of a theme read each of its columns six times (flags, years, sources, marks, cells, tints)."""
        column = self._columns.get(indicator)
        if column is None:
            column = self._columns[indicator] = tuple(self.cell(p, indicator) for p in self.places)
        return column

    @cached_property
    def _columns(self) -> dict[str, tuple[dict | None, ...]]:
        return {}

    def cell(self, place: Place, indicator: str) -> dict | None:
        row = self.cells.get((place.level, place.code, indicator))
        if row is None and self.others is not None:
            return self.others.get(place.level, place.code, indicator)
        return row


class OtherRows:
    """The rows of the places a report's tables do not show, made dicts one level and indicator at a time when
    first asked for: a département's maps read 10 of its communes' 92 indicators, and making every one of its
    35,000 rows a dict took 0.22 s of CPU."""

    def __init__(self, rows: pl.DataFrame):
        self.rows = rows
        self._made: dict[tuple[str, str], dict[str, dict]] = {}  # (level, indicator) -> code -> row
        self._lock = threading.Lock()  # the reports of a national batch may be built by threads

    def get(self, level: str, code: str, indicator: str) -> dict | None:
        with self._lock:
            by_code = self._made.get((level, indicator))
            if by_code is None:
                keep = (pl.col("level") == level) & (pl.col("indicator") == indicator)
                by_code = {r["code"]: r for r in row_dicts(self.rows.filter(keep))}
                self._made[(level, indicator)] = by_code
        return by_code.get(code)


def commune_epci(view: TerritoryView) -> Place | None:
    """A commune's first comparison: its EPCI (a CCAS compares with its intercommunality first), or for an
    arrondissement its whole city; None for any other territory, or a commune in no EPCI."""
    return view.local_reference


def sort_key(name: str) -> str:
    """French alphabetical order: accents and case ignored (É sorts with E), then the exact name."""
    bare = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()
    return f"{bare}\x00{name}"


def territory_view(table: pl.DataFrame, membership: pl.DataFrame, selection: Selection) -> TerritoryView:
    """Select the rows of a diagnostic and lay its places out in reading order."""
    rows = select(table, membership, selection)
    names = {
        (r["level"], r["code"]): r["name"] or r["code"]
        for r in rows.select("level", "code", "name").unique(["level", "code"]).iter_rows(named=True)
    }
    communes = sorted(
        (Place("COM", code, name, COMMUNES) for (level, code), name in names.items() if level == "COM"),
        key=lambda p: sort_key(p.name),
    )
    city: list[Place] = []
    arrondissement = selection.commune if selection.arrondissement else None  # always a commune code
    if arrondissement is not None:  # the arrondissement is the unit; its whole city (the one COM row) a reference
        city = [Place("COM", p.code, p.name, REFERENCES) for p in communes]
        communes = [Place("ARM", arrondissement, names.get(("ARM", arrondissement), arrondissement), COMMUNES)]
    territory = _territory(selection, names, communes)
    epcis = sorted(
        (
            Place("EPCI", code, name, EPCIS)
            for (level, code), name in names.items()
            if level == "EPCI" and (level, code) != territory.key
        ),
        key=lambda p: sort_key(p.name),
    )
    # a département is read by its EPCIs, whatever its size (issue 13); a large group of communes too
    by_epci = len(epcis) > 1 and (
        selection.departement is not None or (selection.group is not None and len(communes) > MAX_COMMUNE_ROWS)
    )
    references = city + ([] if by_epci else [Place(p.level, p.code, p.name, REFERENCES) for p in epcis])
    references += _wider_references(names, territory)
    # a commune in no EPCI (L'Île-d'Yeu) has no EPCI row to be read in: it keeps its own, among the EPCIs
    units = epcis + _outside_epcis(communes, membership) if by_epci else communes
    places = tuple(units) + ((territory,) if territory.group != COMMUNES else ()) + tuple(references)
    departement = _departement(rows, territory, references)
    shown = of_places(places)
    cells = {(r["level"], r["code"], r["indicator"]): r for r in row_dicts(rows.filter(shown))}
    others = rows.filter(~shown)
    return TerritoryView(
        selection,
        rows,
        places,
        tuple(communes),
        territory,
        departement,
        cells,
        OtherRows(others) if others.height else None,
    )


def row_dicts(frame: pl.DataFrame) -> Iterator[dict]:
    """The frame's rows as dicts, column name -> value, zipped from its columns' lists (an EPCI's 2,900 rows of
    27 columns: 17 ms of CPU, 19 to 24 by `iter_rows(named=True)`)."""
    names = frame.columns
    return (dict(zip(names, values)) for values in zip(*(column.to_list() for column in frame.get_columns())))


def of_places(places: Iterable[Place]) -> pl.Expr:
    """Keeps the rows of `places`."""
    codes: dict[str, list[str]] = {}
    for place in places:
        codes.setdefault(place.level, []).append(place.code)
    return pl.any_horizontal(
        [(pl.col("level") == level) & pl.col("code").is_in(level_codes) for level, level_codes in codes.items()]
    )


def _territory(selection: Selection, names: dict, communes: list[Place]) -> Place:
    """The place the report is about: the EPCI, the commune or arrondissement, the département or the group."""
    if selection.epci:
        return Place("EPCI", selection.epci, names.get(("EPCI", selection.epci), selection.epci), TERRITORY)
    if selection.commune:
        return next(p for p in communes if p.code == selection.commune)  # a commune or an arrondissement
    if selection.departement:
        dep = selection.departement
        return Place("DEP", dep, names.get(("DEP", dep), dep), TERRITORY)
    group = selection.group
    if group is None:  # the selection's validation makes it name exactly one territory
        raise ValueError("the selection names no territory")
    return Place("TERRITORY", group.code, names.get(("TERRITORY", group.code), group.name), TERRITORY)


def _wider_references(names: dict, territory: Place) -> list[Place]:
    """The département(s) and France, in that order (the territory itself left out)."""
    return [
        Place(lvl, code, name, REFERENCES)
        for level in ("DEP", "FRANCE")
        for (lvl, code), name in sorted(names.items())
        if lvl == level and (lvl, code) != territory.key
    ]


def _departement(rows: pl.DataFrame, territory: Place, references: list[Place]) -> Place | None:
    """The reference département of the territory (None for a département: its only reference is France)."""
    if territory.level == "DEP":
        return None
    dep_code = _reference_departement(rows, territory)
    return next(
        (p for p in references if p.level == "DEP" and p.code == dep_code),
        next(p for p in references if p.level == "DEP"),
    )


def _outside_epcis(communes: list[Place], membership: pl.DataFrame) -> list[Place]:
    lone = set(membership.filter(pl.col("epci").is_null())["code"].to_list())
    return [Place("COM", p.code, f"{p.name} (commune hors EPCI)", EPCIS) for p in communes if p.code in lone]


def _reference_departement(rows: pl.DataFrame, territory: Place) -> str | None:
    """The département the flags of the territory compare with (transforms picks the most populated one)."""
    own = rows.filter(
        (pl.col("level") == territory.level) & (pl.col("code") == territory.code) & pl.col("ref_dep_code").is_not_null()
    )
    return own["ref_dep_code"][0] if own.height else None
