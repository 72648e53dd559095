"""Staged rows written by hand for the tests of staging steps that read them (harmonise, the wide staging)."""

from __future__ import annotations

import polars as pl

from sources.values import STAGED_SCHEMA


def staged_rows(rows: list[tuple]) -> pl.DataFrame:
    """Staged rows (source, vintage, level, code, year, month, variable, value, status, geo_change) with the `cog`
    column `Geography.harmonise` reads last."""
    return pl.DataFrame(rows, schema={**STAGED_SCHEMA, "cog": pl.Int32}, orient="row")
