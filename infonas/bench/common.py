"""What the search and Pareto benchmarks share: the pool that runs their (method, seed) jobs, the
table each worker process loads, and the timings read back from a finished Study.

Every job is one in-memory ``Study`` (the one ask / evaluate / tell loop of infonas); this module
only decides where jobs run. Jobs are independent, so running them in processes changes nothing
but the wall-clock time: each job's numbers depend only on its (method, seed).

Example:
    >>> runs = run_jobs([("rs", 0), ("rs", 1)], lambda method, seed: {"seed": seed}, None, (),
    ...                 table=None, workers=1, progress=False, desc="demo")
    >>> runs[("rs", 1)]
    {'seed': 1}
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from tqdm.auto import tqdm

from infonas.bench.resume import JobLog
from infonas.evaluators.tabular import TabularBenchmark
from infonas.study import Study

__all__ = ["median_seconds", "run_jobs", "suggest_seconds", "worker_table"]

Job = tuple[str, int]

# Tables loaded by `worker_table`, by path. Only ever filled inside worker processes of
# `run_jobs` (the parent process passes its own table to `local` and never calls
# `worker_table`), so it lives as long as one pool worker and is never shared or mutated
# elsewhere: it saves re-reading the CSV for every job a worker runs.
_WORKER_TABLES: dict[str, TabularBenchmark] = {}


def worker_table(table_path: str, space_name: str) -> TabularBenchmark:
    """The table a worker process runs on, read once per process (call only in pool workers).

    Torch is kept to one thread there: the GP's matrices are small, and several processes with
    several threads each would oversubscribe the cores.
    """
    import torch

    from search_spaces import get_space

    torch.set_num_threads(1)
    if table_path not in _WORKER_TABLES:
        _WORKER_TABLES[table_path] = TabularBenchmark.from_csv(table_path, get_space(space_name))
    return _WORKER_TABLES[table_path]


def _exit_with_parent(parent: int) -> None:
    """Pool initializer: end this worker once its parent is gone.

    A benchmark killed with SIGKILL cannot stop its pool, whose workers would go on computing
    jobs nobody records, on the cores the resumed run needs.
    """
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def run_jobs(jobs: Sequence[Job], local: Callable[[str, int], dict[str, Any]],
             remote: Callable[..., dict[str, Any]] | None, remote_args: tuple, table: TabularBenchmark | None,
             workers: int, progress: bool, desc: str, log: JobLog | None = None) -> dict[Job, dict[str, Any]]:
    """Run every (method, seed) job: ``local(method, seed)`` in this process, or with ``workers > 1``
    ``remote(*remote_args, method, seed)`` in a pool of processes (which reload the table file,
    so ``table``, unless ``None`` for jobs that read none, must have been read from one). Jobs already in ``log`` are not run again; each
    finished job is recorded there as soon as it finishes (see ``infonas.bench.resume``)."""
    log = log if log is not None else JobLog(None, desc, {})
    runs: dict[Job, dict[str, Any]] = {job: log.done[job] for job in jobs if job in log.done}
    jobs = [job for job in jobs if job not in runs]
    bar = tqdm(total=len(jobs) + len(runs), initial=len(runs), desc=desc, disable=not progress)
    try:
        if workers > 1:
            if remote is None or (table is not None and not os.path.isfile(table.source)):
                raise ValueError(f"workers={workers} runs jobs in processes that reload the table from its file, "
                                 "but this table was not loaded from a file; load it with "
                                 "TabularBenchmark.from_csv, or pass workers=1")
            with ProcessPoolExecutor(max_workers=workers, initializer=_exit_with_parent,
                                     initargs=(os.getpid(),)) as pool:
                futures = {pool.submit(remote, *remote_args, method, seed): (method, seed) for method, seed in jobs}
                failed: BaseException | None = None
                for future in as_completed(futures):
                    if future.exception() is not None:
                        # The other jobs still run to the end: keep their results, raise after.
                        failed = failed or future.exception()
                        continue
                    runs[futures[future]] = future.result()
                    log.record(futures[future], runs[futures[future]])
                    bar.update(1)
                    bar.set_postfix(method=futures[future][0], seed=futures[future][1])
                if failed is not None:
                    raise failed
        else:
            for method, seed in jobs:
                runs[(method, seed)] = local(method, seed)
                log.record((method, seed), runs[(method, seed)])
                bar.update(1)
                bar.set_postfix(method=method, seed=seed)
    finally:
        bar.close()
    return runs


def suggest_seconds(study: Study) -> list[float]:
    """Seconds each finished trial's ``suggest`` call took, in the order the trials finished."""
    return [float(t.suggest_seconds or 0.0) for t in study.finished_trials()]


def median_seconds(runs: Sequence[dict[str, Any]]) -> float:
    """Median seconds per suggestion over every suggestion of ``runs`` (0 when there were none)."""
    seconds = [s for run in runs for s in run["seconds"]]
    return float(statistics.median(seconds)) if seconds else 0.0
