"""The Ray executor: evaluations as Ray tasks, on a local Ray instance or on a cluster.

``pip install 'infonas[ray]'``. Without ``address`` it starts Ray on this machine
(``ray.init(num_cpus=..., include_dashboard=False)``); with one (``"auto"``, ``"HOST:6379"``) it
joins a running cluster, whose nodes need infonas installed. Ray schedules, places and restarts;
the worker stops an evaluation that runs past the per-trial time limit (an alarm in the worker,
counted from the evaluation's start), and the driver ends the worker of one that does not stop. A Ray worker process keeps the evaluator it built for a job, so each
loads its data once. GPUs are Ray resources: ``gpus_per_trial`` reserves them for each task.
Trials go to Ray as soon as they are submitted (Ray queues them), so a worker that frees starts
the next one without waiting for the driver.

Example:
    >>> study.optimize(budget=40, executor=RayExecutor(workers=4))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any

from infonas.exceptions import InvalidArgumentError, StudyError, UnsupportedError
from infonas.execution.base import EvaluationJob, Finished, run_trial
from infonas.execution.pool import check_workers
from infonas.trials import EvaluationResult, Trial

__all__ = ["RayExecutor", "import_ray"]

logger = logging.getLogger(__name__)

# Evaluators built in this Ray worker process, by job token: the worker-local cache that makes a
# worker load its data once per job (state of a Ray worker, never of the driver).
_worker_evaluators: dict[str, Any] = {}


def _worker_evaluator(job: EvaluationJob) -> Any:
    if job.token not in _worker_evaluators:
        import torch

        torch.set_num_threads(1)
        _worker_evaluators.clear()  # a worker reused for a new job drops the old one's data
        _worker_evaluators[job.token] = job.build()
    return _worker_evaluators[job.token]


class _TrialTimeout(BaseException):
    """Raised by the worker's alarm inside an evaluation past its limit; a ``BaseException``, so the
    evaluator's own ``except Exception`` does not take it for the architecture's failure."""


def _expire(signum: int, frame: Any) -> None:
    raise _TrialTimeout


def _evaluate_task(job: EvaluationJob, trial: Trial, timeout: float | None) -> tuple[EvaluationResult, float]:
    evaluator = _worker_evaluator(job)  # built before the clock starts: a fresh worker's start-up is not the trial's
    if timeout is None or threading.current_thread() is not threading.main_thread():
        return run_trial(evaluator, trial)
    # The limit counts in the worker from the evaluation's start; the driver's own deadline (later)
    # only ends a worker stuck where no signal reaches Python.
    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return run_trial(evaluator, trial)
    except _TrialTimeout:
        return EvaluationResult.failed(f"the evaluation ran past trial_timeout={timeout} s and was stopped",
                                       failure="timeout"), timeout
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _warm_task(job: EvaluationJob) -> int:
    _worker_evaluator(job)
    time.sleep(0.2)  # held briefly, so the warm-up tasks land on different worker processes
    return os.getpid()


def import_ray() -> Any:
    """``ray``, or ``UnsupportedError`` naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise UnsupportedError("the Ray executor needs Ray, which is not installed: pip install 'infonas[ray]' "
                               "(or use --executor pool, which needs nothing more)") from None
    return ray


