"""Executors: where evaluations run. ``Study.optimize`` hands each batch of asked trials to an
executor and tells the results in the order they come back.

``SerialExecutor`` (the default) evaluates in the calling process, one trial after another. An
executor that runs trials elsewhere (a process pool, Ray) implements the same ``Executor``
protocol: ``run(evaluate, trials)`` yields ``(trial, result)`` pairs as they finish.
"""

from infonas.execution.base import Executor, SerialExecutor

__all__ = ["Executor", "SerialExecutor"]
