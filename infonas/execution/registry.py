"""Executors by name, as ``infonas search --executor NAME`` and benchmarks choose them.

Example:
    >>> build_executor("pool", workers=4)
    PoolExecutor(workers=4, trial_timeout=None)
"""

from __future__ import annotations

from typing import Any

from infonas.exceptions import InvalidArgumentError

__all__ = ["EXECUTORS", "build_executor"]

#: Executor names, in the order the CLI lists them.
EXECUTORS = ("serial", "pool", "ray")


def build_executor(name: str, workers: int = 1, trial_timeout: float | None = None,
                   ray_address: str | None = None, gpus_per_trial: float = 0.0) -> Any:
    """The executor called ``name`` (``EXECUTORS``); ``ray_address`` only for ``ray``."""
    from infonas.execution.base import SerialExecutor
    from infonas.execution.pool import PoolExecutor, check_workers

    if name not in EXECUTORS:
        raise InvalidArgumentError(f"unknown executor {name!r}; choose one of {list(EXECUTORS)}")
    check_workers(workers, trial_timeout)
    if name != "ray" and (ray_address is not None or gpus_per_trial):
        raise InvalidArgumentError(f"a Ray address and GPUs per trial apply to the ray executor only, not {name!r}: "
                                   "drop them or use --executor ray")
    if name == "serial":
        if workers != 1:
            raise InvalidArgumentError(f"the serial executor runs one trial at a time, got workers={workers}: use "
                                       "--executor pool or --executor ray for several")
        return SerialExecutor(trial_timeout)
    if name == "pool":
        return PoolExecutor(workers, trial_timeout)
    from infonas.execution.ray_executor import RayExecutor, import_ray

    import_ray()  # a clear line now, before any work, when Ray is not installed
    return RayExecutor(workers, trial_timeout, address=ray_address, gpus_per_trial=gpus_per_trial)
