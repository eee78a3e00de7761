"""Multi-objective benchmark: hypervolume of the fronts strategies find on a tabular benchmark.

Each objective is a table column or a metric computed from the architecture (``flops``,
``params``, ``latency_ms`` from ``ArchitectureCosts``). Objectives are signed (larger is
better) and normalised to [0, 1] over the whole table; the reference point lies just beyond
the worst value (``-REFERENCE_MARGIN`` in every objective). The true front is that of the whole
table; a method's score after ``t`` evaluations is ``HV(found) / HV(true)``. The results state the
bounds and the reference point in the objectives' natural units too (``objective_bounds``,
``reference_point_natural``): ``reference_point`` itself is in the normalised objectives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from infonas.bench.common import median_seconds, run_jobs, suggest_seconds, worker_table
from infonas.bench.resume import JobLog
from infonas.bench.stats import StepRecorder, percentile, step_seconds_summary, timing_cells
from infonas.evaluators.tabular import TabularBenchmark, TabularEvaluator
from infonas.objectives import Objective
from infonas.pareto import hypervolume, hypervolume_curve, pareto_mask, unit_normaliser
from infonas.plots import unit_of
from infonas.results import objective_matrix
from infonas.study import Study
from search_spaces.nb201.cost_tables import ArchitectureCosts

__all__ = ["REFERENCE_MARGIN", "format_pareto_table", "objective_matrix", "pareto_costs", "run_one_pareto",
           "run_pareto_benchmark"]

REFERENCE_MARGIN = 0.01


def run_one_pareto(table: TabularBenchmark, objectives: Sequence[Objective], costs: ArchitectureCosts,
                   method: str, seed: int, budget: int) -> dict[str, Any]:
    """One seed of one method, as an in-memory ``Study``: its hypervolume curve and timings.

    ``hv_curve[t]`` is the hypervolume, above ``-REFERENCE_MARGIN`` in every normalised objective,
    of the front of the first ``t + 1`` trials (a failed trial adds nothing).

    Example:
        >>> run = run_one_pareto(table, parse_objectives("acc:max,flops:min"), costs, "rs", 0, 30)  # doctest: +SKIP
        >>> len(run["hv_curve"]), len(run["seconds"])  # doctest: +SKIP
        (30, 30)
    """
    measured = [o for o in objectives if o.name not in costs.names]
    if not measured:
        raise ValueError("at least one objective must be a table column (measured), not computed; got "
                         f"{[str(o) for o in objectives]}, all of them in {sorted(costs.names)}")
    if objectives[0] != measured[0]:
        raise ValueError(f"the first objective must be a table column (measured), got {objectives[0]}; "
                         f"list a measured objective such as {measured[0]} first")
    evaluator = TabularEvaluator(table, measured[0].name, extra_metrics=[o.name for o in measured[1:]])
    Y = objective_matrix(table, objectives, costs)
    # The study's own reference point (used by its reports, not by this benchmark): the worst
    # value of each objective over the table, given so that it is not recomputed over the space.
    worst = {o.name: float(o.sign * Y[:, i].min()) for i, o in enumerate(objectives)}
    study = Study.create(None, table.space, evaluator, strategy=method, seed=seed, objectives=objectives,
                         computed=costs, reference_point=worst)
    # Computed objectives are added to each trial's metrics by the Study, from ``costs``.
    steps = StepRecorder()
    study.optimize(budget, callbacks=[steps])
    rows = [[o.sign * trial.metrics[o.name] for o in objectives] if trial.is_complete else [-np.inf] * len(objectives)
            for trial in study.finished_trials()]
    reference = torch.full((len(objectives),), -REFERENCE_MARGIN, dtype=torch.float64)
    curve = hypervolume_curve(unit_normaliser(Y)(np.asarray(rows)).nan_to_num(neginf=-1e9), reference)
    return {"hv_curve": curve, "seconds": suggest_seconds(study), "model_based": steps.model_based}


def _pareto_worker(table_path: str, space_name: str, costs_json: dict, objectives: Sequence[Objective],
                   budget: int, method: str, seed: int) -> dict[str, Any]:
    table = worker_table(table_path, space_name)
    costs = ArchitectureCosts.from_json(costs_json, table.space)  # the parent's measurements, not new ones
    return run_one_pareto(table, objectives, costs, method, seed, budget)


def run_pareto_benchmark(table: TabularBenchmark, objectives: Sequence[Objective], methods: Sequence[str],
                         seeds: int, budget: int, costs: ArchitectureCosts, progress: bool = True,
                         workers: int = 1, log: JobLog | None = None) -> dict[str, Any]:
    """Each method ``seeds`` times for ``budget`` evaluations; JSON-ready hypervolume ratios.

    ``{"objectives": [...], "reference_point": [...], "methods": {NAME: {"hv_ratio": [per seed],
    "hv_curves": [[per evaluation] per seed], "model_step_seconds": {...}, ...}}, ...}``; seconds
    per suggestion as in ``run_search_benchmark``. Jobs already in ``log`` are reused (the costs
    must then be the ones they ran with: ``pareto_costs``).
    """
    objectives = list(objectives)
    if len(objectives) < 2:
        raise ValueError("a Pareto benchmark needs two or more objectives")
    Y_raw = objective_matrix(table, objectives, costs)
    reference = torch.full((len(objectives),), -REFERENCE_MARGIN, dtype=torch.float64)
    Y_all = unit_normaliser(Y_raw)(Y_raw)
    true_volume = hypervolume(Y_all, reference)
    low, high = Y_raw.min(axis=0), Y_raw.max(axis=0)
    # The reference point -REFERENCE_MARGIN in every normalised objective, back in the metric's units.
    reference_raw = [o.sign * float(low[i] - REFERENCE_MARGIN * (high[i] - low[i])) for i, o in enumerate(objectives)]
    units = {o.name: unit_of(o.name, o.sign * Y_raw[:, i]) for i, o in enumerate(objectives)}
    results: dict[str, Any] = {
        "objectives": [str(o) for o in objectives],
        "reference_point": reference.tolist(),
        "reference_point_natural": {o.name: {"value": float(units[o.name](reference_raw[i])),
                                             "unit": units[o.name].symbol} for i, o in enumerate(objectives)},
        "objective_bounds": {o.name: {"worst": float(o.sign * low[i]), "best": float(o.sign * high[i]),
                                      "unit": units[o.name].symbol, "scale": units[o.name].scale}
                             for i, o in enumerate(objectives)},
        "normalisation": "each objective signed (larger is better) and scaled to [0, 1] over the whole table",
        "true_hypervolume": true_volume,
        "true_front_size": int(pareto_mask(Y_all).sum()),
        "budget": budget,
        "seeds": seeds,
        "methods": {},
    }
    jobs = [(method, seed) for method in methods for seed in range(seeds)]
    runs = run_jobs(jobs, lambda method, seed: run_one_pareto(table, objectives, costs, method, seed, budget),
                    _pareto_worker, (table.source, table.space.name, costs.to_json(), objectives, budget),
                    table, workers, progress, "bench pareto", log)
    for method in methods:
        per_seed = [runs[(method, seed)] for seed in range(seeds)]
        ratios = [run["hv_curve"][-1] / true_volume for run in per_seed]
        results["methods"][method] = {
            "hv_ratio": ratios,
            "hypervolume_ratio": {"median": percentile(ratios, 0.5), "p10": percentile(ratios, 0.1),
                                  "min": min(ratios), "max": max(ratios)},
            "hv_curves": [[v / true_volume for v in run["hv_curve"]] for run in per_seed],
            "seconds_per_suggestion": median_seconds(per_seed),
            "model_step_seconds": step_seconds_summary([run["seconds"] for run in per_seed],
                                                       [run["model_based"] for run in per_seed]),
            "suggest_seconds": [run["seconds"] for run in per_seed],
            "model_based_steps": [[int(flag) for flag in run["model_based"]] for run in per_seed],
        }
    return results


def format_pareto_table(results: dict[str, Any]) -> str:
    """Plain text: per method, median, 10th percentile (90% of seeds did at least as well), min
    and max hypervolume ratio after the budget, and seconds of model-based suggestions."""
    sample = next(iter(results["methods"].values()), {}).get("model_step_seconds")
    points = "/".join(sample["at_observations"]) if sample else ""
    lines = [(f"objectives {', '.join(results['objectives'])}; budget {results['budget']}; "
              f"true front {results['true_front_size']} points"),
             (f"{'method':<12}{'median hv':>12}{'p10':>10}{'min':>10}{'max':>10}{'s/model step (p90)':>20}"
              f"  s at {points} obs")]
    for name, record in results["methods"].items():
        ratios = record["hv_ratio"]
        seconds, at_points = timing_cells(record.get("model_step_seconds"))
        lines.append(f"{name:<12}{percentile(ratios, 0.5):>12.5f}{percentile(ratios, 0.1):>10.5f}"
                     f"{min(ratios):>10.5f}{max(ratios):>10.5f}{seconds:>20}  {at_points}")
    natural = results.get("reference_point_natural")
    if natural:  # results written before the field existed have none
        point = ", ".join(f"{name} {v['value']:.4g}{' ' + v['unit'] if v['unit'] else ''}"
                          for name, v in natural.items())
        lines.append(f"hypervolume ratio: HV(found front) / HV(true front), objectives scaled to [0, 1] between the "
                     f"worst and best over the table; reference point {REFERENCE_MARGIN:.0%} of the range beyond "
                     f"the worst: {point}")
    if "latency_lookup" in results:
        lookup = results["latency_lookup"]
        lines.append(f"latency lookup table vs whole-network latency on {lookup['num_cells']} cells: "
                     f"Spearman rho {lookup['spearman_rho']:.3f}")
    return "\n".join(lines)


def pareto_costs(space: Any, config: Any, with_latency: bool, log: JobLog) -> ArchitectureCosts:
    """The FLOPs, parameters (and latency table) the jobs of ``log`` ran with, or new measurements.

    Latencies are timed on this machine and differ between runs: a resumed benchmark must reuse
    the table its finished jobs saw, so it is kept in the log.
    """
    saved = log.saved.get("costs")
    if saved is not None:
        return ArchitectureCosts.from_json(saved, space)
    costs = ArchitectureCosts.measure(space, config, latency=with_latency)
    log.save("costs", costs.to_json())
    return costs
