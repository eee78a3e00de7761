"""Benchmarks of search strategies on tabular benchmarks (quality, not tests).

``run_search_benchmark`` runs each method for several seeds on a table and records when the
optimum was first observed at the target fidelity, the cost spent until then, and the regret
after every evaluation. With a cheap fidelity (``cheap``, ``cheap_cost``) the budget counts
total cost in units of one target evaluation, and ``cheap_setup_cost`` (the one-off training of
the supernet a cheap column was scored on, say) is charged up front to every method that can
use the cheap fidelity (a multi-fidelity strategy). Rows of the table where the objective or
the cheap column was not measured are left out of the search. A method is a strategy name or a spec with
options, ``bo-ei[warp=none]`` (``infonas.bench.methods``), whose text keys the results. Seeds
run in parallel processes with ``workers``; with a ``JobLog`` (``infonas.bench.resume``)
finished seeds are kept and an interrupted benchmark resumes. Seconds per suggestion are summarised over model-based steps
(``infonas.bench.stats``).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from infonas.bench.common import median_seconds, run_jobs, suggest_seconds, worker_table
from infonas.bench.methods import MethodSpec, check_options, check_unique, parse_method, strategy_options, with_option
from infonas.bench.resume import JobLog
from infonas.bench.stats import StepRecorder, percentile, step_seconds_summary, timing_cells
from infonas.budget import Budget
from infonas.evaluators.tabular import TabularBenchmark, TabularEvaluator
from infonas.exceptions import InvalidArgumentError
from infonas.study import Study
from infonas.trials import Trial

__all__ = ["OPTIMUM_TOLERANCE", "charge_suggestions", "format_search_table", "format_surrogate_table", "run_one_search",
           "run_search_benchmark", "searchable"]

OPTIMUM_TOLERANCE = 1e-9


def _study(table: TabularBenchmark, evaluator: TabularEvaluator, objective: str, strategy: str,
           options: dict[str, Any], seed: int, maximize: bool) -> Study:
    return Study.create(None, table.space, evaluator, objective, strategy=strategy, seed=seed, maximize=maximize,
                        strategy_options=options or None)


def run_one_search(table: TabularBenchmark, objective: str, method: str, seed: int, budget: float,
                   maximize: bool = True, cheap: str | None = None, cheap_cost: float | None = None,
                   stop_at_optimum: bool = True, cheap_setup_cost: float = 0.0) -> dict[str, Any]:
    """One seed of one method (a name or a spec, ``"bo-ei[warp=none]"``), as an in-memory ``Study``
    that stops once the optimum is observed at the target fidelity (unless
    ``stop_at_optimum=False``): the per-seed entries of ``run_search_benchmark``'s JSON.

    Regret after trial ``t`` is ``|optimum - best target value among trials <= t|`` (``None``
    before the first target evaluation). ``seconds[t]`` is the time of trial ``t``'s suggestion
    and ``model_based[t]`` whether it fitted a model (``StepRecorder``).

    Example:
        >>> run = run_one_search(table, "cifar10_test_200ep", "ls", seed=0, budget=150)  # doctest: +SKIP
        >>> run["queries_to_optimum"], run["regret_curve"][-1]  # doctest: +SKIP
        (47, 0.0)
    """
    table = searchable(table, objective, cheap)
    _, optimum = table.best(objective, maximize)
    spec = parse_method(method)
    evaluator = _evaluator(table, objective, cheap, cheap_cost)
    target = evaluator.target_fidelity
    sign = 1.0 if maximize else -1.0

    def reached(trial: Trial) -> bool:
        return (trial.is_complete and trial.fidelity == target
                and sign * (optimum - trial.metrics[objective]) <= OPTIMUM_TOLERANCE)

    def stop_there(study: Study, trial: Trial) -> None:
        if reached(trial):
            study.stop("the optimum was observed at the target fidelity")

    study = _study(table, evaluator, objective, spec.strategy, spec.options, seed, maximize)
    setup = float(cheap_setup_cost) if cheap and study.strategy.multi_fidelity else 0.0
    if setup >= budget:
        raise InvalidArgumentError(f"the cheap fidelity's setup cost {setup:g} leaves nothing of the budget "
                                   f"{budget:g}: give a budget above the setup cost")
    steps = StepRecorder()
    # With a cheap fidelity the budget is total cost (a target evaluation costs 1), else evaluations.
    study.optimize(Budget(cost=budget - setup) if cheap else int(budget),
                   callbacks=[steps] + ([stop_there] if stop_at_optimum else []))
    trials = study.finished_trials()
    regret, costs, best, spent = [], [], None, setup
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
        "setup_cost": setup,
        "seconds": suggest_seconds(study),
        "model_based": steps.model_based,
    }


def charge_suggestions(per_seed: Sequence[dict[str, Any]], unit_seconds: float) -> dict[str, list]:
    """Per seed: the cost to the optimum with the suggestion seconds until then added in units of
    ``unit_seconds`` (``None`` where never reached), and the share of wall-clock spent suggesting.

    Example:
        >>> run = {"queries_to_optimum": 2, "cost_to_optimum": 1.5, "seconds": [0.5, 0.5, 1.0],
        ...        "cost_curve": [1.0, 1.5, 2.5], "setup_cost": 0.0}
        >>> charge_suggestions([run], unit_seconds=2.0)
        {'charged_cost_to_optimum': [2.0], 'suggest_share': [0.2857142857142857]}
    """
    charged, shares = [], []
    for run in per_seed:
        hit, seconds = run["queries_to_optimum"], run["seconds"]
        charged.append(None if hit is None else run["cost_to_optimum"] + sum(seconds[:hit]) / unit_seconds)
        spent = run["cost_curve"][-1] if run.get("cost_curve") else 0.0
        total = sum(seconds) + unit_seconds * spent
        shares.append(sum(seconds) / total if total > 0 else 0.0)
    return {"charged_cost_to_optimum": charged, "suggest_share": shares}


def searchable(table: TabularBenchmark, objective: str, cheap: str | None = None) -> TabularBenchmark:
    """The rows of ``table`` where the objective (and the cheap column) were measured: the cells a
    benchmark searches, and whose best value is the optimum to find."""
    return table.measured(objective, *([cheap] if cheap else []))


def _evaluator(table: TabularBenchmark, objective: str, cheap: str | None, cheap_cost: float | None
               ) -> TabularEvaluator:
    return TabularEvaluator(table, objective, cheap={cheap: cheap_cost} if cheap else None)


def _check_methods(table: TabularBenchmark, objective: str, methods: Sequence[str], maximize: bool,
                   cheap: str | None, cheap_cost: float | None,
                   pool: str | None = None) -> tuple[list[MethodSpec], dict[str, str | None]]:
    """The specs of ``methods``, each listed once, their options accepted by their strategies
    (checked before any job runs, so a typo costs no benchmark time), and the candidate pool each
    scores (``None`` for a strategy without one). ``pool`` is given to every strategy that takes
    the option and whose spec does not set it (``with_option``: the label then says so too)."""
    specs = [parse_method(method) for method in methods]
    check_unique(specs)
    evaluator = _evaluator(table, objective, cheap, cheap_cost)
    checked, pools = [], {}
    for spec in specs:
        def build(options: dict[str, Any], spec: MethodSpec = spec) -> Any:
            return _study(table, evaluator, objective, spec.strategy, options, 0, maximize).strategy

        strategy = check_options(spec, build)
        if pool is not None and "pool" in strategy_options(type(strategy)) and "pool" not in spec.options:
            spec = with_option(spec, "pool", pool)
            strategy = check_options(spec, build)
        checked.append(spec)
        pools[spec.label] = getattr(strategy, "pool", None)
    check_unique(checked)
    return checked, pools


def _search_worker(table_path: str, space_name: str, objective: str, budget: float, maximize: bool,
                   cheap: str | None, cheap_cost: float | None, stop_at_optimum: bool, cheap_setup_cost: float,
                   method: str, seed: int) -> dict[str, Any]:
    return run_one_search(worker_table(table_path, space_name), objective, method, seed, budget, maximize, cheap,
                          cheap_cost, stop_at_optimum, cheap_setup_cost)


def run_search_benchmark(table: TabularBenchmark, objective: str, methods: Sequence[str], seeds: int,
                         budget: float, maximize: bool = True, progress: bool = True, cheap: str | None = None,
                         cheap_cost: float | None = None, workers: int = 1, stop_at_optimum: bool = True,
                         log: JobLog | None = None, cheap_setup_cost: float = 0.0,
                         unit_seconds: float | None = None, pool: str | None = None) -> dict[str, Any]:
    """Each method, ``seeds`` times, on ``table``; JSON-ready results.

    A method is a strategy name or a spec ``NAME[KEY=VALUE;...]`` of constructor options
    (``"gp-onehot[warp=copula]"``); its canonical text keys ``results["methods"]``, whose records
    also hold the ``strategy`` and its ``options``. An unknown strategy, a malformed spec or an
    option the strategy rejects raises ``InvalidArgumentError`` before any job runs.

    Without a cheap fidelity, ``budget`` counts evaluations and the regret curves have one entry
    per evaluation (0 once the optimum is observed, where a seed stops). With one, ``budget``
    counts total cost (a target evaluation costs 1, a cheap one ``cheap_cost``, and multi-fidelity
    methods pay ``cheap_setup_cost`` up front) and each seed also records its cumulative
    ``cost_curves``. ``cost_to_optimum``: total cost spent when the
    optimum is first observed at the target fidelity (``None`` where never). ``workers > 1``
    runs seeds in that many processes (the table must then come from a file).

    ``stop_at_optimum=False`` searches the whole budget after the optimum too (queries and cost
    to it are unchanged; suggestion times then exist at every observation count). Per method,
    ``model_step_seconds`` summarises seconds per suggestion over model-based steps
    (``step_seconds_summary``), from the raw ``suggest_seconds`` and ``model_based_steps`` per
    seed; ``seconds_per_suggestion`` stays the median over all steps. Jobs already in ``log``
    are reused, and each finished one is added to it.

    ``unit_seconds`` (the seconds one target evaluation takes, e.g. a table's measured training
    time) charges the search's own time too: ``charged_cost_to_optimum`` adds the seconds spent
    suggesting up to the optimum, in those units, and ``suggest_share`` is each seed's share of
    wall-clock spent suggesting, ``S / (S + unit_seconds * cost)`` with ``S`` its summed
    suggestion seconds.

    ``pool`` (``"enumerate"`` or ``"sampled"``) is the candidate pool of every method whose strategy
    takes one (``pool=`` added to its spec, unless the spec sets it); ``None`` leaves each its
    default. Each method's record says which pool it scored (``pool``; ``None`` for strategies
    without one), and ``results["pool"]`` what was asked.
    """
    if cheap is not None and not (cheap_cost and cheap_cost > 0):
        raise ValueError("a cheap fidelity needs a positive cheap_cost (in units of one target evaluation)")
    if cheap_setup_cost and cheap is None:
        raise ValueError("a setup cost belongs to a cheap fidelity: give cheap and cheap_cost too")
    if unit_seconds is not None and not unit_seconds > 0:
        raise ValueError(f"unit_seconds must be positive (seconds of one target evaluation), got {unit_seconds}")
    if cheap_setup_cost < 0:
        raise ValueError(f"cheap_setup_cost must be >= 0 (in units of one target evaluation), got {cheap_setup_cost}")
    if cheap is not None:
        table.require(cheap)
    _, optimum = searchable(table, objective, cheap).best(objective, maximize)
    specs, pools = _check_methods(table, objective, methods, maximize, cheap, cheap_cost, pool)
    results: dict[str, Any] = {"objective": objective, "optimum": optimum, "budget": budget, "seeds": seeds,
                               "cheap": cheap, "cheap_cost": cheap_cost, "cheap_setup_cost": cheap_setup_cost,
                               "candidates": len(searchable(table, objective, cheap)),
                               "budget_unit": "cost" if cheap else "evaluations", "stops_at_optimum": stop_at_optimum,
                               "unit_seconds": unit_seconds, "pool": pool,
                               "methods": {}}
    jobs = [(spec.label, seed) for spec in specs for seed in range(seeds)]
    runs = run_jobs(jobs, lambda method, seed: run_one_search(table, objective, method, seed, budget, maximize, cheap,
                                                              cheap_cost, stop_at_optimum, cheap_setup_cost),
                    _search_worker, (table.source, table.space.name, objective, budget, maximize, cheap, cheap_cost,
                                     stop_at_optimum, cheap_setup_cost),
                    table, workers, progress, "bench search", log)
    for spec in specs:
        per_seed = [runs[(spec.label, seed)] for seed in range(seeds)]
        record = {
            "strategy": spec.strategy,
            "options": spec.options,
            "pool": pools[spec.label],
            "queries_to_optimum": [run["queries_to_optimum"] for run in per_seed],
            "cost_to_optimum": [run["cost_to_optimum"] for run in per_seed],
            "final_regret": [run["final_regret"] for run in per_seed],
            "regret_curves": [run["regret_curve"] for run in per_seed],
            "target_evaluations": [run["target_evaluations"] for run in per_seed],
            "seconds_per_suggestion": median_seconds(per_seed),
            "model_step_seconds": step_seconds_summary([run["seconds"] for run in per_seed],
                                                       [run["model_based"] for run in per_seed]),
            "suggest_seconds": [run["seconds"] for run in per_seed],
            "model_based_steps": [[int(flag) for flag in run["model_based"]] for run in per_seed],
        }
        if cheap:
            record["cost_curves"] = [run["cost_curve"] for run in per_seed]
            record["setup_cost"] = per_seed[0]["setup_cost"] if per_seed else 0.0
        if unit_seconds is not None:
            record.update(charge_suggestions(per_seed, unit_seconds))
        results["methods"][spec.label] = record
    return results


def _shown(value: float | None, spec: str, missing: str = ">budget") -> str:
    return missing if value is None else format(value, spec)


def format_search_table(results: dict[str, Any]) -> str:
    """A plain-text summary: per method, seeds reaching the optimum, median and 90th percentile of
    the queries and cost to it (a seed that never reached it counts as never: ``>budget``), and
    the seconds of model-based suggestions (median/p90, then medians at each observation count)."""
    sample = next(iter(results["methods"].values()), {}).get("model_step_seconds")
    points = "/".join(sample["at_observations"]) if sample else ""
    width = max([12] + [len(name) + 2 for name in results["methods"]])  # specs may be long
    lines = [f"objective {results['objective']}  optimum {results['optimum']:.4f}"
             + (f"  cheap {results['cheap']} at cost {results['cheap_cost']:g}" if results.get("cheap") else "")
             + (f" (+{results['cheap_setup_cost']:g} setup, charged to multi-fidelity methods)"
                if results.get("cheap_setup_cost") else ""),
             (f"{'method':<{width}}{'reached':>10}{'median q':>10}{'p90 q':>9}{'median cost':>13}{'p90 cost':>10}"
              f"{'mean final regret':>19}{'s/model step (p90)':>20}  s at {points} obs")]
    for name, record in results["methods"].items():
        hits = [q for q in record["queries_to_optimum"] if q is not None]
        queries, costs = record["queries_to_optimum"], record.get("cost_to_optimum", [])
        regrets = [r for r in record["final_regret"] if r is not None]
        mean_regret = f"{statistics.fmean(regrets):.4f}" if regrets else "n/a"
        seconds, at_points = timing_cells(record.get("model_step_seconds"))
        lines.append(f"{name:<{width}}{len(hits):>5}/{len(record['final_regret']):<4}"
                     f"{_shown(percentile(queries, 0.5), 'g'):>10}{_shown(percentile(queries, 0.9), 'g'):>9}"
                     f"{_shown(percentile(costs, 0.5), '.3g'):>13}{_shown(percentile(costs, 0.9), '.3g'):>10}"
                     f"{mean_regret:>19}{seconds:>20}  {at_points}")
    if results.get("unit_seconds"):
        lines.append(f"with suggestion time charged at {results['unit_seconds']:g} s per target evaluation:")
        for name, record in results["methods"].items():
            charged = record["charged_cost_to_optimum"]
            lines.append(f"  {name:<{width}}median cost {_shown(percentile(charged, 0.5), '.3g')}, max "
                         f"{_shown(max(charged) if None not in charged else None, '.3g')}; median share of "
                         f"wall-clock suggesting {percentile(record['suggest_share'], 0.5):.1%}")
    return "\n".join(lines)


def format_surrogate_table(results: dict[str, Any]) -> str:
    """A plain-text table of a surrogate benchmark: one row per model and train size."""
    lines = [f"objective {results['objective']}",
             f"{'model':<22}{'N':>5}{'tau':>8}{'rho':>8}{'nlpd':>9}{'cov90':>8}{'seconds':>9}"]
    for row in results["results"]:
        lines.append(f"{row['model']:<22}{row['train_size']:>5}{row['kendall_tau']:>8.3f}{row['spearman']:>8.3f}"
                     f"{row['nlpd']:>9.3f}{row['coverage_90']:>8.3f}{row['fit_predict_seconds']:>9.3f}")
    return "\n".join(lines)
