"""The ``infonas bench`` commands: strategies and surrogates on tabular benchmarks, as JSON files.

``infonas.cli`` registers the ``bench`` group on the main command.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import click

from infonas.cli_common import (
    EXPECTED_ERRORS,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    check_objective_names,
    check_strategy_names,
    fail,
    parse_list,
    parse_objectives_option,
    write_json,
)


def _method_specs(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """``--methods`` in canonical form (``infonas.bench.methods``): the text the results, the resume
    log and the recorded command all use; a usage error for an unknown or malformed spec."""
    from infonas.bench.methods import parse_methods
    from infonas.exceptions import InvalidArgumentError

    try:
        specs = parse_methods(value)
    except InvalidArgumentError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from None
    check_strategy_names([spec.strategy for spec in specs], "--methods")
    return ",".join(spec.label for spec in specs)


def _finish_benchmark(results: dict[str, Any], started: float, out: str | None, formatter: Any, log: Any,
                      workers: int = 1, prog: str = "infonas bench") -> None:
    """Record the total time and the provenance (``meta``), write the JSON (atomically), drop the
    log of finished jobs and print the summary table."""
    from infonas.bench.meta import benchmark_meta, command_line

    results["total_seconds"] = time.perf_counter() - started
    results["meta"] = benchmark_meta(command_line(click.get_current_context(), prog), workers, results["total_seconds"],
                                     resumed_jobs=log.resumed, total_jobs=len(log.done))
    if out:
        write_json(out, {"meta": results["meta"], **results})
        log.close()
    click.echo(formatter(results))
    click.echo(f"total {results['total_seconds']:.1f} s" + (f"; results written to {out}" if out else ""))


def _cheap_fidelity_options(command: Any) -> Any:
    """--cheap, --cheap-cost and --cheap-setup-cost, as bench search and bench pareto take them."""
    command = click.option("--cheap-setup-cost", type=click.FloatRange(min=0), help=(
        "One-off cost of the cheap fidelity (training the supernet its column scores), in units of one target "
        "evaluation; charged up front to methods that use the cheap fidelity."))(command)
    command = click.option("--cheap-cost", type=POSITIVE_FLOAT,
                           help="Cost of one cheap evaluation, in units of one target evaluation.")(command)
    return click.option("--cheap", help="Cheap-fidelity column: multi-fidelity strategies may evaluate it instead.")(command)


@click.group()
def bench() -> None:
    """Benchmarks of strategies and surrogates on tabular benchmarks (they write JSON files)."""


@bench.command("search")
@click.option("--table", required=True, type=click.Path(dir_okay=False), help="Benchmark table (CSV).")
@click.option("--objective", required=True, help="Column to maximise.")
@click.option("--minimize", is_flag=True)
@click.option("--methods", default="rs,rea,ls", show_default=True, callback=_method_specs,
              help="Comma-separated strategy names, each optionally with constructor options: "
                   "'bo-ei,bo-ei[warp=none],gp-onehot[warp=copula;maxiter=50]'.")
@click.option("--seeds", type=POSITIVE_INT, default=10, show_default=True)
@click.option("--budget", type=POSITIVE_FLOAT, default=150, show_default=True,
              help="Evaluations per seed; with --cheap, total cost per seed (one target evaluation costs 1).")
@_cheap_fidelity_options
@click.option("--unit-seconds", type=POSITIVE_FLOAT,
              help="Seconds one target evaluation takes (e.g. the table's mean training time): the search's own "
                   "suggestion time is then charged in those units, and its share of wall-clock reported.")
@click.option("--workers", type=POSITIVE_INT, default=1, show_default=True, help="Seeds run in this many processes.")
@click.option("--space", "space_name", default="nb201", show_default=True)
@click.option("--pool", type=click.Choice(["enumerate", "sampled"]), help="Candidate pool of every Bayesian method "
              "(pool=... added to its spec); default: enumerate where the space allows (at most 100,000 cells).")
@click.option("--full-budget", is_flag=True,
              help="Search the whole budget after the optimum too (times suggestions at every observation count).")
@click.option("--out", type=click.Path(dir_okay=False),
              help="Write the JSON results here; finished seeds are kept beside it, so a rerun resumes.")
@click.option("--quiet", is_flag=True)
def bench_search(table: str, objective: str, minimize: bool, methods: str, seeds: int, budget: float, cheap: str | None,
                 cheap_cost: float | None, cheap_setup_cost: float | None, unit_seconds: float | None, workers: int,
                 space_name: str, pool: str | None, full_budget: bool, out: str | None, quiet: bool) -> None:
    """Run each method SEEDS times within BUDGET; report queries and cost to the optimum, and regret."""
    from infonas.bench.resume import open_for_command
    from infonas.bench.search import format_search_table, run_search_benchmark
    from infonas.evaluators.tabular import TabularBenchmark
    from search_spaces import get_space

    if (cheap is None) != (cheap_cost is None):
        raise click.UsageError("--cheap and --cheap-cost go together: give a cheap column and its cost, or neither")
    if cheap is None and budget != int(budget):
        raise click.BadParameter(f"without --cheap it counts evaluations: give a whole number, got {budget}",
                                 param_hint="'--budget'")
    if cheap_setup_cost and cheap is None:
        raise click.UsageError("--cheap-setup-cost is the cheap fidelity's one-off cost: give --cheap and --cheap-cost "
                               "too, or leave it out")
    try:
        # "is not None": an empty --cheap is a column name too, refused here before the log is opened.
        benchmark = TabularBenchmark.from_csv(table, get_space(space_name),
                                              required=[objective] + ([cheap] if cheap is not None else []))
        started = time.perf_counter()
        log = open_for_command(out, "search", click.get_current_context().params)
        # The callback left canonical specs, whose values hold no ',' (infonas.bench.methods).
        results = run_search_benchmark(benchmark, objective, methods.split(","), seeds, budget if cheap else int(budget),
                                       maximize=not minimize, progress=not quiet, cheap=cheap, cheap_cost=cheap_cost,
                                       workers=workers, stop_at_optimum=not full_budget, log=log, pool=pool,
                                       cheap_setup_cost=cheap_setup_cost or 0.0, unit_seconds=unit_seconds)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    _finish_benchmark(results, started, out, format_search_table, log, workers)


@bench.command("pareto")
@click.option("--table", required=True, type=click.Path(dir_okay=False), help="Benchmark table (CSV).")
@click.option("--objectives", required=True,
              help="Comma-separated NAME:max|min; NAME is a table column or flops, params, latency_ms.")
@click.option("--methods", default="bo-ehvi,bo-mesmo,nsga2,rs", show_default=True)
@click.option("--seeds", type=POSITIVE_INT, default=10, show_default=True)
@click.option("--budget", type=POSITIVE_FLOAT, default=100, show_default=True,
              help="Evaluations per seed; with --cheap, total cost per seed (one target evaluation costs 1).")
@_cheap_fidelity_options
@click.option("--normalise", "normalisation", type=click.Choice(["front", "table"]), default="front",
              show_default=True, help="Scale objectives between the true front's nadir and ideal, or over the whole "
                                      "table (then untrainable cells stretch every range).")
@click.option("--dataset", type=click.Choice(["cifar10", "cifar100", "imagenet16-120", "mnist1d", "digits"]),
              default="cifar10", show_default=True, help="Network whose FLOPs, params and latency are computed.")
@click.option("--channels", type=POSITIVE_INT, help="Width C of that network (default: the data set's preset).")
@click.option("--num-cells", type=POSITIVE_INT, help="Cells per stage N of that network (default: the preset's).")
@click.option("--latency-cells", type=click.IntRange(min=2), default=50, show_default=True,
              help="Random cells on which the latency lookup table is checked against whole networks.")
@click.option("--workers", type=POSITIVE_INT, default=1, show_default=True, help="Seeds run in this many processes.")
@click.option("--space", "space_name", default="nb201", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False),
              help="Write the JSON results here; finished seeds are kept beside it, so a rerun resumes.")
@click.option("--quiet", is_flag=True)
def bench_pareto(table: str, objectives: str, methods: str, seeds: int, budget: float, cheap: str | None,
                 cheap_cost: float | None, cheap_setup_cost: float | None, normalisation: str, dataset: str,
                 channels: int | None, num_cells: int | None, latency_cells: int, workers: int, space_name: str,
                 out: str | None, quiet: bool) -> None:
    """Hypervolume of the Pareto fronts each method finds, against the whole table's front."""
    from infonas.bench.pareto import check_computed_columns, format_pareto_table, pareto_costs, run_pareto_benchmark
    from infonas.bench.resume import open_for_command
    from infonas.evaluators.tabular import TabularBenchmark
    from search_spaces import get_space
    from search_spaces.nb201.cost_tables import lookup_vs_measured
    from search_spaces.nb201.network import NetworkConfig

    names = parse_list(methods)
    check_strategy_names(names, "--methods")
    parsed = parse_objectives_option(objectives)
    if len(parsed) < 2:
        raise click.BadParameter(f"a Pareto benchmark needs two or more objectives, got {objectives!r}",
                                 param_hint="'--objectives'")
    if (cheap is None) != (cheap_cost is None):
        raise click.UsageError("--cheap and --cheap-cost go together: give a cheap column and its cost, or neither")
    if cheap_setup_cost and cheap is None:
        raise click.UsageError("--cheap-setup-cost is the cheap fidelity's one-off cost: give --cheap and --cheap-cost "
                               "too, or leave it out")
    if cheap is None and budget != int(budget):
        raise click.BadParameter(f"without --cheap it counts evaluations: give a whole number, got {budget}",
                                 param_hint="'--budget'")
    try:
        space = get_space(space_name)
        benchmark = TabularBenchmark.from_csv(table, space, required=[cheap] if cheap is not None else [])
        check_objective_names(parsed, sorted(benchmark.metrics), measured_as="a table column")
        config = NetworkConfig.for_dataset(dataset, num_cells=num_cells or None, channels=channels or None)
        with_latency = any(o.name == "latency_ms" for o in parsed)
        started = time.perf_counter()
        log = open_for_command(out, "pareto", click.get_current_context().params)
        if "costs" not in log.saved:  # a resumed run reuses the latencies its finished seeds saw
            click.echo("measuring FLOPs and parameters" + (" and the latency lookup table" if with_latency else ""),
                       err=True)
        costs = pareto_costs(space, config, with_latency, log)
        check_computed_columns(benchmark, parsed, costs)
        results = run_pareto_benchmark(benchmark, parsed, names, seeds, budget if cheap else int(budget), costs,
                                       progress=not quiet, workers=workers, log=log, cheap=cheap,
                                       cheap_cost=cheap_cost, cheap_setup_cost=cheap_setup_cost or 0.0,
                                       normalisation=normalisation)
        results["dataset"] = dataset
        results["network"] = config.to_json()
        if with_latency:
            results["latency_table"] = costs.to_json()
            results["latency_lookup"] = lookup_vs_measured(costs, space, config, num_cells=latency_cells,
                                                           progress=not quiet)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    _finish_benchmark(results, started, out, format_pareto_table, log, workers)


