"""The « matrice des besoins »: for each commune (and the territory), how many indicators of each theme carry a
vigilance or a priorité flag, so partners see at a glance where needs concentrate."""

from __future__ import annotations

import polars as pl

from transforms.compare import PRIORITY, VIGILANCE
from transforms.registry import THEMES


def needs_matrix(rows: pl.DataFrame, places: list[tuple[str, str]]) -> pl.DataFrame:
    """One row per (level, code) of `places` and theme: `vigilance`, `priorite` and `flaggable` counts.

    `rows` is the long indicator table (level, code, theme, direction, unit, flag). `flaggable` counts the
    indicators of the theme that can raise a flag at all (a need direction and a value that is not a count), so a
    reader sees "2 of 6". Places and themes keep the given order; a place without rows counts zero everywhere.
    """
    keys = pl.DataFrame(places, schema={"level": pl.String, "code": pl.String}, orient="row").with_row_index("_place")
    themes = pl.DataFrame({"theme": list(THEMES)}).with_row_index("_theme")
    counts = (
        rows.join(keys, on=["level", "code"], how="inner")
        .group_by("level", "code", "theme")
        .agg(
            vigilance=(pl.col("flag") == VIGILANCE).sum(),
            priorite=(pl.col("flag") == PRIORITY).sum(),
            flaggable=((pl.col("direction") != "neutral") & (pl.col("unit") != "count")).sum(),
        )
    )
    grid = keys.join(themes, how="cross").join(counts, on=["level", "code", "theme"], how="left")
    return (
        grid.with_columns(pl.col("vigilance", "priorite", "flaggable").fill_null(0).cast(pl.Int64))
        .sort("_place", "_theme")
        .drop("_place", "_theme")
    )


def score(vigilance: int, priorite: int) -> int:
    """Intensity class of a matrix cell, 0 to 3: a priorité weighs two vigilances."""
    points = vigilance + 2 * priorite
    if points == 0:
        return 0
    return 1 if points <= 2 else (2 if points <= 4 else 3)
