"""The executor protocol, the job a worker runs, and the serial executor.

An executor runs evaluations and says which finished: ``start(job)`` once, then ``submit(trial)``
and ``wait()`` (the finished ``(trial, result)`` pairs, at least one while any is in flight),
and ``close()``. ``Study.optimize`` keeps ``workers`` (plus a small queue) trials in flight and
asks the strategy for a new trial as soon as one finishes, so workers never wait for a model fit.

A worker never raises for a bad evaluation: an evaluator exception, a NaN metric, a time-out or
a worker process that died each come back as a failed result whose ``failure`` names the kind
(``infonas.trials.FAILURE_KINDS``) and whose ``error`` says what happened.

Example:
    >>> from search_spaces import NB201Space
    >>> from infonas.evaluators import SleepEvaluator
    >>> space = NB201Space()
    >>> executor = SerialExecutor()
    >>> executor.start(EvaluationJob.of(space, SleepEvaluator(0.0)))
    >>> executor.submit(Trial(0, space.sample(__import__("numpy").random.default_rng(0)), "full"))
    >>> [(trial.number, result.status.value) for trial, result in executor.wait()]
    [(0, 'complete')]
"""

from __future__ import annotations

import collections
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from infonas.evaluators.base import Evaluator
from infonas.exceptions import InvalidArgumentError
from infonas.trials import EvaluationResult, Trial
from search_spaces.base import SearchSpace

__all__ = ["EvaluationJob", "Executor", "Finished", "SerialExecutor", "run_trial"]

#: One finished evaluation: the trial as submitted and what came back.
Finished = tuple[Trial, EvaluationResult]


@dataclass(frozen=True)
class EvaluationJob:
    """What a worker needs to evaluate trials: the space's name and the evaluator, as its JSON
    spec (rebuilt once in each worker, which then loads its data once) or, for a custom
    evaluator without a spec, the object itself (pickled to each worker).

    ``token`` tells jobs apart, so a worker process reused for a new job builds its evaluator again.
    """

    space: str
    spec: dict[str, Any] | None = None
    evaluator: Evaluator | None = None
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def of(cls, space: SearchSpace, evaluator: Evaluator, spec: dict[str, Any] | None = None) -> EvaluationJob:
        """The job of ``evaluator`` on ``space``. Workers rebuild it from ``spec`` where a fresh
        process can (``is_portable_spec``); in this process the object itself is used."""
        from infonas.evaluators import is_portable_spec

        return cls(space.name, dict(spec) if spec is not None and is_portable_spec(spec) else None, evaluator)

    def __reduce__(self):
        # Sent to a worker: the spec alone where there is one (workers load their own data), else the object.
        return (EvaluationJob, (self.space, self.spec, self.evaluator if self.spec is None else None, self.token))

    def build(self) -> Evaluator:
        """The evaluator: the object where this job holds one, else built from the spec."""
        if self.evaluator is not None:
            return self.evaluator
        from infonas.evaluators import build_evaluator
        from search_spaces import get_space

        return build_evaluator(self.spec, get_space(self.space))


def run_trial(evaluator: Evaluator, trial: Trial) -> tuple[EvaluationResult, float]:
    """Evaluate one trial and time it; an exception or a non-finite metric becomes a failed
    result (``failure`` ``error`` or ``nan``), so one bad architecture never ends a search.
    Returns the result and the evaluation's wall-clock seconds."""
    started = time.perf_counter()
    try:
        result = evaluator.evaluate(trial.arch, trial.fidelity)
        if not isinstance(result, EvaluationResult):
            raise TypeError(f"evaluate returned {type(result).__name__}, not an EvaluationResult")
        result = result.checked()
    except Exception as error:  # noqa: BLE001 - any evaluator error is the trial's result, by design
        result = EvaluationResult.failed(f"{type(error).__name__}: {error}", failure="error")
    return result, time.perf_counter() - started


class Executor(Protocol):
    """Runs trials' evaluations, ``workers`` at a time.

    ``asynchronous`` executors accept new trials while others run (a pool, Ray); the serial one
    evaluates a submitted round before the next is asked, as a plain loop does.
    ``busy_seconds`` sums the evaluation seconds of the trials that finished (for idle fractions).
    """

    workers: int
    asynchronous: bool
    busy_seconds: float

    def start(self, job: EvaluationJob) -> None: ...
    def submit(self, trial: Trial) -> None: ...
    def wait(self) -> list[Finished]: ...
    def cancel(self) -> None: ...
    def close(self) -> None: ...


class SerialExecutor:
    """Evaluates submitted trials one after another in this process, in the order submitted,
    with the study's own evaluator object (nothing is rebuilt or pickled)."""

    workers = 1
    asynchronous = False

    def __init__(self, trial_timeout: float | None = None) -> None:
        if trial_timeout is not None:
            # A per-trial limit needs a process to stop; this executor runs in the caller's own.
            raise InvalidArgumentError(f"the serial executor cannot stop a trial after trial_timeout={trial_timeout} s, "
                                       "because it evaluates in this process: use the pool executor (--executor pool "
                                       "--workers 1), which runs trials in a process it can end")
        self.busy_seconds = 0.0
        self._evaluator: Evaluator | None = None
        self._queue: collections.deque[Trial] = collections.deque()

    def start(self, job: EvaluationJob) -> None:
        self._evaluator = job.build()
        self._queue.clear()
        self.busy_seconds = 0.0

    def submit(self, trial: Trial) -> None:
        self._queue.append(trial)

    def wait(self) -> list[Finished]:
        if not self._queue:
            return []
        if self._evaluator is None:
            raise InvalidArgumentError("the executor was not started: call start(job) before wait()")
        trial = self._queue.popleft()
        result, seconds = run_trial(self._evaluator, trial)
        self.busy_seconds += seconds
        return [(trial, result)]

    def cancel(self) -> None:
        self._queue.clear()

    def close(self) -> None:
        self._queue.clear()

    def __repr__(self) -> str:
        return "SerialExecutor()"
