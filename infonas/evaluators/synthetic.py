"""Evaluators for measuring and testing executors: one that takes a fixed time, one that fails.

``SleepEvaluator`` sleeps a fixed number of seconds, then answers as the evaluator it wraps (a
table) or, alone, with a synthetic ``score`` derived from the architecture's canonical key, so
executor throughput is measured with a known evaluation time. ``FaultyEvaluator`` injects the
faults clusters produce (an exception, a NaN, a hang, a worker process that dies) at chosen
rates, deterministically per architecture, so fault handling is tested and soaked reproducibly.

Example:
    >>> import numpy as np
    >>> from search_spaces import NB201Space
    >>> arch = NB201Space().sample(np.random.default_rng(0))
    >>> result = SleepEvaluator(0.0).evaluate(arch)
    >>> result.status.value, 0.0 <= result.metrics["score"] < 1.0
    ('complete', True)
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from pathlib import Path

from infonas.evaluators.base import Evaluator, Fidelity
from infonas.exceptions import InvalidArgumentError
from infonas.trials import EvaluationResult
from search_spaces.base import Architecture

__all__ = ["FAULT_KINDS", "FaultyEvaluator", "SleepEvaluator"]

#: Faults ``FaultyEvaluator`` injects, in the order their rates are stacked.
FAULT_KINDS = ("error", "nan", "hang", "exit")


def _unit(*parts: object) -> float:
    """A number in [0, 1) fixed by ``parts`` (stable across processes, unlike ``hash``)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


class SleepEvaluator(Evaluator):
    """Sleeps ``seconds`` per evaluation, then returns ``inner``'s result, or a synthetic
    ``score = u(key)`` uniform in [0, 1) and fixed by the canonical key, at cost 1."""

    def __init__(self, seconds: float, inner: Evaluator | None = None) -> None:
        if not seconds >= 0:
            raise InvalidArgumentError(f"a sleep evaluator needs seconds >= 0, got {seconds}")
        self.seconds = float(seconds)
        self.inner = inner
        self.fidelities = dict(inner.fidelities) if inner is not None else {"full": Fidelity("full", 1.0, 0)}
        self.metric_names = tuple(inner.metric_names) if inner is not None else ("score",)

    def _evaluate(self, arch: Architecture, fidelity: str) -> EvaluationResult:
        time.sleep(self.seconds)
        if self.inner is not None:
            return self.inner.evaluate(arch, fidelity)
        return EvaluationResult({"score": _unit("score", arch.key)}, cost=1.0)

    def known_values(self, metric: str):
        return None if self.inner is None else self.inner.known_values(metric)

    def domain(self):
        return None if self.inner is None else self.inner.domain()


class FaultyEvaluator(Evaluator):
    """Wraps ``inner`` and injects faults: for each architecture a number ``u`` in [0, 1) fixed by
    ``(seed, key)`` picks ``error`` (raise), ``nan`` (a NaN metric), ``hang`` (sleep
    ``hang_seconds``) or ``exit`` (end the worker process at once, as a killed worker) with the
    given ``rates``, stacked in ``FAULT_KINDS`` order; the rest evaluate normally.

    With ``once_dir``, each architecture's fault fires once (a marker file records it), so a
    retry succeeds. ``exit`` ends the calling process: use it with a pool or Ray executor only.
    """

    def __init__(self, inner: Evaluator, rates: Mapping[str, float], *, seed: int = 0,
                 once_dir: str | Path | None = None, hang_seconds: float = 3600.0) -> None:
        unknown = sorted(set(rates) - set(FAULT_KINDS))
        if unknown or any(not 0 <= float(r) <= 1 for r in rates.values()) or sum(rates.values()) > 1:
            raise InvalidArgumentError(f"fault rates must map kinds of {FAULT_KINDS} to numbers in [0, 1] summing to "
                                       f"at most 1, got {dict(rates)}")
        self.inner = inner
        self.rates = {kind: float(rates.get(kind, 0.0)) for kind in FAULT_KINDS}
        self.seed = int(seed)
        self.once_dir = None if once_dir is None else Path(once_dir)
        self.hang_seconds = float(hang_seconds)
        self.fidelities = dict(inner.fidelities)
        self.metric_names = tuple(inner.metric_names)

    def fault_for(self, arch: Architecture) -> str | None:
        """The fault this architecture draws (before ``once_dir`` is consulted), or ``None``."""
        u, edge = _unit("fault", self.seed, arch.key), 0.0
        for kind in FAULT_KINDS:
            edge += self.rates[kind]
            if u < edge:
                return kind
        return None

    def _fires(self, arch: Architecture, fault: str) -> bool:
        if self.once_dir is None:
            return True
        marker = self.once_dir / hashlib.sha256(f"{self.seed}:{arch.key}:{fault}".encode()).hexdigest()[:24]
        try:  # exclusive creation: of two workers racing on one architecture, one fires
            marker.parent.mkdir(parents=True, exist_ok=True)
            with open(marker, "x"):
                return True
        except FileExistsError:
            return False

    def _evaluate(self, arch: Architecture, fidelity: str) -> EvaluationResult:
        fault = self.fault_for(arch)
        if fault is None or not self._fires(arch, fault):
            return self.inner.evaluate(arch, fidelity)
        if fault == "error":
            raise RuntimeError(f"injected fault for {arch.key}")
        if fault == "hang":
            time.sleep(self.hang_seconds)
            return self.inner.evaluate(arch, fidelity)
        if fault == "exit":
            os._exit(13)  # as a worker killed mid-evaluation: no cleanup, no result
        result = self.inner.evaluate(arch, fidelity)
        return EvaluationResult({name: float("nan") for name in result.metrics} or {"score": float("nan")}, result.cost)

    def known_values(self, metric: str):
        return self.inner.known_values(metric)

    def domain(self):
        return self.inner.domain()
