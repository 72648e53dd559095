"""The source note under a trend chart says which years of the territory are unknown and why, each run of
consecutive years of one reason written once (issue 13: the note of a custom territory listed seven years one by
one, the same reason each time, over four printed lines)."""

from __future__ import annotations

from reports.sections.trends import _gaps
from transforms import reasons as R


def _rows(*cells: tuple[int, float | None, str | None]) -> list[dict]:
    return [{"year": y, "value": v, "status": s} for y, v, s in cells]


def test_consecutive_years_of_one_reason_are_a_span():
    rows = _rows(*((y, None, R.NOT_AGGREGABLE) for y in range(2017, 2024)))
    assert _gaps(rows, "Seize communes") == (
        ". Valeur inconnue pour Seize communes : 2017 à 2023 (non agrégeable pour un regroupement de communes)"
    )


def test_a_known_year_or_another_reason_breaks_the_span():
    rows = _rows(
        (2019, None, R.SECRET),
        (2015, None, R.SECRET),  # out of order: the note follows the years
        (2016, None, R.SECRET),
        (2017, 12.0, None),
        (2018, None, R.SECRET),
        (2020, None, R.NOT_AVAILABLE),
        (2021, None, R.NOT_AVAILABLE),
        (2022, None, R.NOT_AVAILABLE),
    )
    # 2015-2016 secret, 2017 known, 2018-2019 secret, 2020-2022 not available
    assert _gaps(rows, "X") == (
        ". Valeur inconnue pour X : 2015 et 2016 (secret statistique), 2018 et 2019 (secret statistique), "
        "2020 à 2022 (non disponible)"
    )


def test_a_single_year_and_no_gap():
    assert _gaps(_rows((2015, None, R.SECRET), (2016, 3.0, None)), "X") == (
        ". Valeur inconnue pour X : 2015 (secret statistique)"
    )
    assert _gaps(_rows((2016, 3.0, None)), "X") == ""
