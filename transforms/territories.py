"""Territories: the one model of a diagnostic's territory (validated once, where it enters: the command line or
a flow's parameters), and which communes make up each commune, EPCI, département, France and custom territory."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from sources.codes import CODE_PATTERNS, check_commune, check_departement, check_siren, city_of_arrondissement

if TYPE_CHECKING:  # polars is loaded where communes are grouped: a command refuses a malformed code without it
    import polars as pl

LEVELS = ("COM", "EPCI", "DEP", "FRANCE", "TERRITORY")
FRANCE = "FR"

# The pattern goes into the JSON schema (a deployment's server checks it when a run is created); the check (run
# first) gives the clear message, and for a SIREN checks its Luhn digit.
Siren = Annotated[
    str, Field(pattern=CODE_PATTERNS["EPCI"], description="SIREN of an EPCI"), BeforeValidator(check_siren)
]
CommuneCode = Annotated[
    str, Field(pattern=CODE_PATTERNS["COM"], description="INSEE code of a commune"), BeforeValidator(check_commune)
]
DepartementCode = Annotated[
    str, Field(pattern=CODE_PATTERNS["DEP"], description="code of a département"), BeforeValidator(check_departement)
]


@dataclass(frozen=True)
class CustomTerritory:
    """The TERRITORY level a computation adds for a named group of communes (`Territory.customs`)."""

    name: str
    communes: tuple[str, ...]
    code: str = "TERRITOIRE"


class Territory(BaseModel):
    """One diagnostic: an EPCI (CTG), a commune (the ABS of its CCAS), a named group of communes (a CTG perimeter
    that is not an EPCI, a bassin de vie...) or a département (the national run's reports).

    A malformed SIREN or code is refused when the model is made, with a message that names it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epci: Siren | None = Field(None, description="SIREN of the EPCI (CTG diagnostic)")
    commune: CommuneCode | None = Field(None, description="Code of one commune (the ABS of its CCAS)")
    communes: tuple[CommuneCode, ...] | None = Field(None, description="Communes of a custom territory (with `name`)")
    name: str | None = Field(None, description="Name of the custom territory")
    departement: DepartementCode | None = Field(None, description="Code of a département (national reports)")

    @field_validator("communes", mode="before")
    @classmethod
    def _split_and_check(cls, value: object) -> object:
        if isinstance(value, str):  # "44043,44064" from a command line or the Prefect UI
            value = [c for c in value.split(",") if c.strip()]
        if isinstance(value, (list, tuple)) and not value:
            raise ValueError("a custom territory needs at least one commune code")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Territory:
        given = [k for k in ("epci", "commune", "communes", "departement") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of epci, commune or communes ({'none' if not given else ', '.join(given)} given)"
            )
        if self.communes is not None and not (self.name or "").strip():
            raise ValueError("a custom territory (communes) needs a name")
        return self

    @classmethod
    def of_unit(cls, level: str, code: str) -> Territory:
        """An EPCI ("epci") or a département ("dep") read from the staged geography: its codes were validated
        when it was staged, so they are not checked again."""
        return cls.model_construct(epci=code) if level == "epci" else cls.model_construct(departement=code)

    @property
    def group(self) -> CustomTerritory | None:
        """The named group of communes, as the computation adds it (None for any other territory)."""
        return CustomTerritory(self.group_name.strip(), tuple(self.communes)) if self.communes is not None else None

    @property
    def customs(self) -> tuple[CustomTerritory, ...]:
        group = self.group
        return (group,) if group is not None else ()

    @property
    def group_name(self) -> str:
        """The name of a group of communes (validated present with its communes); "" for any other territory."""
        return self.name or ""

    @property
    def stem(self) -> str:
        """A file-name stem: `epci-200071678`, `commune-49099`, `departement-85`, `<slug of the name>`."""
        for level in ("epci", "commune", "departement"):
            if getattr(self, level) is not None:
                return f"{level}-{getattr(self, level)}"
        return slug(self.group_name)

    @property
    def label(self) -> str:
        if self.epci:
            return f"EPCI {self.epci}"
        if self.commune:
            return f"{'arrondissement' if self.arrondissement else 'commune'} {self.commune}"
        if self.departement:
            return f"département {self.departement}"
        return f"{self.name} ({len(self.communes or ())} communes)"

    def codes(self) -> dict[str, list[str]]:
        """The codes that must be in the target geography, by level (`sources.national.unknown_codes`)."""
        arrondissement = self.arrondissement
        communes = list(self.communes or ([self.commune] if self.commune and not arrondissement else []))
        return {
            "epcis": [self.epci] if self.epci else [],
            "communes": communes,
            "departements": [self.departement] if self.departement else [],
            "arrondissements": [self.commune] if arrondissement and self.commune else [],
        }

    @property
    def arrondissement(self) -> bool:
        """True for an arrondissement municipal of Paris, Lyon or Marseille given as `commune` (75101)."""
        return self.commune is not None and city_of_arrondissement(self.commune) is not None

    def publication_name(self) -> str:
        """`territoires/epci-<SIREN>`, `territoires/commune-<code>`, `territoires/departement-<code>`, or for a
        group of communes `territoires/groupe-<slug of its name>-<8 hex digits of the SHA-256 of its sorted
        codes>`: a group never takes the folder of an EPCI or a commune, nor of another group with the same name
        (or a name with no Latin letter)."""
        if self.communes is None:
            return f"territoires/{self.stem}"
        codes = ",".join(sorted(set(self.communes)))
        digest = hashlib.sha256(codes.encode()).hexdigest()[:8]
        return f"territoires/groupe-{slug(self.group_name)}-{digest}"


def slug(text: str) -> str:
    """`Vallée de l'Autise` -> `vallee-de-l-autise` (file names)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-") or "territoire"


def groups(membership: pl.DataFrame, customs: tuple[CustomTerritory, ...] = ()) -> pl.DataFrame:
    """(code, level, group) rows: every commune belongs to itself, its EPCI, its département and France.

    `membership` is Geography.membership(): code, name, dep, reg, epci (null when in no EPCI).
    """
    import polars as pl

    base = membership.select("code", "dep", "epci")
    parts = [
        base.select("code", level=pl.lit("COM"), group=pl.col("code")),
        base.filter(pl.col("epci").is_not_null()).select("code", level=pl.lit("EPCI"), group=pl.col("epci")),
        base.select("code", level=pl.lit("DEP"), group=pl.col("dep")),
        base.select("code", level=pl.lit("FRANCE"), group=pl.lit(FRANCE)),
    ]
    rows = pl.concat(parts)
    # a row repeats only where a commune is listed twice: France's 140,000 rows made unique cost 25 ms
    if membership["code"].n_unique() < membership.height:
        rows = rows.unique(maintain_order=True)
    if not customs:
        return rows
    known = set(membership["code"].to_list())
    territories = []
    for territory in customs:
        unknown = sorted(set(territory.communes) - known)
        if unknown:
            raise ValueError(f"{territory.name}: communes not in the target COG: {', '.join(unknown)}")
        territories.append(
            pl.DataFrame({"code": list(territory.communes)}).select(
                "code", level=pl.lit("TERRITORY"), group=pl.lit(territory.code)
            )
        )
    # the territories' rows (level TERRITORY) repeat none of the others
    return pl.concat([rows, pl.concat(territories).unique(maintain_order=True)])


def principal_department(membership: pl.DataFrame, population: pl.DataFrame) -> pl.DataFrame:
    """For each EPCI: the département holding most of its population (an EPCI may span several). `population`:
    (code, population), a commune listed once."""
    import polars as pl

    joined = _with_population(membership, population).filter(pl.col("epci").is_not_null())
    return (
        joined.group_by("epci", "dep")
        .agg(pop=pl.col("population").fill_null(0).sum())
        .sort(["epci", "pop", "dep"], descending=[False, True, False])
        .group_by("epci", maintain_order=True)
        .first()
        .select("epci", "dep")
    )


def _with_population(membership: pl.DataFrame, population: pl.DataFrame) -> pl.DataFrame:
    """`membership` with each commune's `population` (null where it has none): put beside it where `population`
    lists the same communes in the same order (France's table: 0.3 against 4-5 ms for the join on 34,941 codes),
    joined on the code otherwise."""
    if membership["code"].equals(population["code"]):
        return membership.with_columns(population["population"])
    return membership.join(population, on="code", how="left")
