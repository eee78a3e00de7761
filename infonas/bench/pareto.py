"""Multi-objective benchmark: hypervolume of the fronts strategies find on a tabular benchmark.

Each objective is a table column or a metric computed from the architecture (``flops``,
``params``, ``latency_ms`` from ``ArchitectureCosts``). Objectives are signed (larger is
better) and normalised to [0, 1] (``ParetoScale``: between the true front's nadir and ideal, or
over the whole table); the reference point lies just beyond the low end (``-REFERENCE_MARGIN``
in every objective). The true front is that of the whole table (its rows where the measured
objectives were measured); a method's score after ``t`` evaluations is ``HV(found) / HV(true)``,
and its ``front_share`` the share of the true front's cells it evaluated. With a cheap fidelity
the budget counts cost and ratios are also reported against cost (``hv_at_cost``). The results
state the bounds and the reference point in the objectives' natural units too
(``objective_bounds``, ``reference_point_natural``): ``reference_point`` itself is in the
normalised objectives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from infonas.bench.common import median_seconds, run_jobs, suggest_seconds, worker_table
from infonas.bench.resume import JobLog
from infonas.bench.stats import StepRecorder, percentile, step_seconds_summary, timing_cells
from infonas.budget import Budget
from infonas.evaluators.tabular import TabularBenchmark, TabularEvaluator
from infonas.exceptions import InvalidArgumentError
from infonas.objectives import Objective
from infonas.pareto import hypervolume, hypervolume_curve, pareto_mask, unit_normaliser
from infonas.plots import unit_of
from infonas.results import objective_matrix
from infonas.study import Study
from search_spaces.nb201.cost_tables import ArchitectureCosts

__all__ = ["NORMALISATIONS", "REFERENCE_MARGIN", "ParetoScale", "format_pareto_table", "objective_matrix",
           "pareto_costs", "ratio_at_costs", "run_one_pareto", "run_pareto_benchmark", "searchable_rows"]

REFERENCE_MARGIN = 0.01


def run_one_pareto(table: TabularBenchmark, objectives: Sequence[Objective], costs: ArchitectureCosts,
                   method: str, seed: int, budget: float, cheap: str | None = None, cheap_cost: float | None = None,
                   cheap_setup_cost: float = 0.0) -> dict[str, Any]:
    """One seed of one method, as an in-memory ``Study``: the signed objective vectors it found, in
    order, and its timings.

    ``rows[t]`` holds trial ``t``'s signed objectives when it completed at the target fidelity,
    else ``None`` (a failed trial, or a cheap evaluation: neither joins the front); ``keys[t]`` is
    its architecture's canonical key. Without ``cheap``, ``budget`` counts evaluations; with it,
    total cost (a target evaluation costs 1, a cheap one ``cheap_cost``), and a multi-fidelity
    method pays ``cheap_setup_cost`` up front (``cost_curve[t]``: cost spent after trial ``t``).

    Example:
        >>> run = run_one_pareto(table, parse_objectives("acc:max,flops:min"), costs, "rs", 0, 30)  # doctest: +SKIP
        >>> len(run["rows"]), len(run["seconds"])  # doctest: +SKIP
        (30, 30)
    """
    measured = [o for o in objectives if o.name not in costs.names]
    if not measured:
        raise ValueError("at least one objective must be a table column (measured), not computed; got "
                         f"{[str(o) for o in objectives]}, all of them in {sorted(costs.names)}")
    if objectives[0] != measured[0]:
        raise ValueError(f"the first objective must be a table column (measured), got {objectives[0]}; "
                         f"list a measured objective such as {measured[0]} first")
    table = searchable_rows(table, objectives, costs, cheap)
    evaluator = TabularEvaluator(table, measured[0].name, cheap={cheap: cheap_cost} if cheap else None,
                                 extra_metrics=[o.name for o in measured[1:]])
    Y = objective_matrix(table, objectives, costs)
    # The study's own reference point (used by its reports, not by this benchmark): the worst
    # value of each objective over the table, given so that it is not recomputed over the space.
    worst = {o.name: float(o.sign * Y[:, i].min()) for i, o in enumerate(objectives)}
    study = Study.create(None, table.space, evaluator, strategy=method, seed=seed, objectives=objectives,
                         computed=costs, reference_point=worst)
    setup = float(cheap_setup_cost) if cheap and study.strategy.multi_fidelity else 0.0
    if setup >= budget:
        raise ValueError(f"the cheap fidelity's setup cost {setup:g} leaves nothing of the budget {budget:g}: give "
                         "a budget above the setup cost")
    # Computed objectives are added to each trial's metrics by the Study, from ``costs``.
    steps = StepRecorder()
    study.optimize(Budget(cost=budget - setup) if cheap else int(budget), callbacks=[steps])
    target = evaluator.target_fidelity
    trials = study.finished_trials()
    rows = [[o.sign * trial.metrics[o.name] for o in objectives] if trial.is_complete and trial.fidelity == target
            else None for trial in trials]
    return {"rows": rows, "keys": [trial.arch.key for trial in trials],
            "cost_curve": (setup + np.cumsum([t.cost for t in trials])).tolist() if cheap else None,
            "setup_cost": setup, "seconds": suggest_seconds(study), "model_based": steps.model_based}


def searchable_rows(table: TabularBenchmark, objectives: Sequence[Objective], costs: ArchitectureCosts,
                    cheap: str | None = None) -> TabularBenchmark:
    """The rows of ``table`` where every measured objective (and the cheap column) was measured."""
    measured = [o.name for o in objectives if o.name not in costs.names or o.name in table.metrics]
    return table.measured(*measured, *([cheap] if cheap else []))


class ParetoScale:
    """How a benchmark's fronts are scored: signed objectives mapped to [0, 1], a reference point
    ``-REFERENCE_MARGIN`` in each, and the true front's hypervolume.

    ``"front"`` maps the true front's nadir to 0 and its ideal to 1: cells worse than the nadir in
    some objective (untrainable ones, say) add nothing, so they cannot inflate every ratio.
    ``"table"`` maps the whole table's worst value to 0 and best to 1.
    """

    def __init__(self, Y_all: np.ndarray, normalisation: str = "front") -> None:
        if normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {sorted(NORMALISATIONS)}, got {normalisation!r}")
        self.normalisation = normalisation
        self.front_rows = np.flatnonzero(pareto_mask(Y_all).numpy())
        basis = Y_all[self.front_rows] if normalisation == "front" else Y_all
        self.low, self.high = basis.min(axis=0), basis.max(axis=0)
        self.normalise = unit_normaliser(basis)
        self.reference = torch.full((Y_all.shape[1],), -REFERENCE_MARGIN, dtype=torch.float64)
        self.true_volume = hypervolume(self.normalise(Y_all), self.reference)

    def ratio_curve(self, rows: Sequence[Sequence[float] | None]) -> list[float]:
        """``HV(front of the first t + 1 rows) / HV(true front)``; ``None`` rows add nothing."""
        width = len(self.reference)
        matrix = np.asarray([row if row is not None else [-np.inf] * width for row in rows], dtype=np.float64)
        scaled = self.normalise(matrix.reshape(-1, width)).nan_to_num(neginf=-1e9)
        return [v / self.true_volume for v in hypervolume_curve(scaled, self.reference)]


#: Ways to scale objectives before hypervolumes (``ParetoScale``).
NORMALISATIONS = {"front": "each objective signed (larger is better) and scaled to [0, 1] between the true front's "
                           "nadir and ideal",
                  "table": "each objective signed (larger is better) and scaled to [0, 1] over the whole table"}


def _pareto_worker(table_path: str, space_name: str, costs_json: dict, objectives: Sequence[Objective],
                   budget: float, cheap: str | None, cheap_cost: float | None, cheap_setup_cost: float, method: str,
                   seed: int) -> dict[str, Any]:
    table = worker_table(table_path, space_name)
    costs = ArchitectureCosts.from_json(costs_json, table.space)  # the parent's measurements, not new ones
    return run_one_pareto(table, objectives, costs, method, seed, budget, cheap, cheap_cost, cheap_setup_cost)


def ratio_at_costs(ratio_curve: Sequence[float], cost_curve: Sequence[float], grid: Sequence[float]) -> list[float]:
    """The hypervolume ratio reached by each cost of ``grid`` (0 before the first trial's cost).

    Example:
        >>> ratio_at_costs([0.1, 0.1, 0.5], [0.5, 1.0, 2.0], [0.0, 1.0, 1.5, 3.0])
        [0.0, 0.1, 0.1, 0.5]
    """
    index = np.searchsorted(np.asarray(cost_curve), np.asarray(grid), side="right") - 1
    return [float(ratio_curve[i]) if i >= 0 else 0.0 for i in index]


def run_pareto_benchmark(table: TabularBenchmark, objectives: Sequence[Objective], methods: Sequence[str],
                         seeds: int, budget: float, costs: ArchitectureCosts, progress: bool = True,
                         workers: int = 1, log: JobLog | None = None, *, cheap: str | None = None,
                         cheap_cost: float | None = None, cheap_setup_cost: float = 0.0,
                         normalisation: str = "table", cost_points: int = 50) -> dict[str, Any]:
    """Each method ``seeds`` times within ``budget``; JSON-ready hypervolume ratios.

    ``{"objectives": [...], "reference_point": [...], "methods": {NAME: {"hv_ratio": [per seed],
    "hv_curves": [[per evaluation] per seed], "front_share": [per seed], ...}}, ...}``, objectives
    scaled as ``normalisation`` says (``ParetoScale``); ``front_share``: the share of the true
    front's cells a seed evaluated at the target fidelity. With ``cheap`` the budget counts cost
    (``run_one_pareto``), each seed records its ``cost_curves``, and ``hv_at_cost`` holds each
    method's median ratio on a grid of ``cost_points`` costs. Seconds per suggestion as in
    ``run_search_benchmark``. Jobs already in ``log`` are reused (the costs must then be the ones
    they ran with: ``pareto_costs``).
    """
    objectives = list(objectives)
    if len(objectives) < 2:
        raise ValueError("a Pareto benchmark needs two or more objectives")
    if cheap is not None and not (cheap_cost and cheap_cost > 0):
        raise ValueError("a cheap fidelity needs a positive cheap_cost (in units of one target evaluation)")
    rows_table = searchable_rows(table, objectives, costs, cheap)
    Y_raw = objective_matrix(rows_table, objectives, costs)
    scale = ParetoScale(Y_raw, normalisation)
    low, high = scale.low, scale.high
    # The reference point -REFERENCE_MARGIN in every normalised objective, back in the metric's units.
    reference_raw = [o.sign * float(low[i] - REFERENCE_MARGIN * (high[i] - low[i])) for i, o in enumerate(objectives)]
    units = {o.name: unit_of(o.name, o.sign * Y_raw[:, i]) for i, o in enumerate(objectives)}
    front_keys = {rows_table.archs[i].key for i in scale.front_rows}
    grid = np.linspace(0.0, budget, cost_points + 1).tolist() if cheap else None
    results: dict[str, Any] = {
        "objectives": [str(o) for o in objectives],
        "reference_point": scale.reference.tolist(),
        "reference_point_natural": {o.name: {"value": float(units[o.name](reference_raw[i])),
                                             "unit": units[o.name].symbol} for i, o in enumerate(objectives)},
        "objective_bounds": {o.name: {"worst": float(o.sign * low[i]), "best": float(o.sign * high[i]),
                                      "unit": units[o.name].symbol, "scale": units[o.name].scale}
                             for i, o in enumerate(objectives)},
        "normalisation": NORMALISATIONS[normalisation],
        "normalisation_name": normalisation,
        "true_hypervolume": scale.true_volume,
        "true_front_size": len(scale.front_rows),
        "candidates": len(rows_table),
        "budget": budget,
        "budget_unit": "cost" if cheap else "evaluations",
        "cheap": cheap, "cheap_cost": cheap_cost, "cheap_setup_cost": cheap_setup_cost,
        "seeds": seeds,
        "methods": {},
    }
    if grid is not None:
        results["cost_grid"] = grid
    jobs = [(method, seed) for method in methods for seed in range(seeds)]
    runs = run_jobs(jobs, lambda method, seed: run_one_pareto(table, objectives, costs, method, seed, budget, cheap,
                                                              cheap_cost, cheap_setup_cost),
                    _pareto_worker, (table.source, table.space.name, costs.to_json(), objectives, budget, cheap,
                                     cheap_cost, cheap_setup_cost),
                    table, workers, progress, "bench pareto", log)
    for method in methods:
        per_seed = [runs[(method, seed)] for seed in range(seeds)]
        curves = [scale.ratio_curve(run["rows"]) for run in per_seed]
        ratios = [curve[-1] if curve else 0.0 for curve in curves]
        shares = [len(front_keys & {k for k, r in zip(run["keys"], run["rows"]) if r is not None}) / len(front_keys)
                  for run in per_seed]
        record = {
            "hv_ratio": ratios,
            "hypervolume_ratio": {"median": percentile(ratios, 0.5), "p10": percentile(ratios, 0.1),
                                  "min": min(ratios), "max": max(ratios)},
            "hv_curves": curves,
            "front_share": shares,
            "front_share_median": percentile(shares, 0.5),
            "seconds_per_suggestion": median_seconds(per_seed),
            "model_step_seconds": step_seconds_summary([run["seconds"] for run in per_seed],
                                                       [run["model_based"] for run in per_seed]),
            "suggest_seconds": [run["seconds"] for run in per_seed],
            "model_based_steps": [[int(flag) for flag in run["model_based"]] for run in per_seed],
        }
        if grid is not None:
            at_cost = [ratio_at_costs(curve, run["cost_curve"], grid) for curve, run in zip(curves, per_seed)]
            record["cost_curves"] = [run["cost_curve"] for run in per_seed]
            record["setup_cost"] = per_seed[0]["setup_cost"] if per_seed else 0.0
            record["hv_at_cost"] = [float(np.median([seed[i] for seed in at_cost])) for i in range(len(grid))]
        results["methods"][method] = record
    return results


def format_pareto_table(results: dict[str, Any]) -> str:
    """Plain text: per method, median, 10th percentile (90% of seeds did at least as well), min
    and max hypervolume ratio after the budget, and seconds of model-based suggestions."""
    sample = next(iter(results["methods"].values()), {}).get("model_step_seconds")
    points = "/".join(sample["at_observations"]) if sample else ""
    cheap = (f"; cheap {results['cheap']} at cost {results['cheap_cost']:g}"
             + (f" + {results['cheap_setup_cost']:g} setup" if results.get("cheap_setup_cost") else "")
             if results.get("cheap") else "")
    width = max([12] + [len(name) + 2 for name in results["methods"]])
    lines = [(f"objectives {', '.join(results['objectives'])}; budget {results['budget']:g}{cheap}; "
              f"true front {results['true_front_size']} points"),
             (f"{'method':<{width}}{'median hv':>12}{'p10':>10}{'min':>10}{'max':>10}{'front share':>13}"
              f"{'s/model step (p90)':>20}  s at {points} obs")]
    for name, record in results["methods"].items():
        ratios = record["hv_ratio"]
        seconds, at_points = timing_cells(record.get("model_step_seconds"))
        share = f"{record['front_share_median']:.3f}" if "front_share_median" in record else "n/a"
        lines.append(f"{name:<{width}}{percentile(ratios, 0.5):>12.5f}{percentile(ratios, 0.1):>10.5f}"
                     f"{min(ratios):>10.5f}{max(ratios):>10.5f}{share:>13}{seconds:>20}  {at_points}")
    natural = results.get("reference_point_natural")
    if natural:  # results written before the field existed have none
        point = ", ".join(f"{name} {v['value']:.4g}{' ' + v['unit'] if v['unit'] else ''}"
                          for name, v in natural.items())
        between = ("the true front's nadir and ideal" if results.get("normalisation_name") == "front"
                   else "the worst and best over the table")
        lines.append(f"hypervolume ratio: HV(found front) / HV(true front), objectives scaled to [0, 1] between "
                     f"{between}; reference point {REFERENCE_MARGIN:.0%} of the range beyond the low end: {point}")
    if "latency_lookup" in results:
        lookup = results["latency_lookup"]
        lines.append(f"latency lookup table vs whole-network latency on {lookup['num_cells']} cells: "
                     f"Spearman rho {lookup['spearman_rho']:.3f}")
    return "\n".join(lines)


def check_computed_columns(table: TabularBenchmark, objectives: Sequence[Objective], costs: ArchitectureCosts) -> None:
    """``InvalidArgumentError`` when an objective is both a table column and a computed metric and the
    two disagree: the benchmark scores the column, while strategies see the computed values."""
    for objective in objectives:
        if objective.name in table.metrics and objective.name in costs.names:
            column = table.column(objective.name)
            rows = np.flatnonzero(~np.isnan(column))
            computed = costs.values([table.archs[i] for i in rows], objective.name)
            if not np.allclose(column[rows], computed, rtol=1e-6):
                worst = int(np.argmax(np.abs(column[rows] - computed)))
                raise InvalidArgumentError(
                    f"table column {objective.name!r} differs from the {objective.name} computed for the network "
                    f"(e.g. {column[rows][worst]:g} against {computed[worst]:g} for "
                    f"{table.space.format(table.archs[rows[worst]])}): give the network the table was measured "
                    "on (--dataset, --channels, --num-cells)")


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
