"""``infonas bench soak``: a Ray search whose driver and workers are killed with SIGKILL, resumed
each time; it counts finished results lost, results duplicated and failures without a reason.

The search runs on a Ray cluster started for the soak (``ray start --head``, the same command a
user runs on a cluster's head node) through ``infonas resume RUN --executor ray --ray-address
ADDR``. At ``driver_kills + worker_kills`` moments, drawn at random from the seed (a number of
finished trials, plus a fraction of one evaluation so the kill lands mid-evaluation), it either
kills the driver (then starts the same command again) or a Ray worker process that is running
an evaluation. Before each kill it snapshots the journal's finished results; at the end it checks:

* lost: a result seen in any snapshot that the final journal lacks or holds with other values;
* duplicated: a trial whose result the journal holds more than once;
* failures without a reason: a failed trial without its failure kind or error text.
"""

from __future__ import annotations

import logging
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from infonas.bench.main_job import journal_events
from infonas.evaluators import build_evaluator, sleep_spec, table_spec
from infonas.exceptions import InfonasError
from infonas.study import Study
from search_spaces import NB201Space

__all__ = ["fault_soak"]

logger = logging.getLogger(__name__)


def _finished(run_dir: Path) -> list[dict[str, Any]]:
    """The journal's finished events (a line torn by a kill is skipped, as `repair` would drop it)."""
    return [e for e in journal_events(run_dir) if isinstance(e, dict) and e.get("event") == "finished"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ray_binary() -> str:
    return str(Path(sys.executable).with_name("ray"))


def _busy_workers() -> list[int]:
    """PIDs of Ray worker processes running an evaluation (Ray titles them ``ray::_evaluate_task``)."""
    listing = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=False).stdout
    return [int(line.split()[0]) for line in listing.splitlines() if re.search(r"ray::_evaluate_task\b", line)]


def _wait_for(condition: Any, driver: _Driver, started: float, timeout: float, what: str) -> None:
    """Poll ``condition`` every 20 ms, restarting the driver if it ended (as a user would resume)."""
    while not condition():
        if not driver.running():
            if len(_finished(driver.run_dir)) >= driver.trials:
                raise InfonasError(f"the search finished its {driver.trials} trials before the soak's {what}: give "
                                   "more --trials or fewer kills")
            driver.start()
        if time.perf_counter() - started > timeout:
            raise InfonasError(f"the soak waited {timeout:g} s for its {what}; see {driver.log}")
        time.sleep(0.02)


class _Driver:
    """The search's driver process: ``infonas resume`` on the soak's Ray cluster."""

    def __init__(self, run_dir: Path, trials: int, workers: int, address: str, log: Path) -> None:
        self.run_dir = run_dir
        self.trials = trials
        self.command = [sys.executable, "-m", "infonas.cli", "resume", str(run_dir), "--budget", str(trials),
                        "--executor", "ray", "--workers", str(workers), "--ray-address", address, "--quiet"]
        self.log = log
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=log)
        self.starts += 1

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.running():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