class RayExecutor:
    """Evaluates trials as Ray tasks, ``workers`` at a time (on a cluster given by ``address``,
    as many as its resources allow of those submitted); ``trial_timeout`` ends a task that
    runs too long (``failure`` ``timeout``); a worker process or node that dies fails its trial
    with ``worker_lost`` (Ray starts new workers; the study's retry policy decides on a retry)."""

    asynchronous = True

    def __init__(self, workers: int = 2, trial_timeout: float | None = None, *, address: str | None = None,
                 cpus_per_trial: float = 1.0, gpus_per_trial: float = 0.0) -> None:
        check_workers(workers, trial_timeout)
        if not cpus_per_trial >= 0 or not gpus_per_trial >= 0:
            raise InvalidArgumentError(f"cpus_per_trial and gpus_per_trial must be >= 0, got {cpus_per_trial} and "
                                       f"{gpus_per_trial}")
        self.workers = workers
        self.trial_timeout = trial_timeout
        self.address = address
        self.cpus_per_trial = float(cpus_per_trial)
        self.gpus_per_trial = float(gpus_per_trial)
        self.busy_seconds = 0.0
        self._owns_ray = False
        self._remote: Any = None
        self._job_ref: Any = None
        #: Submitted tasks in submission order, with when their clock started (``None``: still queued).
        self._running: dict[Any, tuple[Trial, float | None]] = {}

    def start(self, job: EvaluationJob) -> None:
        ray = import_ray()
        self.close()
        self.busy_seconds = 0.0
        if not ray.is_initialized():
            if self.address is None:
                # CPU slots for exactly `workers` trials, whatever the core count: Ray then runs that
                # many at once and queues the rest (trials that sleep or wait on I/O need no core).
                cpus = max(1, round(self.workers * max(self.cpus_per_trial, 1.0)))
                ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
            else:
                try:
                    ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING)
                except (ConnectionError, RuntimeError, ValueError) as error:
                    raise StudyError(f"could not join the Ray cluster at {self.address!r} ({type(error).__name__}: "
                                     f"{error}); start it with `ray start --head` on its head node and give the "
                                     "address that command prints, or drop --ray-address to start Ray on this "
                                     "machine") from None
            self._owns_ray = True
        options = {"num_cpus": self.cpus_per_trial, "num_gpus": self.gpus_per_trial, "max_retries": 0}
        self._remote = ray.remote(_evaluate_task).options(**options)
        self._job_ref = ray.put(job)
        warm = ray.remote(_warm_task).options(**options)
        ray.get([warm.remote(self._job_ref) for _ in range(self.workers)])

    def submit(self, trial: Trial) -> None:
        if self._remote is None:
            raise InvalidArgumentError("the executor was not started: call start(job) before submit()")
        # Handed to Ray at once, so a worker that frees starts the next trial without waiting for
        # this process (busy suggesting); its time limit counts once it can have started.
        self._running[self._remote.remote(self._job_ref, trial, self.trial_timeout)] = (trial, None)
        self._promote()

    def _promote(self) -> None:
        """Start the clocks of the oldest waiting tasks while fewer than ``workers`` are counted as running.

        Ray runs equal tasks in the order submitted, so a task starts when one before it ends: a
        clock started on seeing that is late by at most the time to notice, so a limit is never early."""
        counted = sum(started is not None for _, started in self._running.values())
        now = time.monotonic()
        for ref, (trial, started) in self._running.items():
            if counted >= self.workers:
                break
            if started is None:
                self._running[ref] = (trial, now)
                counted += 1

    def wait(self) -> list[Finished]:
        ray = import_ray()
        while self._running:
            timeout = None
            if self.trial_timeout is not None:
                oldest = min(started for _, started in self._running.values() if started is not None)
                timeout = max(0.0, oldest + self._hard_limit() - time.monotonic())
            ready, _ = ray.wait(list(self._running), num_returns=1, timeout=timeout)
            if ready:  # collect everything else that is already done too, in the order submitted
                done = set(ray.wait(list(self._running), num_returns=len(self._running), timeout=0)[0])
                ready = [ref for ref in self._running if ref in done]
            finished = [(self._running.pop(ref)[0], self._result(ref)) for ref in ready]
            finished += self._expire(ray)
            self._promote()
            if finished:
                return finished
        return []

    def _hard_limit(self) -> float:
        """The driver's deadline for a task, past the worker's own alarm at ``trial_timeout``: the
        driver cannot see when a task really started (a fresh worker's start-up may come first)."""
        assert self.trial_timeout is not None
        return 2 * self.trial_timeout + 30.0

    def _expire(self, ray: Any) -> list[Finished]:
        if self.trial_timeout is None:
            return []
        now, expired = time.monotonic(), []
        for ref, (trial, started) in list(self._running.items()):
            if started is not None and now - started >= self._hard_limit():
                ray.cancel(ref, force=True)  # ends the worker process running it
                del self._running[ref]
                self.busy_seconds += self._hard_limit()
                expired.append((trial, EvaluationResult.failed(
                    f"the evaluation ran past trial_timeout={self.trial_timeout} s, did not stop, and its worker was "
                    "ended", failure="timeout")))
        return expired

    def _result(self, ref: Any) -> EvaluationResult:
        ray = import_ray()
        lost = (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.RayActorError,
                ray.exceptions.OwnerDiedError, ray.exceptions.ObjectLostError)
        try:
            result, seconds = ray.get(ref)
        except lost as error:
            return EvaluationResult.failed(f"the Ray worker died during the evaluation ({type(error).__name__})",
                                           failure="worker_lost")
        except ray.exceptions.TaskCancelledError:
            return EvaluationResult.failed("the evaluation was cancelled", failure="timeout")
        except Exception as error:  # noqa: BLE001 - e.g. a result Ray could not deserialise
            message = str(error).strip().splitlines()
            return EvaluationResult.failed(f"{type(error).__name__}: {message[-1] if message else ''}", failure="error")
        self.busy_seconds += seconds
        return result

    def cancel(self) -> None:
        if self._running:
            ray = import_ray()
            for ref in self._running:
                ray.cancel(ref, force=True)
        self._running.clear()

    def close(self) -> None:
        self.cancel()
        if self._owns_ray:
            import_ray().shutdown()
            self._owns_ray = False
        self._remote = self._job_ref = None

    def __repr__(self) -> str:
        return f"RayExecutor(workers={self.workers}, trial_timeout={self.trial_timeout}, address={self.address!r})"
