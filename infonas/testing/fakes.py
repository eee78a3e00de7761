"""A fast, deterministic synthetic evaluator for tests of strategies, studies and stores.

``FakeEvaluator`` scores an architecture of any categorical search space by a fixed random
quadratic function of its choices, so that edges interact (no strategy can optimise it one
position at a time) yet one evaluation costs microseconds:

.. math::
    f(\\mathbf{x}) = 50 + \\sum_i a_i[x_i] + \\sum_{i<j} b_{ij}[x_i, x_j]

with :math:`a_i \\sim \\mathcal{N}(0, 3^2)` and :math:`b_{ij} \\sim \\mathcal{N}(0, 1)` drawn once
from ``seed``. An optional cheap fidelity reports a biased, correlated version of ``f``.

Example:
    >>> from search_spaces import NB201Space
    >>> space = NB201Space()
    >>> evaluator = FakeEvaluator(space, cheap_cost=0.1)
    >>> sorted(evaluator.fidelities), evaluator.target_fidelity
    (['acc', 'acc_cheap'], 'acc')
    >>> arch = space.make(["nor_conv_3x3"] * 6)
    >>> evaluator.evaluate(arch).metrics == evaluator.evaluate(arch).metrics
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from infonas.evaluators.base import Evaluator, Fidelity
from infonas.trials import EvaluationResult
from search_spaces.base import Architecture, SearchSpace

if TYPE_CHECKING:
    from infonas.evaluators.tabular import TabularBenchmark

__all__ = ["FakeEvaluator"]


class FakeEvaluator(Evaluator):
    """A synthetic benchmark over ``space``: one metric, at one or two fidelities.

    Args:
        space: the categorical search space whose architectures are scored.
        metric: the metric's name; also the name of the target fidelity (as for a table).
        cheap_cost: with a cost in ``(0, 1)``, adds the fidelity ``f"{metric}_cheap"``, whose value
            is ``0.8 f + g`` for another fixed random main-effect function ``g``: correlated with
            the target, but with a different optimum. The target costs 1.
        seed: draws the coefficients; the same seed gives the same function in every process.
    """

    def __init__(self, space: SearchSpace, metric: str = "acc", cheap_cost: float | None = None, seed: int = 0) -> None:
        if cheap_cost is not None and not 0.0 < cheap_cost < 1.0:
            raise ValueError(f"cheap_cost must lie in (0, 1) (the target costs 1), got {cheap_cost}")
        self.space = space
        self.metric = metric
        self.metric_names = (metric,)
        self.fidelities = {metric: Fidelity(metric, 1.0, 1 if cheap_cost is not None else 0)}
        if cheap_cost is not None:
            self.fidelities[f"{metric}_cheap"] = Fidelity(f"{metric}_cheap", float(cheap_cost), 0)
        rng = np.random.default_rng([20240601, int(seed)])
        widths = [len(c) for c in space.choices]
        self._main = [rng.normal(0.0, 3.0, size=w) for w in widths]
        self._pairs = {(i, j): rng.normal(0.0, 1.0, size=(widths[i], widths[j]))
                       for i in range(len(widths)) for j in range(i + 1, len(widths))}
        self._bias = [rng.normal(0.0, 2.0, size=w) for w in widths]

    def value(self, arch: Architecture, fidelity: str | None = None) -> float:
        """``f(arch)`` at ``fidelity`` (default: the target), without the evaluator's checks."""
        codes = self.space.to_categorical(arch)
        target = 50.0 + sum(float(self._main[i][c]) for i, c in enumerate(codes))
        target += sum(float(table[codes[i], codes[j]]) for (i, j), table in self._pairs.items())
        if fidelity is None or fidelity == self.metric:
            return target
        return 0.8 * target + sum(float(self._bias[i][c]) for i, c in enumerate(codes))

    def _evaluate(self, arch: Architecture, fidelity: str) -> EvaluationResult:
        return EvaluationResult({self.metric: self.value(self.space.validate(arch), fidelity)},
                                cost=float(self.fidelities[fidelity].cost))


def fake_table(space: SearchSpace, metric: str = "acc", seed: int = 0) -> TabularBenchmark:
    """Every architecture of an enumerable ``space`` scored by ``FakeEvaluator`` (per-edge and
    pairwise effects, so no kernel that adds per-edge terms models it exactly); equivalent
    architectures share their canonical representative's score, as they do on a real table.

    Example:
        >>> from search_spaces import NB201Space
        >>> len(fake_table(NB201Space()))
        15625
    """
    from infonas.evaluators.tabular import TabularBenchmark  # deferred: only tests build tables

    fake = FakeEvaluator(space, metric, seed=seed)
    archs = list(space.enumerate())
    by_key: dict[str, float] = {}
    for arch in archs:
        by_key.setdefault(arch.key, fake.value(arch))
    return TabularBenchmark(space, archs, {metric: np.array([by_key[arch.key] for arch in archs])})
