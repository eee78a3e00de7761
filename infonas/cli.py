"""The ``infonas`` command line: search (in ``cli_search``), resume, report, repair, metrics; ``gradient``
(``cli_gradient``), ``compare`` (``cli_compare``); ``bench`` (``cli_bench``, ``cli_bench_gradient``).

The CLI owns the process: it sets torch's thread count once (``--threads``) and sends the
library's log records to stderr. Every error infonas expects (``InfonasError``) ends a command
with one line and exit status 1, never a traceback.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from infonas.cli_ax import ax
from infonas.cli_bench import bench
from infonas.cli_bench_execution import bench_executors_command, bench_soak_command
from infonas.cli_bench_gradient import bench_collapse, bench_hinge
from infonas.cli_bench_prices import bench_prices_command
from infonas.cli_bench_scaling import bench_scaling_command
from infonas.cli_common import (
    EXPECTED_ERRORS,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    configure_logging,
    execution_from,
    execution_options,
    fail,
)
from infonas.cli_compare import compare
from infonas.cli_gradient import gradient
from infonas.cli_search import print_best, run_search, search
from infonas.study import Study


@click.group()
@click.version_option(package_name="infonas")
@click.option("--threads", type=POSITIVE_INT, default=1, show_default=True,
              help="torch threads. The GP's matrices are small: one thread is fastest and never oversubscribes.")
def main(threads: int) -> None:
    """Neural architecture search by Bayesian experimental design."""
    configure_logging()
    import torch

    torch.set_num_threads(threads)


bench.add_command(bench_collapse)
bench.add_command(bench_hinge)
bench.add_command(bench_executors_command)
bench.add_command(bench_soak_command)
bench.add_command(bench_prices_command)
bench.add_command(bench_scaling_command)
main.add_command(bench)
main.add_command(gradient)
main.add_command(compare)
main.add_command(ax)


# ----- search / resume -----

main.add_command(search)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--budget", type=POSITIVE_INT,
              help="Total number of evaluations to reach (default: the original budget).")
@click.option("--max-cost", type=POSITIVE_FLOAT, help="Stop once the summed evaluation cost reaches this.")
@click.option("--max-seconds", type=POSITIVE_FLOAT, help="Stop after this many seconds of searching.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@execution_options
def resume(run_dir: str, budget: int | None, max_cost: float | None, max_seconds: float | None, quiet: bool,
           **execution_choices: Any) -> None:
    """Continue a stopped or crashed search from its run directory (trials it left running are
    evaluated again, once), on any executor."""
    try:
        execution = execution_from(**execution_choices)
        study = Study.load(run_dir)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    if budget is None and max_cost is None and max_seconds is None:
        limits = study.saved_budget()
        if limits is None:
            fail(f"{run_dir} records no budget: give --budget, --max-cost or --max-seconds")
    else:
        from infonas.budget import Budget

        limits = Budget(evaluations=budget, cost=max_cost, seconds=max_seconds)
    run_search(study, limits, progress=not quiet, execution=execution)
    print_best(study)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the finished trials as JSON instead.")
@click.option("--summary-json", "as_summary", is_flag=True,
              help="Print the summary as JSON instead (best trials; for several objectives the hypervolume ratio and "
                   "the reference and ideal points in natural units).")
@click.option("--plots/--no-plots", default=True, show_default=True, help="Write PNG plots into RUN_DIR/plots.")
def report(run_dir: str, as_json: bool, as_summary: bool, plots: bool) -> None:
    """Summarise a run: best architectures, cost, regret on a table; PNG plots of its progress.

    A run with a damaged journal is summarised from its intact trials, with a warning; nothing
    in it is written (no plots) until `infonas repair` has fixed it.
    """
    from infonas.report import load_for_report, summary_json, summary_text, trials_json, write_plots

    try:
        study, warning = load_for_report(run_dir)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    if warning:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        click.echo(json.dumps(trials_json(study), indent=1))
        return
    if as_summary:
        click.echo(json.dumps(summary_json(study), indent=1))
        return
    click.echo(summary_text(study))
    if plots and warning:
        click.echo("plots not written: the run is read-only while its journal is damaged")
    elif plots:
        for path in write_plots(study):
            click.echo(f"wrote {path}")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
def repair(run_dir: str) -> None:
    """Salvage a damaged journal: keep every event a resume can use, before and after the bad lines.

    The original journal is kept as journal.jsonl.corrupt-N; prints what was kept and dropped.
    """
    from infonas.storage import repair as repair_run

    try:
        done = repair_run(run_dir)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    click.echo("\n".join(done.lines()))
    if done.backup is not None:
        click.echo(f"to continue the run: infonas resume {run_dir}")


# ----- metrics -----

#: The data sets whose network ``infonas metrics`` measures, per space (the first is the default):
#: NB201's presets (``NetworkConfig.for_dataset``), the macro network's (``MacroNetworkConfig``), the
#: DARTS network's (``DartsNetworkConfig``).
METRICS_DATASETS: dict[str, tuple[str, ...]] = {"nb201": ("cifar10", "cifar100", "digits", "mnist1d"),
                                                "macro": ("mnist1d", "digits"), "darts": ("mnist1d", "digits")}


@main.command()
@click.option("--space", "space_name", default="nb201", show_default=True)
@click.option("--arch", required=True, help="Architecture string, e.g. NB201's |op~0|+|op~0|op~1|+|...|, the "
              "macro space's |d2,x0.75,k3,k5,k7|d1,x1,k5,k3,k3|d3,x0.5,k7,k7,k7|, or the darts space's "
              "Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...], ...).")
@click.option("--dataset", type=click.Choice(sorted({d for names in METRICS_DATASETS.values() for d in names})),
              help="The data set whose network is measured (default: cifar10 for nb201, mnist1d for macro and darts).")
@click.option("--device", default="cpu", show_default=True)
@click.option("--batch-size", type=POSITIVE_INT, default=1, show_default=True,
              help="Batch size for the latency measurement.")
def metrics(space_name: str, arch: str, dataset: str | None, device: str, batch_size: int) -> None:
    """Print an architecture's parameters, FLOPs (multiply-accumulates) and latency as JSON."""
    from search_spaces import get_space
    from search_spaces.darts.network import DartsNetworkConfig
    from search_spaces.macro.network import MacroNetworkConfig
    from search_spaces.metrics import ArchitectureMetrics
    from search_spaces.nb201.network import NetworkConfig

    try:
        space = get_space(space_name)
        # Other registered spaces are cell spaces measured in NB201's network, as they always were.
        datasets = METRICS_DATASETS.get(space.name, METRICS_DATASETS["nb201"])
        dataset = dataset or datasets[0]
        if dataset not in datasets:
            fail(f"the {space.name} space's networks are defined for the data sets {list(datasets)}, "
                 f"got --dataset {dataset}; pass --dataset {datasets[0]}")
        parsed = space.parse(arch)
        configs = {"macro": MacroNetworkConfig, "darts": DartsNetworkConfig}
        config = configs.get(space.name, NetworkConfig).for_dataset(dataset)
        calculator = ArchitectureMetrics(space, config, device=device, batch_size=batch_size)
        click.echo(json.dumps(calculator.compute(parsed)))
    except EXPECTED_ERRORS as error:
        fail(str(error))
    except RuntimeError as error:  # torch's, e.g. a batch too large to allocate: its first line says which
        fail(f"measuring the network on {device} with batch size {batch_size} failed "
             f"({str(error).splitlines()[0] if str(error) else type(error).__name__}); try a smaller --batch-size")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
