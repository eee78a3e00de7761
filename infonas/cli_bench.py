"""The ``infonas bench`` commands: strategies and surrogates on tabular benchmarks, as JSON files.

``infonas.cli`` registers the ``bench`` group on the main command.
"""

from __future__ import annotations

import time
from typing import Any

import click

from infonas.cli_common import EXPECTED_ERRORS, fail, parse_list, write_json


def _finish_benchmark(results: dict[str, Any], started: float, out: str | None, formatter: Any) -> None:
    """Record the total time, write the JSON (atomically) and print the summary table."""
    results["total_seconds"] = time.perf_counter() - started
    if out:
        write_json(out, results)
    click.echo(formatter(results))
    click.echo(f"total {results['total_seconds']:.1f} s" + (f"; results written to {out}" if out else ""))


@click.group()
def bench() -> None:
    """Benchmarks of strategies and surrogates on tabular benchmarks (they write JSON files)."""


@bench.command("search")
@click.option("--table", required=True, type=click.Path(dir_okay=False), help="Benchmark table (CSV).")
@click.option("--objective", required=True, help="Column to maximise.")
@click.option("--minimize", is_flag=True)
@click.option("--methods", default="rs,rea,ls", show_default=True, help="Comma-separated strategy names.")
@click.option("--seeds", type=int, default=10, show_default=True)
@click.option("--budget", type=float, default=150, show_default=True,
              help="Evaluations per seed; with --cheap, total cost per seed (one target evaluation costs 1).")
