"""Why an indicator value is empty (or annotated), and how the report says it in French."""

from __future__ import annotations

from functools import cache

import polars as pl

from sources.values import MISSING, NON_RECALCULABLE, NOT_AVAILABLE, SECRET

NOT_SIGNIFICANT = "not_significant"  # denominator under the indicator's minimum
ZERO_DENOMINATOR = "zero_denominator"
NOT_AGGREGABLE = "non agrégeable"  # a published median or rate asked for a custom territory (decisions.md)
NOT_PUBLISHED = "not_published"  # the publisher has no figure at this level (CAF communes under 10,000)
EPCI_FALLBACK = "epci_fallback"  # a value shown, but it is the EPCI's (CAF coverage of a small commune)
NO_EPCI = "no_epci"
DEFINITION_CHANGE = "definition_change"  # no evolution: the definition changed between the two years
PARTIAL_COVERAGE = "partial_coverage"  # a value shown: France without the communes the source does not cover
PARTIAL_SECRET = "partial_secret"  # a rate shown: computed without its secret communes (transforms.partial)
CITY_ONLY = "city_only"  # an arrondissement: the source publishes the whole city only (transforms/arrondissements)

# When several parts of a value are unknown, the reason shown is the first of this list.
PRIORITY = [
    SECRET,
    NOT_AVAILABLE,
    NON_RECALCULABLE,
    MISSING,
    NOT_PUBLISHED,
    NO_EPCI,
    ZERO_DENOMINATOR,
    NOT_SIGNIFICANT,
    NOT_AGGREGABLE,
    DEFINITION_CHANGE,
    CITY_ONLY,
]

LABELS_FR = {
    SECRET: "secret statistique",
    NOT_AVAILABLE: "non disponible",
    MISSING: "donnée manquante",
    NON_RECALCULABLE: "non recalculable (changement de géographie communale)",
    NOT_SIGNIFICANT: "non significatif (effectif trop faible)",
    ZERO_DENOMINATOR: "sans objet (dénominateur nul)",
    NOT_AGGREGABLE: "non agrégeable pour un regroupement de communes",
    NOT_PUBLISHED: "non publié à ce niveau (communes de moins de 10 000 habitants pour la CAF)",
    EPCI_FALLBACK: "taux de l'EPCI (non publié pour la commune)",
    NO_EPCI: "commune hors EPCI",
    DEFINITION_CHANGE: "définition modifiée entre les deux recensements",
    PARTIAL_COVERAGE: "France hors communes non couvertes par la source (Mayotte notamment)",
    PARTIAL_SECRET: "calculé hors communes soumises au secret statistique",
    CITY_ONLY: "publié pour la ville entière seulement, pas par arrondissement",
}


_ORDER = PRIORITY + sorted(set(LABELS_FR) - set(PRIORITY))
RANKS = {s: i for i, s in enumerate(_ORDER)}  # reason -> rank (`rank`); ranks stand for reasons inside a computation
_ENUM = pl.Enum(_ORDER)


@cache
def ranked(reason: str) -> pl.Expr:
    """The rank of one reason, as a literal: made once per reason (a literal of a dtype builds a Series, about
    40 us: a third of building France's indicators' expressions)."""
    return pl.lit(RANKS[reason], pl.Int32)


def rank(status: pl.Expr) -> pl.Expr:
    """Element-wise position of a reason in PRIORITY (lower is shown first); null for a null status.

    Rank before a group_by and take the `min` in it: mapping strings inside the aggregation is evaluated group by
    group, which is what made France-sized aggregations slow.
    """
    # a null status (a published value) has no rank; a reason not in the list is "unknown" (`len(_ORDER)`). An enum
    # of the reasons (its physical value is the rank) looks strings up twice as fast as `replace_strict`
    known = status.cast(_ENUM, strict=False).to_physical().cast(pl.Int32)
    return pl.when(status.is_not_null()).then(pl.coalesce(known, pl.lit(len(_ORDER), pl.Int32)))


_BACK = {i: s for i, s in enumerate(_ORDER)} | {len(_ORDER): "unknown"}


def reason_of(rank: int) -> str:
    """The reason of one rank ("unknown" past the list)."""
    return _BACK[rank]


def reason(ranked: pl.Expr) -> pl.Expr:
    """The reason of a rank (element-wise), null for null."""
    return ranked.replace_strict(_BACK, return_dtype=pl.String)


def worst(status: pl.Expr) -> pl.Expr:
    """The highest-priority reason among `status` values (an aggregation), null when there is none."""
    return reason(rank(status).min())
