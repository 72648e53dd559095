"""Filosofi's France-level member: chosen by the names the archive really holds (decisions.md "Filosofi").

Each test builds a small archive by hand in the real wide format (28 columns, `;`, decimal comma, `s` markers),
names its France member one way, serves it over real HTTP on 127.0.0.1 and stages what was downloaded.
"""

from __future__ import annotations

import io
import zipfile

import polars as pl
import pytest
from pytest_httpserver import HTTPServer

from sources import catalogue
from sources.catalogue import FileSpec
from sources.download import fetch, make_session
from sources.filosofi import stage
from sources.values import NOT_AVAILABLE

ENTRY = catalogue.get("filosofi", "2021")
HEADER = (
    "CODGEO;NBMENFISC21;NBPERSMENFISC21;MED21;PIMP21;TP6021;TP60AGE121;TP60AGE221;TP60AGE321;TP60AGE421;"
    "TP60AGE521;TP60AGE621;TP60TOL121;TP60TOL221;PACT21;PTSA21;PCHO21;PBEN21;PPEN21;PPAT21;PPSOC21;PPFAM21;"
    "PPMINI21;PPLOGT21;PIMPOT21;D121;D921;RD21"
)


def _row(code: str, households: int, persons: int, median: int, poverty: str) -> str:
    # a published row: counts, median, PIMP, the poverty rate, the age and tenure rates secret, shares, deciles
    return (
        f"{code};{households};{persons};{median};52,0;{poverty};s;s;s;s;s;s;s;s;"
        "72,0;64,0;2,5;5,0;30,0;9,0;4,0;1,4;1,4;1,2;-16,0;13000;40000;3,1"
    )


MEMBERS = {
    "cc_filosofi_2021_COM.csv": [_row("44043", 3296, 7398, 25170, "8,0"), _row("75101", 8294, 16587, 21720, "s")],
    "cc_filosofi_2021_EPCI.csv": [_row("200067346", 10441, 24706, 25220, "7,0")],
    "cc_filosofi_2021_DEP.csv": [_row("44", 620000, 1400000, 23500, "11,5")],
    "cc_filosofi_2021_REG.csv": [_row("52", 1665920, 3791650, 24460, "10,5")],
}


def _archive(france: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, rows in MEMBERS.items():
            zf.writestr(name, "\n".join([HEADER, *rows]) + "\n")
        for name, row in france.items():
            zf.writestr(name, f"{HEADER}\n{row}\n")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server():
    httpserver = HTTPServer(host="127.0.0.1", port=0)
    httpserver.start()
    yield httpserver
    httpserver.stop()


def _staged(server: HTTPServer, tmp_path, france: dict[str, str]):
    path = "/base-cc-filosofi-2021-geo2024_csv.zip"
    server.clear()
    server.expect_request(path).respond_with_data(_archive(france), content_type="application/zip")
    dest = tmp_path / "base-cc-filosofi-2021-geo2024_csv.zip"
    fetch(FileSpec(url=server.url_for(path), format="zip"), dest, session=make_session(retries=1, backoff=0.01))
    return stage(ENTRY, {"main": dest}, None)


def _france(frame: pl.DataFrame) -> dict[str, tuple[float | None, str | None]]:
    rows = frame.filter(pl.col("level") == "FRANCE")
    assert rows["code"].unique().to_list() == ["FR"]
    return {r["variable"]: (r["value"], r["status"]) for r in rows.iter_rows(named=True)}


@pytest.mark.parametrize(
    ("member", "code", "median", "poverty"),
    [
        ("cc_filosofi_2021_FE.csv", "FE", 23820, 14.5),  # "FE;29214560;64381930;23820;52,0;14,5;..."
        ("cc_filosofi_2021_FRANCE.csv", "FR", 23160, 14.9),  # "FR;...;23160;52,0;14,9;..."
        ("cc_filosofi_2021_METRO.csv", "METRO", 23990, 14.1),  # the 2016 edition's name: "METRO;...;23990;52,0;14,1"
    ],
)
def test_each_candidate_name_gives_france(server, tmp_path, member, code, median, poverty):
    poverty_text = str(poverty).replace(".", ",")
    staged = _staged(server, tmp_path, {member: _row(code, 29214560, 64381930, median, poverty_text)})
    france = _france(staged.frame)
    assert france["MED"] == (float(median), None)
    assert france["TP60"] == (poverty, None)
    assert france["NBMENFISC"] == (29214560.0, None)
    assert france["TP60AGE1"] == (None, "secret")  # `s` stays secret, never 0
    assert f"France-level member: {member}, chosen among " in " ".join(staged.notes)
    assert f"{member}: France row (published code '{code}') staged with code FR" in staged.notes


def test_france_entiere_wins_over_metropolitan_france(server, tmp_path):
    staged = _staged(
        server,
        tmp_path,
        {
            "cc_filosofi_2021_METRO.csv": _row("METRO", 28000000, 61000000, 23990, "14,1"),
            "cc_filosofi_2021_FE.csv": _row("FE", 29214560, 64381930, 23820, "14,5"),
        },
    )
    assert _france(staged.frame)["MED"] == (23820.0, None)
    assert any("also present, not used: cc_filosofi_2021_METRO.csv" in n for n in staged.notes)


def test_no_candidate_present_is_null_not_available_and_says_what_the_archive_holds(server, tmp_path):
    # a France member under a name no edition used is not guessed at: the note names it for the catalogue's keeper
    staged = _staged(server, tmp_path, {"cc_filosofi_2021_FX.csv": _row("FX", 29214560, 64381930, 23820, "14,5")})
    france = _france(staged.frame)
    assert len(france) == 27 and set(france.values()) == {(None, NOT_AVAILABLE)}
    note = next(n for n in staged.notes if n.startswith("no France-level member"))
    assert "tried cc_filosofi_2021_FE.csv, cc_filosofi_2021_FRANCE.csv, cc_filosofi_2021_METRO.csv" in note
    assert "cc_filosofi_2021_FX.csv" in note
    # the communes are staged all the same: 44043's median "25170"
    com = staged.frame.filter((pl.col("code") == "44043") & (pl.col("variable") == "MED"))
    assert com["value"].to_list() == [25170.0]
