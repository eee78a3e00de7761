"""The ``infonas`` command line: search, resume, report, metrics and benchmarks."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

DEFAULT_RUNS_DIR = Path("runs")
DEFAULT_TRAINING_BUDGET = 24


def _fail(message: str) -> None:
    raise click.ClickException(message)


def _parse_list(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise click.BadParameter("expected a comma-separated list")
    return items


def _csv_header(path: str) -> list[str]:
    """The column names of a CSV file (an empty list for a missing or empty file: the loader
    reports those errors properly)."""
    import csv

    try:
        with open(path, newline="") as handle:
            return [name.strip() for name in next(csv.reader(handle), [])]
    except OSError:
        return []


def _write_json(path: str | Path, payload: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(payload, indent=2) + "\n")
    temporary.replace(path)


@click.group()
@click.version_option(package_name="infonas")
@click.option("--threads", type=int, default=1, show_default=True,
              help="torch threads. The GP's matrices are small: one thread is fastest and never oversubscribes.")
def main(threads: int) -> None:
    """Neural architecture search by Bayesian experimental design."""
    if threads < 1:
        raise click.BadParameter("--threads must be at least 1")
    import torch

    torch.set_num_threads(threads)


# ----- search / resume -----

def _print_best(study: Any, k: int = 5) -> None:
    best = study.best(k)
    click.echo(f"\nrun directory: {study.store.path}")
    click.echo(f"finished trials: {len(study.finished_trials())}, total cost: {study.spent_cost():.4g}")
    if not best:
        click.echo("no complete trial yet")
        return
    if study.is_multi_objective:
        from infonas.report import pareto_lines

        click.echo("\n".join(pareto_lines(study)[1:]))
        return
    click.echo(f"best {len(best)} architectures by {study.objective} ({'max' if study.maximize else 'min'}):")
    for rank, trial in enumerate(best, start=1):
        extras = ", ".join(f"{k}={v:.4g}" for k, v in trial.metrics.items() if k != study.objective)
        click.echo(f"{rank:>2}. {trial.metrics[study.objective]:>9.4f}  {study.space.format(trial.arch)}"
                   + (f"  ({extras})" if extras else ""))


@main.command()
@click.option("--space", "space_name", default="nb201", show_default=True, help="Search space.")
@click.option("--table", type=click.Path(dir_okay=False), help="Search a tabular benchmark (CSV) instead of training.")
@click.option("--objective", help="Metric to maximise (a table column; default valid_accuracy when training).")
@click.option("--minimize", is_flag=True, help="Minimise the objective instead.")
@click.option("--strategy", default="bo-ei", show_default=True,
              help="Search strategy: rs, rea, ls, bo-ei, bo-mes, bo-ts, gp-onehot; bo-mf (with --cheap); "
                   "bo-ehvi, bo-mesmo, nsga2 (with --objectives).")
@click.option("--budget", type=int, help="Number of evaluations (default 24 when training, 100 on a table).")
@click.option("--max-cost", type=float, help="Stop once the summed evaluation cost reaches this.")
@click.option("--max-seconds", type=float, help="Stop after this many seconds of searching.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch-size", type=int, default=1, show_default=True, help="Architectures asked per round.")
@click.option("--run-dir", type=click.Path(file_okay=False), help="Run directory (default: a new one under runs/).")
@click.option("--epochs", type=int, help="Training epochs per evaluation (training only).")
@click.option("--objectives", help="Several objectives, NAME:max|min comma-separated (first: measured; "
              "flops, params, latency_ms are computed). Use a bo-ehvi, bo-mesmo, nsga2 or rs strategy.")
@click.option("--reference-point", help="Hypervolume reference, NAME=VALUE comma-separated "
              "(default: the worst value over the table or the space).")
@click.option("--cheap", help="Cheap-fidelity table column (tables only; use strategy bo-mf).")
@click.option("--cheap-cost", type=float, help="Cost of a cheap evaluation, in units of one target evaluation.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def search(space_name: str, table: str | None, objective: str | None, minimize: bool, strategy: str,
           budget: int | None, max_cost: float | None, max_seconds: float | None, seed: int, batch_size: int,
           run_dir: str | None, epochs: int | None, objectives: str | None, reference_point: str | None,
           cheap: str | None, cheap_cost: float | None, quiet: bool) -> None:
    """Run a budgeted search and print the best architectures found.

    With no options: NAS-Bench-201 cells trained from scratch on scikit-learn's digits.
    """
    from infonas.storage.run_store import RunStoreError
    from infonas.evaluators.registry import build_evaluator, table_spec, training_spec
    from infonas.study import Study
    from search_spaces import get_space

    if (cheap is None) != (cheap_cost is None):
        _fail("--cheap and --cheap-cost go together")
    if cheap and not table:
        _fail("--cheap names a table column: it needs --table")
    try:
        space = get_space(space_name)
        parsed = None
        if objectives:
            from infonas.objectives import parse_objectives

            parsed = parse_objectives(objectives)
            if objective and objective != parsed[0].name:
                _fail("--objective and the first of --objectives differ")
            objective = parsed[0].name
        if table:
            if not objective:
                _fail("--table needs --objective COLUMN (or --objectives)")
            columns = _csv_header(table)  # the evaluator loads and validates the table itself
            extra = [o.name for o in (parsed or ())[1:] if o.name in columns]
            spec = table_spec(table, objective, cheap={cheap: cheap_cost} if cheap else None, extra_metrics=extra)
            default_budget = 100
        else:
            spec = training_spec(**({"epochs": epochs} if epochs else {}))
            default_budget = DEFAULT_TRAINING_BUDGET
        evaluator = build_evaluator(spec, space)
        objective = objective or evaluator.metric_names[0]
        computed = None
        if parsed and any(o.name not in evaluator.metric_names for o in parsed):
            from search_spaces.nb201.cost_tables import ArchitectureCosts
            from search_spaces.nb201.network import NetworkConfig

            names = {o.name for o in parsed}
            click.echo("measuring FLOPs, parameters" + (" and the latency lookup table" if "latency_ms" in names else ""),
                       err=True)
            computed = ArchitectureCosts.measure(space, NetworkConfig.for_dataset("cifar10" if table else "digits"),
                                                 latency="latency_ms" in names)
        reference = None
        if reference_point:
            try:
                reference = {k.strip(): float(v) for k, v in (item.split("=") for item in _parse_list(reference_point))}
            except ValueError:
                _fail(f"--reference-point must be NAME=VALUE pairs, got {reference_point!r}")
        if run_dir is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            run_dir = str(DEFAULT_RUNS_DIR / f"{'table' if table else 'digits'}-{strategy}-seed{seed}-{stamp}")
        study = Study.create(run_dir, space, evaluator, objective if not parsed else None, strategy=strategy,
                             seed=seed, maximize=not minimize, batch_size=batch_size, evaluator_spec=spec,
                             objectives=parsed, computed=computed, reference_point=reference)
    except RunStoreError as error:
        _fail(f"{error}\nTo continue that run: infonas resume {run_dir}")
    except (ValueError, OSError) as error:
        _fail(str(error))
    click.echo(f"searching {space.name} with {strategy} (seed {seed}); run directory {run_dir}", err=True)
    evaluations = budget if budget is not None else (None if (max_cost or max_seconds) else default_budget)
    study.optimize(evaluations=evaluations, cost=max_cost, seconds=max_seconds, progress=not quiet)
    _print_best(study)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--budget", type=int, help="Total number of evaluations to reach (default: the original budget).")
@click.option("--max-cost", type=float)
@click.option("--max-seconds", type=float)
@click.option("--quiet", is_flag=True)
def resume(run_dir: str, budget: int | None, max_cost: float | None, max_seconds: float | None, quiet: bool) -> None:
    """Continue a stopped or crashed search from its run directory."""
    from infonas.storage.run_store import RunStoreError
    from infonas.study import Study, StudyError

    try:
        study = Study.load(run_dir)
    except (RunStoreError, StudyError, ValueError, OSError) as error:
        _fail(str(error))
    if budget is None and max_cost is None and max_seconds is None:
        saved = study.saved_budget()
        if saved is None:
            _fail(f"{run_dir} records no budget: give --budget, --max-cost or --max-seconds")
        study.optimize(saved, progress=not quiet)
    else:
        study.optimize(evaluations=budget, cost=max_cost, seconds=max_seconds, progress=not quiet)
    _print_best(study)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the finished trials as JSON instead.")
@click.option("--plots/--no-plots", default=True, show_default=True, help="Write PNG plots into RUN_DIR/plots.")
def report(run_dir: str, as_json: bool, plots: bool) -> None:
    """Summarise a run: best architectures, cost, regret on a table; PNG plots of its progress."""
    from infonas.report import summary_text, trials_json, write_plots
    from infonas.storage.run_store import RunStoreError
    from infonas.study import Study, StudyError

    try:
        study = Study.load(run_dir)
    except (RunStoreError, StudyError, ValueError, OSError) as error:
        _fail(str(error))
    if as_json:
        click.echo(json.dumps(trials_json(study), indent=1))
        return
    click.echo(summary_text(study))
    if plots:
        for path in write_plots(study):
            click.echo(f"wrote {path}")


# ----- metrics -----

@main.command()
@click.option("--space", "space_name", default="nb201", show_default=True)
@click.option("--arch", required=True, help="Architecture string, e.g. NB201's |op~0|+|op~0|op~1|+|...|.")
@click.option("--dataset", type=click.Choice(["cifar10", "cifar100", "digits"]), default="cifar10", show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--batch-size", type=int, default=1, show_default=True, help="Batch size for the latency measurement.")
def metrics(space_name: str, arch: str, dataset: str, device: str, batch_size: int) -> None:
    """Print an architecture's parameters, FLOPs (multiply-accumulates) and latency as JSON."""
    from search_spaces.metrics import ArchitectureMetrics
    from search_spaces import get_space
    from search_spaces.base import InvalidArchitectureError
    from search_spaces.nb201.network import NetworkConfig

    try:
        space = get_space(space_name)
        parsed = space.parse(arch)
        calculator = ArchitectureMetrics(space, NetworkConfig.for_dataset(dataset), device=device,
                                         batch_size=batch_size)
        click.echo(json.dumps(calculator.compute(parsed)))
    except (InvalidArchitectureError, ValueError) as error:
        _fail(str(error))


