"""Benchmarks of search strategies on tabular benchmarks (quality, not tests).

``run_search_benchmark`` runs each method for several seeds on a table and records when the
optimum was first observed at the target fidelity, the cost spent until then, and the regret
after every evaluation. With a cheap fidelity (``cheap``, ``cheap_cost``) the budget counts
total cost in units of one target evaluation. Seeds run in parallel processes with ``workers``.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from infonas.bench.common import median_seconds, run_jobs, suggest_seconds, worker_table
from infonas.budget import Budget
from infonas.evaluators.tabular import TabularBenchmark, TabularEvaluator
from infonas.study import Study
from infonas.trials import Trial

__all__ = ["OPTIMUM_TOLERANCE", "format_search_table", "format_surrogate_table", "run_one_search",
           "run_search_benchmark"]

OPTIMUM_TOLERANCE = 1e-9


def run_one_search(table: TabularBenchmark, objective: str, method: str, seed: int, budget: float,
                   maximize: bool = True, cheap: str | None = None, cheap_cost: float | None = None
                   ) -> dict[str, Any]:
    """One seed of one method, as an in-memory ``Study`` that stops once the optimum is observed at
    the target fidelity: the per-seed entries of ``run_search_benchmark``'s JSON.

    Regret after trial ``t`` is ``|optimum - best target value among trials <= t|`` (``None``
    before the first target evaluation).

    Example:
        >>> run = run_one_search(table, "cifar10_test_200ep", "ls", seed=0, budget=150)  # doctest: +SKIP
        >>> run["queries_to_optimum"], run["regret_curve"][-1]  # doctest: +SKIP
        (47, 0.0)
    """
    _, optimum = table.best(objective, maximize)
    evaluator = TabularEvaluator(table, objective, cheap={cheap: cheap_cost} if cheap else None)
    target = evaluator.target_fidelity
    sign = 1.0 if maximize else -1.0

    def reached(trial: Trial) -> bool:
        return (trial.is_complete and trial.fidelity == target
                and sign * (optimum - trial.metrics[objective]) <= OPTIMUM_TOLERANCE)

    def stop_at_optimum(study: Study, trial: Trial) -> None:
        if reached(trial):
            study.stop("the optimum was observed at the target fidelity")

    study = Study.create(None, table.space, evaluator, objective, strategy=method, seed=seed, maximize=maximize)
    # With a cheap fidelity the budget is total cost (a target evaluation costs 1), else evaluations.
    study.optimize(Budget(cost=budget) if cheap else int(budget), callbacks=[stop_at_optimum])
    trials = study.finished_trials()
    regret, costs, best, spent = [], [], None, 0.0
    for trial in trials:
        spent += trial.cost
        if trial.is_complete and trial.fidelity == target:
            value = trial.metrics[objective]
            best = value if best is None or sign * (value - best) > 0 else best
        regret.append(max(0.0, sign * (optimum - best)) if best is not None else None)
        costs.append(spent)
    hit = next((i for i, t in enumerate(trials) if reached(t)), None)
    if not cheap:
        # A seed that found the optimum stops there; its curve is padded to the budget.
        regret += [0.0 if hit is not None else regret[-1]] * (int(budget) - len(regret))
    return {
        "queries_to_optimum": hit + 1 if hit is not None else None,
        "cost_to_optimum": costs[hit] if hit is not None else None,
        "final_regret": regret[-1] if regret else None,
        "regret_curve": regret,
        "cost_curve": costs,
        "target_evaluations": sum(1 for t in trials if t.fidelity == target),
        "seconds": suggest_seconds(study),
    }


def _search_worker(table_path: str, space_name: str, objective: str, budget: float, maximize: bool,
                   cheap: str | None, cheap_cost: float | None, method: str, seed: int) -> dict[str, Any]:
    return run_one_search(worker_table(table_path, space_name), objective, method, seed, budget, maximize, cheap,
                          cheap_cost)


def run_search_benchmark(table: TabularBenchmark, objective: str, methods: Sequence[str], seeds: int,
                         budget: float, maximize: bool = True, progress: bool = True, cheap: str | None = None,
                         cheap_cost: float | None = None, workers: int = 1) -> dict[str, Any]:
    """Each method, ``seeds`` times, on ``table``; JSON-ready results.

    Without a cheap fidelity, ``budget`` counts evaluations and the regret curves have one entry
    per evaluation (0 once the optimum is observed, where a seed stops). With one, ``budget``
    counts total cost (a target evaluation costs 1, a cheap one ``cheap_cost``) and each seed
    also records its cumulative ``cost_curves``. ``cost_to_optimum``: total cost spent when the
    optimum is first observed at the target fidelity (``None`` where never). ``workers > 1``
    runs seeds in that many processes (the table must then come from a file).
    """
    if cheap is not None and not (cheap_cost and cheap_cost > 0):
        raise ValueError("a cheap fidelity needs a positive cheap_cost (in units of one target evaluation)")
    if cheap is not None:
        table.require(cheap)
    _, optimum = table.best(objective, maximize)
    results: dict[str, Any] = {"objective": objective, "optimum": optimum, "budget": budget, "seeds": seeds,
                               "cheap": cheap, "cheap_cost": cheap_cost,
                               "budget_unit": "cost" if cheap else "evaluations", "methods": {}}
    jobs = [(method, seed) for method in methods for seed in range(seeds)]
    runs = run_jobs(jobs, lambda method, seed: run_one_search(table, objective, method, seed, budget, maximize, cheap,
                                                              cheap_cost),
                    _search_worker, (table.source, table.space.name, objective, budget, maximize, cheap, cheap_cost),
                    table, workers, progress, "bench search")
    for method in methods:
        per_seed = [runs[(method, seed)] for seed in range(seeds)]
        record = {
            "queries_to_optimum": [run["queries_to_optimum"] for run in per_seed],
            "cost_to_optimum": [run["cost_to_optimum"] for run in per_seed],
            "final_regret": [run["final_regret"] for run in per_seed],
            "regret_curves": [run["regret_curve"] for run in per_seed],
            "target_evaluations": [run["target_evaluations"] for run in per_seed],
            "seconds_per_suggestion": median_seconds(per_seed),
        }
        if cheap:
            record["cost_curves"] = [run["cost_curve"] for run in per_seed]
        results["methods"][method] = record
    return results


def _median_or_none(values: Sequence[float | None]) -> float | None:
    """The median when every seed has a value; ``None`` (shown as ``>budget``) otherwise."""
    return statistics.median(values) if values and all(v is not None for v in values) else None


def format_search_table(results: dict[str, Any]) -> str:
    """A plain-text summary: per method, seeds reaching the optimum, median queries and cost to it."""
    lines = [f"objective {results['objective']}  optimum {results['optimum']:.4f}"
             + (f"  cheap {results['cheap']} at cost {results['cheap_cost']:g}" if results.get("cheap") else ""),
             (f"{'method':<12}{'reached':>10}{'median q':>10}{'median cost':>13}{'mean final regret':>20}"
              f"{'s/suggest':>12}")]
    for name, record in results["methods"].items():
        hits = [q for q in record["queries_to_optimum"] if q is not None]
        median_q = _median_or_none(record["queries_to_optimum"])
        median_cost = _median_or_none(record.get("cost_to_optimum", []))
        regrets = [r for r in record["final_regret"] if r is not None]
        mean_regret = f"{statistics.fmean(regrets):.4f}" if regrets else "n/a"
        lines.append(f"{name:<12}{len(hits):>5}/{len(record['final_regret']):<4}"
                     f"{f'{median_q:g}' if median_q is not None else '>budget':>10}"
                     f"{f'{median_cost:.3g}' if median_cost is not None else '>budget':>13}"
                     f"{mean_regret:>20}{record['seconds_per_suggestion']:>12.4f}")
    return "\n".join(lines)


def format_surrogate_table(results: dict[str, Any]) -> str:
    """A plain-text table of a surrogate benchmark: one row per model and train size."""
    lines = [f"objective {results['objective']}",
             f"{'model':<22}{'N':>5}{'tau':>8}{'rho':>8}{'nlpd':>9}{'cov90':>8}{'seconds':>9}"]
    for row in results["results"]:
        lines.append(f"{row['model']:<22}{row['train_size']:>5}{row['kendall_tau']:>8.3f}{row['spearman']:>8.3f}"
                     f"{row['nlpd']:>9.3f}{row['coverage_90']:>8.3f}{row['fit_predict_seconds']:>9.3f}")
    return "\n".join(lines)
