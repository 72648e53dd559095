"""The compiled templates kept between runs (reports.templating): reused, never stale, never in the way."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from jinja2 import DictLoader, Environment

from reports import templating

SOURCE = "{{ name | initiale }} : {{ n | nombre }}"
# initiale upper-cases the first letter only; the string is autoescaped; nombre groups digits by a narrow space
RENDERED = "Caf &amp; co : 12\u202f345"


def render(env: Environment, source: str = SOURCE) -> str:
    return templating.from_source(env, source).render(name="caf & co", n=12345)


@pytest.fixture
def compilations(monkeypatch) -> list[str]:
    """The sources Jinja compiles from now on."""
    sources: list[str] = []
    compile_ = Environment.compile

    def counted(self, source, *args, **kwargs):
        sources.append(source)
        return compile_(self, source, *args, **kwargs)

    monkeypatch.setattr(Environment, "compile", counted)
    return sources


def test_a_template_compiled_by_one_run_is_read_by_the_next(tmp_path, compilations):
    assert render(templating.new_environment(tmp_path)) == RENDERED
    assert compilations == [SOURCE]
    assert render(templating.new_environment(tmp_path)) == RENDERED  # a new environment: as in another process
    assert compilations == [SOURCE]


def test_without_a_folder_every_run_compiles(compilations):
    assert render(templating.new_environment(None)) == RENDERED
    assert render(templating.new_environment(None)) == RENDERED
    assert compilations == [SOURCE, SOURCE]


def test_an_edited_section_template_is_compiled_again(tmp_path, compilations):
    render(templating.new_environment(tmp_path))
    edited = SOURCE.replace(" : ", " = ")
    assert render(templating.new_environment(tmp_path), edited) == RENDERED.replace(" : ", " = ")
    assert compilations == [SOURCE, edited]


def test_an_edited_page_template_under_the_same_name_is_compiled_again(tmp_path, compilations):
    """A page template's entry is found by its name: the source's checksum inside tells it is stale."""
    for text in ("avant {{ x }}", "après {{ x }}"):
        env = templating.new_environment(tmp_path)
        env.loader = DictLoader({"page.html.j2": text})
        assert env.get_template("page.html.j2").render(x="<b>") == text.replace("{{ x }}", "&lt;b&gt;")
    assert compilations == ["avant {{ x }}", "après {{ x }}"]
    env = templating.new_environment(tmp_path)
    env.loader = DictLoader({"page.html.j2": "après {{ x }}"})
    assert env.get_template("page.html.j2").render(x="1") == "après 1"
    assert len(compilations) == 2


@pytest.mark.parametrize("kept", [0, 3, 20, 40, -8])
def test_a_damaged_entry_is_compiled_again(tmp_path, compilations, kept):
    render(templating.new_environment(tmp_path))
    (entry,) = tmp_path.iterdir()
    entry.write_bytes(entry.read_bytes()[:kept])  # cut short (the magic, the checksum, the code), as by a full disk
    assert render(templating.new_environment(tmp_path)) == RENDERED
    assert len(compilations) == 2


def test_a_folder_that_cannot_be_used_only_costs_the_compilation(tmp_path, compilations):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    assert render(templating.new_environment(not_a_folder)) == RENDERED
    assert render(templating.new_environment(not_a_folder)) == RENDERED
    assert len(compilations) == 2


def test_the_folder_is_in_the_users_cache_and_names_jinjas_version(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    folder = templating.bytecode_folder()
    assert folder is not None and folder.is_dir()
    assert folder.parent == tmp_path / "xdg" / "abs-diag"
    assert folder.name.startswith(f"jinja-{jinja2.__version__}-")
    monkeypatch.setattr(jinja2, "__version__", "99.0")
    assert templating.bytecode_folder() == tmp_path / "xdg" / "abs-diag" / f"jinja-99.0-{folder.name.split('-')[-1]}"


def test_a_relative_xdg_cache_home_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = templating.bytecode_folder()
    assert folder is not None and folder.parent == tmp_path / ".cache" / "abs-diag"


def test_no_usable_cache_folder_means_no_cache(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    assert templating.bytecode_folder() is None


def test_the_folder_changes_with_the_environments_options(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    before = templating.bytecode_folder()
    copy = tmp_path / "templating.py"
    copy.write_text(Path(templating.__file__).read_text().replace("trim_blocks=True", "trim_blocks=False"))
    monkeypatch.setattr(templating, "__file__", str(copy))
    after = templating.bytecode_folder()
    assert before is not None and after is not None and before != after
