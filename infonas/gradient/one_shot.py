"""One-shot baselines over a trained SPOS supernet: random search and evolution with weight sharing.

Both score cells by ``SupernetEvaluator`` (validation accuracy of the sub-network, BN statistics
recalibrated; no training) and return the best one, ``argmax_a acc_supernet(a)`` over the cells
they score:

* RSPS (Li & Talwalkar 2019): ``samples`` distinct cells drawn uniformly over NB201's canonical
  classes, the distribution the supernet was trained on (``CanonicalSampler``);
* evolution with weight sharing (OFA, Cai et al. 2020): regularised evolution (Real et al. 2019)
  on supernet scores, restricted to ``cost(a) <= target`` for an exact cost (``ArchitectureCosts``).

Cells are always the canonical representative of their class (the first string in enumeration
order): the supernet was trained on exactly those paths, and a score is then a function of the
class key alone, so scores are cached by key and a shared cache never changes a result.
Supernet training (``evaluator.prepare()``) is not part of ``search_seconds``; it is reported as
``supernet_seconds`` (``evaluator.setup_cost()``).

Example:
    >>> from infonas.evaluators.supernet import SupernetEvaluator
    >>> evaluator = SupernetEvaluator("digits", epochs=1, channels=2, recalibration_batches=2)
    >>> result = random_search_with_weight_sharing(evaluator, samples=5, seed=0)
    >>> result.evaluated, len(result.history), result.score == max(s for _, s in result.history)
    (5, 5, True)
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np

from infonas.evaluators.supernet import SupernetEvaluator
from infonas.evaluators.training import stable_seed
from infonas.exceptions import InfonasError, InvalidArgumentError
from infonas.supernet.training import CanonicalSampler
from infonas.trials import TrialStatus
from search_spaces.base import Architecture
from search_spaces.nb201 import NB201Space
from search_spaces.nb201.cost_tables import ArchitectureCosts

__all__ = ["OneShotResult", "evolution_for_targets", "evolution_with_weight_sharing",
           "random_search_with_weight_sharing"]

logger = logging.getLogger(__name__)

SCORE_METRIC = "valid_accuracy"


@dataclass(frozen=True)
class OneShotResult:
    """The cell a one-shot search returns and what finding it took.

    ``score`` is its supernet validation accuracy (%); ``history`` holds ``(class key, score)`` of
    every cell the search consumed, in order (repeats included); ``evaluated`` counts the cells
    the evaluator actually scored for it (cache hits excluded); ``search_seconds`` is the search's
    wall-clock, ``supernet_seconds`` the supernet's training, charged once and kept apart.
    """

    arch: Architecture
    score: float
    search_seconds: float
    supernet_seconds: float
    evaluated: int
    history: tuple[tuple[str, float], ...]


@functools.lru_cache(maxsize=1)
def _classes() -> tuple[tuple[Architecture, ...], Mapping[str, Architecture]]:
    """NB201's canonical representatives and the map from a class key to its representative."""
    cells = tuple(CanonicalSampler().cells)  # enumerating the space takes ~1 s: done once per process
    return cells, MappingProxyType({arch.key: arch for arch in cells})


class _Scores:
    """Supernet scores cached by class key; ``scored`` counts the evaluator's calls."""

    def __init__(self, evaluator: SupernetEvaluator) -> None:
        self.evaluator = evaluator
        self.cache: dict[str, float] = {}
        self.scored = 0

    def __call__(self, arch: Architecture) -> float:
        if arch.key not in self.cache:
            result = self.evaluator.evaluate(arch)
            if result.status is not TrialStatus.COMPLETE or SCORE_METRIC not in result.metrics:
                raise InfonasError(f"a one-shot search needs every sub-network scored, but the supernet failed on "
                                   f"{arch}: {result.error}; fix the evaluator (its data or checkpoint)")
            self.cache[arch.key] = float(result.metrics[SCORE_METRIC])
            self.scored += 1
            logger.debug("supernet score %.3f for %s", self.cache[arch.key], arch)
        return self.cache[arch.key]


def _best(consumed: Sequence[tuple[Architecture, float]]) -> tuple[Architecture, float]:
    """The highest-scoring entry, the earliest among ties (``max`` keeps the first maximum)."""
    return max(consumed, key=lambda entry: entry[1])


def _result(consumed: Sequence[tuple[Architecture, float]], started: float, supernet_seconds: float,
            scored: int) -> OneShotResult:
    arch, score = _best(consumed)
    return OneShotResult(arch, score, time.perf_counter() - started, supernet_seconds, scored,
                         tuple((a.key, s) for a, s in consumed))


