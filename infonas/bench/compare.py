"""Bayesian and gradient NAS on equal terms: one table, one data split, one wall-clock budget per seed.

Every method gets the same data, seed and ``budget_seconds`` ``T`` of search (setup such as a
supernet's training included) and returns one cell, scored the same way: its ``objective`` in the
table (found by canonical key), or, for a cell the table lacks, the test accuracy of training it
from scratch with the table's own settings (``looked_up`` says which). ``regret = best_in_table -
test_acc`` with ``best_in_table = max`` of the objective column.

Two clocks (each method's ``clock``): table methods (``rs``, ``bo-mes``, ``bo-mf``, any registered
strategy) are charged the seconds the table *recorded* for each evaluation (its ``train_seconds``;
a supernet score at its measured price, the supernet's training up front), as tabular NAS
benchmarks simulate wall-clock, plus their own measured seconds of choosing each evaluation (model
fits, acquisition; ``thinking_seconds``); gradient methods (``darts-1`` ... ``pdarts``) and ``rsps`` are
*measured* on this machine. Table methods select by ``valid_acc`` and never see the objective.

Example:
    >>> results = run_compare(table, methods=["rs", "darts-1"], seeds=2, budget_seconds=60)  # doctest: +SKIP
    >>> sorted(results["methods"]["rs"])[:3]  # doctest: +SKIP
    ['arch', 'clock', 'flops']
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from infonas.bench.common import run_jobs
from infonas.bench.ground_truth import GroundTruth, provenance_settings
from infonas.bench.methods import check_options, check_unique, parse_method
from infonas.bench.resume import JobLog
from infonas.bench.table import TableSettings
from infonas.budget import Budget
from infonas.evaluators.base import Fidelity
from infonas.evaluators.tabular import TabularBenchmark, TabularEvaluator
from infonas.exceptions import InfonasError, InvalidArgumentError
from infonas.gradient.settings import METHODS as GRADIENT_METHODS
from infonas.study import Study
from infonas.trials import EvaluationResult
from search_spaces.base import Architecture

__all__ = ["CHEAP_COLUMN", "GRADIENT_EPOCHS", "SECONDS_COLUMN", "SELECTION", "SecondsTabularEvaluator",
           "check_budget_seeds_data", "check_compare", "format_compare_table", "gradient_job", "run_compare",
           "table_settings"]

logger = logging.getLogger(__name__)

#: The column table methods select by, the recorded seconds they are charged, the cheap fidelity.
SELECTION, SECONDS_COLUMN, CHEAP_COLUMN = "valid_acc", "train_seconds", "supernet_spos_recal"
#: Epochs a gradient search is given, DARTS's published 50: a search ends at the wall-clock budget or
#: at its last epoch, whichever comes first (a fast method can finish early; ``search_seconds`` says).
GRADIENT_EPOCHS = 50
#: Cells RSPS scores once before its search, to size the search to the seconds left.
PROBE_SCORES = 5
def table_settings(table: TabularBenchmark) -> dict[str, Any]:
    """The training settings of ``table``: the ``settings`` of its provenance JSON beside the CSV
    (``nb201_mnist1d.csv`` -> ``nb201_mnist1d.json``), else the project's table's provenance, over
    ``TableSettings``'s defaults."""
    from infonas.evaluators.chain import PROVENANCE

    defaults = dataclasses.asdict(TableSettings())
    for path in (Path(table.source).with_suffix(".json"), PROVENANCE):
        saved = provenance_settings(path)
        if saved is not None:
            return {**defaults, **saved}
    return defaults


