"""``infonas bench collapse``: gradient searches with and without each remedy (``infonas.bench.collapse``);
``infonas bench hinge``: the FLOPs hinge's derived architectures against a budget (``infonas.bench.hinge``).

``infonas.cli`` adds the commands to the ``bench`` group.
"""

from __future__ import annotations

import os
import time
from typing import Any

import click

from infonas.cli_bench import _finish_benchmark
from infonas.cli_common import EXPECTED_ERRORS, POSITIVE_FLOAT, POSITIVE_INT, fail
from infonas.gradient.settings import HINGE_SPACES, REMEDY_VARIANTS


def _variant_specs(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """``--variants`` in canonical form; a usage error for an unknown method or a malformed spec."""
    from infonas.bench.methods import parse_methods
    from infonas.exceptions import InvalidArgumentError
    from infonas.gradient.settings import METHODS

    try:
        return ",".join(spec.label for spec in parse_methods(value, METHODS))
    except InvalidArgumentError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from None



def _resumable_run_options(command: Any) -> Any:
    """--workers, --work-dir, --out and --quiet, as the gradient benchmarks take them."""
    command = click.option("--quiet", is_flag=True)(command)
    command = click.option("--out", type=click.Path(dir_okay=False), help=(
        "Write the JSON results here; finished searches are kept beside it, so a rerun resumes."))(command)
    command = click.option("--work-dir", type=click.Path(file_okay=False), help=(
        "Checkpoints of the searches: a rerun resumes an interrupted search where it stopped."))(command)
    return click.option("--workers", type=POSITIVE_INT, default=1, show_default=True,
                        help="Searches run in this many processes.")(command)


@click.command("collapse")
@click.option("--table", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Ground-truth table (CSV) of the searched network, its build JSON beside it.")
@click.option("--variants", callback=_variant_specs, show_default=True,
              default=",".join(REMEDY_VARIANTS),
              help="Comma-separated gradient methods, each optionally with settings: 'darts-1[max_skips=2]'.")
@click.option("--seeds", type=POSITIVE_INT, default=5, show_default=True)
@click.option("--epochs", type=POSITIVE_INT, default=30, show_default=True)
@click.option("--objective", default="test_acc", show_default=True, help="Table column judging the derived cells.")
@click.option("--data", type=click.Choice(["mnist1d", "digits"]), default="mnist1d", show_default=True)
@click.option("--channels", type=POSITIVE_INT, default=8, show_default=True)
@_resumable_run_options
def bench_collapse(table: str, variants: str, seeds: int, epochs: int, objective: str, data: str, channels: int,
                   workers: int, work_dir: str | None, out: str | None, quiet: bool) -> None:
    """DARTS collapse, with and without each remedy: skip and none shares of the argmax cell per epoch,
    and the derived cell's ground-truth regret (cells absent from the table are trained as its rows were)."""
    from infonas.bench.collapse import format_collapse_table, run_collapse_benchmark
    from infonas.bench.methods import parse_methods
    from infonas.bench.resume import open_for_command
    from infonas.evaluators.tabular import TabularBenchmark
    from infonas.gradient.settings import METHODS
    from search_spaces import NB201Space

    started = time.perf_counter()
    try:
        loaded = TabularBenchmark.from_csv(table, NB201Space())
        log = open_for_command(out, "collapse", click.get_current_context().params)
        labels = [spec.label for spec in parse_methods(variants, METHODS)]
        results = run_collapse_benchmark(loaded, labels, seeds, epochs, objective=objective, data=data, channels=channels,
                                         work_dir=work_dir, workers=workers, progress=not quiet, log=log)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    _finish_benchmark(results, started, out, format_collapse_table, log, workers)


#: ``infonas.bench.hinge.HINGE_VARIANTS``, repeated so that the command line does not import torch to show its help.
HINGE_DEFAULT = ("darts-1,darts-1[flops_weight=5],darts-1[flops_weight=5;temperature_end=0.1],"
                 "darts-1[flops_weight=1;temperature_end=0.1],darts-1[discretise_within_budget=true]")


@click.command("hinge")
@click.option("--space", type=click.Choice(sorted(HINGE_SPACES)), default="macro", show_default=True,
              help="nb201 (the cell) or macro (per stage a depth, a width and a kernel per block).")
@click.option("--data", type=click.Choice(["mnist1d", "digits"]), default="mnist1d", show_default=True)
@click.option("--flops-budget", type=POSITIVE_FLOAT, help="The budget B in exact FLOPs of the searched network.")
@click.option("--budget-quantile", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="B as this quantile of the exact FLOPs of 2000 architectures sampled with seed 0 (instead of "
                   "--flops-budget).")
@click.option("--variants", callback=_variant_specs, show_default=True, default=HINGE_DEFAULT,
              help="Comma-separated gradient methods with settings, the budget left out: 'darts-1[flops_weight=5]'.")
@click.option("--seeds", type=POSITIVE_INT, default=5, show_default=True)
@click.option("--epochs", type=POSITIVE_INT, default=20, show_default=True)
@click.option("--table-json", type=click.Path(exists=True, dir_okay=False),
              help="A ground-truth table's build JSON whose settings train the derived architectures (default: "
                   "TableSettings' defaults, those of benchmarks/data/nb201_mnist1d.json).")
@click.option("--channels", type=POSITIVE_INT, help="Width of the searched and trained network (default: the table's).")
@_resumable_run_options
def bench_hinge(space: str, data: str, flops_budget: float | None, budget_quantile: float | None, variants: str,
                seeds: int, epochs: int, table_json: str | None, channels: int | None, workers: int,
                work_dir: str | None, out: str | None, quiet: bool) -> None:
    """The FLOPs hinge against a budget B: per variant and seed the derived architecture, its exact
    FLOPs (within B or not), the expected and argmax FLOPs per epoch, and its test accuracy trained
    from scratch as the ground-truth table trained its rows."""
    import dataclasses

    from infonas.bench.ground_truth import provenance_settings
    from infonas.bench.hinge import check_variants, format_hinge_table, run_hinge_benchmark
    from infonas.bench.resume import open_for_command
    from infonas.bench.table import TableSettings
    from infonas.exceptions import InvalidArgumentError

    if (flops_budget is None) == (budget_quantile is None):
        raise click.UsageError("give exactly one of --flops-budget (B in FLOPs) and --budget-quantile (B as a "
                               "quantile of sampled architectures' FLOPs)")
    saved = provenance_settings(table_json) if table_json else {}
    if saved is None:
        raise click.BadParameter(f"{table_json} holds no readable 'settings' (a table build's JSON has them)",
                                 param_hint="'--table-json'")
    fields = {f.name for f in dataclasses.fields(TableSettings)}
    training = TableSettings(**{k: v for k, v in saved.items() if k in fields})
    if channels is not None:
        training = dataclasses.replace(training, channels=channels)
    try:
        labels = check_variants(space, [variants], epochs, training.channels)
    except InvalidArgumentError as error:
        raise click.BadParameter(str(error), param_hint="'--variants'") from None
    started = time.perf_counter()
    try:
        params = dict(click.get_current_context().params)
        if table_json:  # a run resumed from another directory still matches its log
            params["table_json"] = os.path.abspath(table_json)
        log = open_for_command(out, "hinge", params)
        results = run_hinge_benchmark(space, labels, seeds, epochs, data=data, flops_budget=flops_budget,
                                      budget_quantile=budget_quantile, training=training, work_dir=work_dir,
                                      workers=workers, progress=not quiet, log=log)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    _finish_benchmark(results, started, out, format_hinge_table, log, workers)
