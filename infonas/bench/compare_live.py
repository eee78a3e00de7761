"""Bayesian and gradient NAS on a space no table covers: every evaluation trained, on one wall clock.

On NB201 ``infonas compare`` reads a ground-truth table (``infonas.bench.compare``). The DARTS
space (9.1e18 cells) has none, so here every method runs for real on this machine with the same
data, seed and ``budget_seconds`` ``T`` of wall clock:

- a Bayesian strategy trains the cells it asks for (``epochs``-epoch trainings, the target); a
  multi-fidelity one (``bo-mf``) may instead score a cell on a SPOS supernet trained on the same
  data (its ``supernet_epochs`` of training are on the clock), priced by the seconds
  ``infonas bench prices --space darts --measure`` recorded; it stops asking once ``T`` is spent
  and returns the cell of best validation accuracy among its trainings (its best supernet score if ``T`` ran
  out before any training);
- a gradient method (``darts-1``, ``gdas``, ``drnas`` ...) searches the DARTS supernet until the
  epoch at which ``T`` is reached (or its 50th) and returns the derived genotype.

No table gives the final cell's quality, so each returned genotype is trained from scratch
``retrain_seeds`` times for ``retrain_epochs`` epochs (seeds 1000, 1001, ...: none a search used)
and scored by its mean test accuracy; its exact FLOPs and parameters come from the space's cost
tables for that network. The retraining is not on the search clock.

Example:
    >>> results = run_live_compare("darts", methods=["bo-mf", "gdas"], seeds=3, budget_seconds=300)  # doctest: +SKIP
    >>> sorted(results["methods"]["gdas"])[:3]  # doctest: +SKIP
    ['arch', 'clock', 'epochs_done']
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from infonas.bench.common import run_jobs
from infonas.bench.compare import check_budget_seeds_data, gradient_job
from infonas.bench.methods import check_options, check_unique, parse_method
from infonas.bench.resume import JobLog
from infonas.budget import Budget
from infonas.exceptions import InfonasError, InvalidArgumentError
from infonas.gradient.settings import METHODS as GRADIENT_METHODS
from infonas.study import Study
from search_spaces.base import Architecture

__all__ = ["LIVE_SPACES", "RETRAIN_SEED", "LiveSettings", "check_live_compare", "format_live_table",
           "run_live_compare"]

logger = logging.getLogger(__name__)

#: Spaces compared without a table: those with a supernet for the gradient methods and for bo-mf.
LIVE_SPACES = ("darts",)
#: The first seed a final cell is retrained with: apart from the searches' seeds (0, 1, 2, ...).
RETRAIN_SEED = 1000
#: What Bayesian methods select by (the trainings' validation accuracy; the chain's name for it).
SELECTION = "valid_acc"


@dataclasses.dataclass(frozen=True)
class LiveSettings:
    """The network, trainings and supernet of a live comparison (the mnist1d table's, by default).

    ``epochs``: a Bayesian method's training (its target evaluation); ``supernet_epochs``: bo-mf's
    supernet; ``retrain_epochs`` x ``retrain_seeds``: the final cell's scoring trainings;
    ``split_seed``: the data split every method shares.
    """

    epochs: int = 3
    supernet_epochs: int = 30
    retrain_epochs: int = 10
    retrain_seeds: int = 2
    channels: int = 8
    num_cells: int = 1
    batch_size: int = 64
    learning_rate: float = 0.1
    recalibration_batches: int = 10
    split_seed: int = 0

    def __post_init__(self) -> None:
        small = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                 if f.name not in ("learning_rate", "split_seed") and getattr(self, f.name) < 1}
        if small or not self.learning_rate > 0:
            raise InvalidArgumentError(f"live comparison settings must be positive, got {small or self.learning_rate}: "
                                       "give counts >= 1 and a learning rate > 0")

    @property
    def network(self) -> dict[str, Any]:
        return {"channels": self.channels, "num_cells": self.num_cells, "batch_size": self.batch_size,
                "learning_rate": self.learning_rate}


def _kind(method: str) -> str:
    return "gradient" if method in GRADIENT_METHODS else "bayesian"


def _prices(space: str, settings: LiveSettings) -> dict[str, Any]:
    """The chain's fixed prices for ``settings`` (``measured_costs(space=...)``: the measured file)."""
    from infonas.evaluators.chain import measured_costs

    return measured_costs(settings.epochs, settings.supernet_epochs, settings.recalibration_batches, space=space)


def _chain(space: str, splits: Sequence[Any], settings: LiveSettings, prices: Mapping[str, Any], seed: int,
           checkpoint_dir: Path | None) -> Any:
    """bo-mf's two fidelities: the space's SPOS supernet and an ``epochs``-epoch training, at
    ``prices`` (``_prices``)."""
    from infonas.evaluators.chain import FidelityChain
    from infonas.evaluators.supernet import SupernetEvaluator
    from infonas.evaluators.training import TrainingEvaluator

    cheap = SupernetEvaluator(splits, mode="spos", epochs=settings.supernet_epochs, seed=seed, space=space,
                              recalibration_batches=settings.recalibration_batches, checkpoint_dir=checkpoint_dir,
                              **settings.network)
    target = TrainingEvaluator(splits, epochs=settings.epochs, seed=seed, **settings.network)
    return FidelityChain(cheap, target, costs=prices["costs"], setup_cost=prices["setup_cost"])


def _study(space: str, splits: Sequence[Any], settings: LiveSettings, prices: Mapping[str, Any], strategy: str,
           options: Mapping[str, Any], seed: int, checkpoint_dir: Path | None) -> Study:
    """A Bayesian method's in-memory study on the chain; a single-fidelity strategy asks only its
    target (trainings) and never trains the supernet (the chain charges a setup only once used)."""
    from search_spaces import get_space

    evaluator = _chain(space, splits, settings, prices, seed, checkpoint_dir)
    return Study.create(None, get_space(space), evaluator, SELECTION, strategy=strategy, seed=seed,
                        strategy_options=dict(options) or None)


def _run_bayesian(ctx: dict[str, Any], method: str, seed: int) -> tuple[Architecture, float, dict[str, Any]]:
    spec = parse_method(method)
    work = ctx["work_dir"]
    checkpoint = None if work is None else Path(work) / method / f"seed{seed}" / "supernet"
    study = _study(ctx["space"], ctx["splits"], ctx["settings"], ctx["prices"], spec.strategy, spec.options, seed,
                   checkpoint)
    started = time.perf_counter()
    study.optimize(Budget(seconds=ctx["budget"]))
    seconds = time.perf_counter() - started
    best = study.best(1)
    if not best:  # T ran out before any training: the best supernet score is what the search knows
        logger.warning("%s seed %d trained no cell in %g s; its best cheap score is taken", method, seed,
                       ctx["budget"])
        best = sorted((t for t in study.finished_trials() if t.is_complete), key=lambda t: -t.metrics[SELECTION])[:1]
    if not best:
        raise InfonasError(f"{method} seed {seed} finished no evaluation in {ctx['budget']:g} s "
                           f"({study.stop_reason or 'every trial failed'}): give a larger budget_seconds")
    trials = study.finished_trials()
    target = study.evaluator.target_fidelity
    # Where the clock went: evaluations (the chain's measured seconds per trial), the supernet's
    # training, and the rest, the search's own choosing (model fits, acquisition).
    evaluating = sum(float(t.metrics.get("seconds", 0.0)) for t in trials)
    setup = float(study.evaluator.setup_seconds())
    extra = {"evaluations": len(trials), "target_evaluations": sum(1 for t in trials if t.fidelity == target),
             "search_valid_acc": float(best[0].metrics[SELECTION]), "selected_at": best[0].fidelity,
             "evaluation_seconds": evaluating, "setup_seconds": setup,
             "thinking_seconds": max(0.0, seconds - evaluating - setup)}
    return best[0].arch, seconds, extra


def _run_gradient(ctx: dict[str, Any], method: str, seed: int) -> tuple[Architecture, float, dict[str, Any]]:
    settings: LiveSettings = ctx["settings"]
    options = {"space": ctx["space"], "channels": settings.channels, "num_cells": settings.num_cells,
               "batch_size": settings.batch_size, **ctx["gradient_overrides"]}
    return gradient_job(method, seed, options, ctx["splits"], ctx["budget"], ctx["work_dir"])


_RUNNERS = {"bayesian": _run_bayesian, "gradient": _run_gradient}


def retrain(arch: Architecture, splits: Sequence[Any], settings: LiveSettings) -> list[float]:
    """Test accuracy (%) of ``arch`` trained from scratch ``retrain_seeds`` times (seeds
    ``RETRAIN_SEED + k``) for ``retrain_epochs`` epochs on ``splits``."""
    from infonas.evaluators.training import TrainingEvaluator

    accuracies = []
    for k in range(settings.retrain_seeds):
        trainer = TrainingEvaluator(splits, epochs=settings.retrain_epochs, seed=RETRAIN_SEED + k, **settings.network)
        result = trainer.evaluate(arch)
        if "test_accuracy" not in result.metrics:
            raise InfonasError(f"retraining {arch} with seed {RETRAIN_SEED + k} failed ({result.error}): the final "
                               "cell of a search must train; check the data and the network settings")
        accuracies.append(float(result.metrics["test_accuracy"]))
    return accuracies


def _job(ctx: dict[str, Any], method: str, seed: int) -> dict[str, Any]:
    arch, seconds, extra = _RUNNERS[_kind(method)](ctx, method, seed)
    accuracies = retrain(arch, ctx["splits"], ctx["settings"])
    space = ctx["search_space"]
    return {"arch": space.format(arch), "test_acc": float(np.mean(accuracies)), "test_acc_seeds": accuracies,
            "search_seconds": float(seconds), "flops": float(ctx["costs"].value(arch, "flops")),
            "params": float(ctx["costs"].value(arch, "params")), **extra}


def check_live_compare(space: str, methods: Sequence[str], seeds: int, budget_seconds: float,
                       settings: LiveSettings, data: str = "mnist1d", splits: Sequence[Any] | None = None) -> None:
    """``InvalidArgumentError`` (rule, value, fix) for any argument a live comparison cannot run
    with, before any search: the space, the methods (rsps has NB201's sampler only), T, seeds, the
    prices bo-mf needs and a supernet that leaves no time of T. ``splits``: the data the methods'
    studies are built on to check their options (default: ``data`` loaded)."""
    _check_arguments(space, methods, seeds, budget_seconds, data)
    if splits is None and any(_kind(m) == "bayesian" for m in methods):
        from infonas.datasets import load_splits

        splits = load_splits(data, settings.split_seed)
    _check_methods(space, methods, budget_seconds, settings, splits)


def _check_arguments(space: str, methods: Sequence[str], seeds: int, budget_seconds: float, data: str) -> None:
    if space not in LIVE_SPACES:
        raise InvalidArgumentError(f"a comparison without a table runs on {list(LIVE_SPACES)}, got {space!r}: "
                                   "NB201 comparisons read its table (give --table)")
    check_budget_seeds_data(budget_seconds, seeds, data)
    if not methods or len(set(methods)) != len(methods):
        raise InvalidArgumentError(f"give each method once, at least one, got {list(methods)}: drop the repeats")
    if "rsps" in methods:
        raise InvalidArgumentError(f"rsps samples NB201's canonical cells and has no {space} version: drop it "
                                   "(bo-mf scores cells on the same kind of SPOS supernet)")
    try:
        specs = [parse_method(m) for m in methods if _kind(m) == "bayesian"]
    except InvalidArgumentError as error:
        raise InvalidArgumentError(f"{error}; or a gradient method ({', '.join(sorted(GRADIENT_METHODS))})") from None
    check_unique(specs)


def _check_methods(space: str, methods: Sequence[str], budget_seconds: float, settings: LiveSettings,
                   splits: Sequence[Any] | None) -> None:
    specs = [parse_method(m) for m in methods if _kind(m) == "bayesian"]
    if not specs:
        return
    prices = _prices(space, settings)
    for spec in specs:
        study = check_options(spec, lambda options, spec=spec: _study(space, splits, settings, prices, spec.strategy,
                                                                      options, 0, None))
        setup = prices["setup_cost"] * prices["training_seconds"]
        if study.strategy.multi_fidelity and setup >= budget_seconds:
            raise InvalidArgumentError(f"{spec.label!r} trains its supernet for about {setup:.0f} s (measured "
                                       f"price of {settings.supernet_epochs} epochs), which leaves nothing of "
                                       f"budget_seconds {budget_seconds:g}: give a larger budget or fewer "
                                       "supernet epochs")


def run_live_compare(space: str = "darts", *, data: str = "mnist1d", methods: Sequence[str], seeds: int,
                     budget_seconds: float, settings: LiveSettings | None = None, work_dir: str | Path | None = None,
                     gradient_overrides: Mapping[str, Any] | None = None, splits: Sequence[Any] | None = None,
                     progress: bool = False, log: JobLog | None = None) -> dict[str, Any]:
    """Each method, ``seeds`` times one after another, with ``budget_seconds`` of search; JSON-ready.

    Per method and seed: ``arch`` (the space's format: a DARTS ``Genotype``), ``test_acc`` (mean
    over ``test_acc_seeds``, the retrainings), ``search_seconds`` (measured), ``flops`` and
    ``params`` (exact, the space's cost tables for the retrained network), and the method's own
    counts (``evaluations``/``target_evaluations``, or ``epochs_done``/``stopped_early``).
    ``splits`` (default: ``data`` split by ``settings.split_seed``) lets tests pass a subset;
    ``gradient_overrides`` are ``GradientSettings`` fields for every gradient method. With a ``log``
    (``infonas.bench.resume``), finished jobs are kept as they finish and not run again.
    """
    from infonas.datasets import load_splits
    from infonas.evaluators.training import TrainingEvaluator
    from search_spaces import get_space
    from search_spaces.networks import measure_costs

    settings = settings or LiveSettings()
    _check_arguments(space, methods, seeds, budget_seconds, data)  # before the data are made
    splits = tuple(splits) if splits is not None else tuple(load_splits(data, settings.split_seed))
    _check_methods(space, methods, budget_seconds, settings, splits)
    search_space = get_space(space)
    config = TrainingEvaluator(splits, epochs=1, **settings.network).network_config_for(space)
    prices = _prices(space, settings) if any(_kind(m) == "bayesian" for m in methods) else None
    ctx = {"space": space, "search_space": search_space, "splits": splits, "settings": settings, "prices": prices,
           "budget": float(budget_seconds), "work_dir": work_dir, "gradient_overrides": dict(gradient_overrides or {}),
           "costs": measure_costs(search_space, config)}
    jobs = [(method, seed) for method in methods for seed in range(seeds)]
    runs = run_jobs(jobs, lambda method, seed: _job(ctx, method, seed), None, (), table=None, workers=1,
                    progress=progress, desc="compare", log=log)
    results: dict[str, Any] = {
        "space": space, "data": data, "budget_seconds": budget_seconds, "seeds": seeds, "table": None,
        "selection": "the validation accuracy of the search's own trainings (Bayesian) or the derived genotype "
                     "(gradient)",
        "scoring": f"each final genotype trained from scratch {settings.retrain_seeds} times for "
                   f"{settings.retrain_epochs} epochs (seeds {RETRAIN_SEED}...); test_acc is their mean",
        "settings": dataclasses.asdict(settings), "prices": prices,
        "clocks": {"measured": "every method is charged its own wall clock on this machine, setup included"},
        "methods": {}}
    for method in methods:
        per_seed = [runs[(method, seed)] for seed in range(seeds)]
        record: dict[str, Any] = {"clock": "measured"}
        for key in per_seed[0]:
            record[key] = [run.get(key) for run in per_seed]
        results["methods"][method] = record
    return results


def format_live_table(results: Mapping[str, Any]) -> str:
    """One line per method: medians over seeds of the retrained test accuracy, search seconds,
    FLOPs and parameters, and the spread (min-max) of test accuracy.

    Example:
        >>> record = {"test_acc": [80.0, 82.0, 81.0], "search_seconds": [301.0, 305.0, 299.0],
        ...           "flops": [2e5, 3e5, 4e5], "params": [5e3, 6e3, 7e3]}
        >>> print(format_live_table({"space": "darts", "data": "mnist1d", "budget_seconds": 300,
        ...                          "methods": {"gdas": record}}).splitlines()[-1])
        gdas               81.00   80.0-82.0     301.0       3e+05      6000
    """
    lines = [f"{results['space']} on {results['data']}, {results['budget_seconds']:g} s per search, final cells "
             "retrained",
             f"{'method':<14}{'test_acc':>10}{'range':>12}{'search s':>10}{'FLOPs':>12}{'params':>10}"]
    for name, record in results["methods"].items():
        median = {key: float(np.median(record[key])) for key in ("test_acc", "search_seconds", "flops", "params")}
        spread = f"{min(record['test_acc']):.1f}-{max(record['test_acc']):.1f}"
        lines.append(f"{name:<14}{median['test_acc']:>10.2f}{spread:>12}{median['search_seconds']:>10.1f}"
                     f"{median['flops']:>12.4g}{median['params']:>10.4g}")
    return "\n".join(lines)