class SecondsTabularEvaluator(TabularEvaluator):
    """Table lookups charged in seconds: a target evaluation (column ``selection``) costs its row's
    recorded ``seconds_column``; a cheap one (``cheap = (column, seconds)``) its fixed seconds; the
    cheap fidelity's one-off ``setup_seconds`` are charged once ``charge_setup`` is set. With
    ``charge_thinking``, each evaluation also costs the wall-clock seconds since the previous one
    ended (since construction for the first): the search's own work of choosing it (model fits,
    acquisition, journal), which a real search spends on the same clock; ``thinking_seconds``
    sums them.

    Example:
        >>> evaluator = SecondsTabularEvaluator(table, "valid_acc", "train_seconds")  # doctest: +SKIP
        >>> evaluator.evaluate(table.archs[0]).cost == table.value(table.archs[0], "train_seconds")  # doctest: +SKIP
        True
    """

    def __init__(self, table: TabularBenchmark, selection: str, seconds_column: str,
                 cheap: tuple[str, float] | None = None, setup_seconds: float = 0.0,
                 charge_thinking: bool = False) -> None:
        super().__init__(table, selection, cheap=dict([cheap]) if cheap else None)
        table.require(seconds_column)
        target = self.fidelities[selection]
        # The price is the row's recorded seconds: measured per evaluation, as a training's would be.
        self.fidelities[selection] = Fidelity(selection, None, target.level)
        self.seconds_column, self.setup_seconds, self.charge_setup = seconds_column, float(setup_seconds), False
        self.charge_thinking, self.thinking_seconds = charge_thinking, 0.0
        self._idle_since = time.perf_counter()

    def setup_cost(self) -> float:
        return self.setup_seconds if self.charge_setup else 0.0

    def _evaluate(self, arch: Architecture, fidelity: str) -> EvaluationResult:
        # The parent prices by the fidelity's fixed cost, which the target no longer has.
        cost = self.fidelities[fidelity].cost
        thinking = time.perf_counter() - self._idle_since if self.charge_thinking else 0.0
        self.thinking_seconds += thinking
        result = EvaluationResult({self.objective: self.table.value(arch, fidelity)}, thinking + (
            self.table.value(arch, self.seconds_column) if cost is None else float(cost)))
        self._idle_since = time.perf_counter()
        return result


def _kind(method: str) -> str:
    return "gradient" if method in GRADIENT_METHODS else "rsps" if method == "rsps" else "table"


def _searched(table: TabularBenchmark, objective: str) -> TabularBenchmark:
    """The rows a table method searches: selection, recorded seconds, objective (and cheap column) measured."""
    columns = [SELECTION, SECONDS_COLUMN, objective] + ([CHEAP_COLUMN] if CHEAP_COLUMN in table.metrics else [])
    return table.measured(*columns)


def _prices(settings: Mapping[str, Any]) -> dict[str, float]:
    """Seconds of one supernet score and of the supernet's training, from the table's measurements."""
    from infonas.evaluators.chain import CHEAP, measured_costs

    prices = measured_costs(int(settings["epochs"]), int(settings["supernet_epochs"]),
                            int(settings["recalibration_batches"]))
    unit = prices["training_seconds"]
    return {"score_seconds": prices["costs"][CHEAP] * unit, "setup_seconds": prices["setup_cost"] * unit,
            "source": prices["cost_source"]}


def _table_study(table: TabularBenchmark, strategy: str, options: Mapping[str, Any], seed: int,
                 prices: Mapping[str, Any], charge_thinking: bool = False) -> Study:
    cheap = (CHEAP_COLUMN, prices["score_seconds"]) if CHEAP_COLUMN in table.metrics else None
    evaluator = SecondsTabularEvaluator(table, SELECTION, SECONDS_COLUMN, cheap, prices["setup_seconds"],
                                        charge_thinking)
    study = Study.create(None, table.space, evaluator, SELECTION, strategy=strategy, seed=seed,
                         strategy_options=dict(options) or None)
    evaluator.charge_setup = bool(study.strategy.multi_fidelity)
    return study


def check_budget_seeds_data(budget_seconds: float, seeds: int, data: str) -> None:
    """``InvalidArgumentError`` unless ``T > 0`` is finite, ``seeds >= 1`` and ``data`` is embedded:
    what every comparison, with a table or without, checks first."""
    from infonas.datasets import DATASETS

    if not (isinstance(budget_seconds, (int, float)) and math.isfinite(budget_seconds) and budget_seconds > 0):
        raise InvalidArgumentError(f"budget_seconds is each method's wall-clock of search and must be a finite "
                                   f"number above 0, got {budget_seconds!r}: give e.g. 600")
    if not (isinstance(seeds, int) and seeds >= 1):
        raise InvalidArgumentError(f"seeds counts the runs of each method and must be at least 1, got {seeds!r}: "
                                   "give e.g. 5")
    if data not in DATASETS:
        raise InvalidArgumentError(f"data must be an embedded data set, one of {sorted(DATASETS)}, got {data!r}: "
                                   "pick one of those")


