"""Objectives of a search: a metric name and a direction, and metrics computed from the architecture.

Measured objectives (accuracy) come from evaluations and are modelled by a surrogate; objectives
that are a known function of the architecture (FLOPs, parameters, a latency lookup table) are
*computed*, never modelled: a ``ComputedMetrics`` provider gives their exact values for any
architecture, evaluated or not.

Example:
    >>> parse_objectives("cifar10_test_200ep:max,flops:min")
    (Objective(name='cifar10_test_200ep', maximize=True), Objective(name='flops', maximize=False))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from infonas.exceptions import InvalidArgumentError
from search_spaces.base import Architecture

__all__ = ["ComputedMetrics", "Objective", "parse_objectives", "signed_values"]


@dataclass(frozen=True)
class Objective:
    """A metric to maximise (``maximize=True``) or minimise."""

    name: str
    maximize: bool = True

    @property
    def sign(self) -> float:
        """``+1`` when maximising, ``-1`` when minimising: ``sign * value`` is larger-is-better."""
        return 1.0 if self.maximize else -1.0

    def __str__(self) -> str:
        return f"{self.name}:{'max' if self.maximize else 'min'}"

    @classmethod
    def parse(cls, text: str) -> Objective:
        """``"name:max"``, ``"name:min"`` or a bare ``"name"`` (maximised)."""
        name, _, direction = text.strip().partition(":")
        name, direction = name.strip(), direction.strip().lower() or "max"
        if not name:
            raise InvalidArgumentError(f"objective {text!r} has no metric name")
        if direction not in ("max", "min"):
            raise InvalidArgumentError(f"objective {text!r}: the direction must be 'max' or 'min', got {direction!r}")
        return cls(name, direction == "max")

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "maximize": self.maximize}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Objective:
        return cls(str(data["name"]), bool(data["maximize"]))


def parse_objectives(text: str | Sequence[str] | Sequence[Objective]) -> tuple[Objective, ...]:
    """Objectives from ``"a:max,b:min"``, a list of such strings, or ``Objective`` values."""
    items = text.split(",") if isinstance(text, str) else list(text)
    objectives = tuple(item if isinstance(item, Objective) else Objective.parse(item) for item in items
                       if isinstance(item, Objective) or item.strip())
    if not objectives:
        raise InvalidArgumentError("at least one objective is needed")
    names = [o.name for o in objectives]
    if len(set(names)) != len(names):
        raise InvalidArgumentError(f"an objective is named twice in {names}")
    return objectives


def signed_values(metrics: Mapping[str, float], objectives: Sequence[Objective]) -> np.ndarray:
    """The objective vector of one result, signed so that every entry is larger-is-better."""
    return np.array([o.sign * float(metrics[o.name]) for o in objectives], dtype=np.float64)


@runtime_checkable
class ComputedMetrics(Protocol):
    """Metrics that are an exact function of the architecture (no evaluation needed).

    ``names`` lists the metrics it provides; ``values(archs, name)`` returns them as a float
    array, one entry per architecture.
    """

    names: tuple[str, ...]

    def values(self, archs: Sequence[Architecture], name: str) -> np.ndarray: ...