def fault_soak(work_dir: str | Path, *, trials: int = 60, workers: int = 4, driver_kills: int = 10,
               worker_kills: int = 10, sleep: float = 1.0, table: str | Path | None = None,
               objective: str = "cifar10_test_200ep", strategy: str = "bo-ei", seed: int = 0,
               timeout: float = 1800.0) -> dict[str, Any]:
    """Run the soak in ``work_dir`` (a new run directory and Ray's logs); its counts as a dict."""
    work_dir = Path(work_dir)
    run_dir = work_dir / "run"
    if run_dir.exists():
        raise InfonasError(f"{run_dir} exists: the soak starts a new run; give another --work-dir")
    work_dir.mkdir(parents=True, exist_ok=True)
    space = NB201Space()
    spec = sleep_spec(sleep, None if table is None else table_spec(table, objective))
    Study.create(run_dir, space, build_evaluator(spec, space), objective if table is not None else "score",
                 strategy=strategy, seed=seed, evaluator_spec=spec)
    rng = random.Random(seed)
    kinds = ["driver"] * driver_kills + ["worker"] * worker_kills
    rng.shuffle(kinds)
    # Distinct moments over the first three quarters of the search: a kill waits for a worker to
    # be evaluating, so moments slip a little, and the search must still be running then.
    last = max(len(kinds) + 3, int(0.75 * trials))
    moments = sorted(rng.sample(range(2, last), len(kinds)))
    plan = [{"kind": kind, "after_finished": at, "delay": rng.uniform(0.1, 0.9) * sleep}
            for kind, at in zip(kinds, moments)]

    port = _free_port()
    address = f"127.0.0.1:{port}"
    cluster = [_ray_binary(), "start", "--head", f"--port={port}", f"--num-cpus={workers}", "--include-dashboard=false",
               "--disable-usage-stats", f"--temp-dir={(work_dir / 'ray').resolve()}"]
    # A cluster on loopback for one soak: Ray's token authentication is for clusters on a network.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    subprocess.run(cluster, check=True, capture_output=True, timeout=120)
    driver = _Driver(run_dir, trials, workers, address, work_dir / "driver.log")
    seen: dict[int, dict[str, float]] = {}
    events: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        driver.start()
        for step in plan:
            # Each kill lands in a running search: while a worker is evaluating (not while a
            # restarted driver is still starting, when there is nothing to kill mid-evaluation).
            target = step["after_finished"]
            what = f"{step['kind']} kill after {target} finished trials"
            _wait_for(lambda target=target: len(_finished(run_dir)) >= target, driver, started, timeout, what)
            _wait_for(lambda: bool(_busy_workers()), driver, started, timeout, what)
            time.sleep(step["delay"])
            busy = _busy_workers()
            if step["kind"] == "worker" and not busy:  # the delay outlasted every evaluation: catch the next
                _wait_for(lambda: bool(_busy_workers()), driver, started, timeout, what)
                busy = _busy_workers()
            seen.update({e["trial"]: e["metrics"] for e in _finished(run_dir)})
            event = {**step, "finished_at_kill": len(seen), "evaluating_at_kill": len(busy),
                     "seconds": time.perf_counter() - started}
            if step["kind"] == "driver":
                driver.kill()
                driver.start()
            else:
                event["killed_pid"] = rng.choice(busy)
                try:
                    os.kill(event["killed_pid"], signal.SIGKILL)
                except ProcessLookupError:  # it finished between the listing and the kill
                    event["killed_pid"] = None
            events.append(event)
            logger.info("soak: %s", event)
        while driver.running() or len([e for e in _finished(run_dir)]) < trials:
            if not driver.running():
                driver.start()
            if time.perf_counter() - started > timeout:
                raise InfonasError(f"the soak's search did not finish in {timeout:g} s; see {driver.log}")
            time.sleep(0.1)
    finally:
        driver.kill()
        subprocess.run([_ray_binary(), "stop", "--force"], capture_output=True, timeout=120, check=False)
    final = _finished(run_dir)
    numbers = [e["trial"] for e in final]
    by_number = {e["trial"]: e for e in final}
    lost = [n for n, metrics in seen.items() if n not in by_number or by_number[n]["metrics"] != metrics]
    failed = [e for e in final if e["status"] == "failed"]
    study = Study.load(run_dir)
    retried = {t.retry_of for t in study.finished_trials() if t.retry_of is not None}
    return {"trials": trials, "workers": workers, "sleep": sleep, "strategy": strategy, "seed": seed,
            "table": None if table is None else str(table), "cluster_command": " ".join(["ray"] + cluster[1:]),
            "driver_kills": sum(e["kind"] == "driver" for e in events),
            "worker_kills": sum(e["kind"] == "worker" and e.get("killed_pid") is not None for e in events),
            "worker_kills_missed": sum(e["kind"] == "worker" and e.get("killed_pid") is None for e in events),
            "driver_starts": driver.starts, "finished": len(set(numbers)),
            "complete": sum(e["status"] == "complete" for e in final),
            "lost": len(lost), "lost_trials": lost, "duplicated": len(numbers) - len(set(numbers)),
            "failures": len(failed), "failures_by_kind": {k: sum(e.get("failure") == k for e in failed)
                                                          for k in sorted({e.get("failure") for e in failed}, key=str)},
            "failures_without_reason": sum(not e.get("failure") or not e.get("error") for e in failed),
            "failures_retried": len(retried), "events": events, "wall_seconds": time.perf_counter() - started}
