"""The source registry: every catalogue entry is staged by a module that declares it, with its report label and
demo generator; the code version covers what staging depends on, nothing else."""

from __future__ import annotations

import ast
import filecmp
import shutil
from pathlib import Path

import pytest

from sources import catalogue, registry
from sources.demo import MIRROR_ROOT
from sources.demo.build import build, main
from sources.refresh import code_digest, code_version

SOURCES_DIR = Path(registry.__file__).parent


def test_every_catalogue_entry_is_staged_by_the_module_that_declares_it():
    for entry in catalogue.entries():
        spec = registry.by_parser(entry.parser)
        assert entry.source in spec.ids, f"{entry.key}: parser {entry.parser} does not declare {entry.source}"
        assert callable(spec.stage) and spec.demo is not None
    declared = [i for spec in registry.SPECS for i in spec.ids]
    assert len(declared) == len(set(declared)), "a source id declared by two modules"
    assert set(declared) == set(catalogue.sources()), "a declared source without catalogue entry, or the reverse"
    assert len(registry.BY_PARSER) == len(registry.SPECS), "two modules declare the same parser name"


def test_an_unknown_parser_name_says_which_are_known():
    with pytest.raises(KeyError, match="no source module declares the parser 'no_such_source'; known: cog_communes"):
        registry.by_parser("no_such_source")


def test_the_report_labels_come_from_the_source_modules():
    assert registry.report_label("rp_population", 2022) == "Insee, recensement 2022"
    assert registry.report_label("rp_housing", None) == "Insee, recensement ?"
    assert registry.report_label("filosofi", 2021) == "Insee, Filosofi 2021"
    assert registry.report_label("births", 2023) == registry.report_label("deaths", 2023) == "Insee, état civil 2023"
    assert registry.report_label("caf_benefits", 2024) == "Cnaf, allocataires décembre 2024"
    # a family of published sources (transforms.registry.PUBLISHED_SOURCES) and its members
    assert (
        registry.report_label("caf_coverage", 2023)
        == registry.report_label("caf_places_epci", 2023)
        == ("Cnaf, ONAPE 2023")
    )
    assert registry.report_label("cog_communes", 2025) == "cog_communes"  # no label: its name


def test_no_module_is_loaded_by_its_name_as_a_string():
    for path in (SOURCES_DIR / "refresh.py", SOURCES_DIR / "registry.py", SOURCES_DIR / "demo" / "build.py"):
        assert "importlib" not in path.read_text(encoding="utf-8"), path


# -- the code version ------------------------------------------------------------------------------------------


def _sources_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "sources"
    shutil.copytree(SOURCES_DIR, copy, ignore=shutil.ignore_patterns("mirror", "__pycache__"))
    return copy


def test_the_code_version_is_the_digest_of_the_staging_files():
    assert code_version() == code_digest(registry.staging_files())
    names = {p.name for p in registry.staging_files()}
    assert {
        "bpe.py",
        "census.py",
        "cog.py",
        "filosofi.py",
        "etat_civil.py",
        "caf_benefits.py",
        "caf_childcare.py",
        "caf_common.py",
        "france_services.py",
        "validation.py",
        "staging.py",
        "geography.py",
        "values.py",
        "wide.py",
        "reading.py",
        "catalogue.py",
        "codes.py",
        "mobility.py",
        "contours.py",
        "iris_reference.py",
        "iris_census.py",
        "filosofi_iris.py",
        "qpv.py",
    } == names


@pytest.mark.parametrize(
    "edited, restages",
    [
        ("mirror.py", False),
        ("download.py", False),
        ("refresh.py", False),
        ("coverage.py", False),
        ("census.py", True),
        ("caf_common.py", True),
        ("validation.py", True),
        ("catalogue.py", True),
    ],
)
def test_editing_a_module_changes_the_code_version_only_if_staging_depends_on_it(tmp_path, edited, restages):
    copy = _sources_copy(tmp_path)
    before = code_digest(registry.staging_files(copy))
    with (copy / edited).open("a", encoding="utf-8") as f:
        f.write("\n# an edit\n")
    assert (code_digest(registry.staging_files(copy)) != before) is restages


def test_the_storage_package_is_not_in_the_code_version():
    storage = Path(__import__("storage").__file__).parent
    assert not any(p.is_relative_to(storage) for p in registry.staging_files())


def test_every_module_a_staging_file_imports_is_a_staging_file_too():
    """A parser starting to stage with a new helper module must add it to `registry.STAGING_HELPERS`."""
    staging = {p.stem for p in registry.staging_files()}
    not_shaping_tables = {"errors", "spec", "demo"}  # error texts, the declarations, the demo generators
    for path in registry.staging_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sources"):
                names = [node.module.split(".")[1]] if "." in node.module else [a.name for a in node.names]
                for name in names:
                    assert name in staging | not_shaping_tables, f"{path.name} imports sources.{name}"


# -- the demo mirror -------------------------------------------------------------------------------------------


def _differences(left: Path, right: Path) -> list[str]:
    compared = filecmp.dircmp(left, right)
    out = [f"only in one: {n}" for n in compared.left_only + compared.right_only]
    out += [n for n in compared.common_files if not filecmp.cmp(left / n, right / n, shallow=False)]
    for sub in compared.common_dirs:
        out += [f"{sub}/{d}" for d in _differences(left / sub, right / sub)]
    return out


def test_the_demo_mirror_rebuilt_from_the_source_modules_is_the_same_bytes(tmp_path):
    build(tmp_path / "mirror")
    assert _differences(tmp_path / "mirror", MIRROR_ROOT) == []


def test_the_demo_build_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(SystemExit, match="is not empty"):
        main([str(tmp_path)])
    assert (tmp_path / "keep.txt").exists()
