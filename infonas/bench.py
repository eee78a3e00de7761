"""Benchmarks of search strategies on tabular benchmarks (quality, not tests).

``run_search_benchmark`` runs each method for several seeds on a table and records when the
optimum was first observed and the regret after every query.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from tqdm.auto import tqdm

from infonas.evaluator import Evaluator
from infonas.strategies import make_strategy
from infonas.strategies.base import Strategy
from infonas.tabular import TabularBenchmark, TabularEvaluator
from infonas.trials import Trial

OPTIMUM_TOLERANCE = 1e-9


def drive(strategy: Strategy, evaluator: Evaluator, budget: int,
          stop: Callable[[Trial], bool] | None = None) -> tuple[list[Trial], list[float]]:
    """Run ``strategy`` sequentially for ``budget`` evaluations; stop early when ``stop(trial)``.

    Returns the trials and the seconds each suggestion took.
    """
    trials: list[Trial] = []
    suggest_seconds: list[float] = []
    for number in range(budget):
        start = time.perf_counter()
        (suggestion,) = strategy.suggest([number])
        suggest_seconds.append(time.perf_counter() - start)
        fidelity = suggestion.fidelity or evaluator.target_fidelity
        trial = Trial(number, suggestion.arch, fidelity).finished(evaluator.evaluate(suggestion.arch, fidelity))
        strategy.observe([trial])
        trials.append(trial)
        if stop is not None and stop(trial):
            break
    return trials, suggest_seconds


def run_search_benchmark(table: TabularBenchmark, objective: str, methods: Sequence[str], seeds: int,
                         budget: int, maximize: bool = True, progress: bool = True) -> dict[str, Any]:
    """Each method, ``seeds`` times, ``budget`` queries on ``table``; JSON-ready results.

    Regret after query ``t`` is ``optimum - best observed so far`` (sign-flipped when
    minimising; ``None`` until a first complete result); a seed stops once the optimum is
    observed, its remaining regret being 0.
    """
    _, optimum = table.best(objective, maximize)
    evaluator = TabularEvaluator(table, objective)
    sign = 1.0 if maximize else -1.0
    results: dict[str, Any] = {"objective": objective, "optimum": optimum, "budget": budget, "seeds": seeds,
                               "methods": {}}
    bar = tqdm(total=len(methods) * seeds, desc="bench search", disable=not progress)
    for method in methods:
        record: dict[str, Any] = {"queries_to_optimum": [], "final_regret": [], "regret_curves": [],
                                  "seconds_per_suggestion": 0.0}
        all_seconds: list[float] = []
        for seed in range(seeds):
            strategy = make_strategy(method, table.space, objective, seed=seed, maximize=maximize)
            reached = lambda t: t.is_complete and sign * (optimum - t.metrics[objective]) <= OPTIMUM_TOLERANCE
            trials, seconds = drive(strategy, evaluator, budget, stop=reached)
            all_seconds.extend(seconds)
            curve, best = [], None
            for trial in trials:
                if trial.is_complete:
                    value = trial.metrics[objective]
                    best = value if best is None or sign * (value - best) > 0 else best
                curve.append(sign * (optimum - best) if best is not None else None)
            curve = [max(0.0, r) if r is not None else None for r in curve]
            curve += [0.0] * (budget - len(curve))
            first = next((t.number + 1 for t in trials if reached(t)), None)
            record["queries_to_optimum"].append(first)
            record["final_regret"].append(curve[-1])
            record["regret_curves"].append(curve)
            bar.update(1)
            bar.set_postfix(method=method, seed=seed)
        record["seconds_per_suggestion"] = statistics.median(all_seconds) if all_seconds else 0.0
        results["methods"][method] = record
    bar.close()
    return results


def format_search_table(results: dict[str, Any]) -> str:
    """A plain-text summary: per method, seeds reaching the optimum and median queries to it."""
    lines = [f"objective {results['objective']}  optimum {results['optimum']:.4f}",
             f"{'method':<12}{'reached':>10}{'median q':>10}{'mean final regret':>20}{'s/suggest':>12}"]
    for name, record in results["methods"].items():
        hits = [q for q in record["queries_to_optimum"] if q is not None]
        median = statistics.median(hits) if len(hits) == len(record["queries_to_optimum"]) else None
        median_text = f"{median:g}" if median is not None else ">budget"
        regrets = [r for r in record["final_regret"] if r is not None]
        mean_regret = f"{statistics.fmean(regrets):.4f}" if regrets else "n/a"
        lines.append(f"{name:<12}{len(hits):>5}/{len(record['final_regret']):<4}{median_text:>10}"
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
