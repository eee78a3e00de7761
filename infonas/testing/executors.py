"""Conformance suite for executors: every submitted trial comes back once, and faults are results.

What every ``Executor`` must do, wherever it runs evaluations:

* each submitted trial comes back exactly once from ``wait`` (which returns ``[]`` only when
  nothing is in flight), with the evaluator's result;
* an evaluator that raises gives a failed result with ``failure`` ``error``; a NaN metric one
  with ``nan``; neither stops the executor;
* asynchronous executors: a worker process that dies gives ``worker_lost`` and the executor
  goes on with a new one; a trial past ``trial_timeout`` gives ``timeout``; several trials run
  at once (``workers`` of them in about the time of one);
* ``cancel`` leaves nothing in flight; ``close`` may be called twice.

A test class subclasses ``ExecutorConformance`` and provides the fixture ``make_executor``, a
function ``(workers, trial_timeout) -> Executor``.

Example:
    >>> class TestPool(ExecutorConformance):  # doctest: +SKIP
    ...     @pytest.fixture
    ...     def make_executor(self):
    ...         return lambda workers, trial_timeout=None: PoolExecutor(workers, trial_timeout)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from infonas.evaluators import build_evaluator, faulty_spec, sleep_spec
from infonas.execution.base import EvaluationJob, Executor
from infonas.trials import Trial, TrialStatus
from search_spaces import NB201Space

__all__ = ["ExecutorConformance"]


def _trials(space: NB201Space, count: int, seed: int = 0) -> list[Trial]:
    rng = np.random.default_rng(seed)
    return [Trial(number, space.sample(rng), "full") for number in range(count)]


def _job(space: NB201Space, spec: dict) -> EvaluationJob:
    return EvaluationJob.of(space, build_evaluator(spec, space), spec)


def _drain(executor: Executor) -> list:
    finished, batch = [], executor.wait()
    while batch:
        finished += batch
        batch = executor.wait()
    return finished


class ExecutorConformance:
    """The executor contract, checked for the ``make_executor`` fixture of a subclass."""

    #: The per-trial limit the hang test sets: past any worker's start-up on a busy machine.
    trial_timeout = 3.0

    def test_every_trial_comes_back_once_with_its_result(self, make_executor: Callable[..., Executor]) -> None:
        space = NB201Space()
        spec = sleep_spec(0.0)
        executor = make_executor(2)
        executor.start(_job(space, spec))
        try:
            trials = _trials(space, 6)
            for trial in trials:
                executor.submit(trial)
            finished = _drain(executor)
        finally:
            executor.close()
            executor.close()
        assert sorted(t.number for t, _ in finished) == list(range(6))
        expected = build_evaluator(spec, space)
        for trial, result in finished:
            assert result.status is TrialStatus.COMPLETE
            assert result.metrics == expected.evaluate(trial.arch).metrics
        assert executor.wait() == []

    def test_exceptions_and_nans_are_failed_results(self, make_executor: Callable[..., Executor]) -> None:
        space = NB201Space()
        executor = make_executor(2)
        executor.start(_job(space, faulty_spec(sleep_spec(0.0), {"error": 0.5, "nan": 0.5})))
        try:
            for trial in _trials(space, 8, seed=1):
                executor.submit(trial)
            finished = _drain(executor)
        finally:
            executor.close()
        assert len(finished) == 8
        kinds = {result.failure for _, result in finished}
        assert kinds == {"error", "nan"}, kinds
        assert all(result.status is TrialStatus.FAILED and result.error for _, result in finished)

    def test_a_dead_worker_and_a_hung_trial_are_results_and_the_executor_goes_on(
            self, make_executor: Callable[..., Executor], tmp_path) -> None:
        if not make_executor(1).asynchronous:
            pytest.skip("a synchronous executor runs trials in the caller's process")
        executor = make_executor(2, trial_timeout=self.trial_timeout)
        space = NB201Space()
        spec = faulty_spec(sleep_spec(0.0), {"hang": 0.3, "exit": 0.3}, seed=3, once_dir=tmp_path / "once",
                           hang_seconds=120)
        evaluator = build_evaluator(spec, space)
        by_fault: dict = {}
        for trial in _trials(space, 40, seed=2):
            by_fault.setdefault(evaluator.fault_for(trial.arch), []).append(trial)
        # The hung trial first, on a warm worker: a time limit may count a fresh worker's start-up.
        trials = [by_fault["hang"][0], by_fault["exit"][0], *by_fault[None][:2]]
        executor.start(_job(space, spec))
        try:
            for trial in trials:
                executor.submit(trial)
            finished = {t.number: r for t, r in _drain(executor)}
            # Each fault fired once (once_dir): the worker-killing architecture now evaluates normally.
            executor.submit(trials[1])
            again = _drain(executor)
        finally:
            executor.close()
        assert sorted(finished) == sorted(t.number for t in trials)
        failures = [finished[t.number].failure for t in trials]
        # (Conformance suites are not rewritten by pytest: the message shows what came back.)
        assert failures == ["timeout", "worker_lost", None, None], f"failures {failures}, errors " + str(
            [finished[t.number].error for t in trials])
        assert all(finished[t.number].error for t in trials[:2])
        assert [r.status for _, r in again] == [TrialStatus.COMPLETE]

    def test_workers_run_at_once_and_cancel_empties(self, make_executor: Callable[..., Executor]) -> None:
        executor = make_executor(3)
        space = NB201Space()
        executor.start(_job(space, sleep_spec(0.5)))
        try:
            for trial in _trials(space, 3):
                executor.submit(trial)
            finished = _drain(executor)
            for trial in _trials(space, 4, seed=5):
                executor.submit(trial)
            executor.cancel()
            assert executor.wait() == []
        finally:
            executor.close()
        assert len(finished) == 3
        assert executor.busy_seconds >= 1.5  # the evaluations' own seconds, which idle fractions rest on
