"""Trial records: what was asked, at which fidelity, and what came back."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

from search_spaces.base import Architecture


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

    @classmethod
    def failed(cls, error: str, cost: float = 0.0) -> EvaluationResult:
        return cls(metrics={}, cost=cost, status=TrialStatus.FAILED, error=error)

    def checked(self) -> EvaluationResult:
        """This result, or a failed one if a complete result holds a NaN or infinite metric."""
        if self.status is TrialStatus.COMPLETE:
            bad = [name for name, value in self.metrics.items() if not math.isfinite(float(value))]
            if bad:
                return EvaluationResult.failed(f"non-finite metric(s) {bad}", cost=self.cost)
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

    def finished(self, result: EvaluationResult, at: float | None = None) -> Trial:
        return Trial(self.number, self.arch, self.fidelity, result.status, dict(result.metrics),
                     float(result.cost), result.error, self.asked_at, at, self.suggest_seconds)

    def record(self, formatted_arch: str) -> dict[str, Any]:
        """The one JSON shape of a trial that ``Study.trials()``, ``best`` records and
        ``infonas report --json`` share: number, arch, fidelity, status, values (the metrics),
        cost, error, asked_at, finished_at, suggest_seconds."""
        return {"number": self.number, "arch": formatted_arch, "fidelity": self.fidelity,
                "status": self.status.value, "values": dict(self.metrics), "cost": self.cost, "error": self.error,
                "asked_at": self.asked_at, "finished_at": self.finished_at, "suggest_seconds": self.suggest_seconds}

    @property
    def is_complete(self) -> bool:
        return self.status is TrialStatus.COMPLETE