@bench.command("surrogate")
@click.option("--table", required=True, type=click.Path(dir_okay=False), help="Benchmark table (CSV).")
@click.option("--objective", required=True, help="Column to predict.")
@click.option("--cheap", help="Cheap-fidelity column: also benchmark the multi-fidelity model.")
@click.option("--train-sizes", default="10,25,50,100,200", show_default=True)
@click.option("--seeds", type=POSITIVE_INT, default=10, show_default=True)
@click.option("--models", default="onehot-rbf,hamming,wl,wl+hamming", show_default=True)
@click.option("--space", "space_name", default="nb201", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False),
              help="Write the JSON results here; finished seeds are kept beside it, so a rerun resumes.")
@click.option("--quiet", is_flag=True)
def bench_surrogate(table: str, objective: str, cheap: str | None, train_sizes: str, seeds: int, models: str,
                    space_name: str, out: str | None, quiet: bool) -> None:
    """Fit surrogates on random cells, predict all others: rank correlation, NLPD, 90% coverage."""
    from infonas.bench.resume import open_for_command
    from infonas.bench.search import format_surrogate_table
    from infonas.bench.surrogate import run_surrogate_benchmark
    from infonas.evaluators.tabular import TabularBenchmark
    from search_spaces import get_space

    try:
        sizes = [int(n) for n in parse_list(train_sizes)]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise click.BadParameter(f"expected comma-separated whole numbers of at least 1, got {train_sizes!r}",
                                 param_hint="'--train-sizes'")
    names = parse_list(models)  # here: a usage error raised once the log is open would leave it behind
    try:
        # "is not None": an empty --cheap is a column name too (none has it), refused before the log is opened.
        benchmark = TabularBenchmark.from_csv(table, get_space(space_name),
                                              required=[objective] + ([cheap] if cheap is not None else []))
        started = time.perf_counter()
        log = open_for_command(out, "surrogate", click.get_current_context().params)
        results = run_surrogate_benchmark(
            benchmark.archs, benchmark.column(objective), objective,
            cheap=benchmark.column(cheap) if cheap is not None else None, train_sizes=sizes, seeds=seeds,
            models=names, space=benchmark.space, progress=not quiet, log=log)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    _finish_benchmark(results, started, out, format_surrogate_table, log)