def check_compare(table: TabularBenchmark, methods: Sequence[str], seeds: int, budget_seconds: float,
                  objective: str = "test_acc", data: str = "mnist1d") -> None:
    """``InvalidArgumentError`` (rule, value, fix) for any argument a comparison cannot run with,
    before any work: unknown methods, ``T <= 0``, ``seeds < 1``, missing columns, a setup over T."""
    check_budget_seeds_data(budget_seconds, seeds, data)
    missing = [c for c in (objective, SELECTION, SECONDS_COLUMN) if c not in table.metrics]
    if missing:
        raise InvalidArgumentError(f"a comparison needs the table columns {objective!r} (objective), {SELECTION!r} "
                                   f"(selection) and {SECONDS_COLUMN!r} (recorded seconds); {table.source} lacks "
                                   f"{missing}: give a table built by `infonas bench table`")
    if not methods or len(set(methods)) != len(methods):
        raise InvalidArgumentError(f"give each method once, at least one, got {list(methods)}: drop the repeats")
    try:
        specs = [parse_method(m) for m in methods if _kind(m) == "table"]
    except InvalidArgumentError as error:
        raise InvalidArgumentError(f"{error}; or a gradient method ({', '.join(sorted(GRADIENT_METHODS))}) or "
                                   "rsps") from None
    check_unique(specs)
    searched = _searched(table, objective)
    if not len(searched):
        raise InvalidArgumentError(f"{table.source} has no row with {SELECTION!r}, {SECONDS_COLUMN!r} and "
                                   f"{objective!r} all measured: give a table with measured rows")
    prices = _prices(table_settings(table))
    for spec in specs:
        study = check_options(spec, lambda options, spec=spec: _table_study(searched, spec.strategy, options, 0,
                                                                            prices))
        if study.strategy.multi_fidelity and CHEAP_COLUMN not in table.metrics:
            raise InvalidArgumentError(f"{spec.label!r} searches a cheap fidelity, but {table.source} has no "
                                       f"{CHEAP_COLUMN!r} column: give a table with supernet scores, or drop it")
        if study.evaluator.setup_cost() >= budget_seconds:
            raise InvalidArgumentError(f"{spec.label!r} pays {study.evaluator.setup_cost():.1f} s of supernet "
                                       f"training up front, which leaves nothing of budget_seconds "
                                       f"{budget_seconds:g}: give a larger budget, or drop the method")


def _run_table(ctx: dict[str, Any], method: str, seed: int) -> tuple[Architecture, float, dict[str, Any]]:
    spec = parse_method(method)
    study = _table_study(ctx["searched"], spec.strategy, spec.options, seed, ctx["prices"], ctx["charge_thinking"])
    study.optimize(Budget(cost=ctx["budget"]))
    best = study.best(1)
    if not best:  # the budget ran out before any target evaluation: fall back to the best cheap score
        logger.warning("%s seed %d made no target evaluation in %g s; its best cheap score is taken", method, seed,
                       ctx["budget"])
        best = sorted((t for t in study.finished_trials() if t.is_complete),
                      key=lambda t: -t.metrics[SELECTION])[:1]
    if not best:
        raise InfonasError(f"{method} seed {seed} finished no evaluation in {ctx['budget']:g} s "
                           f"({study.stop_reason or 'every trial failed'}): give a larger budget")
    trials = study.finished_trials()
    extra = {"evaluations": len(trials),
             "target_evaluations": sum(1 for t in trials if t.fidelity == study.evaluator.target_fidelity),
             "thinking_seconds": study.evaluator.thinking_seconds}
    return best[0].arch, study.spent_cost(), extra


def gradient_job(method: str, seed: int, options: Mapping[str, Any], splits: Sequence[Any], budget: float,
                 work_dir: str | Path | None) -> tuple[Architecture, float, dict[str, Any]]:
    """One gradient search of a comparison: ``method``'s settings with ``options``, at most
    ``GRADIENT_EPOCHS`` epochs, stopped after the epoch that reaches ``budget`` seconds; checkpointed
    under ``work_dir/method/seed<k>`` (a killed comparison resumes it). Returns the derived
    architecture, the search's seconds and its epochs (and why it stopped early, if it did)."""
    from infonas.gradient.search import GradientSearch
    from infonas.gradient.settings import settings_for

    search = GradientSearch(settings_for(method, **{"seed": seed, "epochs": GRADIENT_EPOCHS, **options}), splits,
                            checkpoint_dir=None if work_dir is None else Path(work_dir) / method / f"seed{seed}")
    result = search.search(max_seconds=budget)
    return result.arch, result.search_seconds, {"epochs_done": result.epochs_done,
                                                "stopped_early": result.stopped_early}


