"""INSEE home-work commuting flows (`base-flux-mobilite-domicile-lieu-travail-YYYY`): where employed residents work.

The zip holds one long origin-destination CSV, `;`, UTF-8, decimal point (supply-space-time-sources §6.1):

    CODGEO;LIBGEO;DCLT;L_DCLT;NBFLUX_C22_ACTOCC15P

one row per (commune of residence, place of work) with the estimated number of employed residents aged 15 or more.
The year sits in the measure's name (`NBFLUX_C19_ACTOCC15P` in 2019): read from the header, never assumed.

Quirks handled:
- Paris, Lyon and Marseille are coded by arrondissement on both sides: residents are staged per arrondissement
  (level ARM) and summed into their city's commune row (decisions.md "Arrondissements"); a place of work in an
  arrondissement is a place of work in the city (a resident of Paris 15e working in Paris 8e works in his commune).
- Places of work abroad have codes such as `BE540`, `SU112`, `LU320`; `ZZZZZ` is an undetermined place: it counts
  in the employed residents but in no share of them (they are computed over the known places of work).
- The file is in the COG of its release (RP 2022: COG 2025, like the census); places of work are brought to the
  target COG with the residences (a merged commune's flows go to the new commune).

Two staged tables come from the same file, one per catalogue entry (`params.table`), which reads it once for both
(`SharedRead`):
- `summary`: per commune and arrondissement of residence, the counts the indicators read:
  ACTOCC (employed residents), ACTOCC_LIEU_CONNU (place of work known), ACTOCC_MEME_COM (working in their own
  commune), ACTOCC_HORS_EPCI (working outside the EPCI of their commune, abroad included; for a commune in no
  EPCI, outside the commune), ACTOCC_ETRANGER (working abroad);
- `destinations`: per commune of residence (cities whole), the flow to each place of work outside the commune, the
  variable being the place of work's commune code in the target COG, or ETRANGER (abroad).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import NoReturn

import numpy as np
import polars as pl

from sources import catalogue
from sources.caf_common import add_city_sums, city_of
from sources.catalogue import Entry
from sources.codes import CODE_PATTERNS
from sources.demo import gen_mobility
from sources.errors import Failure, ParseError, SourceValidationError
from sources.geography import Geography
from sources.reading import read_csv_file
from sources.spec import SourceSpec
from sources.staging import Staged, conclude
from sources.validation import KINDS, YEARS, Rules, _code_pattern_check, known_codes_check, missing_columns
from sources.values import runs
from sources.wide import STATUS, long_in_key_order, row_cog, screen, with_rows_in_place

MEASURE = re.compile(r"^NBFLUX_C(\d{2})_ACTOCC15P$")
FOREIGN = r"^[A-Z]{2}\d{3}$"  # a place of work abroad: country letters and a number (BE540, SU112, LU320)
UNDETERMINED = "ZZZZZ"
ABROAD = "ETRANGER"
SUMMARY_INDEX = ["level", "code", "year", "month"]
SUMMARY_VARIABLES = ("ACTOCC", "ACTOCC_LIEU_CONNU", "ACTOCC_MEME_COM", "ACTOCC_HORS_EPCI", "ACTOCC_ETRANGER")
# each part sums some of the flows its whole sums (decimal estimates: a float tolerance)
PARTS = {
    "ACTOCC": ("ACTOCC_LIEU_CONNU",),
    "ACTOCC_LIEU_CONNU": ("ACTOCC_MEME_COM", "ACTOCC_HORS_EPCI"),
    "ACTOCC_HORS_EPCI": ("ACTOCC_ETRANGER",),
}
PART_TOLERANCE = 0.01


def stage(entry: Entry, files: dict[str, Path], geo: Geography | None) -> Staged:
    spec, path = entry.file(), files["main"]
    file, raw_path = spec.member or spec.name, str(path)
    table = "destinations" if entry.params.get("table") == "destinations" else "summary"
    required = entry.columns().required
    key = (hashlib.sha256(path.read_bytes()).digest(), spec, required)
    read = READS.get(key, table, lambda: _read(entry, path, file, raw_path))
    flows, year = read.flows, read.year
    if geo is not None:
        flows = _to_target(flows, geo, entry.cog or geo.target)
    notes = list(read.notes)
    keys = {"year": pl.lit(year, pl.Int32), "month": pl.lit(None, pl.Int8), "status": pl.lit(None, pl.String)}
    presorted, screened = table == "destinations", False
    if presorted:
        destinations, variables = _destinations(flows)
        long = destinations.with_columns(**keys)
        # one variable per place of work, each a count
        rules = Rules(kinds=dict.fromkeys(variables, "count"), levels=("COM",), code_column="CODGEO")
        screened = _destinations_screened(destinations, year, rules, entry, geo)
    else:
        rules = Rules(
            kinds=dict.fromkeys(SUMMARY_VARIABLES, "count"),
            levels=("COM", "ARM"),
            code_column="CODGEO",
            parts=PARTS,
            part_tolerance=PART_TOLERANCE,
        )
        wide = _summary(flows, _epci_of(geo), year)
        in_order = long_in_key_order(wide, SUMMARY_INDEX, sorted(SUMMARY_VARIABLES))
        long, city_notes = add_city_sums(in_order, set(SUMMARY_VARIABLES), file=file, rounded=False)
        notes += city_notes
        # the residences' rows screened wide, the cities' rows summed from their arrondissements screened and put in
        # place; else `conclude` sorts and validates
        if _summary_screened(wide, rules, entry, geo):
            placed = with_rows_in_place(long, in_order.height, entry, rules, geo)
            if placed is not None:
                long, presorted, screened = placed, True, True
    return conclude(
        long, entry, rules, geo, file=file, raw_path=raw_path, notes=notes, presorted=presorted, screened=screened
    )


@dataclass(frozen=True)
class Read:
    """A file's flows as read and checked (`_flows`), the census year of its measure, and the notes on its flows
    (both tables give them, computed once)."""

    flows: Flows
    year: int
    notes: tuple[str, ...]


def _read(entry: Entry, path: Path, file: str, raw_path: str) -> Read:
    raw = read_csv_file(path, entry.file(), source=entry.source)
    measure, year = _measure(raw.columns, entry, file)
    missing_columns(raw.columns, entry.columns().required, source=entry.source, file=file, raw_path=raw_path)
    flows = _flows(raw, measure, entry, file, raw_path)
    residences = flows.homes["home"].n_unique()
    notes = (f"RP {year}: {raw.height} flows of {residences} communes and arrondissements of residence",)
    return Read(flows, year, notes + _dropped_notes(flows))


TABLES = frozenset({"summary", "destinations"})


class SharedRead:
    """A file's flows read once for its two tables (`TABLES`: two catalogue entries of one download, which a
    refresh stages at once): the first table to come reads them, the other waits for them rather than reading the
    million flows of France again (0.4 s of CPU), and once both have taken them they are let go. Keyed by the
    file's bytes and how it is read: a file changed is read anew; one file kept at most. A read that fails keeps
    nothing: each table reads again and its own error names its entry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._read: Read | None = None
        self._waiting: set[str] = set()

    def get(self, key: tuple, table: str, read: Callable[[], Read]) -> Read:
        with self._lock:  # held while reading: the other table waits for this read
            if key != self._key or self._read is None:
                self._key, self._read = key, read()
                self._waiting = set(TABLES - {table})
            else:
                self._waiting.discard(table)
            found = self._read
            if not self._waiting:
                self._key, self._read = None, None
            return found