def random_search_with_weight_sharing(evaluator: SupernetEvaluator, *, samples: int = 100, seed: int = 0,
                                      max_seconds: float | None = None) -> OneShotResult:
    """RSPS: score ``samples`` distinct canonical classes drawn uniformly, return the best; with
    ``max_seconds``, stop once the scoring has taken that long (after the first cell).

    Example:
        >>> from infonas.evaluators.supernet import SupernetEvaluator
        >>> evaluator = SupernetEvaluator("digits", epochs=1, channels=2, recalibration_batches=2)
        >>> random_search_with_weight_sharing(evaluator, samples=3).evaluated
        3
    """
    cells, _ = _classes()
    if not 1 <= samples <= len(cells):
        raise InvalidArgumentError(f"samples must lie in [1, {len(cells)}] (NB201's canonical classes), got "
                                   f"{samples}: pass a number of cells in that range")
    evaluator.prepare()
    supernet_seconds = evaluator.setup_cost()
    started = time.perf_counter()
    rng = np.random.default_rng(stable_seed(seed, "rsps"))
    scores = _Scores(evaluator)
    consumed = []
    for i in rng.choice(len(cells), size=samples, replace=False):
        consumed.append((cells[i], scores(cells[i])))
        if max_seconds is not None and time.perf_counter() - started >= max_seconds:
            break
    result = _result(consumed, started, supernet_seconds, scores.scored)
    logger.info("RSPS: best supernet accuracy %.3f of %d cells in %.1f s", result.score, len(consumed),
                result.search_seconds)
    return result


def _check_evolution(population: int, sample_size: int, cycles: int, max_mutation_tries: int) -> None:
    if not 1 <= sample_size <= population:
        raise InvalidArgumentError(f"evolution needs population >= sample_size >= 1, got population {population} "
                                   f"and sample_size {sample_size}: lower sample_size or raise population")
    if cycles < 0 or max_mutation_tries < 1:
        raise InvalidArgumentError(f"evolution needs cycles >= 0 and max_mutation_tries >= 1, got {cycles} and "
                                   f"{max_mutation_tries}: pass non-negative cycles and at least one try")


def _feasible(costs: ArchitectureCosts | None, metric: str, target: float | None) -> frozenset[str] | None:
    """The keys of the classes with ``cost <= target`` (their representatives' cost), ``None``
    when unconstrained; checks the metric and the target."""
    if costs is not None and metric not in costs.names:
        raise InvalidArgumentError(f"metric must be one of the costs' metrics {list(costs.names)}, got {metric!r}: "
                                   "pick one of those (latency_ms needs costs measured with latency=True)")
    if target is None:
        return None
    if costs is None:
        raise InvalidArgumentError(f"a cost target ({target}) needs costs=ArchitectureCosts.measure(space, config) "
                                   "of the supernet's network: pass costs, or target=None for no constraint")
    # Costs add up over edges, so the cheapest of all 15,625 strings uses one op on every edge.
    cheapest = float(costs.values([NB201Space().make([op] * 6) for op in costs.ops], metric).min())
    if math.isnan(target) or target < cheapest:
        raise InvalidArgumentError(f"the {metric} target must be at least the cheapest cell's {cheapest:g}, got "
                                   f"{target}: raise the target")
    cells, _ = _classes()
    values = costs.values(cells, metric)
    if values.min() > target:
        raise InvalidArgumentError(f"no canonical cell has {metric} <= {target} (the cheapest has "
                                   f"{values.min():g}): raise the target")
    return frozenset(arch.key for arch, value in zip(cells, values) if value <= target)


def _mutant(parent: Architecture, rng: np.random.Generator, feasible: frozenset[str] | None,
            tries: int) -> Architecture | None:
    """A one-edge mutation of ``parent`` as its class representative, of another class and
    within the target; re-drawn up to ``tries`` times, ``None`` when every draw failed."""
    space, (_, by_key) = NB201Space(), _classes()
    for _ in range(tries):
        child = by_key[space.mutate(parent, rng).key]
        if child.key != parent.key and (feasible is None or child.key in feasible):
            return child
    return None


