"""The `abs-diag` commands that run the flows locally (here on the session's Prefect test server)."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import sys

import pytest
from cli_support import report_args
from typer.testing import CliRunner

from flows.cli import app
from sources.mirror import serve
from storage.publication import Publication

pytestmark = pytest.mark.usefixtures("prefect_harness")

DEMO_EPCIS = {
    "200029940": "CC Vendée Sèvre Autise",
    "200046977": "Métropole de Lyon",
    "200054781": "Métropole du Grand Paris",
    "200067346": "CA Clisson Sèvre et Maine Agglo",
    "200069193": "CC de la Dombes",
    "200071678": "CA du Choletais",
    "242010056": "CA du Pays Ajaccien",
    "248500589": "CC du Pays de Saint-Fulgent - Les Essarts",
}


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_refresh_prints_the_summary_and_publishes_only_a_complete_store(tmp_path, demo_mirror):
    params = ("--mirror", demo_mirror.url, "--data-dir", str(tmp_path / "d"), "--out", str(tmp_path / "pub"))
    result = invoke("refresh", "--source", "births", *params)
    assert result.exit_code == 0, result.output
    assert "births" in result.output and "downloaded" in result.output and "staged" in result.output
    for source in ("cog_communes", "cog_events", "epci"):
        assert source in result.output  # the geography always comes along
    assert "Not published: " in result.output and "never staged in this store (cog_departements, " in result.output
    pub = Publication(tmp_path / "pub", "indicateurs")
    assert pub.latest is None

    result = invoke("refresh", *params)  # every source: births is unchanged, the others staged
    assert result.exit_code == 0, result.output
    assert f"published: {pub.latest}" in result.output

    result = invoke("refresh", *params)
    assert result.exit_code == 0, result.output
    assert "Nothing new: the current publication was computed from the tables staged now" in result.output
    assert "published:" not in result.output and len(pub.versions()) == 1


def test_refresh_fails_loudly_when_the_mirror_is_empty(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with serve(empty) as mirror:
        result = invoke(
            "refresh", "--mirror", mirror.url, "--data-dir", str(tmp_path / "d"), "--out", str(tmp_path / "pub")
        )
    assert result.exit_code == 1
    assert "HTTP 404" in result.output and "nothing published" in result.output
    assert Publication(tmp_path / "pub", "indicateurs").latest is None


def test_refresh_with_a_mirror_that_is_not_running_says_so_in_one_line_within_seconds(tmp_path):
    import socket
    import time

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    result = invoke(
        "refresh",
        "--mirror",
        f"http://127.0.0.1:{port}",
        "--data-dir",
        str(tmp_path / "d"),
        "--out",
        str(tmp_path / "pub"),
    )
    assert time.monotonic() - started < 5
    assert result.exit_code == 1
    assert result.output == (
        f"error: cannot reach the mirror 127.0.0.1:{port} (connection refused): is it running (abs-diag mirror)?\n"
    )
    assert not (tmp_path / "d").exists()  # nothing started, nothing written


@pytest.mark.parametrize(
    "args, message",
    [
        (["--epci", "20006734"], "an EPCI is named by its SIREN, 9 digits (200067346), not '20006734'"),
        (["--epci", "200067347"], "200067347 is not a valid SIREN: its check digit is wrong"),
        (["--communes", "44043,4406"], "a commune code has 5 characters (44043, 2A004), not '4406'"),
        (["--communes", "44043,44064"], "a custom territory (communes) needs a name"),
        ([], "give exactly one of epci, commune or communes (none given)"),
    ],
)
def test_report_refuses_a_malformed_territory_before_anything_runs(tmp_path, args, message):
    result = invoke("report", *args, "--data-dir", str(tmp_path / "d"), "--out", str(tmp_path / "pub"))
    assert result.exit_code == 2
    assert f"error: {message}" in result.output
    assert not (tmp_path / "d").exists() and not (tmp_path / "pub").exists()


def test_national_dask_without_the_dask_extra_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "prefect_dask", None)  # as if the `dask` extra were not installed
    result = invoke("national", "--dask", "--data-dir", str(tmp_path / "d"), "--out", str(tmp_path / "pub"))
    assert result.exit_code == 2
    assert result.output == "error: the Dask runner needs the optional `dask` extra: pip install 'abs-diag[dask]'\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["national", "--workers", "0"], "--workers: Input should be greater than or equal to 1"),
        (["national", "--dask", "--workers", "0"], "--workers: Input should be greater than or equal to 1"),
        (["national", "--batch-size", "0"], "--batch-size is 1 to 1000 territories per task, not 0"),
        (["national", "--epci", "20006734"], "an EPCI is named by its SIREN, 9 digits (200067346), not '20006734'"),
        (["national", "--departement", "4"], "a département code is 01 to 95, 2A, 2B or 971 to 976, not '4'"),
        (["national", "--departement", "44", "--no-departements"], "--departement and --no-departements exclude"),
        (["refresh", "--source", "foo"], "unknown source(s): foo (known: cog_communes, "),
        (["report", "--epci", "200067346", "--refresh", "sometimes"], "--refresh is missing, always or never"),
    ],
)
def test_a_wrong_option_exits_2_with_one_line_before_anything_runs(tmp_path, args, message):
    result = invoke(*args, "--data-dir", str(tmp_path / "d"), "--out", str(tmp_path / "pub"))
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {message}") and result.output.count("\n") == 1
    assert not (tmp_path / "d").exists() and not (tmp_path / "pub").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["report", "--commune", "99999"], "commune not in the target geography: 99999"),
        (["report", "--communes", "44043,99998", "--name", "Vignoble"], "commune not in the target geography: 99998"),
        (["national", "--epci", "200000172"], "EPCI not in the target geography: 200000172"),  # valid check digit
        (["report", "--epci", "200029940", "--similar", "200000172"], "EPCI not in the target geography: 200000172"),
        (["national", "--departement", "13"], "département not in the target geography: 13"),
    ],
)
def test_a_code_missing_from_the_store_geography_exits_2_before_anything_runs(demo_store, tmp_path, args, message):
    result = invoke(*args, "--data-dir", str(demo_store.root), "--out", str(tmp_path / "pub"))
    assert result.exit_code == 2, result.output
    assert result.output == f"error: {message}\n"
    assert not (tmp_path / "pub").exists()


def test_report_publishes_a_custom_territory(demo_store, tmp_path):
    result = invoke(
        "report",
        "--communes",
        "44043,44064,44071",
        "--name",
        "Vignoble nantais",
        "--refresh",
        "never",
        "--data-dir",
        str(demo_store.root),
        "--out",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    digest = hashlib.sha256(b"44043,44064,44071").hexdigest()[:8]
    report = (
        Publication(tmp_path, f"territoires/groupe-vignoble-nantais-{digest}").latest
        / "diagnostic-vignoble-nantais.html"
    )
    assert result.output.strip() == str(report)
    assert "Vignoble nantais" in report.read_text(encoding="utf-8")


def test_demo_runs_the_whole_pipeline_offline_and_prints_the_report(tmp_path):
    result = invoke("demo", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "pub"))
    assert result.exit_code == 0, result.output
    folder = Publication(tmp_path / "pub", "national").latest
    # the report of the README screenshots: CC Vendée Sèvre Autise
    assert f"report: {folder / 'diagnostic-epci-200029940.html'}" in result.output
    html = (folder / "diagnostic-epci-200029940.html").read_text(encoding="utf-8")
    assert "CC Vendée Sèvre Autise" in html and "Données synthétiques" in html
    index = (folder / "index.html").read_text(encoding="utf-8")
    for name in DEMO_EPCIS.values():
        assert name in index
    assert len(list(folder.glob("diagnostic-epci-*.html"))) == len(DEMO_EPCIS)
    # every published table of the demo says its figures are invented
    for name in ("national", "indicateurs"):
        csv = (Publication(tmp_path / "pub", name).latest / "indicateurs-france.csv").read_text(encoding="utf-8-sig")
        assert csv.splitlines()[1].endswith("synthétiques (démonstration)")


@pytest.mark.parametrize("command", [["report", "--epci", "200067346"], ["national"], ["refresh"], ["demo"]])
@pytest.mark.parametrize("option", ["--out", "--data-dir"])
def test_a_folder_option_that_is_a_file_is_refused_in_one_line(tmp_path, command, option):
    a_file = tmp_path / "report.html"
    a_file.write_text("not a folder", encoding="utf-8")
    other = "--data-dir" if option == "--out" else "--out"
    result = invoke(*command, option, str(a_file / "sub"), other, str(tmp_path / "other"))
    assert result.exit_code == 2, result.output
    assert result.output == f"error: {option} {a_file / 'sub'}: {a_file} is a file, not a folder\n"
    assert a_file.read_text(encoding="utf-8") == "not a folder" and not (tmp_path / "other").exists()


@pytest.mark.parametrize("option", ["--out", "--data-dir"])
def test_a_folder_option_where_nothing_can_be_written_is_refused_in_one_line(tmp_path, option):
    # /sys refuses new files even to root (a chmod would not stop the root user running these tests)
    other = "--data-dir" if option == "--out" else "--out"
    result = invoke("report", "--epci", "200067346", option, "/sys/abs-diag", other, str(tmp_path / "other"))
    assert result.exit_code == 2, result.output
    assert result.output == f"error: {option} /sys/abs-diag: cannot write in /sys (Permission denied)\n"


def test_indicators_out_pointing_at_a_file_is_one_line(demo_store, tmp_path):
    a_file = tmp_path / "out"
    a_file.write_text("x", encoding="utf-8")
    result = invoke("indicators", "--epci", "200067346", "--data-dir", str(demo_store.root), "--out", str(a_file))
    assert result.exit_code == 2, result.output
    assert result.output == f"error: --out {a_file}: {a_file} is a file, not a folder\n"


def test_report_refresh_never_on_an_empty_store_says_what_is_missing_at_once(tmp_path):
    from sources import catalogue

    store = tmp_path / "empty-store"
    result = invoke(
        "report", "--epci", "200067346", "--refresh", "never", "--data-dir", str(store), "--out", str(tmp_path / "pub")
    )
    assert result.exit_code == 2, result.output
    every = catalogue.sources()
    assert result.output == (
        f"error: --refresh never, but {len(every)} source(s) were never staged in the store "
        f"{store} ({', '.join(every)}): run `abs-diag refresh --data-dir {store}` first, "
        "or leave out --refresh never\n"
    )
    assert not (tmp_path / "pub").exists()


def test_a_full_disk_while_writing_the_report_names_the_draft_and_keeps_the_last_report(
    demo_store, tmp_path, monkeypatch
):
    args = report_args(demo_store.root, tmp_path)
    assert invoke(*args).exit_code == 0
    pub = Publication(tmp_path, "territoires/epci-200029940")
    kept = pub.latest

    def full_disk(store, selections, out, **kwargs):
        (out / "diagnostic.html").symlink_to("/dev/full")  # a real ENOSPC on write
        (out / "diagnostic.html").write_text("x" * 100_000, encoding="utf-8")

    monkeypatch.setattr("reports.site.build_site", full_disk)
    result = invoke(*args)
    assert result.exit_code == 1
    [failed] = [p for p in pub.dir.iterdir() if p.name.startswith("_failed-")]
    draft = pub.dir / failed.name.replace("_failed-", "_draft-")
    assert (
        f"publication territoires/epci-200029940: draft failed on {draft}: [Errno 28] No space left on device "
        "(the previous publication is kept)"
    ) in result.output
    assert pub.latest == kept and pub.versions() == [kept.name]


@pytest.mark.parametrize("flow", [False, True])
def test_report_runs_the_cycle_collector_seldom_in_this_process_and_as_before_afterwards(
    demo_store, tmp_path, monkeypatch, flow
):
    import flows.cli as cli

    during = []
    monkeypatch.setattr(cli, "wants_flow", lambda asked: asked)  # the session's Prefect server left out of it
    monkeypatch.setattr(cli, "_picture_workers_forked_now", lambda asked: contextlib.nullcontext())
    monkeypatch.setattr(cli, "_run", lambda *args, **options: during.append(gc.get_threshold()) or "report.html")
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # Python's defaults
    try:
        result = invoke(*report_args(demo_store.root, tmp_path / "pub", *(["--flow"] if flow else [])))
        refused = invoke(*report_args(demo_store.root, tmp_path / "pub", "--baseline", "1900"))
        after = gc.get_threshold()
    finally:
        gc.set_threshold(*before)
    assert result.exit_code == 0, result.output
    assert result.output == "report.html\n"
    assert during == [(700, 10, 10) if flow else (100_000, 10, 10)]  # a Prefect run keeps the default
    assert refused.exit_code == 2 and refused.output.startswith("error: --baseline: ")  # refused inside the block
    assert after == (700, 10, 10)