READS = SharedRead()


def _summary_screened(wide: pl.DataFrame, rules: Rules, entry: Entry, geo: Geography | None) -> bool:
    """Every rule holds on the summary's long rows, judged on its wide frame (`wide.screen`: one row per residence,
    its five counts side by side), as `wide.screened_long` does for a wide file: `conclude` need not validate them
    again (else it does, and pandera's error names the file, column, rule and rows). Screening the long rows in key
    order cost 26-30 ms of CPU for France."""
    known = None
    if geo is not None:
        cogs = wide.select(row_cog(entry).unique()).to_series().drop_nulls().to_list()
        known = known_codes_check(geo.known_codes(set(cogs)))
    return screen(wide, rules, list(SUMMARY_VARIABLES), known, cog=row_cog(entry))


def _destinations_screened(
    destinations: pl.DataFrame, year: int, rules: Rules, entry: Entry, geo: Geography | None
) -> bool:
    """Every rule of `validation.passes` holds on the destinations (`_destinations`), each judged where
    it can fail: by construction the level (COM) and the year are one each, the month and the status null, the
    variables those of the rules, one kind, and the key unique (one row per run of the flows' sorted (code,
    variable) ranks); each value is judged (finite, within its kind's bounds and the level's plausible maximum),
    each code of residence once per run (its level's pattern, known to the entry's COG). Reading the 950,000 rows'
    variables against the 35,000 of the rules, three times, was most of the 67 ms of CPU of that screen for France.
    False: `conclude` validates the rows, and pandera's error names them."""
    kinds = set(rules.kinds.values())
    if len(kinds) != 1 or rules.levels != ("COM",) or not YEARS[0] <= year <= YEARS[1]:
        return False
    (kind,) = kinds
    low, high = KINDS[kind][:2]
    most = catalogue.plausible_max().get(kind, {}).get("COM", float("inf"))
    value = pl.col("value")
    holds = value.is_finite() & (value <= most)
    if low is not None:
        holds = holds & (value >= low)
    if high is not None:
        holds = holds & (value <= high)
    aggregates = [pl.col(name).is_not_null().all() for name in ("code", "variable")]
    if not all(destinations.select(*aggregates, (value.is_null() | holds).all().alias("value")).row(0)):
        return False
    cog = pl.DataFrame({"year": [year]}).select(row_cog(entry)).item()
    places = runs(destinations, ["code"])[1].with_columns(level=pl.lit("COM"), cog=pl.lit(cog, pl.Int32))
    code_checks = [_code_pattern_check(rules.levels)]
    if geo is not None:
        code_checks.append(known_codes_check(geo.known_codes({cog})))
    return all(places.select(*[check.holds().alias(f"rule_{i}") for i, check in enumerate(code_checks)]).row(0))


