"""The readers' own refusals: a file written with another separator than the catalogue's says so."""

from __future__ import annotations

import pytest

from sources.errors import ParseError
from sources.reading import read_csv_bytes


def test_a_file_written_with_commas_instead_of_semicolons_names_both_separators():
    data = b"CODGEO,P22_POP,P22_POPH\r\n01001,832,417\r\n"
    with pytest.raises(ParseError) as err:
        read_csv_bytes(data, ";", source="rp_population", name="base-cc-evol-struct-pop-2022.CSV")
    message = str(err.value)
    assert "base-cc-evol-struct-pop-2022.CSV" in message
    assert "the header is one column separated by ',', not by the expected separator ';'" in message


def test_a_tab_separated_file_is_named_as_such():
    with pytest.raises(ParseError, match="separated by tab, not by the expected separator ','"):
        read_csv_bytes(b"COM\tLIBELLE\tDEP\n01001\tL'Abergement\t01\n", ",", source="cog_communes", name="v.csv")


def test_a_genuine_one_column_file_is_read():
    frame = read_csv_bytes(b"CODGEO\n01001\n2A004\n", ";", source="x", name="x.csv")
    assert frame.columns == ["CODGEO"] and frame["CODGEO"].to_list() == ["01001", "2A004"]
