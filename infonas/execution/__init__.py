"""Executors: where evaluations run, and what a search does when they fail.

``SerialExecutor`` (the default) evaluates in the calling process; ``PoolExecutor`` in local
worker processes; ``RayExecutor`` as Ray tasks on this machine or a cluster
(``pip install 'infonas[ray]'``). ``Study.optimize(executor=...)`` keeps every worker busy and
suggests a new trial as soon as one finishes, conditioning on the trials still running.
``RetryPolicy`` and ``FailureRateLimit`` decide what happens to failed trials.
"""

from infonas.execution.base import EvaluationJob, Executor, Finished, SerialExecutor, run_trial
from infonas.execution.faults import FailureRateExceededError, FailureRateLimit, RetryPolicy
from infonas.execution.pool import PoolExecutor
from infonas.execution.registry import EXECUTORS, build_executor

__all__ = ["EXECUTORS", "EvaluationJob", "Executor", "FailureRateExceededError", "FailureRateLimit", "Finished",
           "PoolExecutor", "RetryPolicy", "SerialExecutor", "build_executor", "run_trial"]
