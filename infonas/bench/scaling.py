"""How a Bayesian search's own cost grows with its data: seconds per suggestion and memory as the
number of observations grows (to 500 by default), on a space too large to enumerate.

Each (method, seed) job is one in-memory ``Study`` asked one trial at a time, every trial
evaluated at once by a synthetic objective (``infonas.testing.fakes.FakeEvaluator``), so that
the job's time is the search's own: a fixed random quadratic function of the categorical choices,

.. math::
    f(\\mathbf{x}) = 50 + \\sum_i a_i[x_i] + \\sum_{i<j} b_{ij}[x_i, x_j],

seeded by the job's seed, deterministic and microseconds to evaluate. What the strategy needs is
given to it: a multi-fidelity strategy (class flag ``multi_fidelity``, ``bo-mf``) a cheap fidelity
``0.8 f + g`` at ``CHEAP_COST`` of a target evaluation; a Pareto strategy (``multi_objective``,
``bo-ehvi``, ``bo-mesmo``) the exact FLOPs of the space's network (``search_spaces.networks``,
the mnist1d network) as a second, computed objective to minimise, with the reference point the
worst score and FLOPs over ``REFERENCE_SAMPLE`` random cells. Observations are finished trials
at any fidelity.

Measured per job, for the suggestion made with ``t`` observations (``t = 0 .. N + window``, so
that every checkpoint's window is whole):

* ``seconds[t]``: the wall-clock seconds of the ``Study.ask`` call (the strategy's ``suggest``:
  model fit, pool, acquisition), ``cpu_seconds[t]`` the process's CPU seconds in it (unlike wall
  time, not inflated when other processes share the cores; ``load_average`` holds the machine's
  1-minute load when the job started and ended), and ``model_based[t]`` whether it fitted a
  model (``infonas.bench.stats.StepRecorder``);
* ``rss_mb[t]``: the process's resident set size (``VmRSS`` of ``/proc/self/status``) just after
  that suggestion. RSS, not ``tracemalloc``: it counts every allocation the search keeps, torch's
  and numpy's buffers included, which ``tracemalloc`` misses (and it would slow every step). It
  also counts the interpreter and the imported libraries (``rss_mb_ready`` is the RSS once the
  study is built, before the first suggestion) and memory the allocators keep after a free, so
  it is an upper bound on what the search holds; the growth of RSS is what is compared;
* ``peak_rss_mb``: the process's peak RSS (``getrusage``'s ``ru_maxrss``) at each checkpoint;
* ``cached_architectures``: how many architectures the strategy's shared encoder holds WL
  features for (a diagnostic of the encodings cached per architecture scored; ``None`` for a
  strategy without one).

Every job runs in a fresh process (``spawn``), one after another, so its RSS and peak are its own,
with torch on one thread. At each checkpoint ``n``: the median and 90th percentile of the seconds
of model-based suggestions made with ``n - window .. n + window`` observations (pooled over
seeds, ``step_seconds_summary``), the median RSS over seeds at ``n``, and the peak. ``growth``
fits, over the last half (``t >= N / 2``), the log-log slope of seconds against observations
(``seconds ~ t^exponent``: 0 is flat, 1 linear, 3 a cubic GP solve) and the linear slope of RSS
(MB per 100 observations; 0 is bounded).

Example:
    >>> results = run_scaling_benchmark("nb201", ["bo-ei[pool_budget=200]"], observations=12,
    ...                                  checkpoints=[6, 12], window=1, subprocess=False)  # doctest: +SKIP
    >>> sorted(results["methods"]["bo-ei[pool_budget=200]"]["checkpoints"])  # doctest: +SKIP
    ['12', '6']
"""

from __future__ import annotations

import hashlib
import math
import os
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from infonas.bench.methods import MethodSpec, check_options, check_unique, parse_method, strategy_options, with_option
from infonas.bench.resume import JobLog
from infonas.bench.stats import StepRecorder, percentile, step_seconds_summary
from infonas.exceptions import InvalidArgumentError

__all__ = ["CHEAP_COST", "DEFAULT_CHECKPOINTS", "METRIC", "REFERENCE_SAMPLE", "ScalingProblem", "check_checkpoints",
           "format_scaling_table", "growth", "run_scaling_benchmark", "run_scaling_job"]

