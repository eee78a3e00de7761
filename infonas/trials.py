"""Trial records: what was asked, at which fidelity, and what came back."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

from search_spaces.base import Architecture

#: Kinds of failed evaluation: the evaluator raised (``error``), returned a NaN or infinite metric
#: (``nan``), ran past its per-trial time limit (``timeout``), or its worker process died
#: (``worker_lost``). A retry policy (``infonas.execution.RetryPolicy``) is set per kind.
FAILURE_KINDS = ("error", "nan", "timeout", "worker_lost")


class TrialStatus(str, enum.Enum):
    """Life cycle of one evaluation. Only ``COMPLETE`` trials carry objective values."""

    PENDING = "pending"
    COMPLETE = "complete"
    FAILED = "failed"
    INFEASIBLE = "infeasible"


@dataclass(frozen=True)
class EvaluationResult:
    """What an evaluator returns for one (architecture, fidelity).

    ``metrics`` maps metric names to floats; ``cost`` is in the evaluator's cost unit (seconds
    for training, units of one top-fidelity evaluation for tables).
    """

    metrics: dict[str, float]
    cost: float
    status: TrialStatus = TrialStatus.COMPLETE
    error: str | None = None
    #: Why a failed evaluation failed, one of ``FAILURE_KINDS`` (``None`` for other results).
    failure: str | None = None

    @classmethod
    def failed(cls, error: str, cost: float = 0.0, failure: str = "error") -> EvaluationResult:
        """A failed result; ``failure`` names its kind (``FAILURE_KINDS``), ``error`` says what happened."""
        if failure not in FAILURE_KINDS:
            raise ValueError(f"failure kind must be one of {FAILURE_KINDS}, got {failure!r}")
        return cls(metrics={}, cost=cost, status=TrialStatus.FAILED, error=error, failure=failure)

    def checked(self) -> EvaluationResult:
        """This result, or a failed one if a complete result holds a NaN or infinite metric."""
        if self.status is TrialStatus.COMPLETE:
            bad = [name for name, value in self.metrics.items() if not math.isfinite(float(value))]
            if bad:
                return EvaluationResult.failed(f"non-finite metric(s) {bad}", cost=self.cost, failure="nan")
        return self


@dataclass(frozen=True)
class Trial:
    """One evaluation of ``arch`` at ``fidelity``, numbered in the order it was asked."""

    number: int
    arch: Architecture
    fidelity: str
    status: TrialStatus = TrialStatus.PENDING
    metrics: dict[str, float] = field(default_factory=dict)
    cost: float = 0.0
    error: str | None = None
    #: Seconds since the epoch when the trial was asked and finished (``None`` in journals
    #: written before timestamps were recorded).
    asked_at: float | None = field(default=None, compare=False)
    finished_at: float | None = field(default=None, compare=False)
    #: Wall-clock seconds of the ``suggest`` call that proposed this trial (its whole batch).
    suggest_seconds: float | None = field(default=None, compare=False)
    #: The failure kind of a failed trial (``FAILURE_KINDS``; ``None`` in journals written before it).
    failure: str | None = None
    #: The number of the failed trial this one evaluates again (a retry), else ``None``.
    retry_of: int | None = None

    def finished(self, result: EvaluationResult, at: float | None = None) -> Trial:
        return Trial(self.number, self.arch, self.fidelity, result.status, dict(result.metrics),
                     float(result.cost), result.error, self.asked_at, at, self.suggest_seconds,
                     result.failure if result.status is TrialStatus.FAILED else None, self.retry_of)

    def record(self, formatted_arch: str) -> dict[str, Any]:
        """The one JSON shape of a trial that ``Study.trials()``, ``best`` records and
        ``infonas report --json`` share: number, arch, fidelity, status, values (the metrics),
        cost, error, failure (its kind), retry_of, asked_at, finished_at, suggest_seconds."""
        return {"number": self.number, "arch": formatted_arch, "fidelity": self.fidelity,
                "status": self.status.value, "values": dict(self.metrics), "cost": self.cost, "error": self.error,
                "failure": self.failure, "retry_of": self.retry_of,
                "asked_at": self.asked_at, "finished_at": self.finished_at, "suggest_seconds": self.suggest_seconds}

    @property
    def is_complete(self) -> bool:
        return self.status is TrialStatus.COMPLETE
