"""`srdi batch`, `srdi synth`, `srdi simulate`, `srdi bench` (docs/batch.md). Typer/stdlib only at
import time; the heavy modules are imported inside the commands."""
from __future__ import annotations

import json
import sys
from typing import Optional

import typer

EXIT_BAD_INPUT = 2


def _fail(msg: str):
    sys.stderr.write(f"srdi: {msg}\n")
    raise typer.Exit(EXIT_BAD_INPUT)


def _as_of(value: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"--as-of: {value!r} is not a date (YYYY-MM-DD) / 不是有效日期")


def register(app: typer.Typer) -> None:
    @app.command("batch")
    def batch(
        input: str = typer.Argument(..., help="CSV, XLSX or Parquet file, one enterprise per row"),
        output: str = typer.Option(..., "-o", "--output", help="results file: .xlsx, .csv or .parquet"),
        as_of: str = typer.Option(..., "--as-of", help="assessment date YYYY-MM-DD"),
        mode: str = typer.Option("application", "--mode", help="application | review"),
        mapping: Optional[str] = typer.Option(None, "--mapping", help="YAML/JSON {input header: contract path}"),
        lang: str = typer.Option("zh", "--lang", help="zh | en"),
        engine: str = typer.Option("polars", "--engine", help="polars (embedded) | spark"),
        master: Optional[str] = typer.Option(None, "--master", help="Spark master URL (default local[2])"),
        chunk_size: int = typer.Option(250_000, "--chunk-size", help="rows per chunk (memory bound)"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    ):
        """Assess every row of a file; write results, errors and a summary."""
        d = _as_of(as_of)
        from srdi.batch.runner import BatchError, run_batch

        prog = None
        bar = None
        started: list = []
        if not quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            class RowsPerSec(TextColumn):
                def render(self, task):
                    sp = task.finished_speed or task.speed
                    from rich.text import Text

                    return Text(f"{sp:,.0f} rows/s" if sp else "")

            bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           RowsPerSec(""), TimeElapsedColumn(), transient=False, console=None)
            task = bar.add_task("rows", total=None)

            def prog(done, total):
                if not started:
                    bar.start()
                    started.append(1)
                bar.update(task, completed=done, total=total)
        try:
            out = run_batch(input, output, d, mode=mode, mapping=mapping, lang=lang, progress=prog,
                            engine=engine, master=master, chunk_size=chunk_size)
        except BatchError as e:
            if started:
                bar.stop()
                started.clear()
            _fail(str(e))
        finally:
            if started:
                bar.stop()
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")

    @app.command("synth")
    def synth(
        n: int = typer.Option(..., "--n", help="number of enterprises"),
        seed: int = typer.Option(0, "--seed"),
        output: str = typer.Option(..., "-o", "--output", help=".parquet (default), .csv or .xlsx"),
        year: int = typer.Option(2024, "--year", help="latest fiscal year of the financials"),
        headers: str = typer.Option("zh", "--headers", help="zh (platform export headers) | contract (dotted paths, yuan)"),
    ):
        """Write a synthetic enterprise population in the batch input format."""
        from srdi.batch.synth import write_population

        if n < 0:
            _fail("--n must be >= 0")
        try:
            write_population(n, seed, output, year=year, headers=headers)
        except ValueError as e:
            _fail(str(e))
        sys.stdout.write(f"synth: n={n} seed={seed} -> {output}\n")

    @app.command("simulate")
    def simulate(
        population: str = typer.Option(..., "--population", help="population file (batch input format)"),
        reform: str = typer.Option(..., "--reform", help="reform YAML (docs/batch.md)"),
        as_of: str = typer.Option(..., "--as-of"),
        mode: str = typer.Option("application", "--mode"),
        output: Optional[str] = typer.Option(None, "-o", "--output", help=".xlsx (table + chart) or .html (ECharts)"),
        mapping: Optional[str] = typer.Option(None, "--mapping"),
        lang: str = typer.Option("zh", "--lang"),
    ):
        """How many enterprises gain or lose each tier under a reform, by province and industry."""
        d = _as_of(as_of)
        from srdi.batch.simulate import ReformError, run_simulation

        try:
            res = run_simulation(population, reform, d, mode=mode, output=output, mapping=mapping, lang=lang)
        except (ReformError, FileNotFoundError) as e:
            _fail(str(e))
        sys.stdout.write(res["text"] + "\n")

    @app.command("bench")
    def bench(
        n: int = typer.Option(1_000_000, "--n"),
        seed: int = typer.Option(0, "--seed"),
        per_row_sample: int = typer.Option(2000, "--per-row-sample", help="rows timed per-row, extrapolated"),
        workdir: Optional[str] = typer.Option(None, "--workdir", help="where the population file is written"),
    ):
        """Time the engine vs per-row Python, OpenFisca and the scan floor; last line is the summary."""
        import importlib.util

        if importlib.util.find_spec("openfisca_core") is None:  # (c), the OpenFisca peer: an optional dependency
            _fail("bench: openfisca-core is not installed: pip install 'srdi[bench]' / 未安装 openfisca-core")
        from srdi.batch.bench import run_bench

        run_bench(n, seed=seed, per_row_sample=per_row_sample, workdir=workdir, echo=lambda s: sys.stdout.write(s + "\n"))
