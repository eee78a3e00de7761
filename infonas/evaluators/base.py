"""The evaluator interface: ``evaluate(arch, fidelity) -> EvaluationResult``."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from infonas.trials import EvaluationResult
from search_spaces.base import Architecture


@dataclass(frozen=True)
class Fidelity:
    """A named way of measuring an architecture.

    ``cost`` is the fixed price of one evaluation in the evaluator's cost unit, or ``None``
    when the cost is measured per evaluation (seconds of training). ``level`` orders
    fidelities: the highest level is the one searches optimise for.
    """

    name: str
    cost: float | None
    level: int = 0


class Evaluator(abc.ABC):
    """Turns an architecture into metrics at a named fidelity.

    Subclasses set ``fidelities`` and ``metric_names`` and implement ``_evaluate``; the public
    ``evaluate`` validates the fidelity and turns exceptions and NaN metrics into failed results,
    so a broken evaluation never crashes a search.
    """

    fidelities: dict[str, Fidelity]
    metric_names: tuple[str, ...]

    @property
    def target_fidelity(self) -> str:
        """The most expensive, most faithful fidelity: what a search optimises for."""
        return max(self.fidelities.values(), key=lambda f: f.level).name

    def evaluate(self, arch: Architecture, fidelity: str | None = None) -> EvaluationResult:
        fidelity = self.target_fidelity if fidelity is None else fidelity
        if fidelity not in self.fidelities:
            raise ValueError(f"unknown fidelity {fidelity!r}; this evaluator offers {sorted(self.fidelities)}")
        try:
            result = self._evaluate(arch, fidelity)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as error:  # an evaluation that breaks is a failed trial, not a crash
            return EvaluationResult.failed(f"{type(error).__name__}: {error}")
        return result.checked()

    def known_values(self, metric: str) -> np.ndarray | None:
        """Every value of ``metric`` this evaluator already knows (a table's column), else ``None``.

        Studies use it for defaults that need the range of an objective (a reference point) and
        reports for the regret against a known optimum; evaluators that measure return ``None``.
        """
        return None

    def setup_cost(self) -> float:
        """A one-off cost in the evaluator's cost unit (training a supernet), charged to a run once.

        ``Study.spent_cost`` adds it to the trials' costs, so a cost budget pays for it; reports show
        it on a line of its own. Evaluators with nothing to set up return 0.
        """
        return 0.0

    def domain(self) -> Sequence[Architecture] | None:
        """The only architectures this evaluator can evaluate, or ``None`` when it can evaluate any.

        A Study lets its strategy propose only these (``infonas.study_setup.search_domain``), so
        a table of part of a space is searched through its rows, never missed. Must be a
        function of what the evaluator was built from: a resumed run rebuilds the same domain.
        """
        return None

    @abc.abstractmethod
    def _evaluate(self, arch: Architecture, fidelity: str) -> EvaluationResult:
        """Evaluate; may raise, the caller records the failure."""
