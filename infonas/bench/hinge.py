"""The FLOPs-hinge benchmark: does a gradient search's derived architecture fit a FLOPs budget ``B``?

The hinge ``lambda max(0, E[FLOPs] / B - 1)^2`` acts on the relaxed (expected) FLOPs, while the
search reports the argmax architecture, whose exact FLOPs can lie far on either side of them. Each
variant (a ``METHODS`` name with settings, written like a bench method spec:
``"darts-1[flops_weight=5]"``, ``"darts-1[flops_weight=1;discretise_within_budget=true]"``; the
budget itself is the benchmark's, the same for every variant) runs once per seed on the NB201
cell or the macro space; the report holds, per seed, the derived architecture, its exact FLOPs
and parameters, whether they are within ``B``, the expected FLOPs and the argmax's exact FLOPs
after every epoch (the gap), and the derived architecture's test accuracy, trained from scratch
as the ground-truth table trained its rows (``TableSettings``: epochs, learning rate, batch
size, seed, width; the same for every architecture). ``B`` is given, or the ``q`` quantile of
the exact FLOPs of 2,000 architectures sampled with seed 0; ``smallest_flops`` and
``largest_flops`` bound the space, since "within ``B``" is cheap when it means "the smallest".

Example:
    >>> results = run_hinge_benchmark("macro", ["darts-1", "darts-1[flops_weight=5]"], seeds=5, epochs=20,
    ...                               budget_quantile=0.25)  # doctest: +SKIP
    >>> results["variants"]["darts-1[flops_weight=5]"]["within_budget"]  # doctest: +SKIP
    [True, True, True, True, True]
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import logging
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from infonas.bench.collapse import gradient_settings
from infonas.bench.common import run_jobs
from infonas.bench.methods import MethodSpec, parse_method, parse_methods
from infonas.bench.resume import JobLog
from infonas.bench.table import TableSettings
from infonas.exceptions import InvalidArgumentError
from infonas.gradient.settings import HINGE_SPACES, METHODS, SPACE_OPTIONS, GradientSettings

__all__ = ["BUDGET_SAMPLES", "HINGE_VARIANTS", "budget_at_quantile", "check_variants", "flops_range",
           "format_hinge_table", "run_hinge_benchmark", "run_one_hinge", "trained_test_accuracy"]

logger = logging.getLogger(__name__)

#: Architectures sampled (with ``BUDGET_SEED``) for a budget given as a quantile of their exact FLOPs.
BUDGET_SAMPLES = 2000
BUDGET_SEED = 0
#: The benchmark's default variants: no hinge, the hinge, the hinge on an annealed softmax (which it
#: prices, so its expected FLOPs tend to the derived architecture's), and the fit under B alone.
HINGE_VARIANTS: tuple[str, ...] = (
    "darts-1", "darts-1[flops_weight=5]", "darts-1[flops_weight=5;temperature_end=0.1]",
    "darts-1[flops_weight=1;temperature_end=0.1]", "darts-1[discretise_within_budget=true]",
)
#: Settings the benchmark gives every variant: a variant that sets one is refused.
BENCH_FIELDS = ("flops_budget", "space", "seed", "epochs", "channels", "num_cells")


@functools.lru_cache(maxsize=8)
def search_costs(space: str, data: str, channels: int, num_cells: int = 1) -> Any:
    """The exact cost tables of the network a search of ``space`` on ``data`` derives (cached per
    process: measuring them takes a second or two, and every job of a benchmark shares them)."""
    from infonas.gradient.spaces import gradient_space

    fields = {"num_cells": num_cells} if space == "nb201" else {}
    return gradient_space(space).costs(data, GradientSettings(space=space, channels=channels, **fields))


def budget_at_quantile(space: str, costs: Any, quantile: float, samples: int = BUDGET_SAMPLES,
                       seed: int = BUDGET_SEED) -> float:
    """The ``quantile`` (in (0, 1)) of the exact FLOPs of ``samples`` architectures of ``space``
    drawn uniformly with ``seed`` (``numpy.quantile``, linear interpolation).

    Example:
        >>> costs = search_costs("macro", "mnist1d", 8)
        >>> smallest, largest = flops_range("macro", costs)
        >>> smallest < budget_at_quantile("macro", costs, 0.25) < budget_at_quantile("macro", costs, 0.75) < largest
        True
    """
    from infonas.gradient.spaces import gradient_space

    if not 0 < quantile < 1:
        raise InvalidArgumentError(f"a budget quantile must lie in (0, 1), got {quantile}; pass e.g. 0.25")
    rng = np.random.default_rng(seed)
    archs = [gradient_space(space).space.sample(rng) for _ in range(samples)]
    return float(np.quantile(costs.values(archs, "flops"), quantile))


def flops_range(space: str, costs: Any) -> tuple[float, float]:
    """The exact smallest and largest FLOPs of ``space``'s networks under ``costs``.

    NB201: every cell (15,625). Macro: a position in one cost term only (the kernels) is minimised
    (maximised) inside its term, and the positions shared by terms (depth and width per stage,
    3^6 joint choices) are enumerated; exact, since the FLOPs are the base plus a sum of terms.
    """
    from infonas.gradient.spaces import gradient_space

    if space == "nb201":
        values = costs.values(list(gradient_space(space).space.enumerate()), "flops")
        return float(values.min()), float(values.max())
    counts = Counter(p for term in costs.terms for p in term.positions)
    shared = sorted(p for p, count in counts.items() if count > 1)
    options = SPACE_OPTIONS[space]
    joint = np.asarray(list(itertools.product(range(options), repeat=len(shared))), dtype=np.int64)
    low, high = np.full(len(joint), costs.base["flops"]), np.full(len(joint), costs.base["flops"])
    for term in costs.terms:
        table = term.tables["flops"]
        own = tuple(axis for axis, p in enumerate(term.positions) if counts[p] == 1)
        index = tuple(joint[:, shared.index(p)] for p in term.positions if counts[p] > 1)
        low += (table.min(axis=own) if own else table)[index]
        high += (table.max(axis=own) if own else table)[index]
    return float(low.min()), float(high.max())


def check_variants(space: str, variants: Sequence[str], epochs: int, channels: int) -> list[str]:
    """The variants' canonical labels; ``InvalidArgumentError`` for an unknown method, a malformed
    spec, a setting the benchmark sets itself, or settings the search would refuse."""
    from infonas.gradient.relaxation import make_relaxation

    labels = [spec.label for spec in parse_methods(",".join(variants), METHODS)]
    for label in labels:
        spec = parse_method(label, METHODS)
        fixed = sorted(set(spec.options) & set(BENCH_FIELDS))
        if fixed:
            raise InvalidArgumentError(f"variant {label!r} sets {fixed}, which the benchmark sets for every variant "
                                       "(--flops-budget or --budget-quantile, --space, --seeds, --epochs, "
                                       "--channels): drop them from the variant")
        settings = _settings(spec, space, seed=0, epochs=epochs, channels=channels, budget=1.0)
        make_relaxation(settings.relaxation, **settings.relaxation_options)
    return labels


def _settings(spec: MethodSpec, space: str, *, seed: int, epochs: int, channels: int, budget: float,
              num_cells: int = 1) -> GradientSettings:
    fields = {"num_cells": num_cells} if space == "nb201" else {}
    return gradient_settings(spec, space=space, seed=seed, epochs=epochs, channels=channels, flops_budget=budget,
                             **fields)


# Evaluators and test accuracies by training settings (and architecture key): filled by the jobs
# of one process and never shared; training is deterministic per architecture, so a kept value
# equals a retrained one, and variants deriving the same architecture train it once.
_EVALUATORS: dict[str, Any] = {}
_TRAINED: dict[tuple[str, str, str], float] = {}


def trained_test_accuracy(space: str, arch: Any, training: TableSettings) -> float:
    """Test accuracy (%) of ``arch`` trained from scratch with ``training`` (``TableSettings``: as
    the ground-truth table trained its rows; ``GroundTruth.train``'s evaluator)."""
    from infonas.evaluators.registry import build_evaluator  # deferred: loads torch
    from infonas.gradient.spaces import gradient_space

    token = json.dumps(dataclasses.asdict(training), sort_keys=True)
    key = (token, space, arch.key)
    if key not in _TRAINED:
        if token not in _EVALUATORS:
            _EVALUATORS[token] = build_evaluator({"kind": "training", **training.training_options(training.seed)},
                                                 gradient_space(space).space)
        result = _EVALUATORS[token].evaluate(arch, "full")
        if "test_accuracy" not in result.metrics:
            raise InvalidArgumentError(f"training {gradient_space(space).space.format(arch)} failed ({result.error}): "
                                       "check the data set and the training settings")
        _TRAINED[key] = float(result.metrics["test_accuracy"])
    return _TRAINED[key]


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_")


def run_one_hinge(space: str, variant: str, seed: int, *, data: str, epochs: int, flops_budget: float,
                  training: dict[str, Any], work_dir: str | None) -> dict[str, Any]:
    """One seed of one variant: the search (resumed from ``work_dir`` if it was cut short), the
    derived architecture's exact costs, and its test accuracy trained with ``training``."""
    from infonas.gradient.search import GradientSearch

    recipe = TableSettings(**training)
    settings = _settings(parse_method(variant, METHODS), space, seed=seed, epochs=epochs, channels=recipe.channels,
                         budget=flops_budget, num_cells=recipe.num_cells)
    costs = search_costs(space, data, recipe.channels, recipe.num_cells)
    checkpoint = Path(work_dir) / space / _slug(variant) / f"seed{seed}" if work_dir else None
    result = GradientSearch(settings, data, checkpoint_dir=checkpoint, costs=costs).search()
    history = result.history
    flops = float(costs.value(result.arch, "flops"))
    return {
        "arch": _format(space, result.arch), "flops": flops,
        "params": float(costs.value(result.arch, "params")), "within_budget": flops <= flops_budget,
        "test_acc": trained_test_accuracy(space, result.arch, recipe),
        "expected_flops": history[-1].get("expected_flops"),
        "argmax_flops": history[-1].get("argmax_flops", history[-1].get("derived_flops")),
        "expected_flops_history": [record.get("expected_flops") for record in history],
        "derived_flops_history": [record.get("derived_flops") for record in history],
        "search_seconds": result.search_seconds, "epochs_done": result.epochs_done,
        "stopped_early": result.stopped_early,
    }


def _format(space: str, arch: Any) -> str:
    from infonas.gradient.spaces import gradient_space

    return gradient_space(space).space.format(arch)


def _hinge_worker(space: str, options: dict[str, Any], variant: str, seed: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)  # several worker processes with several threads each would oversubscribe the cores
    return run_one_hinge(space, variant, seed, **options)


def run_hinge_benchmark(space: str, variants: Sequence[str] = HINGE_VARIANTS, seeds: int = 5, epochs: int = 20, *,
                        data: str = "mnist1d", flops_budget: float | None = None,
                        budget_quantile: float | None = None, training: TableSettings | None = None,
                        work_dir: str | None = None, workers: int = 1, progress: bool = False,
                        log: JobLog | None = None) -> dict[str, Any]:
    """Every variant for seeds ``0..seeds-1`` under one budget: ``flops_budget``, or the
    ``budget_quantile`` of ``BUDGET_SAMPLES`` sampled architectures' FLOPs (exactly one of them).
    ``training`` (default ``TableSettings()``, the committed mnist1d table's recipe) trains every
    derived architecture on ``data``; its ``channels`` (and ``num_cells``) size the searched
    network too, so the FLOPs, the budget and the accuracy are of one network."""
    if space not in HINGE_SPACES:
        raise InvalidArgumentError(f"space must be one of {sorted(HINGE_SPACES)}, got {space!r}; pick one of them")
    if (flops_budget is None) == (budget_quantile is None):
        raise InvalidArgumentError(f"give exactly one of flops_budget and budget_quantile, got {flops_budget} and "
                                   f"{budget_quantile}: the budget in FLOPs, or its quantile over sampled "
                                   "architectures")
    if flops_budget is not None and not (np.isfinite(flops_budget) and flops_budget > 0):
        raise InvalidArgumentError(f"flops_budget must be a finite number > 0, got {flops_budget}; pass FLOPs")
    recipe = dataclasses.replace(training or TableSettings(), dataset=data).check()
    labels = check_variants(space, variants, epochs, recipe.channels)
    costs = search_costs(space, data, recipe.channels, recipe.num_cells)
    budget = flops_budget if flops_budget is not None else budget_at_quantile(space, costs, float(budget_quantile))
    smallest, largest = flops_range(space, costs)
    if smallest > budget:
        logger.warning("the smallest %s network has %.6g FLOPs, over the budget %.6g: no variant can fit it",
                       space, smallest, budget)
    options = {"data": data, "epochs": epochs, "flops_budget": budget, "training": dataclasses.asdict(recipe),
               "work_dir": work_dir}
    jobs = [(label, seed) for label in labels for seed in range(seeds)]
    runs = run_jobs(jobs, lambda label, seed: run_one_hinge(space, label, seed, **options), _hinge_worker,
                    (space, options), None, workers, progress, "bench hinge", log)
    results: dict[str, Any] = {
        "space": space, "data": data, "flops_budget": budget, "budget_quantile": budget_quantile,
        "budget_samples": BUDGET_SAMPLES if budget_quantile is not None else None, "epochs": epochs, "seeds": seeds,
        "channels": recipe.channels, "training": dataclasses.asdict(recipe), "smallest_flops": smallest,
        "largest_flops": largest, "variants": {},
    }
    for label in labels:
        per_seed = [runs[(label, seed)] for seed in range(seeds)]
        results["variants"][label] = {key: [run[key] for run in per_seed] for key in per_seed[0]}
    return results


def format_hinge_table(results: dict[str, Any]) -> str:
    """One line per variant: seeds within the budget, seeds at the smallest network, median exact,
    argmax and expected FLOPs (last epoch), the FLOPs' range, median test accuracy and seconds."""
    lines = [(f"{'variant':<56}{'within B':>9}{'smallest':>9}{'FLOPs':>9}{'range':>17}{'argmax':>9}{'E[FLOPs]':>10}"
              f"{'test_acc':>9}{'s':>7}")]
    for label, entry in results["variants"].items():
        flops, n = entry["flops"], len(entry["flops"])
        within = f"{sum(entry['within_budget'])}/{n}"
        smallest = f"{sum(f == results['smallest_flops'] for f in flops)}/{n}"
        spread = f"{min(flops):.0f}-{max(flops):.0f}"
        expected = [v for v in entry["expected_flops"] if v is not None]
        mean = f"{statistics.median(expected):.0f}" if expected else "-"
        lines.append(f"{label:<56}{within:>9}{smallest:>9}{statistics.median(flops):>9.0f}{spread:>17}"
                     f"{statistics.median(entry['argmax_flops']):>9.0f}{mean:>10}"
                     f"{statistics.median(entry['test_acc']):>9.2f}{statistics.median(entry['search_seconds']):>7.0f}")
    quantile = results.get("budget_quantile")
    where = f" (the {quantile:g} quantile of {results['budget_samples']} sampled architectures)" if quantile else ""
    lines.append(f"budget B = {results['flops_budget']:.6g} FLOPs{where}; the {results['space']} space on "
                 f"{results['data']} spans {results['smallest_flops']:.6g} to {results['largest_flops']:.6g} FLOPs; "
                 f"{results['epochs']} epochs; 'smallest': seeds that derived the smallest network; 'argmax' and "
                 "'E[FLOPs]': medians at the last epoch")
    return "\n".join(lines)
