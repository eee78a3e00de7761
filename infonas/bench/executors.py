"""``infonas bench executors``: trials per minute and worker idle time of each executor, with an
evaluator that takes a fixed time.

Every executor runs the same search (the same strategy, seed, space and evaluator) of ``trials``
evaluations, each of which sleeps ``sleep`` seconds and then reads the NB201 table (or, with no
table, returns a synthetic score). Times exclude starting and stopping the executor's workers
(reported apart as ``start_seconds``): they are paid once per search, not per trial.

``trials_per_minute = 60 * trials / wall``; ``idle_fraction = 1 - busy / (workers * wall)``,
where ``busy`` sums the evaluations' own seconds as measured in the workers; ``wall`` runs from
the first suggestion to the last result, so suggestion time that holds a worker up counts as idle.

Example:
    >>> results = bench_executors(0.01, 4, 2, ["serial"], table=None)  # doctest: +SKIP
    >>> sorted(results["executors"]["serial"])  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infonas.evaluators import build_evaluator, sleep_spec, table_spec
from infonas.execution import build_executor
from infonas.study import Study
from search_spaces import NB201Space

__all__ = ["bench_executors"]

logger = logging.getLogger(__name__)


class _Timed:
    """An executor whose ``start`` and ``close`` seconds are measured apart from its work."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.start_seconds = 0.0
        self.close_seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def start(self, job: Any) -> None:
        started = time.perf_counter()
        self.inner.start(job)
        self.start_seconds = time.perf_counter() - started

    def close(self) -> None:
        started = time.perf_counter()
        self.inner.close()
        self.close_seconds += time.perf_counter() - started


def measure_executor(name: str, sleep: float, trials: int, workers: int, spec: dict[str, Any], objective: str,
                     strategy: str, seed: int, ray_address: str | None = None) -> dict[str, Any]:
    """One search of ``trials`` evaluations on executor ``name``; its throughput and idle fraction."""
    space = NB201Space()
    used = 1 if name == "serial" else workers
    executor = _Timed(build_executor(name, used, ray_address=ray_address))
    study = Study.create(None, space, build_evaluator(spec, space), objective, strategy=strategy, seed=seed,
                         evaluator_spec=spec)
    started = time.perf_counter()
    study.optimize(trials, executor=executor)
    wall = time.perf_counter() - started - executor.start_seconds - executor.close_seconds
    finished = study.finished_trials()
    suggest = sum({t.suggest_seconds or 0.0 for t in finished})  # a batch shares its suggest call's seconds
    return {"workers": used, "trials": len(finished), "wall_seconds": wall,
            "trials_per_minute": 60.0 * len(finished) / wall,
            "idle_fraction": max(0.0, 1.0 - executor.busy_seconds / (used * wall)),
            "busy_seconds": executor.busy_seconds, "suggest_seconds": suggest,
            "start_seconds": executor.start_seconds, "close_seconds": executor.close_seconds,
            "failed": sum(not t.is_complete for t in finished)}


def bench_executors(sleep: float, trials: int, workers: int, executors: Sequence[str], table: str | Path | None,
                    objective: str = "cifar10_test_200ep", strategy: str = "bo-ei", seed: int = 0,
                    ray_address: str | None = None) -> dict[str, Any]:
    """``{"sleep", "trials", "executors": {NAME: {"trials_per_minute", "idle_fraction", ...}}}`` plus
    each executor's ``speedup`` over ``serial`` where serial was measured."""
    inner = table_spec(table, objective) if table is not None else None
    spec = sleep_spec(sleep, inner)
    objective = objective if table is not None else "score"
    measured: dict[str, Any] = {}
    for name in executors:
        logger.info("executor %s: %d trials of %g s", name, trials, sleep)
        measured[name] = measure_executor(name, sleep, trials, workers, spec, objective, strategy, seed, ray_address)
    if "serial" in measured:
        for entry in measured.values():
            entry["speedup"] = entry["trials_per_minute"] / measured["serial"]["trials_per_minute"]
    return {"sleep": sleep, "trials": trials, "workers": workers, "strategy": strategy, "seed": seed,
            "table": None if table is None else str(table), "objective": objective, "executors": measured}
