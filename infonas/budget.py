"""Search budgets: evaluations, total evaluation cost, wall-clock seconds (whichever ends first)."""

from __future__ import annotations

from dataclasses import dataclass

from infonas.exceptions import InvalidArgumentError


@dataclass(frozen=True)
class Budget:
    """Limits on a search; ``None`` means unlimited. At least one limit must be set.

    ``evaluations`` counts finished trials (complete or failed), ``cost`` sums their costs in
    the evaluator's unit, ``seconds`` is wall-clock time of one ``optimize`` call.

    Example:
        >>> Budget(evaluations=50).exhausted(evaluations=50, cost=0.0, seconds=1.0)
        True
    """

    evaluations: int | None = None
    cost: float | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.evaluations is None and self.cost is None and self.seconds is None:
            raise InvalidArgumentError("a budget needs at least one of evaluations, cost, seconds")
        for name in ("evaluations", "cost", "seconds"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise InvalidArgumentError(f"budget {name} must be positive, got {value}")

    @classmethod
    def coerce(cls, budget: Budget | int | None = None, *, evaluations: int | None = None,
               cost: float | None = None, seconds: float | None = None) -> Budget:
        """A ``Budget`` from a Budget, a number of evaluations, or keyword limits."""
        if isinstance(budget, Budget):
            return budget
        if budget is not None:
            if isinstance(budget, bool) or not isinstance(budget, int):
                raise InvalidArgumentError(f"budget must be a Budget or an int number of evaluations, got {budget!r}")
            evaluations = budget
        return cls(evaluations=evaluations, cost=cost, seconds=seconds)

    def exhausted(self, evaluations: int, cost: float, seconds: float) -> bool:
        return ((self.evaluations is not None and evaluations >= self.evaluations)
                or (self.cost is not None and cost >= self.cost)
                or (self.seconds is not None and seconds >= self.seconds))
