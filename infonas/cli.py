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
@click.option("--strategy", default="bo-ei", show_default=True, help="Search strategy: rs, rea, ls, bo-ei, bo-mes, bo-ts, gp-onehot.")
@click.option("--budget", type=int, help="Number of evaluations (default 24 when training, 100 on a table).")
@click.option("--max-cost", type=float, help="Stop once the summed evaluation cost reaches this.")
@click.option("--max-seconds", type=float, help="Stop after this many seconds of searching.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch-size", type=int, default=1, show_default=True, help="Architectures asked per round.")
@click.option("--run-dir", type=click.Path(file_okay=False), help="Run directory (default: a new one under runs/).")
@click.option("--epochs", type=int, help="Training epochs per evaluation (training only).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def search(space_name: str, table: str | None, objective: str | None, minimize: bool, strategy: str,
           budget: int | None, max_cost: float | None, max_seconds: float | None, seed: int, batch_size: int,
           run_dir: str | None, epochs: int | None, quiet: bool) -> None:
    """Run a budgeted search and print the best architectures found.

    With no options: NAS-Bench-201 cells trained from scratch on scikit-learn's digits.
    """
    from infonas.run_store import RunStoreError
    from infonas.specs import build_evaluator, table_spec, training_spec
    from infonas.study import Study
    from search_spaces import get_space

    try:
        space = get_space(space_name)
        if table:
            if not objective:
                _fail("--table needs --objective COLUMN")
            spec = table_spec(table, objective)
            default_budget = 100
        else:
            spec = training_spec(**({"epochs": epochs} if epochs else {}))
            default_budget = DEFAULT_TRAINING_BUDGET
        evaluator = build_evaluator(spec, space)
        objective = objective or evaluator.metric_names[0]
        if run_dir is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            run_dir = str(DEFAULT_RUNS_DIR / f"{'table' if table else 'digits'}-{strategy}-seed{seed}-{stamp}")
        study = Study.create(run_dir, space, evaluator, objective, strategy=strategy, seed=seed,
                             maximize=not minimize, batch_size=batch_size, evaluator_spec=spec)
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
    from infonas.run_store import RunStoreError
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
    from infonas.run_store import RunStoreError
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
    from infonas.metrics import ArchitectureMetrics
    from search_spaces import get_space
    from search_spaces.base import InvalidArchitectureError
    from search_spaces.nb201_network import NetworkConfig

    try:
        space = get_space(space_name)
        parsed = space.parse(arch)
        calculator = ArchitectureMetrics(space, NetworkConfig.for_dataset(dataset), device=device,
                                         batch_size=batch_size)
        click.echo(json.dumps(calculator.compute(parsed)))
    except (InvalidArchitectureError, ValueError) as error:
        _fail(str(error))


# ----- benchmarks -----

@main.group()
def bench() -> None:
    """Benchmarks of strategies and surrogates on tabular benchmarks (they write JSON files)."""


@bench.command("search")
@click.option("--table", required=True, type=click.Path(dir_okay=False), help="Benchmark table (CSV).")
@click.option("--objective", required=True, help="Column to maximise.")
@click.option("--minimize", is_flag=True)
@click.option("--methods", default="rs,rea,ls", show_default=True, help="Comma-separated strategy names.")
@click.option("--seeds", type=int, default=10, show_default=True)
@click.option("--budget", type=int, default=150, show_default=True, help="Evaluations per seed.")
@click.option("--space", "space_name", default="nb201", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write the JSON results here.")
@click.option("--quiet", is_flag=True)
def bench_search(table: str, objective: str, minimize: bool, methods: str, seeds: int, budget: int,
                 space_name: str, out: str | None, quiet: bool) -> None:
    """Run each method SEEDS times for BUDGET evaluations; report queries to the optimum and regret."""
    from infonas.bench import format_search_table, run_search_benchmark
    from infonas.strategies import STRATEGIES
    from infonas.tabular import TabularBenchmark
    from search_spaces import get_space

    names = _parse_list(methods)
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        _fail(f"unknown method(s) {unknown}; available: {sorted(STRATEGIES)}")
    if seeds < 1 or budget < 1:
        _fail("--seeds and --budget must be positive")
    try:
        benchmark = TabularBenchmark.from_csv(table, get_space(space_name), required=[objective])
    except ValueError as error:
        _fail(str(error))
    started = time.perf_counter()
    results = run_search_benchmark(benchmark, objective, names, seeds, budget, maximize=not minimize,
                                   progress=not quiet)
    results["total_seconds"] = time.perf_counter() - started
    if out:
        _write_json(out, results)
    click.echo(format_search_table(results))
    click.echo(f"total {results['total_seconds']:.1f} s" + (f"; results written to {out}" if out else ""))


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
    from infonas.bench import format_surrogate_table
    from infonas.bench_surrogate import run_surrogate_benchmark
    from infonas.tabular import TabularBenchmark
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