@bench.command("table")
@click.option("--data", "dataset", type=click.Choice(["mnist1d", "digits"]), default="mnist1d", show_default=True,
              help="Embedded data set the cells are trained on.")
@click.option("--cells", type=POSITIVE_INT, default=2000, show_default=True,
              help="Canonical cells, drawn by --seed uniformly over the canonical classes.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the cell list, the data split and the first training run.")
@click.option("--repeat", type=click.IntRange(min=0), default=500, show_default=True,
              help="The first REPEAT cells are trained again with seeds seed+1..seed+K (the seed-to-seed ceiling).")
@click.option("--repeat-seeds", type=POSITIVE_INT, default=1, show_default=True,
              help="Extra seeds (seed+1..seed+K) of the repeated cells; a resumed build may raise it.")
@click.option("--epochs", type=POSITIVE_INT, default=3, show_default=True, help="Training epochs per cell.")
@click.option("--channels", type=POSITIVE_INT, default=8, show_default=True, help="Width C of the first stage.")
@click.option("--supernet-epochs", type=POSITIVE_INT, default=100, show_default=True)
@click.option("--recalibration-batches", type=POSITIVE_INT, default=10, show_default=True,
              help="Training batches on which each sub-network's BN statistics are recomputed.")
@click.option("--phases", default="train,repeat,supernet,scores", show_default=True,
              help="Build steps to run; separate processes may run different phases of one build at once.")
