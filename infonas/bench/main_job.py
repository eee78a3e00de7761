"""The main job as a benchmark: its wall-clock, where the time went, and that kill -9 loses nothing.

``run_main_job_benchmark`` runs ``infonas search`` (with the given arguments; none is the main
job) in a child process, timed, and reads its ``infonas report`` summary: trials, cost and
measured seconds per fidelity, the share of working time spent suggesting, the front. Then it
runs the same job again, killing it with SIGKILL ``kills`` times at moments drawn from ``seed``
(a fraction of the uninterrupted run's finished trials, or during the supernet's training) and
resuming it each time with ``infonas resume``, and checks that the resumed run ends with the
same trials (architecture, fidelity and every metric but the measured ``seconds``) as the
uninterrupted one. Child processes, because a SIGKILL is what a crash looks like.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from infonas.testing.processes import sigkill_when

__all__ = ["cli_command", "format_main_job", "journal_events", "run_main_job_benchmark", "trial_records"]

#: Metrics that differ between two runs of the same trial (measured wall-clock).
MEASURED = frozenset({"seconds"})


def cli_command(*args: str) -> list[str]:
    """``infonas ARGS`` as a child process of this interpreter."""
    return [sys.executable, "-m", "infonas.cli", *args]


def journal_events(run_dir: Path) -> list[dict[str, Any]]:
    """The journal's complete lines (a line being written when the child was killed is skipped)."""
    path = run_dir / "journal.jsonl"
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def trial_records(run_dir: Path) -> list[tuple]:
    """``(number, architecture, fidelity, status, cost, metrics without measured seconds)`` of every
    finished trial of a run, by trial number: what two runs of one seed must share."""
    asked, finished = {}, {}
    for event in journal_events(run_dir):
        if event.get("event") == "asked":
            asked[event["trial"]] = (event["arch"], event["fidelity"])
        elif event.get("event") == "finished":
            metrics = {k: round(float(v), 9) for k, v in event.get("metrics", {}).items() if k not in MEASURED}
            finished[event["trial"]] = (event.get("status"), round(float(event.get("cost", 0.0)), 9),
                                        tuple(sorted(metrics.items())))
    return [(n, *asked[n], *finished[n]) for n in sorted(finished)]


def _run(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed (exit {completed.returncode}): "
                           f"{completed.stderr.decode(errors='replace')[-2000:]}")
    return time.perf_counter() - started


def _summary(run_dir: Path, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    completed = subprocess.run(cli_command("report", str(run_dir), "--summary-json"), cwd=cwd, env=env,
                               capture_output=True, check=True)
    return json.loads(completed.stdout)


def _supernet_epochs(run_dir: Path) -> int:
    """Epochs of the run's supernet trained so far (its checkpoint's state file)."""
    try:
        return int(json.loads((run_dir / "supernet" / "supernet.json").read_text()).get("epochs_done", 0))
    except (OSError, ValueError):
        return 0


def run_main_job_benchmark(work_dir: str | Path, search_args: Sequence[str] = (), kills: int = 2,
                           seed: int = 0, echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Time the job ``infonas search *search_args`` and check ``kills`` SIGKILLs and resumes.

    Runs go under ``work_dir`` (``uninterrupted/`` and ``killed/``). The first kill lands during
    the supernet's training when the job trains one and ``seed`` draws it so, otherwise (and for
    later kills) after a number of finished trials drawn uniformly below the uninterrupted run's.
    ``echo`` receives a line at each stage (the CLI prints them).

    Example:
        >>> results = run_main_job_benchmark("/tmp/main-job", kills=2)  # doctest: +SKIP
        >>> results["same_trials"]  # doctest: +SKIP
        True
    """
    work_dir = Path(work_dir)
    cwd = Path.cwd()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                                        os.environ.get("PYTHONPATH", "")])}
    reference = work_dir / "uninterrupted"
    echo = echo or (lambda line: None)
    echo(f"main job: uninterrupted run in {reference}")
    wall = _run(cli_command("search", *search_args, "--run-dir", str(reference), "--quiet"), env, cwd)
    summary = _summary(reference, env, cwd)
    expected = trial_records(reference)
    rng = np.random.default_rng(seed)
    killed = work_dir / "killed"
    moments: list[str] = []
    command = cli_command("search", *search_args, "--run-dir", str(killed), "--quiet")
    for k in range(kills):
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if k == 0 and (summary.get("setup") or {}).get("seconds") and rng.random() < 0.5:
            epochs = int(rng.integers(1, 10))
            sigkill_when(process, lambda e=epochs: _supernet_epochs(killed) >= e, timeout=3600)
            moments.append(f"during the supernet's training (after {_supernet_epochs(killed)} epochs)")
        else:
            done = len(trial_records(killed))
            at = int(rng.integers(done + 1, max(done + 2, len(expected))))
            sigkill_when(process, lambda a=at: len(trial_records(killed)) >= a, timeout=3600)
            moments.append(f"after {len(trial_records(killed))} finished trials")
        echo(f"main job: killed {moments[-1]}")
        command = cli_command("resume", str(killed), "--quiet")
    _run(command, env, cwd)
    resumed = trial_records(killed)
    return {"search_args": list(search_args), "wall_seconds": wall, "summary": summary, "kills": moments,
            "trials": len(expected), "same_trials": resumed == expected,
            "first_difference": next((i for i, (a, b) in enumerate(zip(resumed, expected)) if a != b),
                                     None if len(resumed) == len(expected) else min(len(resumed), len(expected)))}


def format_main_job(results: dict[str, Any]) -> str:
    """Plain text: wall-clock, trials and cost per fidelity, the share suggesting, the kills."""
    summary = results["summary"]
    lines = [f"main job: infonas search {' '.join(results['search_args'])}".rstrip(),
             (f"wall-clock {results['wall_seconds']:.1f} s; {summary['finished']} trials; cost {summary['cost']:.4g} "
              f"(setup {summary.get('setup_cost') or 0:.4g})")]
    for fidelity in summary.get("fidelities") or []:
        lines.append(f"  {fidelity['name']}: {fidelity['evaluations']} evaluations, cost {fidelity['cost']:.4g}, "
                     f"{fidelity['seconds']:.1f} s measured")
    suggest = summary.get("suggest") or {}
    if suggest.get("share") is not None:
        lines.append(f"suggesting {suggest['suggest_seconds']:.1f} s, {suggest['share']:.1%} of the working time "
                     f"(suggesting + evaluating + setup)")
    if summary.get("hypervolume_ratio") is not None:
        lines.append(f"hypervolume ratio {summary['hypervolume_ratio']:.4f}; front of "
                     f"{len(summary.get('pareto_front') or [])} trials")
    lines.append(f"killed {len(results['kills'])} times ({'; '.join(results['kills'])}) and resumed: "
                 + ("the same trials as the uninterrupted run" if results["same_trials"]
                    else f"DIFFERENT trials from trial {results['first_difference']}"))
    return "\n".join(lines)
