"""Views derived from a run's finished trials: incumbents, cost curves, Pareto fronts.

Pure functions of the trials (and the objectives), so a ``Study``, a report and a benchmark
derive the same numbers from the same journal, never from a second source of truth.

Example:
    >>> from infonas.objectives import Objective
    >>> history([], (Objective("acc", True),), target="full")
    []
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from infonas.exceptions import InvalidArgumentError
from infonas.objectives import ComputedMetrics, Objective, signed_values
from infonas.trials import Trial

if TYPE_CHECKING:
    from infonas.evaluators.tabular import TabularBenchmark

__all__ = ["HypervolumeScale", "best_trials", "front_candidates", "history", "hypervolume_of", "objective_matrix",
           "objective_vectors", "pareto_front", "trials_dataframe"]


def best_trials(trials: Sequence[Trial], objective: Objective, fidelity: str, k: int = 1) -> list[Trial]:
    """The ``k`` best complete trials at ``fidelity`` by ``objective`` (ties: the earlier trial)."""
    complete = [t for t in trials if t.is_complete and t.fidelity == fidelity]
    sign = -1.0 if objective.maximize else 1.0
    return sorted(complete, key=lambda t: (sign * t.metrics[objective.name], t.number))[:k]


def front_candidates(trials: Sequence[Trial], objectives: Sequence[Objective], target: str) -> list[Trial]:
    """Complete target-fidelity trials that carry every objective."""
    return [t for t in trials if t.is_complete and t.fidelity == target and all(o.name in t.metrics for o in objectives)]


def objective_vectors(trials: Sequence[Trial], objectives: Sequence[Objective]) -> np.ndarray:
    """Signed objective vectors (every entry larger-is-better), ``len(trials) x len(objectives)``."""
    return np.array([signed_values(t.metrics, objectives) for t in trials],
                    dtype=np.float64).reshape(len(trials), len(objectives))


def pareto_front(trials: Sequence[Trial], objectives: Sequence[Objective], target: str) -> list[Trial]:
    """The non-dominated complete trials at the target fidelity (BoTorch's ``is_non_dominated``)."""
    from infonas.pareto import pareto_mask

    candidates = front_candidates(trials, objectives, target)
    if not candidates:
        return []
    mask = pareto_mask(objective_vectors(candidates, objectives))
    return [t for t, keep in zip(candidates, mask.tolist()) if keep]


def hypervolume_of(trials: Sequence[Trial], objectives: Sequence[Objective], target: str,
                   reference_point: Mapping[str, float]) -> float:
    """Hypervolume of the front of ``trials`` above ``reference_point`` (in the objectives' units)."""
    from infonas.pareto import hypervolume

    candidates = front_candidates(trials, objectives, target)
    if not candidates:
        return 0.0
    return hypervolume(objective_vectors(candidates, objectives), signed_values(reference_point, objectives))


def objective_matrix(table: TabularBenchmark, objectives: Sequence[Objective], computed: ComputedMetrics | None
                     ) -> np.ndarray:
    """Signed values of every objective for every row of ``table`` (``rows x objectives``): a table
    column, or a metric ``computed`` from the architecture (``flops``, ``params``, ``latency_ms``)."""
    columns = []
    for objective in objectives:
        if objective.name in table.metrics:
            values = table.column(objective.name)
        elif computed is not None and objective.name in computed.names:
            values = computed.values(table.archs, objective.name)
        else:
            known = sorted(table.metrics) + (list(computed.names) if computed is not None else [])
            raise InvalidArgumentError(f"objective {objective.name!r} is neither a table column nor a computed "
                                       f"metric; name one of {known}")
        columns.append(objective.sign * np.asarray(values, dtype=np.float64))
    return np.stack(columns, axis=-1)


@dataclass(frozen=True)
class HypervolumeScale:
    """What makes a hypervolume readable: a ratio in [0, 1].

    Each objective is scaled to [0, 1] between ``reference`` (0: the worst value that still counts)
    and ``ideal`` (1: the best known value), both in the objectives' own units; the ratio is
    ``HV(found front) / HV(true front)`` when ``true_front`` (signed objective vectors of every
    architecture that can be evaluated, e.g. a whole table, or just of their front) is known, else ``HV(found front) / vol([reference, ideal])``.
    ``ideal_source`` says, per objective, where the ideal came from.

    Example:
        >>> scale = HypervolumeScale((Objective("acc"), Objective("flops", False)), {"acc": 10.0, "flops": 200.0},
        ...                          {"acc": 90.0, "flops": 40.0})
        >>> scale.ratio_of_volume(0.5 * 80.0 * 160.0)  # half of the box [reference, ideal]
        0.5
    """

    objectives: tuple[Objective, ...]
    reference: Mapping[str, float]
    ideal: Mapping[str, float]
    true_front: np.ndarray | None = None
    ideal_source: Mapping[str, str] | None = None

    @property
    def against(self) -> str:
        """What the ratio divides by, in words."""
        if self.true_front is not None:
            return f"the true front ({len(self.true_front)} points)"
        return "the box [reference point, ideal point]"

    @functools.cached_property
    def _whole(self) -> float:
        """The denominator in raw units: ``HV(true front)`` or the box's volume, above the reference."""
        from infonas.pareto import scaled_front_volume

        reference, ideal = signed_values(self.reference, self.objectives), signed_values(self.ideal, self.objectives)
        # Measured in the scaled objectives (volumes near 1, whatever the units), then back to raw units:
        # volumes scale by prod(ideal - reference) under the [0, 1] scaling.
        return scaled_front_volume(reference, ideal, self.true_front) * float(math.prod(ideal - reference))

    def ratio_of_volume(self, volume: float) -> float:
        """A hypervolume above ``reference`` in raw units (``Study.hypervolume``, ``history``) as a
        ratio: volumes scale by ``prod(ideal - reference)`` under the [0, 1] scaling, ratios do not."""
        return float(volume) / self._whole



def history(trials: Sequence[Trial], objectives: Sequence[Objective], target: str,
            reference_point: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    """After each finished trial: cumulative cost, the incumbent at the target fidelity and, with
    a reference point (several objectives), the hypervolume of the front so far."""
    objective = objectives[0]
    sign = 1.0 if objective.maximize else -1.0
    best, spent, rows = None, 0.0, []
    for trial in trials:
        spent += trial.cost
        if trial.is_complete and trial.fidelity == target:
            value = trial.metrics[objective.name]
            if best is None or sign * (value - best) > 0:
                best = value
        rows.append({"number": trial.number, "cost": spent, "incumbent": best})
    if reference_point is not None:
        # One pass over the front candidates, in finishing order: the volume changes only when a
        # trial enters the front; the rows in between carry the last value.
        from infonas.pareto import hypervolume_curve

        candidates = front_candidates(trials, objectives, target)
        curve = hypervolume_curve(objective_vectors(candidates, objectives),
                                  signed_values(reference_point, objectives))
        after = dict(zip((t.number for t in candidates), curve))
        volume = 0.0
        for row in rows:
            volume = after.get(row["number"], volume)
            row["hypervolume"] = volume
    return rows


def trials_dataframe(records: Sequence[Mapping[str, Any]]):
    """Trial records as a pandas DataFrame, the ``values`` spread into one column per metric."""
    try:
        import pandas as pd
    except ImportError:
        from infonas.exceptions import UnsupportedError

        raise UnsupportedError("trials_dataframe needs pandas, which is not installed; "
                               "pip install 'infonas[pandas]'") from None
    rows = [{k: v for k, v in record.items() if k != "values"} | dict(record["values"]) for record in records]
    return pd.DataFrame(rows)