def _measure(columns: list[str], entry: Entry, file: str) -> tuple[str, int]:
    """The flow column and its census year, from the header (`NBFLUX_C22_ACTOCC15P` -> 2022)."""
    found = [c for c in columns if MEASURE.match(c)]
    if len(found) != 1:
        raise ParseError(
            entry.source,
            file,
            f"expected one column NBFLUX_CYY_ACTOCC15P in the header, found "
            f"{found or 'none'}; header: {', '.join(columns[:8])}",
        )
    match = MEASURE.match(found[0])
    assert match is not None
    return found[0], 2000 + int(match.group(1))


@dataclass(frozen=True)
class Flows:
    """The file's flows with each place read once, not once per flow (a million flows, some 35,000 places: reading,
    comparing and joining each row's codes as text was most of the staging's CPU): the places of residence, one row
    per run of the file's rows (`homes`: home, home_city), the places of work, one row per distinct code (`works`:
    work, abroad, work_city), and per flow its row of `homes` (`home_of`), of `works` (`work_of`) and its number
    of employed residents (`flow`)."""

    homes: pl.DataFrame
    works: pl.DataFrame
    home_of: pl.Series
    work_of: pl.Series
    flow: pl.Series

    def of_homes(self, *columns: str | pl.Expr | pl.Series) -> list[pl.Series]:
        """`columns` of `homes` (names, expressions of them or one value per row), one value per flow."""
        return [self.homes.select(c).to_series().gather(self.home_of) for c in columns]

    def of_works(self, *columns: str | pl.Expr | pl.Series) -> list[pl.Series]:
        """`columns` of `works` (names, expressions of them or one value per row), one value per flow."""
        return [self.works.select(c).to_series().gather(self.work_of) for c in columns]

    @cached_property
    def cities(self) -> Cities:
        """The places' cities, ranked once for both tables (they share the flows: `SharedRead`; 16 ms of CPU for
        France's 70,000 places)."""
        names = _distinct(self.homes["home_city"], self.works["work_city"])
        return Cities(names, _ids(self.homes["home_city"], names), _ids(self.works["work_city"], names))


@dataclass(frozen=True)
class Cities:
    """The cities of the places of `Flows`, sorted (`names`), and the rank among them of each row's city in `homes`
    (`of_homes`) and `works` (`of_works`)."""

    names: pl.Series
    of_homes: pl.Series
    of_works: pl.Series


