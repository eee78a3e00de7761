"""``infonas search`` and the loop ``search``/``resume`` share: the main job by default.

With no options, ``search`` is the project's main job: NAS-Bench-201 cells on MNIST-1D at two
fidelities (``FidelityChain``: a weight-sharing supernet's score, then full training, both with
the network of the ground-truth table benchmarks/data/nb201_mnist1d.csv), searched for the front
of validation accuracy against FLOPs by ``PARETO_STRATEGY``; ``--objective valid_acc`` searches
accuracy alone with ``SINGLE_STRATEGY``. The supernet is trained first (checkpointed inside the
run directory, so ``infonas resume`` continues it) when the strategy is multi-fidelity; other
strategies only train. ``--data digits`` and ``--table`` keep the single-fidelity searches.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Self

import click

from infonas.cli_common import (
    EXPECTED_ERRORS,
    NON_NEGATIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    check_objective_names,
    check_strategy_names,
    csv_header,
    execution_from,
    execution_options,
    fail,
    parse_objectives_option,
    parse_reference_point,
)
from infonas.exceptions import InfonasError, RunStoreError
from infonas.study import DEFAULT_BATCH_SIZE, DEFAULT_SEED, DEFAULT_STRATEGY

DEFAULT_RUNS_DIR = Path("runs")
DEFAULT_TRAINING_BUDGET = 24

#: The main job's strategy for several objectives. Flip to "bo-mf-pareto" once it is registered
#: in infonas.strategies: until then the default job's Pareto search trains every cell.
PARETO_STRATEGY = "bo-mf-pareto"
#: The main job's strategy for one objective (``--objective valid_acc``).
SINGLE_STRATEGY = "bo-mf"
#: The main job's objectives, and the worst accuracy that counts for the hypervolume (FLOPs'
#: worst is the largest cell's, computed over the space).
MAIN_OBJECTIVES = "valid_acc:max,flops:min"
MAIN_REFERENCE = {"valid_acc": 0.0}
#: The main job's sizes, chosen so supernet and search together take under 10 minutes on the
#: project's loaded 2-core machine: supernet epochs, training epochs (the table's 3), and the
#: budget: evaluations, and cost in trainings on top of the supernet's one-off training.
MAIN_SUPERNET_EPOCHS = 30
MAIN_EPOCHS = 3
MAIN_EVALUATIONS = 150
MAIN_SEARCH_COST = 40.0


def run_search(study: Any, budget: Any, progress: bool, execution: dict[str, Any] | None = None) -> None:
    """Prepare the evaluator when the strategy will use its cheap fidelity (train or resume the
    supernet), then search to ``budget`` (``execution``: the executor and failure policies,
    ``execution_from``); an expected error ends it with one line (finished trials stay
    journalled). Multi-fidelity runs show both fidelities in the progress bar."""
    execution = execution or {}
    try:
        if study.strategy.multi_fidelity and hasattr(study.evaluator, "prepare"):
            # Saved before the supernet trains (``optimize`` saves it too, later): a run killed
            # while it trains resumes to the same budget.
            study.store.write_snapshot("budget", dataclasses.asdict(budget))
            study.evaluator.prepare(progress=progress)
        if progress and len(study.evaluator.fidelities) > 1:
            with FidelityProgress(study, budget) as bar:
                study.optimize(budget, progress=False, callbacks=[bar], **execution)
        else:
            study.optimize(budget, progress=progress, **execution)
    except InfonasError as error:
        fail(str(error))
    if study.stop_reason:
        # One line whatever the reason says: the summary below must stay readable.
        click.echo("note: the search stopped before its budget: " + " ".join(study.stop_reason.split()))


class FidelityProgress:
    """A progress bar over the budget's cost (else its evaluations) whose postfix counts the trials
    and cost of each fidelity; called after each told trial (a ``Study.optimize`` callback)."""

    def __init__(self, study: Any, budget: Any) -> None:
        from tqdm.auto import tqdm

        self.by_cost = budget.cost is not None
        total = budget.cost if self.by_cost else budget.evaluations
        self.bar = tqdm(total=total, desc="search", unit="cost" if self.by_cost else "trial", dynamic_ncols=True,
                        bar_format="{l_bar}{bar}| {n:.4g}/{total:.4g} [{elapsed}<{remaining}{postfix}]"
                        if self.by_cost else None)
        self._show(study)

    def _show(self, study: Any) -> None:
        counts = {name: [0, 0.0] for name in sorted(study.evaluator.fidelities,
                                                    key=lambda n: study.evaluator.fidelities[n].level)}
        for trial in study.finished_trials():
            counts.setdefault(trial.fidelity, [0, 0.0])
            counts[trial.fidelity][0] += 1
            counts[trial.fidelity][1] += trial.cost
        parts = [f"{name} {n} ({cost:.3g})" for name, (n, cost) in counts.items()]
        if study.evaluator.setup_cost() > 0:
            parts.append(f"setup ({study.evaluator.setup_cost():.3g})")
        if study.is_multi_objective:
            parts.append(f"front {len(study.pareto_front())}")
        else:
            best = study.best()
            parts.append("best " + (f"{best[0].metrics[study.objective]:.4g}" if best else "-"))
        done = study.spent_cost() if self.by_cost else len(study.finished_trials())
        self.bar.n = min(done, self.bar.total) if self.bar.total is not None else done
        self.bar.set_postfix_str(" | ".join(parts), refresh=False)
        self.bar.refresh()

    def __call__(self, study: Any, trial: Any) -> None:
        self._show(study)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


def print_best(study: Any, k: int = 5) -> None:
    """The run directory, the cost spent and the best trials (the front, for several objectives)."""
    best = study.best(k)
    click.echo(f"\nrun directory: {study.store.path}")
    click.echo(f"finished trials: {len(study.finished_trials())}, total cost: {study.spent_cost():.4g}")
    if len(study.evaluator.fidelities) > 1:
        counts = {name: sum(t.fidelity == name for t in study.finished_trials()) for name in study.evaluator.fidelities}
        click.echo("by fidelity: " + ", ".join(f"{name} {n}" for name, n in counts.items()))
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


@click.command()
@click.option("--space", "space_name", default="nb201", show_default=True, help="Search space.")
@click.option("--table", type=click.Path(dir_okay=False),
              help="Search a tabular benchmark (CSV) instead of training; only its rows are proposed.")
@click.option("--data", type=click.Choice(["mnist1d", "digits"]), default="mnist1d", show_default=True,
              help="Without --table: mnist1d is the main job (supernet and training fidelities); digits trains "
                   "every cell (one fidelity).")
@click.option("--objective", help="Metric to maximise (a table column; valid_acc on mnist1d, valid_accuracy on "
                                  "digits).")
@click.option("--minimize", is_flag=True, help="Minimise the objective instead.")
@click.option("--strategy", help=f"Search strategy (default: {PARETO_STRATEGY} for several objectives and "
              f"{SINGLE_STRATEGY} for one on mnist1d, else {DEFAULT_STRATEGY}): rs, rea, ls, bo-ei, bo-mes, bo-ts, "
              "gp-onehot; bo-mf (two fidelities); bo-ehvi, bo-mesmo, nsga2 (with --objectives). A single-fidelity "
              "strategy on mnist1d only trains.")
@click.option("--budget", type=POSITIVE_INT, help="Number of evaluations (default: 24 on digits, 100 on a table, "
              f"{MAIN_EVALUATIONS} on mnist1d, where the cost also stops it).")
@click.option("--max-cost", type=POSITIVE_FLOAT, help="Stop once the summed evaluation cost reaches this (on mnist1d "
              f"in trainings, the supernet's training included; default: that plus {MAIN_SEARCH_COST:g}).")
@click.option("--max-seconds", type=POSITIVE_FLOAT, help="Stop after this many seconds of searching.")
@click.option("--seed", type=NON_NEGATIVE_INT, default=DEFAULT_SEED, show_default=True)
@click.option("--batch-size", type=POSITIVE_INT, default=DEFAULT_BATCH_SIZE, show_default=True,
              help="Architectures asked per round.")
@click.option("--run-dir", type=click.Path(file_okay=False), help="Run directory (default: a new one under runs/).")
@click.option("--epochs", type=POSITIVE_INT, help=f"Training epochs per evaluation (default {MAIN_EPOCHS} on mnist1d, "
              "as the table; 10 on digits).")
@click.option("--supernet-epochs", type=POSITIVE_INT, default=MAIN_SUPERNET_EPOCHS, show_default=True,
              help="Supernet training epochs (mnist1d).")
@click.option("--channels", type=POSITIVE_INT, help="Network width (default 8 on mnist1d, as the table; 16 on digits).")
@click.option("--objectives", help="Several objectives, NAME:max|min comma-separated (first: measured; flops, params, "
              f"latency_ms are computed; default on mnist1d: {MAIN_OBJECTIVES} unless --objective or --strategy).")
@click.option("--reference-point", help="Hypervolume reference, NAME=VALUE comma-separated "
              "(default: the worst value over the table or the space; 0 for an accuracy on mnist1d).")
@click.option("--cheap", help="Cheap-fidelity table column (tables only; use strategy bo-mf).")
@click.option("--cheap-cost", type=POSITIVE_FLOAT,
              help="Cost of a cheap evaluation, in units of one target evaluation.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@execution_options
def search(space_name: str, table: str | None, data: str, objective: str | None, minimize: bool,
           strategy: str | None, budget: int | None, max_cost: float | None, max_seconds: float | None, seed: int,
           batch_size: int, run_dir: str | None, epochs: int | None, supernet_epochs: int, channels: int | None,
           objectives: str | None, reference_point: str | None, cheap: str | None, cheap_cost: float | None,
           quiet: bool, **execution_choices: Any) -> None:
    """Run a budgeted search and print the best architectures found.

    With no options, the main job: NAS-Bench-201 cells on MNIST-1D, a supernet's scores and full
    trainings as two fidelities, the front of validation accuracy against FLOPs. Every option is
    checked before the run directory is created.
    """
    from infonas.budget import Budget
    from infonas.evaluators.registry import build_evaluator, mnist1d_chain_spec, table_spec, training_spec
    from infonas.study import Study
    from search_spaces import get_space

    # The main job's supernet and ground-truth table are NB201's: other spaces train every evaluation.
    main_job = table is None and data == "mnist1d" and space_name == "nb201"
    if main_job and objectives is None and objective is None and strategy is None:
        objectives = MAIN_OBJECTIVES
    parsed, reference = check_search_options(table, objective, minimize, strategy, epochs, objectives,
                                             reference_point, cheap, cheap_cost, channels)
    try:
        execution = execution_from(**execution_choices)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    if strategy is None:
        strategy = (PARETO_STRATEGY if parsed and len(parsed) > 1 else SINGLE_STRATEGY) if main_job \
            else DEFAULT_STRATEGY
        check_strategy_names([strategy], "--strategy")
    objective = parsed[0].name if parsed else objective
    if run_dir is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = str(DEFAULT_RUNS_DIR / f"{'table' if table else data}-{strategy}-seed{seed}-{stamp}")
    try:
        space = get_space(space_name)
        network = {} if channels is None else {"channels": channels}
        if table:
            columns = csv_header(table)  # the evaluator loads and validates the table itself
            extra = [o.name for o in (parsed or ())[1:] if o.name in columns]
            spec = table_spec(table, objective, cheap={cheap: cheap_cost} if cheap else None, extra_metrics=extra)
        elif main_job:
            spec = mnist1d_chain_spec(Path(run_dir) / "supernet", epochs=epochs or MAIN_EPOCHS,
                                      supernet_epochs=supernet_epochs, **network)
        else:
            spec = training_spec(**({"epochs": epochs} if epochs else {}), **network)
        evaluator = build_evaluator(spec, space)
        objective = objective or evaluator.metric_names[0]
        check_objective_names(parsed, evaluator.metric_names)
        computed = None
        if parsed and any(o.name not in evaluator.metric_names for o in parsed):
            from search_spaces.nb201.network import NetworkConfig
            from search_spaces.networks import measure_costs

            names = {o.name for o in parsed}
            click.echo("measuring FLOPs, parameters" + (" and the latency lookup table" if "latency_ms" in names else ""),
                       err=True)
            # The network the cells are trained in (the table's, on mnist1d); a table's is CIFAR-10's.
            trainer = getattr(evaluator, "target", evaluator)
            config = trainer.network_config_for(space.name) if hasattr(trainer, "network_config_for") else \
                getattr(trainer, "network_config", None) or NetworkConfig.for_dataset("cifar10" if table else "digits")
            computed = measure_costs(space, config, latency="latency_ms" in names)
        if main_job and parsed and len(parsed) > 1:
            reference = {**{k: v for k, v in MAIN_REFERENCE.items() if k in {o.name for o in parsed}},
                         **(reference or {})}
        # Study.create checks everything else (strategy options, reference point) before it
        # creates the run directory.
        study = Study.create(run_dir, space, evaluator, objective if not parsed else None, strategy=strategy,
                             seed=seed, maximize=not minimize, batch_size=batch_size, evaluator_spec=spec,
                             objectives=parsed, computed=computed, reference_point=reference)
        limits = _budget(Budget, study, table, main_job, budget, max_cost, max_seconds)
    except RunStoreError as error:
        # One line, and the hint only where there is a run to continue (not for a directory that cannot be made).
        held = os.path.isfile(os.path.join(run_dir, "config.json"))  # False, not OSError, for a name too long
        fail(f"{error}" + (f"; to continue that run: infonas resume {run_dir}" if held else ""))
    except EXPECTED_ERRORS as error:
        fail(str(error))
    click.echo(f"searching {space.name} with {strategy} (seed {seed}); run directory {run_dir}", err=True)
    run_search(study, limits, progress=not quiet, execution=execution)
    print_best(study)


def _budget(budget_type: Any, study: Any, table: str | None, main_job: bool, evaluations: int | None,
            cost: float | None, seconds: float | None) -> Any:
    """The limits given, or the defaults: a number of evaluations, and on mnist1d also a cost of
    ``MAIN_SEARCH_COST`` trainings plus the supernet's training when the strategy uses it."""
    if evaluations is not None or cost is not None or seconds is not None:
        return budget_type(evaluations=evaluations, cost=cost, seconds=seconds)
    if not main_job:
        return budget_type(evaluations=100 if table else DEFAULT_TRAINING_BUDGET)
    setup = study.evaluator.fixed_setup_cost if study.strategy.multi_fidelity else 0.0
    return budget_type(evaluations=MAIN_EVALUATIONS, cost=setup + MAIN_SEARCH_COST)


def check_search_options(table: str | None, objective: str | None, minimize: bool, strategy: str | None,
                         epochs: int | None, objectives: str | None, reference_point: str | None,
                         cheap: str | None, cheap_cost: float | None,
                         channels: int | None = None) -> tuple[Any, dict[str, float] | None]:
    """The options of ``search`` that must agree with each other: usage errors, before any work.

    Returns the parsed ``--objectives`` (``None`` without) and ``--reference-point``.
    """
    if strategy is not None:
        check_strategy_names([strategy], "--strategy")
    if (cheap is None) != (cheap_cost is None):
        raise click.UsageError("--cheap and --cheap-cost go together: give a cheap column and its cost, or neither")
    if cheap and not table:
        raise click.UsageError("--cheap names a table column: it needs --table")
    if (epochs is not None or channels is not None) and table:
        raise click.UsageError("--epochs and --channels set the trained network, and a --table search trains nothing: "
                               "leave them out")
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
