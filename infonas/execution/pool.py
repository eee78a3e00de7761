"""A local process pool executor: ``workers`` processes on this machine, each loading its data once.

Built on pebble's ``ProcessPool``, which already does what a pool of evaluations needs beyond
``concurrent.futures``: a time limit per task that ends the worker running it, and a pool that
replaces a worker process that died (its task fails with ``ProcessExpired``) instead of breaking.
Workers are started with ``spawn``: a forked copy of a process that has run torch's thread pools
can deadlock.

Example:
    >>> executor = PoolExecutor(workers=2, trial_timeout=600)  # doctest: +SKIP
    >>> study.optimize(budget=40, executor=executor)  # doctest: +SKIP
"""

from __future__ import annotations

import concurrent.futures
import itertools
import multiprocessing
from typing import Any

from infonas.exceptions import InvalidArgumentError, StudyError
from infonas.execution.base import EvaluationJob, Finished, run_trial
from infonas.trials import EvaluationResult, Trial

__all__ = ["PoolExecutor"]

# One evaluator per worker process, built by the pool's initializer: the process-local cache that
# lets each worker load its data once (module state of the worker, never of the caller).
_worker_evaluator: Any = None
_worker_error: str | None = None


def _initialise_worker(job: EvaluationJob) -> None:
    global _worker_evaluator, _worker_error
    import torch

    torch.set_num_threads(1)  # workers share the machine's cores; one thread each avoids oversubscription
    try:
        _worker_evaluator = job.build()
    except Exception as error:  # noqa: BLE001 - reported by start(), in one line, instead of a dead pool
        _worker_error = f"{type(error).__name__}: {error}"


def _evaluate_in_worker(trial: Trial) -> tuple[EvaluationResult, float]:
    if _worker_error is not None:
        return EvaluationResult.failed(f"the worker could not build its evaluator: {_worker_error}"), 0.0
    return run_trial(_worker_evaluator, trial)


def _ready() -> str | None:
    return _worker_error


def check_workers(workers: int, trial_timeout: float | None) -> None:
    """``InvalidArgumentError`` unless ``workers >= 1`` and ``trial_timeout`` is ``None`` or > 0."""
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise InvalidArgumentError(f"an executor needs workers >= 1, got {workers!r}")
    if trial_timeout is not None and not trial_timeout > 0:
        raise InvalidArgumentError(f"trial_timeout must be a number of seconds > 0, got {trial_timeout!r}")


class PoolExecutor:
    """Evaluates trials in ``workers`` local processes; a trial running longer than
    ``trial_timeout`` seconds ends its worker and fails with ``failure`` ``timeout``; a worker that
    dies fails its trial with ``worker_lost`` (the pool starts a new worker)."""

    asynchronous = True

    def __init__(self, workers: int = 2, trial_timeout: float | None = None) -> None:
        check_workers(workers, trial_timeout)
        self.workers = workers
        self.trial_timeout = trial_timeout
        self.busy_seconds = 0.0
        self._pool: Any = None
        self._futures: dict[concurrent.futures.Future, Trial] = {}
        self._order: dict[concurrent.futures.Future, int] = {}
        self._submitted = itertools.count()

    def start(self, job: EvaluationJob) -> None:
        from pebble import ProcessPool

        self.close()
        self.busy_seconds = 0.0
        self._pool = ProcessPool(max_workers=self.workers, initializer=_initialise_worker, initargs=(job,),
                                 context=multiprocessing.get_context("spawn"))
        # Wait until every worker has built its evaluator, so the first trials do not pay for it.
        try:
            errors = [future.result() for future in [self._pool.schedule(_ready) for _ in range(self.workers)]]
        except Exception as error:  # noqa: BLE001 - e.g. workers that could not import infonas
            errors = [f"{type(error).__name__}: {error}"]
        if any(errors):
            self.close()
            raise StudyError(f"the pool's workers could not build the evaluator ({next(e for e in errors if e)}); "
                             "a worker rebuilds it from the run's evaluator spec, or unpickles a custom evaluator: "
                             "check that the evaluator can be built in a fresh process (its files and imports)")

    def submit(self, trial: Trial) -> None:
        if self._pool is None:
            raise InvalidArgumentError("the executor was not started: call start(job) before submit()")
        future = self._pool.schedule(_evaluate_in_worker, args=(trial,), timeout=self.trial_timeout)
        self._futures[future] = trial
        self._order[future] = next(self._submitted)

    def wait(self) -> list[Finished]:
        if not self._futures:
            return []
        done, _ = concurrent.futures.wait(list(self._futures), return_when=concurrent.futures.FIRST_COMPLETED)
        finished = []
        # In the order submitted (``done`` is a set): trials that finished together are told in a
        # fixed order, so one worker tells what a serial run tells, in the same order.
        for future in sorted(done, key=lambda f: self._order[f]):
            trial = self._futures.pop(future)
            del self._order[future]
            finished.append((trial, self._result(future)))
        return finished

    def _result(self, future: concurrent.futures.Future) -> EvaluationResult:
        from pebble import ProcessExpired

        try:
            result, seconds = future.result()
        except concurrent.futures.TimeoutError:
            self.busy_seconds += self.trial_timeout or 0.0
            return EvaluationResult.failed(f"the evaluation ran past trial_timeout={self.trial_timeout} s and was "
                                           "stopped", failure="timeout")
        except ProcessExpired as error:
            return EvaluationResult.failed(f"the worker process died during the evaluation (exit code "
                                           f"{error.exitcode})", failure="worker_lost")
        except Exception as error:  # noqa: BLE001 - e.g. a result that could not be sent back
            return EvaluationResult.failed(f"{type(error).__name__}: {error}", failure="error")
        self.busy_seconds += seconds
        return result

    def cancel(self) -> None:
        for future in self._futures:
            future.cancel()  # pebble ends the worker of a running task
        self._futures.clear()
        self._order.clear()

    def close(self) -> None:
        self.cancel()
        if self._pool is not None:
            self._pool.stop()
            self._pool.join(timeout=30)
            self._pool = None

    def __repr__(self) -> str:
        return f"PoolExecutor(workers={self.workers}, trial_timeout={self.trial_timeout})"