def _flows(raw: pl.DataFrame, measure: str, entry: Entry, file: str, raw_path: str) -> Flows:
    """The flows of the file (`Flows`; home_city and work_city: `_city`, abroad: a place of work abroad), the rules
    checked on the file's own rows: a residence once per run of its rows (the file lists them together), a place of
    work once per distinct code, each flow's number."""
    home_of, homes = runs(raw, ["CODGEO"])
    homes = homes.select(home=pl.col("CODGEO").str.strip_chars()).with_columns(home_city=_city(pl.col("home")))
    works = raw.select(pl.col("DCLT").unique()).with_columns(work=pl.col("DCLT").str.strip_chars())
    works = works.with_columns(abroad=pl.col("work").str.contains(FOREIGN), work_city=_city(pl.col("work")))
    work_of = _positions(raw.get_column("DCLT"), works.get_column("DCLT"))
    flows = Flows(homes, works.drop("DCLT"), home_of, work_of, _numbers(raw.get_column(measure)).alias("flow"))
    place = f"{CODE_PATTERNS['COM'][:-1]}|{CODE_PATTERNS['ARM'][1:]}"  # a commune or an arrondissement
    bad_home = ~pl.col("home").str.contains(place)
    bad_work = ~(pl.col("work").str.contains(place) | pl.col("abroad") | (pl.col("work") == UNDETERMINED))
    bad_flow = pl.col("flow").is_null() | ~pl.col("flow").is_finite() | (pl.col("flow") < 0)
    checks = [
        ("CODGEO", "a commune or arrondissement code (01001, 2A004, 75115)", bad_home),
        ("DCLT", "a commune, arrondissement, foreign (BE540) or undetermined (ZZZZZ) place of work", bad_work),
        (measure, "a number >= 0 (decimal point or comma)", bad_flow),
    ]
    # each rule read where its column is: the runs of residences, the distinct places of work, the flows
    judged = zip((homes, works, flows.flow.to_frame()), checks)
    if any(frame.select(bad.fill_null(True).any()).item() for frame, (_, _, bad) in judged):
        _refuse(flows, raw.get_column(measure), checks, entry, file, raw_path)
    return flows


def _positions(values: pl.Series, distinct: pl.Series) -> pl.Series:
    """The position of each of `values` among `distinct` (its distinct values, null among them or not): an Enum of
    them, its physical integers (a join of the million places of work to their table cost twice the CPU)."""
    ids = values.cast(pl.Enum(distinct.drop_nulls())).to_physical()
    if not values.has_nulls():
        return ids
    # a null has no category: its place is the position of the null among `distinct`
    nulls = distinct.is_null().arg_true()
    return ids.cast(pl.UInt32).fill_null(nulls.item())


def _refuse(
    flows: Flows, text: pl.Series, checks: list[tuple[str, str, pl.Expr]], entry: Entry, file: str, raw_path: str
) -> NoReturn:
    """The error naming each failing rule with the file's rows that fail it, as read (the text of the flow
    stripped)."""
    frame = pl.DataFrame([*flows.of_homes(*flows.homes.columns), *flows.of_works(*flows.works.columns), flows.flow])
    frame = frame.with_columns(text=text.str.strip_chars())
    failures = []
    for column, rule, bad in checks:
        rows = frame.filter(bad.fill_null(True))
        if rows.height:
            samples = [f"{h} -> {w} = {t!r}" for h, w, t in rows.select("home", "work", "text").head(5).rows()]
            failures.append(Failure(column, rule, rows.height, samples))
    raise SourceValidationError(entry.source, file, failures, raw_path)


def _numbers(text: pl.Series) -> pl.Series:
    """The flows as numbers, a decimal comma read as a point. A column whose every text casts as it is (a null
    number only where the text is null) is cast and no more: neither stripped nor its commas replaced (a number
    with spaces around, or a decimal comma, does not cast: such a column takes the general way)."""
    number = text.cast(pl.Float64, strict=False)
    if number.null_count() == text.null_count():
        return number
    return text.str.strip_chars().str.replace(",", ".", literal=True).cast(pl.Float64, strict=False)


def _city(code: pl.Expr) -> pl.Expr:
    """The commune of a place: an arrondissement's city, any other code itself."""
    return pl.when(code.str.contains(CODE_PATTERNS["ARM"])).then(city_of(code)).otherwise(code)


