"""The `abs-diag` command."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    help="Diagnostic territorial (ABS / CTG) à partir des données ouvertes de l'INSEE et de la CAF.",
    no_args_is_help=True,
    add_completion=False,
)

DataDir = Annotated[
    Optional[Path],
    typer.Option("--data-dir", help="Store folder (raw downloads, staged tables, manifest). Default: $ABS_DATA_DIR or ./data."),
]


def _store(data_dir: Path | None):
    from sources.store import Store

    return Store(data_dir) if data_dir else Store()


def _print_report(report) -> None:
    rows = report.table()
    header = ("source", "vintage", "rows", "secret cells", "download", "status")
    cells = [(r["source"], r["vintage"], _fmt(r["rows"]), _fmt(r["secret_cells"]), r["download"], r["status"])
             for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *cells)]
    line = lambda values: "  ".join(str(v).ljust(w) for v, w in zip(values, widths))  # noqa: E731
    typer.echo(line(header))
    typer.echo(line("-" * w for w in widths))
    for c in cells:
        typer.echo(line(c))
    for result in report.results:
        for note in result.notes if result.status == "staged" else []:
            typer.echo(f"  {result.source}/{result.vintage}: {note}")
    for failure in report.failed:
        typer.echo(f"\nFAILED {failure.source}/{failure.vintage}:\n{failure.error}", err=True)


def _fmt(n) -> str:
    return "-" if n is None else f"{n:,}".replace(",", " ")


@app.command()
def refresh(
    source: Annotated[Optional[list[str]], typer.Option("--source", "-s", help="Refresh only this source (repeatable).")] = None,
    mirror: Annotated[Optional[str], typer.Option(help="Fetch https://HOST/PATH as MIRROR/HOST/PATH (also $ABS_MIRROR).")] = None,
    force: Annotated[bool, typer.Option(help="Stage again even when upstream files are unchanged.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Download, validate and stage the INSEE and CAF sources in the target geography (COG)."""
    from sources.refresh import refresh as run

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    store = _store(data_dir)
    report = run(source or None, store=store, mirror=mirror, force=force)
    _print_report(report)
    typer.echo(f"\nstore: {store.root}")
    if report.failed:
        raise typer.Exit(code=1)


@app.command()
def indicators(
    epci: Annotated[Optional[str], typer.Option(help="SIREN of the EPCI (9 digits).")] = None,
    commune: Annotated[Optional[str], typer.Option(help="Code of one commune (its ABS).")] = None,
    communes: Annotated[Optional[str], typer.Option(help="Commune codes of a custom territory, comma-separated.")] = None,
    name: Annotated[Optional[str], typer.Option(help="Name of the custom territory (with --communes).")] = None,
    all_levels: Annotated[bool, typer.Option("--all", help="Every commune, EPCI, département and France.")] = False,
    out: Annotated[Path, typer.Option(help="Output folder of the exports.")] = Path("out"),
    data_dir: DataDir = None,
) -> None:
    """Compute the needs indicators and write them as Parquet, CSV (;, UTF-8 BOM) and XLSX with definitions."""
    from transforms.pipeline import Selection, export_indicators
    from transforms.territories import CustomTerritory, check_siren, parse_communes

    if sum(bool(x) for x in (epci, commune, communes, all_levels)) != 1:
        raise typer.BadParameter("give exactly one of --epci, --commune, --communes or --all")
    try:
        if epci:
            selection = Selection(epci=check_siren(epci))
        elif commune:
            selection = Selection(commune=parse_communes(commune)[0])
        elif communes:
            selection = Selection(territory=CustomTerritory(name or "Territoire", parse_communes(communes)))
        else:
            selection = None
        table, paths = export_indicators(_store(data_dir), out, selection)
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    flags = table.filter(table["flag"].is_not_null()).height
    typer.echo(f"{table.height} values, {flags} flags")
    for fmt, path in paths.items():
        typer.echo(f"{fmt:<8} {path}")


@app.command()
def sources() -> None:
    """List the catalogue: every source, vintage, geography and URL."""
    from sources import catalogue

    for entry in catalogue.entries():
        cog = entry.cog if entry.cog is not None else f"year+{entry.cog_offset}"
        typer.echo(f"{entry.source:<20} {entry.vintage:<6} COG {cog:<8} {entry.title}")
        for spec in entry.files:
            typer.echo(f"{'':<20} {spec.role:<6} {spec.url}")


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Where the demo store is written.")] = Path("demo-output/data"),
) -> None:
    """Run the pipeline end to end on the embedded synthetic sample, served through the mirror mechanism."""
    from sources.demo import MIRROR_ROOT
    from sources.mirror import serve
    from sources.refresh import refresh as run
    from sources.store import Store

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    typer.echo("Données de démonstration SYNTHÉTIQUES (codes et noms réels, chiffres inventés).")
    store = Store(data_dir)
    with serve(MIRROR_ROOT) as mirror:
        typer.echo(f"demo mirror: {mirror.url} (ABS_MIRROR)")
        report = run(None, store=store, mirror=mirror.url)
    _print_report(report)
    typer.echo(f"\nstore: {store.root}")
    if report.failed:
        raise typer.Exit(code=1)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