@click.option("--run-dir", required=True, type=click.Path(file_okay=False),
              help="Where the build's studies and checkpoints live; an existing one is resumed.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the table (CSV) here when the phases are done.")
@click.option("--quiet", is_flag=True)
def bench_table(dataset: str, cells: int, seed: int, repeat: int, repeat_seeds: int, epochs: int, channels: int,
                supernet_epochs: int, recalibration_batches: int, phases: str, run_dir: str, out: str | None,
                quiet: bool) -> None:
    """Build (or resume) a ground-truth table: CELLS canonical cells trained from scratch and scored
    on weight-sharing supernets, every step a resumable study under RUN_DIR."""
    from infonas.bench.meta import benchmark_meta, command_line
    from infonas.bench.table import TableSettings, build_summary, build_table, write_table

    started = time.perf_counter()
    settings = TableSettings(dataset=dataset, cells=cells, seed=seed, repeat=min(repeat, cells),
                             repeat_seeds=repeat_seeds, epochs=epochs,
                             channels=channels, supernet_epochs=supernet_epochs,
                             recalibration_batches=recalibration_batches)
    try:
        build_table(run_dir, settings, phases=parse_list(phases), progress=not quiet)
        if out:
            rows = write_table(run_dir, out)
            provenance = str(Path(out).with_suffix(".json"))
            write_json(provenance, {"meta": benchmark_meta(command_line(click.get_current_context()), 1,
                                                           time.perf_counter() - started),
                                    "settings": dataclasses.asdict(settings), "phases": build_summary(run_dir)})
            click.echo(f"{rows} cells written to {out}; provenance in {provenance}")
    except EXPECTED_ERRORS as error:
        fail(str(error))


@bench.command("fidelity")
@click.option("--table", required=True, type=click.Path(dir_okay=False), help="Benchmark table (CSV).")
@click.option("--target", default="test_acc", show_default=True, help="Ground-truth column the signals should rank.")
@click.option("--signals", help="Comma-separated columns to score; default: every numeric column but the target, "
                                "the ceiling column, the target measured again (valid_acc, every test_acc* "
                                "column, the last valid_acc_ep<k>) and train_seconds.")
@click.option("--ceiling-column", default="test_acc_seed1", show_default=True,
              help="The target measured again with another seed: its tau with the target is the ceiling.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the JSON results here.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write a PNG of target against each signal here.")
@click.option("--bootstrap", type=click.IntRange(min=0), default=200, show_default=True,
              help="Resamples for each signal's 90% interval of Kendall tau (0: none).")