def _to_target(flows: Flows, geo: Geography, cog: int) -> Flows:
    """Places of work (and the residence's city) in the target COG: a merged commune is its new commune; a split
    parent stays the parent (its first target code), as everywhere else in the pipeline."""
    if cog == geo.target:
        return flows
    passage = {old: targets[0] for old, targets in geo.passage(cog).items() if targets[0] != old}
    return replace(
        flows,
        homes=flows.homes.with_columns(home_city=pl.col("home_city").replace(passage)),
        works=flows.works.with_columns(work_city=pl.col("work_city").replace(passage)),
    )


def _epci_of(geo: Geography | None) -> pl.DataFrame:
    """code, epci: the commune's EPCI in the target COG (communes in no EPCI left out; none without a geography)."""
    if geo is None:
        return pl.DataFrame(schema={"code": pl.String, "epci": pl.String})
    return geo.membership().filter(pl.col("epci").is_not_null()).select("code", "epci")


def _distinct(*columns: pl.Series) -> pl.Series:
    """The distinct texts of `columns`, nulls left out, sorted: the categories of `_ids`. One column already so (the
    residences of a file sorted by them) is its own (3.7 ms of CPU for France's residences)."""
    if len(columns) == 1 and _strictly_increasing(columns[0]):
        return columns[0]
    return pl.concat(columns).drop_nulls().unique().sort()


def _strictly_increasing(texts: pl.Series) -> bool:
    """Every text set and above the one before."""
    before = texts.slice(0, max(texts.len() - 1, 0))
    return not texts.has_nulls() and bool((texts.slice(1) > before).all())


def _ids(values: pl.Series, categories: pl.Series) -> pl.Series:
    """The position of each of `values` among `categories` (`_distinct`, which holds them all; null stays null):
    codes compared, grouped and sorted as integers, in the order of their texts."""
    return values.cast(pl.Enum(categories)).to_physical()


def _summary(flows: Flows, epci_of: pl.DataFrame, year: int) -> pl.DataFrame:
    """The five counts per place of residence as published (ARM rows for the three cities), one row per residence
    (`SUMMARY_INDEX`, the counts and their statuses) in key order (the long rows built so, not sorted:
    `wide.long_in_key_order`). The places' codes, cities and EPCIs are compared per flow as integers
    (`_ids`: France's million flows joined and compared as text took twice the CPU)."""
    homes, works = _with_epci(flows.homes, epci_of, "home"), _with_epci(flows.works, epci_of, "work")
    codes, cities, epcis = _distinct(homes["home"]), flows.cities, _distinct(epci_of["epci"])
    per_flow = pl.DataFrame(
        [
            *flows.of_homes(
                _ids(homes["home"], codes), cities.of_homes.alias("home_city"), _ids(homes["home_epci"], epcis)
            ),
            *flows.of_works(
                pl.col("work").ne(UNDETERMINED).alias("known"),
                "abroad",
                cities.of_works.alias("work_city"),
                _ids(works["work_epci"], epcis),
            ),
            flows.flow,
        ]
    )
    known, abroad = pl.col("known"), pl.col("abroad")
    home_epci, work_epci = pl.col("home_epci"), pl.col("work_epci")
    same = pl.col("work_city") == pl.col("home_city")
    # outside its EPCI: abroad, in another EPCI or in no EPCI; a commune in no EPCI is its own unit
    outside = known & (
        abroad | pl.when(home_epci.is_null()).then(~same).otherwise(work_epci.is_null() | (work_epci != home_epci))
    )
    sums = per_flow.group_by("home").agg(
        ACTOCC=pl.col("flow").sum(),
        ACTOCC_LIEU_CONNU=pl.col("flow").filter(known).sum(),
        ACTOCC_MEME_COM=pl.col("flow").filter(known & same).sum(),
        ACTOCC_HORS_EPCI=pl.col("flow").filter(outside).sum(),
        ACTOCC_ETRANGER=pl.col("flow").filter(abroad).sum(),
    )
    # in key order, sorted as integers: the arrondissements (ARM) before the communes (COM), each by its code's
    # rank among the sorted codes (sorting the texts of the level and code cost 4 ms more)
    arm = codes.str.contains(CODE_PATTERNS["ARM"]).gather(sums["home"])
    sums = sums.with_columns(_arm=arm).sort("_arm", "home", descending=[True, False])
    level = pl.when("_arm").then(pl.lit("ARM")).otherwise(pl.lit("COM"))
    code = codes.gather(sums["home"])
    index = {"level": level, "code": pl.lit(code), "year": pl.lit(year, pl.Int32), "month": pl.lit(None, pl.Int8)}
    no_status = [pl.lit(None, pl.String).alias(STATUS.format(v)) for v in SUMMARY_VARIABLES]
    return sums.select(*[e.alias(k) for k, e in index.items()], *SUMMARY_VARIABLES, *no_status)