#: The synthetic objective's name (the target fidelity's too).
METRIC = "score"
#: Cost of the cheap fidelity multi-fidelity strategies are given, in units of a target evaluation.
CHEAP_COST = 0.1
#: Random cells (a fixed sample) whose worst values are a Pareto strategy's reference point.
REFERENCE_SAMPLE = 1000
DEFAULT_CHECKPOINTS: tuple[int, ...] = (50, 100, 200, 300, 400, 500)
_MB = 1024.0  # KiB per MiB: /proc and getrusage report KiB on Linux


def _rss_mb() -> float | None:
    """The process's current resident set size in MiB (``VmRSS``), or ``None`` off Linux."""
    from infonas.bench.memory import _proc_kib

    kib = _proc_kib("VmRSS")
    return None if kib is None else kib / _MB


def _peak_rss_mb() -> float:
    """The process's peak resident set size so far in MiB (``ru_maxrss``, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / _MB


def _cached_architectures(strategy: Any) -> int | None:
    """Architectures the strategy's shared encoder holds WL features for (a diagnostic; ``None``
    for a strategy without an encoder)."""
    counts = getattr(getattr(getattr(strategy, "encoder", None), "wl", None), "_counts", None)
    return len(counts) if isinstance(counts, dict) else None


@dataclass
class ScalingProblem:
    """What one method searches: the space, the synthetic evaluator and the ``Study`` over them.

    ``build`` gives a multi-fidelity strategy a cheap fidelity and a Pareto strategy the exact
    FLOPs as a second objective (see the module docstring); anything else gets ``score`` alone.
    """

    space: Any
    evaluator: Any
    study: Any
    objectives: tuple[str, ...]

    @classmethod
    def build(cls, space_name: str, spec: MethodSpec, seed: int) -> ScalingProblem:
        """The problem of ``spec`` (a strategy with options) on space ``space_name`` for ``seed``."""
        from infonas.evaluators.base import Fidelity
        from infonas.objectives import Objective
        from infonas.strategies import make_strategy
        from infonas.study import Study
        from infonas.testing.fakes import FakeEvaluator
        from search_spaces import get_space

        space = get_space(space_name)
        # The strategy's class says what it needs; a probe with a cheap fidelity serves every kind.
        probe = make_strategy(spec.strategy, space, METRIC, seed=seed, objectives=(Objective(METRIC),),
                              fidelities=(Fidelity(f"{METRIC}_cheap", CHEAP_COST, 0), Fidelity(METRIC, 1.0, 1)),
                              **spec.options)
        multi_fidelity, pareto = bool(type(probe).multi_fidelity), bool(type(probe).multi_objective)
        evaluator = FakeEvaluator(space, METRIC, cheap_cost=CHEAP_COST if multi_fidelity else None, seed=seed)
        options = dict(spec.options) or None
        if not pareto:
            study = Study.create(None, space, evaluator, METRIC, strategy=spec.strategy, seed=seed,
                                 strategy_options=options)
            return cls(space, evaluator, study, (f"{METRIC}:max",))
        from search_spaces.networks import measure_costs, network_config

        costs = measure_costs(space, network_config(space.name, (1, 40), num_cells=1, channels=8, num_classes=10))
        rng = np.random.default_rng(0)  # one sample for every seed: the reference point is the problem's
        sample = [space.sample(rng) for _ in range(REFERENCE_SAMPLE)]
        reference = {METRIC: min(evaluator.value(arch) for arch in sample),
                     "flops": float(np.max(costs.values(sample, "flops")))}
        objectives = (f"{METRIC}:max", "flops:min")
        study = Study.create(None, space, evaluator, strategy=spec.strategy, seed=seed, strategy_options=options,
                             objectives=",".join(objectives), computed=costs, reference_point=reference)
        return cls(space, evaluator, study, objectives)


def run_scaling_job(space_name: str, method: str, seed: int, observations: int, checkpoints: Sequence[int],
                    window: int, progress: bool = False, max_rss_mb: float | None = None) -> dict[str, Any]:
    """One (method, seed) job in this process: suggestions made with ``0 .. observations + window``
    observations, each timed and followed by an RSS reading, its trial evaluated and told at once.

    Returns per-step ``seconds``, ``model_based`` and ``rss_mb``; per checkpoint ``peak_rss_mb``
    and ``cached_architectures``; ``trajectory_digest`` (SHA-256 of the asked canonical keys and
    fidelities in order: equal for equal seeds), ``best`` (the best target score), the job's
    ``wall_seconds`` and ``code``, the git state (``git_state``) it started from. With
    ``max_rss_mb`` (a guard for shared machines) the job stops after the first suggestion whose
    RSS exceeds it: ``stopped_at`` is then its observation count (else ``None``) and the per-step
    lists end there.
    """
    import torch
    from tqdm.auto import tqdm

    from infonas.bench.meta import git_state

    code = git_state()  # now, as this process imports it: a long benchmark may outlive a commit
    torch.set_num_threads(1)  # one core per job: its seconds do not depend on the machine's cores
    started = time.perf_counter()
    problem = ScalingProblem.build(space_name, parse_method(method), seed)
    study, evaluator = problem.study, problem.evaluator
    ready = _rss_mb()
    steps, marks = StepRecorder(), set(checkpoints)
    rss, cpu, peaks, cached, digest, stopped_at = [], [], {}, {}, hashlib.sha256(), None
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    for t in tqdm(range(observations + window + 1), desc=f"{method} seed {seed}", disable=not progress,
                  mininterval=5.0):
        before = time.process_time()
        trial, = study.ask()
        cpu.append(time.process_time() - before)
        rss.append(_rss_mb())
        if t in marks:
            peaks[str(t)], cached[str(t)] = _peak_rss_mb(), _cached_architectures(study.strategy)
        digest.update(f"{trial.arch.key}@{trial.fidelity}\n".encode())
        steps(study, study.tell(trial, evaluator.evaluate(trial.arch, trial.fidelity)))
        if max_rss_mb is not None and rss[-1] is not None and rss[-1] > max_rss_mb:
            stopped_at = t
            break
    trials = study.finished_trials()
    target = [t.metrics[METRIC] for t in trials if t.is_complete and t.fidelity == evaluator.target_fidelity]
    return {
        "seconds": [float(t.suggest_seconds or 0.0) for t in trials],
        "cpu_seconds": cpu,
        "model_based": [int(flag) for flag in steps.model_based],
        "rss_mb": rss,
        "rss_mb_ready": ready,
        "peak_rss_mb": peaks,
        "peak_rss_mb_end": _peak_rss_mb(),
        "cached_architectures": cached,
        "pool": getattr(study.strategy, "pool", None),
        "objectives": list(problem.objectives),
        "fidelities": {name: f.cost for name, f in evaluator.fidelities.items()},
        "target_evaluations": len(target),
        "best": max(target) if target else None,
        "trajectory_digest": digest.hexdigest(),
        "stopped_at": stopped_at,
        "torch_threads": torch.get_num_threads(),
        "code": code,
        "load_average": [load_before, os.getloadavg()[0] if hasattr(os, "getloadavg") else None],
        "wall_seconds": time.perf_counter() - started,
    }


def _job_in_fresh_process(*args: Any) -> dict[str, Any]:
    """``run_scaling_job(*args)`` in a new process (``spawn``), so that its RSS and peak are its own;
    the process ends with this benchmark if the benchmark is killed."""
    import multiprocessing

    from infonas.bench.common import _exit_with_parent

    with multiprocessing.get_context("spawn").Pool(1, initializer=_exit_with_parent, initargs=(os.getpid(),)) as pool:
        result = pool.apply(run_scaling_job, args)
        # A worker left to exit normally releases what it registered (semaphores); `terminate`,
        # which leaving the block calls, would kill it first and leave them to the resource tracker.
        pool.close()
        pool.join()
    return result


def check_checkpoints(checkpoints: Sequence[int], observations: int) -> list[int]:
    """The checkpoints sorted, each once; ``InvalidArgumentError`` unless each is in ``1..observations``.

    Example:
        >>> check_checkpoints([100, 50, 100], 500)
        [50, 100]
    """
    chosen = sorted({int(n) for n in checkpoints})
    outside = [n for n in chosen if not 1 <= n <= observations]
    if not chosen or outside:
        raise InvalidArgumentError(f"checkpoints must be observation counts in 1..{observations} (the observations "
                                   f"the study grows to), got {list(checkpoints)}: drop {outside or 'nothing'}, or "
                                   "raise the observations")
    return chosen


def growth(runs: Sequence[dict[str, Any]], observations: int) -> dict[str, Any]:
    """Fits over the last half, ``t >= observations / 2``, pooled over seeds: the log-log slope of
    seconds per model-based suggestion against observations ``t`` (``seconds ~ t^exponent``) and
    the linear slope of RSS in MB per 100 observations. ``None`` where fewer than 3 points remain.
    Runs stopped early (``max_rss_mb``) are fitted over the last half of what they reached.

    Example:
        >>> run = {"seconds": [0.0, 0.1, 0.2, 0.4, 0.8], "model_based": [0, 1, 1, 1, 1],
        ...        "rss_mb": [100.0, 101.0, 102.0, 103.0, 104.0]}
        >>> fit = growth([run], 4); round(fit["seconds_exponent"], 2), round(fit["rss_mb_per_100_observations"], 6)
        (1.98, 100.0)
    """
    end = min([observations] + [max(len(run["rss_mb"]) - 1, 0) for run in runs])  # where every seed got to
    start = end / 2
    points = [(t, s) for run in runs for t, (s, model) in enumerate(zip(run["seconds"], run["model_based"]))
              if start <= t <= end and t > 0 and s > 0 and (model or not any(run["model_based"]))]
    memory = [(t, m) for run in runs for t, m in enumerate(run["rss_mb"]) if start <= t <= end and m is not None]
    exponent = float(np.polyfit(np.log([t for t, _ in points]), np.log([s for _, s in points]), 1)[0]) \
        if len(points) >= 3 else None
    rss_slope = float(np.polyfit([t for t, _ in memory], [m for _, m in memory], 1)[0]) * 100 \
        if len(memory) >= 3 else None
    return {"from_observations": math.ceil(start), "to_observations": end, "seconds_exponent": exponent,
            "seconds_points": len(points), "rss_mb_per_100_observations": rss_slope}


def _check_methods(space_name: str, methods: Sequence[str], pool: str | None) -> list[MethodSpec]:
    """The specs of ``methods`` (each once), with ``pool`` added where the strategy takes it, each
    built once here so that an option the strategy rejects fails before any job runs."""
    specs = [parse_method(method) for method in methods]
    check_unique(specs)
    checked = []
    for spec in specs:
        def build(options: dict[str, Any], spec: MethodSpec = spec) -> Any:
            return ScalingProblem.build(space_name, MethodSpec(spec.label, spec.strategy, options), 0).study.strategy

        strategy = check_options(spec, build)
        if pool is not None and "pool" in strategy_options(type(strategy)) and "pool" not in spec.options:
            spec = with_option(spec, "pool", pool)
            check_options(spec, build)
        checked.append(spec)
    check_unique(checked)
    return checked


def run_scaling_benchmark(space_name: str, methods: Sequence[str], observations: int = 500,
                          checkpoints: Sequence[int] = DEFAULT_CHECKPOINTS, seeds: int = 1, window: int = 5,
                          pool: str | None = None, progress: bool = False, log: JobLog | None = None,
                          subprocess: bool = True, max_rss_mb: float | None = None) -> dict[str, Any]:
    """Seconds per suggestion and memory of each method as its observations grow; JSON-ready.

    ``methods``: strategy names or specs with options (``"bo-ei[pool_budget=500]"``); ``pool``
    (``"enumerate"``/``"sampled"``) is added to every spec of a strategy taking it. Jobs run one
    after another, each in a fresh process unless ``subprocess=False`` (then RSS includes earlier
    jobs' allocations: for tests). Jobs in ``log`` are reused, each finished one recorded there.
    ``max_rss_mb`` stops a job once its RSS exceeds it (``run_scaling_job``): checkpoints past
    that have no numbers (``None``), and the method's ``stopped_at`` says where each seed stopped.
    Unknown spaces, methods, options and checkpoints outside ``1..observations`` raise
    ``InvalidArgumentError`` before any job runs.
    """
    from search_spaces import get_space

    if isinstance(observations, bool) or int(observations) != observations or observations < 1:
        raise InvalidArgumentError(f"observations must be a whole number >= 1, got {observations!r}")
    if isinstance(window, bool) or int(window) != window or window < 0:
        raise InvalidArgumentError(f"window must be a whole number >= 0 (suggestions each side), got {window!r}")
    if max_rss_mb is not None and not max_rss_mb > 0:
        raise InvalidArgumentError(f"max_rss_mb must be a positive number of MiB (or None: no limit), got "
                                   f"{max_rss_mb!r}")
    if isinstance(seeds, bool) or int(seeds) != seeds or seeds < 1:
        raise InvalidArgumentError(f"seeds must be a whole number >= 1, got {seeds!r}")
    points = check_checkpoints(checkpoints, observations)
    space = get_space(space_name)
    specs = _check_methods(space_name, methods, pool)
    from infonas.bench.common import run_jobs

    jobs = [(spec.label, seed) for spec in specs for seed in range(seeds)]
    run = _job_in_fresh_process if subprocess else run_scaling_job
    runs = run_jobs(jobs, lambda method, seed: run(space_name, method, seed, observations, points, window, progress,
                                                   max_rss_mb),
                    None, (), None, 1, False, "bench scaling", log)
    results: dict[str, Any] = {
        "space": space_name, "space_size": space.size, "observations": observations, "checkpoints": points,
        "window": window, "seeds": seeds, "pool": pool, "max_rss_mb": max_rss_mb, "metric": METRIC,
        "cheap_cost": CHEAP_COST,
        "evaluator": "FakeEvaluator: 50 + sum_i a_i[x_i] + sum_{i<j} b_ij[x_i, x_j], seeded by the job's seed",
        "methods": {},
    }
    for spec in specs:
        per_seed = [runs[(spec.label, seed)] for seed in range(seeds)]
        timing = step_seconds_summary([r["seconds"] for r in per_seed], [r["model_based"] for r in per_seed],
                                      points=points, window=window)
        cpu = step_seconds_summary([r["cpu_seconds"] for r in per_seed], [r["model_based"] for r in per_seed],
                                   points=points, window=window)
        table = {}
        for n in points:
            cell = timing["at_observations"][str(n)]
            # A seed stopped by max_rss_mb before n has nothing there.
            rss = [r["rss_mb"][n] for r in per_seed if n < len(r["rss_mb"]) and r["rss_mb"][n] is not None]
            cached = [r["cached_architectures"][str(n)] for r in per_seed
                      if r["cached_architectures"].get(str(n)) is not None]
            peaks = [r["peak_rss_mb"][str(n)] for r in per_seed if str(n) in r["peak_rss_mb"]]
            table[str(n)] = {"median_seconds": cell["median"], "p90_seconds": cell["p90"], "steps": cell["count"],
                             "median_cpu_seconds": cpu["at_observations"][str(n)]["median"],
                             "rss_mb": percentile(rss, 0.5), "peak_rss_mb": max(peaks) if peaks else None,
                             "cached_architectures": percentile(cached, 0.5), "seeds": len(rss)}
        results["methods"][spec.label] = {
            "strategy": spec.strategy, "options": spec.options, "pool": per_seed[0]["pool"],
            "objectives": per_seed[0]["objectives"], "fidelities": per_seed[0]["fidelities"],
            "stopped_at": [r["stopped_at"] for r in per_seed],
            "checkpoints": table, "growth": growth(per_seed, observations), "model_step_seconds": timing,
            "rss_mb_ready": percentile([r["rss_mb_ready"] for r in per_seed if r["rss_mb_ready"] is not None], 0.5),
            "runs": per_seed,
        }
    return results


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_scaling_table(results: dict[str, Any]) -> str:
    """A plain-text table: per method and checkpoint, median and p90 seconds per suggestion, median
    CPU seconds, RSS, peak RSS and cached architectures; then the growth fitted over the last half."""
    lines = [f"space {results['space']} ({float(results['space_size']):.3g} cells), {results['seeds']} seed(s), "
             f"seconds over model-based suggestions within +-{results['window']} observations of each checkpoint",
             f"{'method':<24}{'obs':>6}{'median s':>10}{'p90 s':>9}{'cpu s':>8}{'RSS MB':>9}{'peak MB':>9}"
             f"{'cached archs':>14}"]
    for name, record in results["methods"].items():
        for n, row in record["checkpoints"].items():
            lines.append(f"{name:<24}{n:>6}{_cell(row['median_seconds'], '.3f'):>10}"
                         f"{_cell(row['p90_seconds'], '.3f'):>9}{_cell(row['median_cpu_seconds'], '.3f'):>8}"
                         f"{_cell(row['rss_mb'], '.0f'):>9}{_cell(row['peak_rss_mb'], '.0f'):>9}"
                         f"{_cell(row['cached_architectures'], '.0f'):>14}")
        fit = record["growth"]
        lines.append(f"{'':<24}pool {record['pool']}; RSS {_cell(record['rss_mb_ready'], '.0f')} MB before the first "
                     f"suggestion; over {fit['from_observations']}..{fit['to_observations']} observations: seconds ~ "
                     f"n^{_cell(fit['seconds_exponent'], '.2f')}, RSS "
                     f"{_cell(fit['rss_mb_per_100_observations'], '+.0f')} MB per 100 observations")
        stopped = [n for n in record.get("stopped_at", []) if n is not None]
        if stopped:
            lines.append(f"{'':<24}stopped once RSS passed {results['max_rss_mb']:g} MB, at observations {stopped}")
    return "\n".join(lines)