def _run_gradient(ctx: dict[str, Any], method: str, seed: int) -> tuple[Architecture, float, dict[str, Any]]:
    table = ctx["settings"]
    options = {"channels": int(table["channels"]), "num_cells": int(table["num_cells"]),
               "batch_size": int(table["batch_size"]), **ctx["gradient_overrides"]}
    return gradient_job(method, seed, options, ctx["splits"], ctx["budget"], ctx["work_dir"])


def _run_rsps(ctx: dict[str, Any], method: str, seed: int) -> tuple[Architecture, float, dict[str, Any]]:
    """SPOS supernet trained for about half of T (one probe epoch sets the pace), then RSPS scores as
    many cells as the other half allows (``PROBE_SCORES`` probe scores set that pace); the probes
    are charged too."""
    from infonas.evaluators.supernet import SupernetEvaluator
    from infonas.gradient.one_shot import random_search_with_weight_sharing
    from infonas.supernet.training import CanonicalSampler

    table, budget = ctx["settings"], ctx["budget"]

    def supernet(epochs: int) -> SupernetEvaluator:
        return SupernetEvaluator(ctx["splits"], mode="spos", epochs=epochs, channels=int(table["channels"]),
                                 num_cells=int(table["num_cells"]), batch_size=int(table["batch_size"]),
                                 learning_rate=float(table["learning_rate"]), seed=seed,
                                 recalibration_batches=int(table["recalibration_batches"]))

    probe = supernet(1)
    probe.prepare()
    epoch_seconds = max(probe.setup_cost(), 1e-6)
    epochs = max(1, int((0.5 * budget - epoch_seconds) / epoch_seconds))
    evaluator = supernet(epochs)
    evaluator.prepare()
    cells = CanonicalSampler().cells
    # The slowest of a few probe scores sets the pace: on a shared machine one score can run fast.
    probes = [evaluator.evaluate(cell).cost for cell in cells[:PROBE_SCORES]]
    score_seconds = max(max(probes), 1e-6)
    spent = epoch_seconds + evaluator.setup_cost() + sum(probes)
    samples = int(min(len(cells), max(1, (budget - spent) // score_seconds)))
    # The pace is an estimate on a shared machine: the scoring also stops at the budget's end.
    result = random_search_with_weight_sharing(evaluator, samples=samples, seed=seed,
                                               max_seconds=max(budget - spent, 1e-6))
    return result.arch, spent + result.search_seconds, {"supernet_epochs": epochs, "samples": result.evaluated,
                                                        "supernet_seconds": epoch_seconds + result.supernet_seconds}


_RUNNERS = {"table": _run_table, "gradient": _run_gradient, "rsps": _run_rsps}


def _job(ctx: dict[str, Any], method: str, seed: int) -> dict[str, Any]:
    arch, seconds, extra = _RUNNERS[_kind(method)](ctx, method, seed)
    value, looked_up = ctx["truth"].value(arch)
    return {"arch": ctx["table"].space.format(arch), "test_acc": value, "regret": ctx["best"] - value,
            "search_seconds": float(seconds), "flops": ctx["costs"].value(arch, "flops"),
            "skip_share": sum(op == "skip_connect" for op in arch.ops) / len(arch.ops), "looked_up": looked_up,
            **extra}


def run_compare(table: TabularBenchmark, *, data: str = "mnist1d", methods: Sequence[str], seeds: int,
                budget_seconds: float, objective: str = "test_acc", work_dir: str | Path | None = None,
                progress: bool = False, settings: Mapping[str, Any] | None = None,
                gradient_overrides: Mapping[str, Any] | None = None, log: JobLog | None = None,
                charge_thinking: bool = True) -> dict[str, Any]:
    """Each method, ``seeds`` times one after another, with ``budget_seconds`` of search; JSON-ready.

    ``settings`` (default: ``table_settings(table)``) are the table's training settings, used to
    retrain cells the table lacks and to size the gradient and supernet networks;
    ``gradient_overrides`` are ``GradientSettings`` fields for every gradient method (tests shrink
    the network with them). Per method and seed: ``test_acc``, ``regret``, ``search_seconds``,
    ``flops`` (exact, ``ArchitectureCosts`` of the table's network), ``arch``, ``skip_share`` (share
    of the cell's edges that are ``skip_connect``), ``looked_up``; per method its ``clock``. With a
    ``log`` (``infonas.bench.resume``), finished (method, seed) jobs are kept as they finish and not
    run again: a killed comparison resumes where it stopped. ``charge_thinking`` (default) charges
    table methods their own measured seconds between evaluations on top of the recorded ones
    (``SecondsTabularEvaluator``), so every method spends ``T`` of the same wall clock on its work.
    """
    from infonas.datasets import load_splits
    from infonas.gradient.hardware import network_costs

    check_compare(table, methods, seeds, budget_seconds, objective, data)
    settings = {**table_settings(table), **(settings or {})}
    truth = GroundTruth(table, objective, settings=settings)
    ctx = {"table": table, "searched": _searched(table, objective), "objective": objective, "truth": truth,
           "best": truth.best, "settings": settings, "prices": _prices(settings),
           "splits": load_splits(data, int(settings["seed"])), "budget": float(budget_seconds),
           "work_dir": work_dir, "gradient_overrides": dict(gradient_overrides or {}),
           "charge_thinking": charge_thinking,
           "costs": network_costs(data, num_cells=int(settings["num_cells"]), channels=int(settings["channels"]))}
    jobs = [(method, seed) for method in methods for seed in range(seeds)]
    runs = run_jobs(jobs, lambda method, seed: _job(ctx, method, seed), None, (), table=None, workers=1,
                    progress=progress, desc="compare", log=log)
    results: dict[str, Any] = {
        "space": table.space.name, "data": data, "budget_seconds": budget_seconds, "objective": objective,
        "best_in_table": ctx["best"], "selection": SELECTION, "seeds": seeds, "table": table.source,
        "settings": settings, "prices": ctx["prices"],
        "clocks": {"recorded": f"table methods are charged the table's recorded {SECONDS_COLUMN} per evaluation "
                               "(a supernet score and the supernet's training at their measured seconds)"
                               + (", plus their own measured seconds between evaluations (thinking_seconds)"
                                  if charge_thinking else ""),
                   "measured": "gradient and rsps methods are charged their wall-clock on this machine"},
        "methods": {}}
    for method in methods:
        per_seed = [runs[(method, seed)] for seed in range(seeds)]
        record: dict[str, Any] = {"clock": "recorded" if _kind(method) == "table" else "measured"}
        for key in per_seed[0]:
            record[key] = [run[key] for run in per_seed]
        results["methods"][method] = record
    return results


def format_compare_table(results: Mapping[str, Any]) -> str:
    """One line per method: medians over seeds of test accuracy, regret, search seconds, FLOPs, skip share.

    Example:
        >>> record = {"clock": "recorded", "test_acc": [94.0, 95.0], "regret": [2.0, 1.0],
        ...           "search_seconds": [60.5, 61.5], "flops": [1e5, 2e5], "skip_share": [0.0, 1 / 3]}
        >>> print(format_compare_table({"space": "nb201", "data": "mnist1d", "budget_seconds": 60,
        ...                             "best_in_table": 96.0, "methods": {"rs": record}}).splitlines()[-1])
        rs             recorded     94.50     1.50      61.0     1.5e+05   0.17
    """
    lines = [(f"{results['space']} on {results['data']}, {results['budget_seconds']:g} s per search, best in "
              f"table {results['best_in_table']:.4g}"),
             f"{'method':<14}{'clock':>9}{'test_acc':>10}{'regret':>9}{'search s':>10}{'FLOPs':>12}{'skip':>7}"]
    for name, record in results["methods"].items():
        median = {key: float(np.median(record[key])) for key in
                  ("test_acc", "regret", "search_seconds", "flops", "skip_share")}
        lines.append(f"{name:<14}{record['clock']:>9}{median['test_acc']:>10.2f}{median['regret']:>9.2f}"
                     f"{median['search_seconds']:>10.1f}{median['flops']:>12.4g}{median['skip_share']:>7.2f}")
    return "\n".join(lines)