def _with_epci(places: pl.DataFrame, epci_of: pl.DataFrame, place: str) -> pl.DataFrame:
    """`places` with `{place}_epci`, the EPCI of its `{place}_city` (null: in no EPCI), its rows in their order."""
    epci = epci_of.rename({"code": f"{place}_city", "epci": f"{place}_epci"})
    return places.join(epci, on=f"{place}_city", how="left", maintain_order="left", validate="m:1")


def _destinations(flows: Flows) -> tuple[pl.DataFrame, list[str]]:
    """Per commune of residence (cities whole): the flow to each place of work outside it (abroad as ETRANGER),
    in key order (code, variable: the level and year are one); and the variables, sorted."""
    works = flows.works
    place = works.select(pl.when("abroad").then(pl.lit(ABROAD)).otherwise("work_city")).to_series()
    cities, variables = flows.cities, _distinct(place)
    per_flow = pl.DataFrame(
        [
            *flows.of_homes(cities.of_homes.alias("code")),
            *flows.of_works(
                pl.col("work").ne(UNDETERMINED).alias("known"),
                cities.of_works.alias("city"),
                _ids(place, variables).alias("variable"),
            ),
            flows.flow.alias("value"),
        ]
    )
    away = per_flow.filter(pl.col("known") & (pl.col("city") != pl.col("code"))).select("code", "variable", "value")
    # sorted stably by one integer per flow, the code's rank then the variable's (ranks among their sorted texts):
    # the file comes nearly sorted by residence and place of work, which numpy's stable sort takes in about 12 ms of
    # CPU for France (polars' sort by the two columns 20 ms)
    key = (away["code"].to_numpy().astype(np.uint64) << np.uint64(32)) | away["variable"].to_numpy()
    summed = _runs_summed(away[np.argsort(key, kind="stable")])
    long = summed.select(
        level=pl.lit("COM"),
        code=cities.names.gather(summed["code"]),
        variable=variables.gather(summed["variable"]),
        value="value",
    )
    # the variables present, in order: counted by rank (a hash of each row's: 20 against 2 ms)
    present = np.flatnonzero(np.bincount(summed["variable"].to_numpy(), minlength=len(variables)))
    return long, variables.gather(present).to_list()


def _runs_summed(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per (code, variable) of rows sorted by them, its value the sum of its run. Few runs have more than
    one row (the arrondissements of a city, places abroad): only those are grouped (in order, each summed in the
    order of its rows as a grouping of all would), the others pass as they are."""
    same_key = (pl.col("code") == pl.col("code").shift(1)) & (pl.col("variable") == pl.col("variable").shift(1))
    flagged = rows.with_columns(follows=same_key.fill_null(False))
    flagged = flagged.with_columns(in_run=pl.col("follows") | pl.col("follows").shift(-1).fill_null(False))
    runs = flagged.filter("in_run").group_by("code", "variable", maintain_order=True).agg(pl.col("value").sum())
    heads = flagged.filter(~pl.col("follows"))  # the first row of each run, in order: the runs' sums in order too
    value = heads["value"].scatter(heads["in_run"].arg_true(), runs["value"])
    return heads.select("code", "variable").with_columns(value=value)


def _dropped_notes(flows: Flows) -> tuple[str, ...]:
    is_undetermined, is_abroad = flows.of_works(pl.col("work") == UNDETERMINED, "abroad")
    undetermined, abroad = flows.flow.filter(is_undetermined).sum(), flows.flow.filter(is_abroad).sum()
    return (
        f"place of work undetermined (ZZZZZ): {undetermined:.0f} employed residents, in no share",
        f"place of work abroad: {abroad:.0f} employed residents",
    )


SOURCES = (
    SourceSpec(
        "mobility",
        ("mobility", "mobility_destinations"),
        stage,
        label="Insee, RP {year}, mobilités professionnelles (flux domicile-travail)",
        demo=gen_mobility.write,
    ),
)