# ----- benchmarks -----

def _finish_benchmark(results: dict[str, Any], started: float, out: str | None, formatter: Any) -> None:
    """Record the total time, write the JSON (atomically) and print the summary table."""
    results["total_seconds"] = time.perf_counter() - started
    if out:
        _write_json(out, results)
    click.echo(formatter(results))
    click.echo(f"total {results['total_seconds']:.1f} s" + (f"; results written to {out}" if out else ""))


@main.group()
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
    from infonas.strategies import STRATEGIES
    from infonas.evaluators.tabular import TabularBenchmark
    from search_spaces import get_space

    names = _parse_list(methods)
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        _fail(f"unknown method(s) {unknown}; available: {sorted(STRATEGIES)}")
    if seeds < 1 or budget <= 0 or workers < 1:
        _fail("--seeds, --budget and --workers must be positive")
    if (cheap is None) != (cheap_cost is None):
        _fail("--cheap and --cheap-cost go together")
    if cheap is None and budget != int(budget):
        _fail("--budget counts evaluations without --cheap: give a whole number")
    try:
        benchmark = TabularBenchmark.from_csv(table, get_space(space_name),
                                              required=[objective] + ([cheap] if cheap else []))
        started = time.perf_counter()
        results = run_search_benchmark(benchmark, objective, names, seeds, budget if cheap else int(budget),
                                       maximize=not minimize, progress=not quiet, cheap=cheap,
                                       cheap_cost=cheap_cost, workers=workers)
    except ValueError as error:
        _fail(str(error))
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
    from search_spaces.nb201.cost_tables import ArchitectureCosts, lookup_vs_measured
    from infonas.objectives import parse_objectives
    from infonas.strategies import STRATEGIES
    from infonas.evaluators.tabular import TabularBenchmark
    from search_spaces import get_space
    from search_spaces.nb201.network import NetworkConfig

    names = _parse_list(methods)
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        _fail(f"unknown method(s) {unknown}; available: {sorted(STRATEGIES)}")
    if seeds < 1 or budget < 1 or workers < 1:
        _fail("--seeds, --budget and --workers must be positive")
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
    except ValueError as error:
        _fail(str(error))
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
        sizes = [int(n) for n in _parse_list(train_sizes)]
    except ValueError:
        _fail(f"--train-sizes must be comma-separated integers, got {train_sizes!r}")
    try:
        benchmark = TabularBenchmark.from_csv(table, get_space(space_name),
                                              required=[objective] + ([cheap] if cheap else []))
        results = run_surrogate_benchmark(
            benchmark.archs, benchmark.column(objective), objective,
            cheap=benchmark.column(cheap) if cheap else None, train_sizes=sizes, seeds=seeds,
            models=_parse_list(models), space=benchmark.space, progress=not quiet)
    except ValueError as error:
        _fail(str(error))
    if out:
        _write_json(out, results)
    click.echo(format_surrogate_table(results))
    if out:
        click.echo(f"results written to {out}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