def _evolve(evaluator: SupernetEvaluator, scores: _Scores, feasible: frozenset[str] | None, target: float | None,
            population: int, sample_size: int, cycles: int, seed: int, tries: int) -> OneShotResult:
    cells, _ = _classes()
    allowed = cells if feasible is None else tuple(arch for arch in cells if arch.key in feasible)
    evaluator.prepare()
    supernet_seconds = evaluator.setup_cost()
    started, scored_before = time.perf_counter(), scores.scored
    rng = np.random.default_rng(stable_seed(seed, "evolution"))
    consumed: list[tuple[Architecture, float]] = []

    def consume(arch: Architecture) -> tuple[Architecture, float]:
        consumed.append((arch, scores(arch)))
        return consumed[-1]

    picks = rng.choice(len(allowed), size=population, replace=len(allowed) < population)
    members = deque(consume(allowed[i]) for i in picks)
    for _ in range(cycles):
        tournament = rng.choice(len(members), size=sample_size, replace=False)
        parent = _best([members[i] for i in tournament])[0]
        child = _mutant(parent, rng, feasible, tries)
        if child is None:  # no new feasible class among the draws: a random one, as REA's warm-up
            logger.debug("no feasible mutant of %s in %d tries; drawing a random cell", parent, tries)
            child = allowed[int(rng.integers(len(allowed)))]
        members.append(consume(child))
        members.popleft()  # aging: the oldest member dies, whatever its score
    result = _result(consumed, started, supernet_seconds, scores.scored - scored_before)
    logger.info("evolution (target %s): best supernet accuracy %.3f, %d cells scored in %.1f s", target,
                result.score, result.evaluated, result.search_seconds)
    return result


def evolution_with_weight_sharing(evaluator: SupernetEvaluator, *, costs: ArchitectureCosts | None = None,
                                  metric: str = "flops", target: float | None = None, population: int = 20,
                                  sample_size: int = 5, cycles: int = 100, seed: int = 0,
                                  max_mutation_tries: int = 100) -> OneShotResult:
    """OFA-style search: regularised evolution on supernet scores over cells with ``cost <= target``.

    ``population`` feasible classes are drawn uniformly; each of ``cycles`` steps takes the best of
    ``sample_size`` members drawn at random, changes one edge's op (re-drawn while the child is of
    the parent's class or above the target, at most ``max_mutation_tries`` times, then a random
    feasible class), adds it and removes the oldest member. ``cost = costs.value(arch, metric)``
    of the supernet's network (exact FLOPs/params, or lookup-table latency); ``target=None`` is
    unconstrained. Run it once per FLOPs or latency target, or use ``evolution_for_targets``,
    which shares the scores. Returns the best cell consumed (``history`` holds
    ``population + cycles`` entries; ``evaluated`` counts distinct classes).

    Example:
        >>> from infonas.evaluators.supernet import SupernetEvaluator
        >>> evaluator = SupernetEvaluator("digits", epochs=1, channels=2, recalibration_batches=2)
        >>> result = evolution_with_weight_sharing(evaluator, population=4, sample_size=2, cycles=3)
        >>> len(result.history)
        7
    """
    _check_evolution(population, sample_size, cycles, max_mutation_tries)
    feasible = _feasible(costs, metric, target)
    return _evolve(evaluator, _Scores(evaluator), feasible, target, population, sample_size, cycles, seed,
                   max_mutation_tries)


def evolution_for_targets(evaluator: SupernetEvaluator, costs: ArchitectureCosts, metric: str,
                          targets: Iterable[float], *, population: int = 20, sample_size: int = 5,
                          cycles: int = 100, seed: int = 0, max_mutation_tries: int = 100) -> dict[float, OneShotResult]:
    """``evolution_with_weight_sharing`` once per target, every run sharing one score cache.

    Each run's ``history`` is exactly that of a separate run with the same arguments (a score
    depends on the class key alone); ``evaluated`` counts only the classes it scored first and
    ``search_seconds`` is its own. Each target's ``arch``/``score`` is then the best cell within
    that target among the cells consumed by *any* run (already scored: the choice is free), so
    ``score`` never decreases as the target loosens. Targets are checked before any run.

    Example:
        >>> from infonas.evaluators.supernet import SupernetEvaluator
        >>> evaluator = SupernetEvaluator("digits", epochs=1, channels=2, recalibration_batches=2)
        >>> costs = ArchitectureCosts.measure(NB201Space(), evaluator.prepare().config, latency=False)
        >>> found = evolution_for_targets(evaluator, costs, "flops", [12000, 30000], population=4,
        ...                               sample_size=2, cycles=3)
        >>> found[12000].score <= found[30000].score
        True
    """
    _check_evolution(population, sample_size, cycles, max_mutation_tries)
    unique = list(dict.fromkeys(float(t) for t in targets))
    if not unique:
        raise InvalidArgumentError("evolution_for_targets needs at least one target, got none: pass a list of costs")
    feasible = {target: _feasible(costs, metric, target) for target in unique}
    scores = _Scores(evaluator)
    runs = {target: _evolve(evaluator, scores, feasible[target], target, population, sample_size, cycles, seed,
                            max_mutation_tries) for target in unique}
    _, by_key = _classes()
    consumed = [(by_key[key], score) for run in runs.values() for key, score in run.history]
    found = {}
    for target, run in runs.items():
        within = feasible[target]
        assert within is not None  # a float target always constrains
        arch, score = _best([(a, s) for a, s in consumed if a.key in within])
        found[target] = replace(run, arch=arch, score=score)
    return found