def bench_fidelity(table: str, target: str, signals: str | None, ceiling_column: str, out: str | None,
                   plot: str | None, bootstrap: int) -> None:
    """Rank quality of cheap signals (supernet scores, short training, size) against TARGET:
    Kendall tau, Spearman, precision at the top 5% and 10%, and the seed-to-seed ceiling."""
    from infonas.bench.fidelity import fidelity_report, format_fidelity_table, plot_fidelity, read_table_columns
    from infonas.bench.meta import benchmark_meta, command_line

    started = time.perf_counter()
    chosen = parse_list(signals) if signals is not None else None
    try:
        columns = read_table_columns(table)
        results = fidelity_report(columns, target, chosen, ceiling_column, bootstrap)
        if plot:
            results["plot"] = str(plot_fidelity(columns, results, plot))
    except EXPECTED_ERRORS as error:
        fail(str(error))
    results["total_seconds"] = time.perf_counter() - started
    results["meta"] = benchmark_meta(command_line(click.get_current_context()), 1, results["total_seconds"])
    if out:
        write_json(out, {"meta": results["meta"], **results})
    click.echo(format_fidelity_table(results))
    if out or plot:
        click.echo("written: " + ", ".join(path for path in (out, plot) if path))


@bench.command("memory")
@click.option("--data", "dataset", type=click.Choice(["mnist1d", "digits"]), default="mnist1d", show_default=True)
@click.option("--channels", type=POSITIVE_INT, default=8, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=2), default=64, show_default=True)
@click.option("--steps", type=POSITIVE_INT, default=20, show_default=True, help="Training steps measured.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the JSON results here.")
def bench_memory(dataset: str, channels: int, batch_size: int, steps: int, out: str | None) -> None:
    """Memory of training the largest cell, the single-path supernet and the mixed-operation supernet,
    each in a fresh process: accounted bytes (weights, gradients, optimizer state, saved activations)
    and the increase of peak RSS."""
    from infonas.bench.memory import memory_benchmark
    from infonas.bench.meta import benchmark_meta, command_line

    started = time.perf_counter()
    results = memory_benchmark(dataset=dataset, channels=channels, batch_size=batch_size, steps=steps)
    results["meta"] = benchmark_meta(command_line(click.get_current_context()), 1, time.perf_counter() - started)
    if out:
        write_json(out, results)
    click.echo(f"{'kind':<8}{'params':>10}{'accounted MiB':>15}{'peak RSS +MiB':>15}")
    for kind, row in results["measurements"].items():
        increase = row["rss_increase_kib"]
        click.echo(f"{kind:<8}{row['parameters']:>10}{row['accounted_bytes'] / 2**20:>15.2f}"
                   + (f"{increase / 1024:>15.2f}" if increase is not None else f"{'n/a':>15}"))
    for mode, ratio in results["ratio_to_cell"].items():
        click.echo(f"{mode} / one cell: " + ", ".join(f"{name} {value:.2f}x" for name, value in ratio.items()))


@bench.command("main-job")
@click.option("--work-dir", required=True, type=click.Path(file_okay=False),
              help="Where the uninterrupted and the killed runs go (must not hold them already).")
@click.option("--kills", type=click.IntRange(min=0), default=2, show_default=True,
              help="How many times the second run is killed with SIGKILL and resumed.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Draws the moments of the kills (the job's own seed is a search option).")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the JSON results here.")
@click.argument("search_args", nargs=-1, type=click.UNPROCESSED)
def bench_main_job(work_dir: str, kills: int, seed: int, out: str | None, search_args: tuple[str, ...]) -> None:
    """Time `infonas search SEARCH_ARGS` (none: the main job), then kill a second run KILLS times at
    random moments, resume it, and check it ends with the same trials as the uninterrupted one."""
    from infonas.bench.main_job import format_main_job, run_main_job_benchmark
    from infonas.bench.resume import open_for_command

    if Path(work_dir).exists() and any(Path(work_dir).iterdir()):
        raise click.BadParameter(f"{work_dir} is not empty; give a new directory", param_hint="'--work-dir'")
    started = time.perf_counter()
    log = open_for_command(None, "main-job", click.get_current_context().params)
    try:
        results = run_main_job_benchmark(work_dir, search_args, kills=kills, seed=seed,
                                         echo=lambda line: click.echo(line, err=True))
    except (RuntimeError, AssertionError) as error:
        fail(str(error))
    _finish_benchmark(results, started, out, format_main_job, log)
