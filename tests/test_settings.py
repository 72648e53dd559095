"""The ABS_* settings: environment -> settings, the documented defaults, a bad value's message."""

from pathlib import Path

import pytest

from storage.settings import RETRY_BUDGET, load_settings

VARIABLES = ("ABS_DATA_DIR", "ABS_PUBLISH_DIR", "ABS_MIRROR", "ABS_RETRY_BUDGET")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_the_defaults_are_those_the_readme_documents():
    settings = load_settings()
    assert settings.data_dir == Path("data") and settings.publish_dir == Path("publication")
    assert settings.mirror is None and settings.retry_budget == RETRY_BUDGET == 300


def test_the_environment_sets_each_value(monkeypatch, tmp_path):
    monkeypatch.setenv("ABS_DATA_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("ABS_PUBLISH_DIR", str(tmp_path / "pub"))
    monkeypatch.setenv("ABS_MIRROR", "http://127.0.0.1:8000")
    monkeypatch.setenv("ABS_RETRY_BUDGET", " 12.5 ")
    settings = load_settings()
    assert settings.data_dir == tmp_path / "store" and settings.publish_dir == tmp_path / "pub"
    assert settings.mirror == "http://127.0.0.1:8000" and settings.retry_budget == 12.5


def test_an_empty_retry_budget_is_the_default(monkeypatch):
    monkeypatch.setenv("ABS_RETRY_BUDGET", "  ")
    assert load_settings().retry_budget == RETRY_BUDGET


@pytest.mark.parametrize(
    "value, message",
    [
        ("abc", "ABS_RETRY_BUDGET must be a number of seconds, not 'abc'"),
        ("-1", "ABS_RETRY_BUDGET must be a number of seconds >= 0, not '-1'"),
    ],
)
def test_a_bad_retry_budget_is_one_error_naming_the_variable(monkeypatch, value, message):
    monkeypatch.setenv("ABS_RETRY_BUDGET", value)
    with pytest.raises(ValueError) as info:
        load_settings()
    assert str(info.value) == message  # one line, not pydantic's report


def test_the_store_and_the_publication_default_to_the_settings(monkeypatch, tmp_path):
    from storage.publication import Publication
    from storage.store import Store

    monkeypatch.setenv("ABS_DATA_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("ABS_PUBLISH_DIR", str(tmp_path / "pub"))
    assert Store().root == (tmp_path / "store").resolve()
    assert Publication(None, "x").root == (tmp_path / "pub").resolve()


def test_a_flow_s_parameters_win_over_the_environment(monkeypatch, tmp_path):
    from flows.common import flow_settings

    monkeypatch.setenv("ABS_DATA_DIR", str(tmp_path / "env-store"))
    monkeypatch.setenv("ABS_MIRROR", "http://127.0.0.1:1")
    given = flow_settings(str(tmp_path / "store"), None, "")  # an empty mirror: none, not the environment's
    assert given.data_dir == tmp_path / "store" and given.publish_dir == Path("publication") and given.mirror == ""
    assert flow_settings(None, None, None).mirror == "http://127.0.0.1:1"


def test_the_network_timeouts_are_settings(monkeypatch):
    from sources.download import make_session

    monkeypatch.setenv("ABS_CONNECT_TIMEOUT", "4")
    monkeypatch.setenv("ABS_READ_TIMEOUT", "30.5")
    monkeypatch.setenv("ABS_PREFLIGHT_TIMEOUT", "1")
    settings = load_settings()
    assert (settings.connect_timeout, settings.read_timeout, settings.preflight_timeout) == (4.0, 30.5, 1.0)
    assert make_session().retry_policy.timeouts == (4.0, 30.5)
    monkeypatch.setenv("ABS_READ_TIMEOUT", "0")
    with pytest.raises(ValueError, match="ABS_READ_TIMEOUT"):
        load_settings()


def test_a_variable_s_name_is_read_in_any_case_and_others_are_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("abs_data_dir", str(tmp_path / "lower"))
    monkeypatch.setenv("Abs_Publish_Dir", str(tmp_path / "mixed"))
    monkeypatch.setenv("ABS_NOT_A_SETTING", "1")  # another tool's variable: not an error
    settings = load_settings()
    assert settings.data_dir == tmp_path / "lower" and settings.publish_dir == tmp_path / "mixed"


def test_a_set_but_empty_mirror_is_kept_empty(monkeypatch):
    monkeypatch.setenv("ABS_MIRROR", "")  # the downloader reads "" as no mirror, as an unset variable
    assert load_settings().mirror == ""


def test_every_bad_value_is_named_in_one_line(monkeypatch):
    monkeypatch.setenv("ABS_STAGING_MEMORY_MB", "1.5")
    monkeypatch.setenv("ABS_CONNECT_TIMEOUT", "-1")
    with pytest.raises(ValueError) as info:
        load_settings()
    assert str(info.value) == (
        "ABS_CONNECT_TIMEOUT: Input should be greater than 0; "
        "ABS_STAGING_MEMORY_MB: Input should be a valid integer, unable to parse string as an integer"
    )