@click.option("--cheap", help="Cheap-fidelity column: multi-fidelity strategies may evaluate it instead.")
@click.option("--cheap-cost", type=float, help="Cost of one cheap evaluation, in units of one target evaluation.")
@click.option("--workers", type=int, default=1, show_default=True, help="Seeds run in this many processes.")
@click.option("--space", "space_name", default="nb201", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write the JSON results here.")
@click.option("--quiet", is_flag=True)
def bench_search(table: str, objective: str, minimize: bool, methods: str, seeds: int, budget: float,
                 cheap: str | None, cheap_cost: float | None, workers: int, space_name: str, out: str | None,
                 quiet: bool) -> None:
    """Run each method SEEDS times within BUDGET; report queries and cost to the optimum, and regret."""
    from infonas.bench.search import format_search_table, run_search_benchmark
    from infonas.evaluators.tabular import TabularBenchmark
    from infonas.strategies import STRATEGIES
    from search_spaces import get_space

    names = parse_list(methods)
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        fail(f"unknown method(s) {unknown}; available: {sorted(STRATEGIES)}")
    if seeds < 1 or budget <= 0 or workers < 1:
        fail("--seeds, --budget and --workers must be positive")
    if (cheap is None) != (cheap_cost is None):
        fail("--cheap and --cheap-cost go together")
    if cheap is None and budget != int(budget):
        fail("--budget counts evaluations without --cheap: give a whole number")
    try:
        benchmark = TabularBenchmark.from_csv(table, get_space(space_name),
                                              required=[objective] + ([cheap] if cheap else []))
        started = time.perf_counter()
        results = run_search_benchmark(benchmark, objective, names, seeds, budget if cheap else int(budget),
                                       maximize=not minimize, progress=not quiet, cheap=cheap,
                                       cheap_cost=cheap_cost, workers=workers)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    _finish_benchmark(results, started, out, format_search_table)


@bench.command("pareto")
@click.option("--table", required=True, type=click.Path(dir_okay=False), help="Benchmark table (CSV).")
@click.option("--objectives", required=True,
              help="Comma-separated NAME:max|min; NAME is a table column or flops, params, latency_ms.")
@click.option("--methods", default="bo-ehvi,bo-mesmo,nsga2,rs", show_default=True)
@click.option("--seeds", type=int, default=10, show_default=True)
@click.option("--budget", type=int, default=100, show_default=True, help="Evaluations per seed.")
@click.option("--dataset", type=click.Choice(["cifar10", "cifar100", "imagenet16-120"]), default="cifar10",
              show_default=True, help="Network whose FLOPs, params and latency are computed.")
@click.option("--latency-cells", type=int, default=50, show_default=True,
              help="Random cells on which the latency lookup table is checked against whole networks.")
@click.option("--workers", type=int, default=1, show_default=True, help="Seeds run in this many processes.")
@click.option("--space", "space_name", default="nb201", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write the JSON results here.")
@click.option("--quiet", is_flag=True)
def bench_pareto(table: str, objectives: str, methods: str, seeds: int, budget: int, dataset: str,
                 latency_cells: int, workers: int, space_name: str, out: str | None, quiet: bool) -> None:
    """Hypervolume of the Pareto fronts each method finds, against the whole table's front."""
    from infonas.bench.pareto import format_pareto_table, run_pareto_benchmark
    from infonas.evaluators.tabular import TabularBenchmark
    from infonas.objectives import parse_objectives
    from infonas.strategies import STRATEGIES
    from search_spaces import get_space
    from search_spaces.nb201.cost_tables import ArchitectureCosts, lookup_vs_measured
    from search_spaces.nb201.network import NetworkConfig

    names = parse_list(methods)
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        fail(f"unknown method(s) {unknown}; available: {sorted(STRATEGIES)}")
    if seeds < 1 or budget < 1 or workers < 1:
        fail("--seeds, --budget and --workers must be positive")
    try:
        parsed = parse_objectives(objectives)
        space = get_space(space_name)
        benchmark = TabularBenchmark.from_csv(table, space)
        config = NetworkConfig.for_dataset(dataset)
        with_latency = any(o.name == "latency_ms" for o in parsed)
        started = time.perf_counter()
        click.echo("measuring FLOPs and parameters" + (" and the latency lookup table" if with_latency else ""),
                   err=True)
        costs = ArchitectureCosts.measure(space, config, latency=with_latency)
        results = run_pareto_benchmark(benchmark, parsed, names, seeds, budget, costs, progress=not quiet,
                                       workers=workers)
        results["dataset"] = dataset
        if with_latency:
            results["latency_table"] = costs.to_json()
            results["latency_lookup"] = lookup_vs_measured(costs, space, config, num_cells=latency_cells,
                                                           progress=not quiet)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    _finish_benchmark(results, started, out, format_pareto_table)


@bench.command("surrogate")
@click.option("--table", required=True, type=click.Path(dir_okay=False), help="Benchmark table (CSV).")
@click.option("--objective", required=True, help="Column to predict.")
@click.option("--cheap", help="Cheap-fidelity column: also benchmark the multi-fidelity model.")
@click.option("--train-sizes", default="10,25,50,100,200", show_default=True)
@click.option("--seeds", type=int, default=10, show_default=True)
@click.option("--models", default="onehot-rbf,hamming,wl,wl+hamming", show_default=True)
@click.option("--space", "space_name", default="nb201", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write the JSON results here.")
@click.option("--quiet", is_flag=True)
def bench_surrogate(table: str, objective: str, cheap: str | None, train_sizes: str, seeds: int, models: str,
                    space_name: str, out: str | None, quiet: bool) -> None:
    """Fit surrogates on random cells, predict all others: rank correlation, NLPD, 90% coverage."""
    from infonas.bench.search import format_surrogate_table
    from infonas.bench.surrogate import run_surrogate_benchmark
    from infonas.evaluators.tabular import TabularBenchmark
    from search_spaces import get_space

    try:
        sizes = [int(n) for n in parse_list(train_sizes)]
    except ValueError:
        fail(f"--train-sizes must be comma-separated integers, got {train_sizes!r}")
    try:
        benchmark = TabularBenchmark.from_csv(table, get_space(space_name),
                                              required=[objective] + ([cheap] if cheap else []))
        results = run_surrogate_benchmark(
            benchmark.archs, benchmark.column(objective), objective,
            cheap=benchmark.column(cheap) if cheap else None, train_sizes=sizes, seeds=seeds,
            models=parse_list(models), space=benchmark.space, progress=not quiet)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    if out:
        write_json(out, results)
    click.echo(format_surrogate_table(results))
    if out:
        click.echo(f"results written to {out}")
