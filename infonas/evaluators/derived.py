"""Derived objectives: a metric computed from an evaluation and the architecture, for any strategy.

``MnasNetReward`` wraps an evaluator and adds MnasNet's soft-constrained reward (Tan et al.,
CVPR 2019), ``reward = accuracy * (latency / target) ** exponent``, with the latency looked up in
the cell's exact cost tables (``ArchitectureCosts``, per-operation latencies). A single-objective
strategy (``bo-mes``, ``bo-mf``, ``rea``...) then searches for the best trade-off at one target
latency, where the multi-objective strategies trace the whole front. The spec (``mnasnet_spec``)
embeds the base evaluator's spec and the cost tables, so a run resumes with identical values.

Example:
    >>> costs = ArchitectureCosts.measure(space, config)  # doctest: +SKIP
    >>> spec = mnasnet_spec(table_spec("table.csv", "valid_acc"), costs, accuracy="valid_acc", target_ms=4.0)  # doctest: +SKIP
    >>> Study.create("runs/mnas", space, build_evaluator(spec, space), "mnasnet_reward", strategy="bo-mes",
    ...              evaluator_spec=spec).optimize(50)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from infonas.evaluators.base import Evaluator
from infonas.exceptions import InvalidArgumentError
from infonas.trials import EvaluationResult, TrialStatus
from search_spaces.base import Architecture

__all__ = ["MnasNetReward", "mnasnet_spec"]

REWARD = "mnasnet_reward"


class MnasNetReward(Evaluator):
    """``base``'s evaluations plus ``mnasnet_reward = accuracy * (latency_ms / target_ms) ** exponent``.

    ``costs``: an ``ArchitectureCosts`` with a latency table (``measure(..., latency=True)``);
    ``accuracy``: the base metric rewarded (at every fidelity that reports it). ``exponent = -0.07``
    is MnasNet's: twice the latency costs about 5% of the accuracy.
    """

    def __init__(self, base: Evaluator, costs: Any, *, accuracy: str, target_ms: float,
                 exponent: float = -0.07) -> None:
        if "latency_ms" not in getattr(costs, "names", ()):
            raise InvalidArgumentError("the MnasNet reward needs per-operation latencies: build the costs with "
                                       "ArchitectureCosts.measure(space, config, latency=True)")
        if accuracy not in base.metric_names:
            raise InvalidArgumentError(f"the base evaluator reports {list(base.metric_names)}, not the accuracy "
                                       f"{accuracy!r} to reward: name one of them")
        if not (np.isfinite(target_ms) and target_ms > 0 and np.isfinite(exponent)):
            raise InvalidArgumentError(f"target_ms must be a positive latency in ms and exponent finite, got "
                                       f"{target_ms} and {exponent}: MnasNet uses a measured target and -0.07")
        self.base, self.costs = base, costs
        self.accuracy, self.target_ms, self.exponent = accuracy, float(target_ms), float(exponent)
        self.fidelities = base.fidelities
        self.metric_names = (*base.metric_names, REWARD)

    def reward(self, accuracy: float, arch: Architecture) -> float:
        """The reward of ``arch`` at ``accuracy``."""
        latency = self.costs.value(arch, "latency_ms")
        return float(accuracy * (latency / self.target_ms) ** self.exponent)

    def _evaluate(self, arch: Architecture, fidelity: str) -> EvaluationResult:
        result = self.base.evaluate(arch, fidelity)
        if result.status is not TrialStatus.COMPLETE or self.accuracy not in result.metrics:
            return result
        metrics = {**result.metrics, REWARD: self.reward(result.metrics[self.accuracy], arch)}
        return EvaluationResult(metrics, result.cost, result.status, result.error)

    def known_values(self, metric: str) -> np.ndarray | None:
        # The reward of cells never evaluated is unknown to the wrapper (a table's domain may be
        # the whole space); reports then show no regret for it, as for a measuring evaluator.
        return None if metric == REWARD else self.base.known_values(metric)

    def setup_cost(self) -> float:
        return self.base.setup_cost()

    def domain(self) -> Sequence[Architecture] | None:
        return self.base.domain()

    def prepare(self, progress: bool = False) -> None:
        """Prepare the base evaluator (train a supernet) if it needs it."""
        prepare = getattr(self.base, "prepare", None)
        if prepare is not None:
            prepare(progress=progress)


def mnasnet_spec(base: Mapping[str, Any], costs: Any, *, accuracy: str, target_ms: float,
                 exponent: float = -0.07) -> dict[str, Any]:
    """The resumable spec of a ``MnasNetReward`` over the evaluator ``base`` describes (costs embedded)."""
    return {"kind": "mnasnet", "base": dict(base), "costs": costs.to_json(), "accuracy": accuracy,
            "target_ms": float(target_ms), "exponent": float(exponent)}
