"""``infonas compare``: Bayesian and gradient NAS on one table with one wall-clock budget (``infonas.bench.compare``).

Bad arguments (an unknown method, a budget of 0, a table without the columns) end the command
with one line and exit status 2 before any search runs; a failure during the runs, status 1.
"""

from __future__ import annotations

import time

import click

from infonas.cli_common import EXPECTED_ERRORS, POSITIVE_FLOAT, POSITIVE_INT, fail, parse_list

#: The search spaces a comparison runs on: the gradient methods' supernet is NB201's.
SPACES = ("nb201",)


@click.command("compare")
@click.option("--space", "space_name", default="nb201", show_default=True,
              help="Search space; only nb201 (the gradient methods' supernet) for now.")
@click.option("--data", type=click.Choice(["mnist1d", "digits"]), default="mnist1d", show_default=True,
              help="Embedded data set every method searches and trains on.")
@click.option("--table", required=True, type=click.Path(dir_okay=False),
              help="Ground-truth CSV (e.g. benchmarks/data/nb201_mnist1d.csv) with the objective, valid_acc and "
                   "train_seconds columns.")
@click.option("--methods", default="bo-mf,darts-1,darts-2,gdas,drnas,rsps,rs", show_default=True,
              help="Comma-separated: gradient methods (darts-1, darts-2, gdas, snas, drnas, pdarts), rsps, or any "
                   "registered strategy spec (rs, bo-mes, bo-mf, 'bo-mes[n_init=3]').")
@click.option("--seeds", type=POSITIVE_INT, default=3, show_default=True, help="Seeds per method (run in turn).")
@click.option("--budget-seconds", type=POSITIVE_FLOAT, required=True,
              help="Seconds of search per method and seed, setup (supernet training) included.")
@click.option("--objective", default="test_acc", show_default=True, help="Table column the final cell is scored by.")
@click.option("--work-dir", type=click.Path(file_okay=False), help="Where gradient searches keep checkpoints.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the results as JSON here.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def compare(space_name: str, data: str, table: str, methods: str, seeds: int, budget_seconds: float, objective: str,
            work_dir: str | None, out: str | None, quiet: bool) -> None:
    """Compare Bayesian and gradient NAS with the same data, seeds and wall-clock budget."""
    from infonas.bench.compare import check_compare, format_compare_table, run_compare
    from infonas.bench.resume import open_for_command
    from infonas.cli_bench import _finish_benchmark
    from infonas.evaluators.tabular import TabularBenchmark
    from search_spaces import get_space

    if space_name not in SPACES:
        raise click.BadParameter(f"compare runs on {', '.join(SPACES)} only (the gradient methods' supernet), got "
                                 f"{space_name!r}: pass --space nb201", param_hint="'--space'")
    names = parse_list(methods)
    try:
        benchmark = TabularBenchmark.from_csv(table, get_space(space_name))
        check_compare(benchmark, names, seeds, budget_seconds, objective, data)
        log = open_for_command(out, "compare", click.get_current_context().params)
    except EXPECTED_ERRORS as error:
        raise click.UsageError(str(error)) from None
    started = time.perf_counter()
    try:
        results = run_compare(benchmark, data=data, methods=names, seeds=seeds, budget_seconds=budget_seconds,
                              objective=objective, work_dir=work_dir, progress=not quiet, log=log)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    _finish_benchmark(results, started, out, format_compare_table, log, prog="infonas")
