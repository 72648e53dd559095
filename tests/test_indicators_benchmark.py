"""A small run of the France-sized benchmark's generator (benchmarks/france.py): the full run is not a test."""

from __future__ import annotations

import polars as pl

from benchmarks.france import BIG_COMMUNE, generate, run
from sources.values import SECRET
from transforms import reasons as R
from transforms.registry import indicators


def test_the_generator_feeds_every_indicator_at_every_level():
    out = run(n_communes=300, n_epci=12, n_dep=4)
    n = len(indicators())
    assert (out["communes"], out["epcis"], out["departements"]) == (300, 12, 4)
    # every commune, EPCI, département and France, once per indicator
    assert out["table_rows"] == (300 + 12 + 4 + 1) * n
    table = out["table"]
    # every variable the catalogue reads is generated: France has a value for every indicator
    france = table.filter(pl.col("level") == "FRANCE")
    assert france["value"].null_count() == 0 and france["status"].null_count() == n
    assert table.filter(pl.col("value").is_infinite()).is_empty()
    # EPCIs and départements have every figure; communes lack only what the publishers do not give them
    assert table.filter(pl.col("level").is_in(["EPCI", "DEP"]))["status"].null_count() == (12 + 4) * n
    reasons = set(table.filter(pl.col("level") == "COM")["status"].drop_nulls().to_list())
    assert reasons == {SECRET, R.EPCI_FALLBACK, R.NOT_PUBLISHED, R.NO_EPCI, R.NOT_SIGNIFICANT}  # tiny communes
    assert out["diagnostic_s"] > 0 and out["peak_rss_mib"] > 0


def test_the_generator_has_secrets_and_big_communes():
    inputs = generate(n_communes=300, n_epci=12, n_dep=4)
    filosofi = inputs.staged["filosofi"]
    assert filosofi.filter(pl.col("status") == SECRET).height > 0
    assert filosofi.filter((pl.col("variable") == "MED") & (pl.col("level") == "COM"))["value"].null_count() == 0
    big = inputs.staged["caf_coverage_com"]["code"].unique().to_list()
    assert 0 < len(big) < 300  # communes of 10,000 inhabitants or more only
    assert inputs.membership["epci"].null_count() == 4  # a few communes in no EPCI
    assert BIG_COMMUNE == 10_000
