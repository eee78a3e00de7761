"""``infonas compare``: Bayesian and gradient NAS with one data set and one wall-clock budget.

On NB201 the methods search a ground-truth table (``--table``; ``infonas.bench.compare``); on the
DARTS space, which no table covers, every evaluation is trained on this machine and each final
genotype is retrained (``infonas.bench.compare_live``). Bad arguments (an unknown method, a budget
of 0, a table without the columns) end the command with one line and exit status 2 before any
search runs; a failure during the runs, status 1.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click

from infonas.cli_common import EXPECTED_ERRORS, POSITIVE_FLOAT, POSITIVE_INT, fail, parse_list

#: The search spaces a comparison runs on, and the methods it compares by default on each.
DEFAULT_METHODS = {"nb201": "bo-mf,darts-1,darts-2,gdas,drnas,rsps,rs", "darts": "bo-mf,darts-1,gdas,drnas"}
SPACES = tuple(DEFAULT_METHODS)


@click.command("compare")
@click.option("--space", "space_name", type=click.Choice(SPACES), default="nb201", show_default=True,
              help="Search space: nb201 (methods search --table) or darts (no table: every evaluation is trained, "
                   "each final genotype retrained).")
@click.option("--data", type=click.Choice(["mnist1d", "digits"]), default="mnist1d", show_default=True,
              help="Embedded data set every method searches and trains on.")
@click.option("--table", type=click.Path(dir_okay=False),
              help="NB201: ground-truth CSV (e.g. benchmarks/data/nb201_mnist1d.csv) with the objective, valid_acc "
                   "and train_seconds columns. Not taken on darts.")
@click.option("--methods", help="Comma-separated: gradient methods (darts-1, darts-2, gdas, snas, drnas, pdarts), rsps "
                                "(nb201), or any registered strategy spec (rs, bo-mes, bo-mf, 'bo-mes[n_init=3]'). "
                                f"Default: nb201 {DEFAULT_METHODS['nb201']}; darts {DEFAULT_METHODS['darts']}.")
@click.option("--seeds", type=POSITIVE_INT, default=3, show_default=True, help="Seeds per method (run in turn).")
@click.option("--budget-seconds", type=POSITIVE_FLOAT, required=True,
              help="Seconds of search per method and seed, setup (supernet training) included.")
@click.option("--objective", default="test_acc", show_default=True,
              help="NB201: table column the final cell is scored by.")
@click.option("--epochs", type=POSITIVE_INT, default=3, show_default=True,
              help="darts: epochs of a Bayesian method's training (its target evaluation).")
@click.option("--supernet-epochs", type=POSITIVE_INT, default=30, show_default=True,
              help="darts: epochs of bo-mf's SPOS supernet training (on its clock).")
@click.option("--retrain-seeds", type=POSITIVE_INT, default=2, show_default=True,
              help="darts: trainings from scratch that score each final genotype (mean test accuracy).")
@click.option("--retrain-epochs", type=POSITIVE_INT, default=10, show_default=True,
              help="darts: epochs of each of those trainings.")
@click.option("--work-dir", type=click.Path(file_okay=False), help="Where searches keep checkpoints.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the results as JSON here.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def compare(space_name: str, data: str, table: str | None, methods: str | None, seeds: int, budget_seconds: float,
            objective: str, epochs: int, supernet_epochs: int, retrain_seeds: int, retrain_epochs: int,
            work_dir: str | None, out: str | None, quiet: bool) -> None:
    """Compare Bayesian and gradient NAS with the same data, seeds and wall-clock budget."""
    names = parse_list(methods or DEFAULT_METHODS[space_name])
    if space_name == "darts":
        from infonas.bench.compare_live import LiveSettings, check_live_compare, format_live_table, run_live_compare

        if table is not None:
            raise click.BadParameter("no table covers the darts space (every evaluation is trained); drop --table",
                                     param_hint="'--table'")

        def prepare() -> Any:
            settings = LiveSettings(epochs=epochs, supernet_epochs=supernet_epochs, retrain_epochs=retrain_epochs,
                                    retrain_seeds=retrain_seeds)
            check_live_compare(space_name, names, seeds, budget_seconds, settings, data)
            return lambda log: run_live_compare(space_name, data=data, methods=names, seeds=seeds,
                                                budget_seconds=budget_seconds, settings=settings, work_dir=work_dir,
                                                progress=not quiet, log=log)

        _run(prepare, format_live_table, out)
        return

    from infonas.bench.compare import check_compare, format_compare_table, run_compare
    from infonas.evaluators.tabular import TabularBenchmark
    from search_spaces import get_space

    if table is None:
        raise click.BadParameter("an nb201 comparison searches a ground-truth table: give --table (e.g. "
                                 "benchmarks/data/nb201_mnist1d.csv)", param_hint="'--table'")

    def prepare_table() -> Any:
        benchmark = TabularBenchmark.from_csv(table, get_space(space_name))
        check_compare(benchmark, names, seeds, budget_seconds, objective, data)
        return lambda log: run_compare(benchmark, data=data, methods=names, seeds=seeds,
                                       budget_seconds=budget_seconds, objective=objective, work_dir=work_dir,
                                       progress=not quiet, log=log)

    _run(prepare_table, format_compare_table, out)


def _run(prepare: Callable[[], Callable[[Any], dict[str, Any]]], formatter: Callable[[Any], str],
         out: str | None) -> None:
    """Check the arguments (``prepare`` gives the run, or raises: one line, status 2), open the
    log of finished jobs, run (a failure: one line, status 1), then write and print the results."""
    from infonas.bench.resume import open_for_command
    from infonas.cli_bench import _finish_benchmark

    try:
        run = prepare()
        log = open_for_command(out, "compare", click.get_current_context().params)
    except EXPECTED_ERRORS as error:
        raise click.UsageError(str(error)) from None
    started = time.perf_counter()
    try:
        results = run(log)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    _finish_benchmark(results, started, out, formatter, log, prog="infonas")
