"""The loop of ``Study.optimize``: ask, hand trials to an executor, tell what comes back.

With the serial executor it is the plain loop: ask a round, evaluate it, tell, repeat. With an
asynchronous executor (a pool, Ray) it keeps ``workers + queue`` trials in flight and asks again
as soon as any finishes, so the strategy always conditions on the trials still running (every
strategy takes them as ``pending``). Failed trials are retried as the ``RetryPolicy`` allows and
the loop ends with ``FailureRateExceededError`` past the ``FailureRateLimit``. Everything goes
through the study's ``ask`` / ``tell``, so the journal stays the single source of truth: a
trial still running when the loop ends (or the process dies) is pending there, and the next
``optimize`` evaluates it again, once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from infonas.budget import Budget
from infonas.exceptions import InvalidArgumentError, SpaceExhaustedError
from infonas.execution import Executor, FailureRateExceededError, FailureRateLimit, RetryPolicy
from infonas.trials import Trial, TrialStatus

if TYPE_CHECKING:
    from infonas.study import Study

__all__ = ["SearchLoop", "next_number"]

logger = logging.getLogger(__name__)


def _batch_to_ask(batch_size: int, budget: Budget, finished: int) -> int:
    """A full batch, or fewer when fewer evaluations than that are left in the budget."""
    if budget.evaluations is None:
        return batch_size
    return max(1, min(batch_size, budget.evaluations - finished))


def next_number(study: Study) -> int:
    """The next trial number: after the last ever asked (a repaired journal may have lost one in the middle)."""
    return max(study._asked, default=-1) + 1


def _round_size(study: Study, budget: Budget) -> int:
    """The next round's size: the batch size, or what the strategy's model step serves
    (``Strategy.round_size``), within what the budget has left."""
    finished = len(study._finished)
    started = time.perf_counter()
    requested = study.strategy.round_size(_batch_to_ask(study.batch_size, budget, finished), next_number(study))
    study._sizing_seconds = time.perf_counter() - started
    return _batch_to_ask(requested, budget, finished)


def default_queue(workers: int) -> int:
    """Trials queued beyond the running ones: ``workers`` for several workers, so a worker that
    frees starts a queued trial while the next is suggested; none for one worker, which then asks
    exactly what a serial run asks."""
    return workers if workers > 1 else 0


class SearchLoop:
    """One ``optimize`` call of ``study`` on ``executor`` until ``budget`` is spent."""

    def __init__(self, study: Study, budget: Budget, executor: Executor, *, queue: int | None,
                 retries: RetryPolicy, failure_limit: FailureRateLimit,
                 callbacks: Sequence[Callable[[Any, Trial], None]] = ()) -> None:
        if queue is not None and (not isinstance(queue, int) or isinstance(queue, bool) or queue < 0):
            raise InvalidArgumentError(f"queue must be an integer >= 0, got {queue!r}")
        self.study = study
        self.budget = budget
        self.executor = executor
        self.retries = retries
        self.failure_limit = failure_limit
        self.callbacks = tuple(callbacks)
        self.slots = 0  # a synchronous executor's next round is asked when the last is told
        if executor.asynchronous:
            self.slots = executor.workers + (default_queue(executor.workers) if queue is None else queue)
        self.in_flight: dict[int, Trial] = {}
        self._started = time.perf_counter()
        self._exhausted = False

    def spent(self) -> bool:
        study = self.study
        return study.stop_reason is not None or self.budget.exhausted(
            len(study._finished), study.spent_cost(), time.perf_counter() - self._started)

    def evaluations_left(self) -> int | None:
        """Evaluations the budget still allows beyond those finished and in flight (``None``: no limit)."""
        if self.budget.evaluations is None:
            return None
        return self.budget.evaluations - len(self.study._finished) - len(self.in_flight)

    def submit(self, trials: Sequence[Trial]) -> None:
        for trial in trials:
            self.executor.submit(trial)
            self.in_flight[trial.number] = trial

    def run(self, progress: bool = False) -> None:
        from tqdm.auto import tqdm

        study, executor = self.study, self.executor
        study.stop_reason = None
        if executor.asynchronous and hasattr(study.evaluator, "prepare") and (
                study.strategy.multi_fidelity or len(study.evaluator.fidelities) == 1):
            # Trained once here (a supernet), so that workers load it rather than each train it.
            study.evaluator.prepare(progress=progress)
        evaluations = self.budget.evaluations
        bar = tqdm(total=evaluations, initial=min(len(study._finished), evaluations or 0), desc="search",
                   unit="trial", disable=not progress, dynamic_ncols=True)
        executor.start(study._job())
        try:
            if not self.spent():
                self.submit(study.pending)  # a crash's in-flight trials, evaluated again once
                self.submit(self._missing_retries())
            while not self.spent():
                if not self._fill():
                    break
                for trial, result in executor.wait():
                    self.in_flight.pop(trial.number, None)
                    if trial.number in study._finished:  # a result that arrives twice is kept once
                        logger.warning("trial %d finished twice; the second result is dropped", trial.number)
                        continue
                    told = study.tell(trial, result)
                    if told.status is TrialStatus.FAILED:
                        self._after_failure(told)
                    for callback in self.callbacks:
                        callback(study, told)
                    bar.update(1)
                    best = study.best()
                    bar.set_postfix_str(f"cost {study.spent_cost():.4g} | best "
                                        + (f"{best[0].metrics[study.objective]:.4g}" if best else "-"), refresh=False)
                    if self.spent():
                        break
        finally:
            executor.close()  # what still runs is cancelled; it stays pending in the journal
            bar.close()

    def _fill(self) -> bool:
        """Ask a round when nothing runs, then top the free slots up; ``False`` when nothing is
        left to run (the space is exhausted and no trial is in flight)."""
        study = self.study
        try:
            if not self.in_flight:
                self.submit(study.ask(_round_size(study, self.budget)))
            left = self.evaluations_left()
            if len(self.in_flight) < self.slots and not self._exhausted and (left is None or left > 0):
                self.submit(study.ask(min(self.slots - len(self.in_flight), left or self.slots)))
        except SpaceExhaustedError as error:
            if not self.in_flight:
                study.stop_reason = str(error)
                logger.info("search stopped before its budget: %s", error)
                return False
            self._exhausted = True  # the running trials finish; nothing new is asked
        return True

    def _missing_retries(self) -> list[Trial]:
        """Retries the policy owes to failed trials that have none yet (a crash came in between)."""
        study = self.study
        retried = {t.retry_of for t in study._asked.values() if t.retry_of is not None}
        owed = [t for t in study._finished.values() if t.status is TrialStatus.FAILED and t.number not in retried
                and self.retries.allows(t.failure, study.attempts(t))]
        left = self.evaluations_left()
        return [study.ask_retry(t) for t in owed[:len(owed) if left is None else max(left, 0)]]

    def _after_failure(self, failed: Trial) -> None:
        study = self.study
        logger.warning("trial %d failed (%s): %s", failed.number, failed.failure, failed.error)
        finished = list(study._finished.values())
        failures = [t for t in finished if t.status is TrialStatus.FAILED]
        limit = self.failure_limit
        if limit.exceeded(len(failures), len(finished)):
            first = failures[0]
            raise FailureRateExceededError(
                f"{len(failures)} of {len(finished)} finished trials failed, more than the tolerated rate "
                f"{limit.max_rate} (checked once {limit.min_failed} have failed); the first, trial {first.number}, "
                f"failed with {first.failure}: {first.error}. Fix the evaluator (the journal keeps every failure; "
                f"`infonas report` lists them), or allow more failures (--max-failure-rate)")
        left = self.evaluations_left()
        if (left is None or left > 0) and not self.spent() and self.retries.allows(failed.failure,
                                                                                   study.attempts(failed)):
            self.submit([study.ask_retry(failed)])
