"""The ``infonas`` command line: search, resume, report, repair and metrics; ``bench`` is in ``cli_bench``.

The CLI owns the process: it sets torch's thread count once (``--threads``) and sends the
library's log records to stderr. Every error infonas expects (``InfonasError``) ends a command
with one line and exit status 1, never a traceback.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from infonas.cli_bench import bench
from infonas.cli_common import (
    EXPECTED_ERRORS,
    NON_NEGATIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    check_objective_names,
    check_strategy_names,
    configure_logging,
    csv_header,
    fail,
    parse_objectives_option,
    parse_reference_point,
)
from infonas.exceptions import InfonasError, RunStoreError
from infonas.study import DEFAULT_BATCH_SIZE, DEFAULT_SEED, DEFAULT_STRATEGY, Study

DEFAULT_RUNS_DIR = Path("runs")
DEFAULT_TRAINING_BUDGET = 24


@click.group()
@click.version_option(package_name="infonas")
@click.option("--threads", type=POSITIVE_INT, default=1, show_default=True,
              help="torch threads. The GP's matrices are small: one thread is fastest and never oversubscribes.")
def main(threads: int) -> None:
    """Neural architecture search by Bayesian experimental design."""
    configure_logging()
    import torch

    torch.set_num_threads(threads)


main.add_command(bench)


# ----- search / resume -----

def _optimize(study: Any, **budget: Any) -> None:
    """Run the search; an expected error ends it with one line (finished trials stay journalled)."""
    try:
        study.optimize(**budget)
    except InfonasError as error:
        fail(str(error))
    if study.stop_reason:
        # One line whatever the reason says: the summary below must stay readable.
        click.echo("note: the search stopped before its budget: " + " ".join(study.stop_reason.split()))


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
@click.option("--table", type=click.Path(dir_okay=False),
              help="Search a tabular benchmark (CSV) instead of training; only its rows are proposed.")
@click.option("--objective", help="Metric to maximise (a table column; default valid_accuracy when training).")
@click.option("--minimize", is_flag=True, help="Minimise the objective instead.")
@click.option("--strategy", default=DEFAULT_STRATEGY, show_default=True,
              help="Search strategy: rs, rea, ls, bo-ei, bo-mes, bo-ts, gp-onehot; bo-mf (with --cheap); "
                   "bo-ehvi, bo-mesmo, nsga2 (with --objectives).")
@click.option("--budget", type=POSITIVE_INT, help="Number of evaluations (default 24 when training, 100 on a table).")
@click.option("--max-cost", type=POSITIVE_FLOAT, help="Stop once the summed evaluation cost reaches this.")
@click.option("--max-seconds", type=POSITIVE_FLOAT, help="Stop after this many seconds of searching.")
@click.option("--seed", type=NON_NEGATIVE_INT, default=DEFAULT_SEED, show_default=True)
@click.option("--batch-size", type=POSITIVE_INT, default=DEFAULT_BATCH_SIZE, show_default=True,
              help="Architectures asked per round.")
@click.option("--run-dir", type=click.Path(file_okay=False), help="Run directory (default: a new one under runs/).")
@click.option("--epochs", type=POSITIVE_INT, help="Training epochs per evaluation (training only).")
@click.option("--objectives", help="Several objectives, NAME:max|min comma-separated (first: measured; "
              "flops, params, latency_ms are computed). Use a bo-ehvi, bo-mesmo, nsga2 or rs strategy.")
@click.option("--reference-point", help="Hypervolume reference, NAME=VALUE comma-separated "
              "(default: the worst value over the table or the space).")
@click.option("--cheap", help="Cheap-fidelity table column (tables only; use strategy bo-mf).")
@click.option("--cheap-cost", type=POSITIVE_FLOAT,
              help="Cost of a cheap evaluation, in units of one target evaluation.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def search(space_name: str, table: str | None, objective: str | None, minimize: bool, strategy: str,
           budget: int | None, max_cost: float | None, max_seconds: float | None, seed: int, batch_size: int,
           run_dir: str | None, epochs: int | None, objectives: str | None, reference_point: str | None,
           cheap: str | None, cheap_cost: float | None, quiet: bool) -> None:
    """Run a budgeted search and print the best architectures found.

    With no options: NAS-Bench-201 cells trained from scratch on scikit-learn's digits. Every
    option is checked before the run directory is created.
    """
    from infonas.budget import Budget
    from infonas.evaluators.registry import build_evaluator, table_spec, training_spec
    from search_spaces import get_space

    parsed, reference = _check_search_options(table, objective, minimize, strategy, epochs, objectives,
                                              reference_point, cheap, cheap_cost)
    objective = parsed[0].name if parsed else objective
    try:
        space = get_space(space_name)
        if table:
            columns = csv_header(table)  # the evaluator loads and validates the table itself
            extra = [o.name for o in (parsed or ())[1:] if o.name in columns]
            spec = table_spec(table, objective, cheap={cheap: cheap_cost} if cheap else None, extra_metrics=extra)
        else:
            spec = training_spec(**({"epochs": epochs} if epochs else {}))
        default_budget = 100 if table else DEFAULT_TRAINING_BUDGET
        evaluations = budget if budget is not None else (None if (max_cost or max_seconds) else default_budget)
        limits = Budget(evaluations=evaluations, cost=max_cost, seconds=max_seconds)
        evaluator = build_evaluator(spec, space)
        objective = objective or evaluator.metric_names[0]
        check_objective_names(parsed, evaluator.metric_names)
        computed = None
        if parsed and any(o.name not in evaluator.metric_names for o in parsed):
            from search_spaces.nb201.cost_tables import ArchitectureCosts
            from search_spaces.nb201.network import NetworkConfig

            names = {o.name for o in parsed}
            click.echo("measuring FLOPs, parameters" + (" and the latency lookup table" if "latency_ms" in names else ""),
                       err=True)
            computed = ArchitectureCosts.measure(space, NetworkConfig.for_dataset("cifar10" if table else "digits"),
                                                 latency="latency_ms" in names)
        if run_dir is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            run_dir = str(DEFAULT_RUNS_DIR / f"{'table' if table else 'digits'}-{strategy}-seed{seed}-{stamp}")
        # Study.create checks everything else (strategy options, reference point) before it
        # creates the run directory.
        study = Study.create(run_dir, space, evaluator, objective if not parsed else None, strategy=strategy,
                             seed=seed, maximize=not minimize, batch_size=batch_size, evaluator_spec=spec,
                             objectives=parsed, computed=computed, reference_point=reference)
    except RunStoreError as error:
        fail(f"{error}\nTo continue that run: infonas resume {run_dir}")
    except EXPECTED_ERRORS as error:
        fail(str(error))
    click.echo(f"searching {space.name} with {strategy} (seed {seed}); run directory {run_dir}", err=True)
    _optimize(study, budget=limits, progress=not quiet)
    _print_best(study)


def _check_search_options(table: str | None, objective: str | None, minimize: bool, strategy: str,
                          epochs: int | None, objectives: str | None, reference_point: str | None,
                          cheap: str | None, cheap_cost: float | None) -> tuple[Any, dict[str, float] | None]:
    """The options of ``search`` that must agree with each other: usage errors, before any work.

    Returns the parsed ``--objectives`` (``None`` without) and ``--reference-point``.
    """
    check_strategy_names([strategy], "--strategy")
    if (cheap is None) != (cheap_cost is None):
        raise click.UsageError("--cheap and --cheap-cost go together: give a cheap column and its cost, or neither")
    if cheap and not table:
        raise click.UsageError("--cheap names a table column: it needs --table")
    if epochs is not None and table:
        raise click.UsageError("--epochs sets training epochs, and a --table search trains nothing: leave it out")
    parsed = parse_objectives_option(objectives) if objectives is not None else None
    if parsed and minimize:
        raise click.UsageError("--minimize applies to --objective; with --objectives give each direction, "
                               "e.g. acc:max,flops:min")
    if parsed and objective and objective != parsed[0].name:
        raise click.UsageError(f"--objective {objective} is not the first of --objectives {objectives}: "
                               "give one of the two, or list it first")
    if table and not (objective or parsed):
        raise click.UsageError("--table needs --objective COLUMN (or --objectives)")
    if reference_point is not None and not (parsed and len(parsed) > 1):
        raise click.UsageError("--reference-point bounds the hypervolume of several --objectives: give those too, "
                               "or leave it out")
    reference = parse_reference_point(reference_point) if reference_point is not None else None
    unknown = sorted(set(reference or ()) - {o.name for o in parsed or ()})
    if unknown:
        raise click.BadParameter(f"{', '.join(map(repr, unknown))} is not one of the objectives "
                                 f"{', '.join(o.name for o in parsed)}", param_hint="'--reference-point'")
    return parsed, reference


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--budget", type=POSITIVE_INT,
              help="Total number of evaluations to reach (default: the original budget).")
@click.option("--max-cost", type=POSITIVE_FLOAT, help="Stop once the summed evaluation cost reaches this.")
@click.option("--max-seconds", type=POSITIVE_FLOAT, help="Stop after this many seconds of searching.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def resume(run_dir: str, budget: int | None, max_cost: float | None, max_seconds: float | None, quiet: bool) -> None:
    """Continue a stopped or crashed search from its run directory."""
    try:
        study = Study.load(run_dir)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    if budget is None and max_cost is None and max_seconds is None:
        saved = study.saved_budget()
        if saved is None:
            fail(f"{run_dir} records no budget: give --budget, --max-cost or --max-seconds")
        _optimize(study, budget=saved, progress=not quiet)
    else:
        _optimize(study, evaluations=budget, cost=max_cost, seconds=max_seconds, progress=not quiet)
    _print_best(study)


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

@main.command()
@click.option("--space", "space_name", default="nb201", show_default=True)
@click.option("--arch", required=True, help="Architecture string, e.g. NB201's |op~0|+|op~0|op~1|+|...|.")
@click.option("--dataset", type=click.Choice(["cifar10", "cifar100", "digits"]), default="cifar10", show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--batch-size", type=int, default=1, show_default=True, help="Batch size for the latency measurement.")
def metrics(space_name: str, arch: str, dataset: str, device: str, batch_size: int) -> None:
    """Print an architecture's parameters, FLOPs (multiply-accumulates) and latency as JSON."""
    from search_spaces import get_space
    from search_spaces.metrics import ArchitectureMetrics
    from search_spaces.nb201.network import NetworkConfig

    try:
        space = get_space(space_name)
        parsed = space.parse(arch)
        calculator = ArchitectureMetrics(space, NetworkConfig.for_dataset(dataset), device=device,
                                         batch_size=batch_size)
        click.echo(json.dumps(calculator.compute(parsed)))
    except EXPECTED_ERRORS as error:
        fail(str(error))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
