"""The executor protocol and the serial executor.

Example:
    >>> from infonas.trials import EvaluationResult
    >>> list(SerialExecutor().run(lambda trial: EvaluationResult({"acc": trial * 1.0}, 0.0), [1, 2]))[1][1].metrics
    {'acc': 2.0}
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, TypeVar

from infonas.trials import EvaluationResult

__all__ = ["Executor", "SerialExecutor"]

T = TypeVar("T")


class Executor(Protocol):
    """Runs evaluations and yields each ``(trial, result)`` as it finishes.

    The consumer may stop iterating early (a budget ran out): an executor must then not start
    evaluations it has not started yet.
    """

    def run(self, evaluate: Callable[[T], EvaluationResult], trials: Sequence[T]) -> Iterator[tuple[T, EvaluationResult]]:
        ...


class SerialExecutor:
    """Evaluates trials one after another in this process, in the order given."""

    def run(self, evaluate: Callable[[T], EvaluationResult], trials: Sequence[T]) -> Iterator[tuple[T, EvaluationResult]]:
        for trial in trials:
            yield trial, evaluate(trial)

    def __repr__(self) -> str:
        return "SerialExecutor()"
