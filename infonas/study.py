"""The ``Study``: ask / tell / optimize over a search space, every event kept in a run store.

The journal is the single source of truth: the strategy's state, the budget spent and the
incumbents are all derived from it, so a study loaded after a crash continues exactly where an
uninterrupted one would be.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from infonas.budget import Budget
from infonas.evaluator import Evaluator
from infonas.objectives import ComputedMetrics, Objective, parse_objectives, signed_values
from infonas.run_store import RunStore, RunStoreError
from infonas.specs import build_evaluator
from infonas.strategies import make_strategy
from infonas.strategies.base import Strategy
from infonas.trials import EvaluationResult, Trial, TrialStatus
from search_spaces import get_space
from search_spaces.base import SearchSpace

FORMAT_VERSION = 1


def _computed_from_config(data: dict[str, Any] | None, space: SearchSpace) -> ComputedMetrics | None:
    if not data:
        return None
    from infonas.cost_tables import ArchitectureCosts

    return ArchitectureCosts.from_json(data, space)


def _reference_point(objectives: Sequence[Objective], given: dict[str, float] | None, evaluator: Evaluator,
                     computed: Any, space: SearchSpace) -> dict[str, float]:
    """The given reference point, completed with the worst known value of each objective."""
    reference = dict(given or {})
    unknown = [name for name in reference if name not in {o.name for o in objectives}]
    if unknown:
        raise ValueError(f"reference point names {unknown}, which are not objectives")
    for o in objectives:
        if o.name in reference:
            continue
        if computed is not None and o.name in computed.names and space.size <= 100_000:
            values = computed.values(list(space.enumerate()), o.name)
        elif getattr(evaluator, "table", None) is not None and o.name in evaluator.table.metrics:
            values = evaluator.table.column(o.name)
        else:
            raise ValueError(f"give a reference point for objective {o.name!r} (its worst acceptable value): "
                             "it is neither a table column nor computed over an enumerable space")
        reference[o.name] = float(np.min(values) if o.maximize else np.max(values))
    return {o.name: float(reference[o.name]) for o in objectives}


class StudyError(RuntimeError):
    """Misuse of a study (telling an unknown or finished trial, resuming without an evaluator...)."""


class Study:
    """A budgeted architecture search whose every step is journalled in a run directory.

    Example:
        >>> study = Study.create("runs/demo", NB201Space(), evaluator, objective="cifar10_test_200ep",
        ...                      strategy="ls", seed=0, evaluator_spec=spec)  # doctest: +SKIP
        >>> study.optimize(budget=50)  # doctest: +SKIP
        >>> study.best()  # doctest: +SKIP
    """

    def __init__(self, store: RunStore, space: SearchSpace, evaluator: Evaluator) -> None:
        self.store = store
        self.space = space
        self.evaluator = evaluator
        config = store.config
        self.objective: str = config["objective"]
        self.maximize: bool = config["maximize"]
        self.objectives: tuple[Objective, ...] = tuple(
            Objective.from_json(o) for o in config.get("objectives", [{"name": self.objective, "maximize": self.maximize}]))
        self.reference_point: dict[str, float] | None = config.get("reference_point")
        self.computed: ComputedMetrics | None = _computed_from_config(config.get("computed_metrics"), space)
        self.seed: int = config["seed"]
        self.batch_size: int = config["batch_size"]
        self.strategy: Strategy = make_strategy(
            config["strategy"], space, self.objective, seed=self.seed, maximize=self.maximize,
            objectives=self.objectives, computed=self.computed,
            fidelities=sorted(evaluator.fidelities.values(), key=lambda f: f.level),
            **config.get("strategy_options", {}))
        self._asked: dict[int, Trial] = {}
        self._finished: dict[int, Trial] = {}
        self._finish_order: list[int] = []
        self._replay(store.events())

    # ----- construction -----

    @classmethod
    def create(cls, run_dir: str | Path, space: SearchSpace, evaluator: Evaluator, objective: str | None = None, *,
               strategy: str = "ls", seed: int = 0, maximize: bool = True, batch_size: int = 1,
               strategy_options: dict[str, Any] | None = None, evaluator_spec: dict[str, Any] | None = None,
               objectives: Sequence[str | Objective] | str | None = None, computed: Any = None,
               reference_point: dict[str, float] | None = None, resume: bool = False) -> Study:
        """Start a new study in ``run_dir`` (with ``resume``, reopen one made with the same config).

        ``evaluator_spec`` is the JSON description from which ``load`` rebuilds the evaluator
        (see ``infonas.specs``); without it, ``load`` must be given the evaluator again.

        Multi-objective: ``objectives`` (``"acc:max,flops:min"`` or a list) replaces
        ``objective``/``maximize``. Objectives that are not evaluator metrics must come from
        ``computed`` (an ``ArchitectureCosts``, saved in the run directory so a resume computes
        identical values). ``reference_point`` maps each objective to the worst value that still
        counts for the hypervolume; it defaults, per objective, to the worst value over the table
        (tabular evaluators) or over the space (computed objectives).
        """
        if objectives is None:
            if objective is None:
                raise ValueError("give an objective (or objectives)")
            parsed = (Objective(objective, maximize),)
        else:
            parsed = parse_objectives(objectives)
            if objective is not None and objective != parsed[0].name:
                raise ValueError(f"objective {objective!r} is not the first of objectives {[str(o) for o in parsed]}")
        objective, maximize = parsed[0].name, parsed[0].maximize
        computed_names = set(computed.names) if computed is not None else set()
        for o in parsed:
            if o.name not in evaluator.metric_names and o.name not in computed_names:
                raise ValueError(f"objective {o.name!r} is neither a metric of the evaluator {list(evaluator.metric_names)} "
                                 f"nor a computed metric {sorted(computed_names)}")
        if objective not in evaluator.metric_names:
            raise ValueError(f"the first objective {objective!r} must be measured by the evaluator: "
                             f"{list(evaluator.metric_names)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if len(parsed) > 1:
            reference_point = _reference_point(parsed, reference_point, evaluator, computed, space)
        make_strategy(strategy, space, objective, seed=seed, maximize=maximize, objectives=parsed, computed=computed,
                      fidelities=sorted(evaluator.fidelities.values(), key=lambda f: f.level),
                      **(strategy_options or {}))
        config = {
            "format_version": FORMAT_VERSION,
            "space": space.name,
            "objective": objective,
            "maximize": bool(maximize),
            "objectives": [o.to_json() for o in parsed],
            "reference_point": reference_point,
            "computed_metrics": computed.to_json() if computed is not None else None,
            "seed": int(seed),
            "strategy": strategy,
            "strategy_options": dict(strategy_options or {}),
            "batch_size": int(batch_size),
            "evaluator": evaluator_spec if evaluator_spec is not None else {"kind": "custom"},
            "fidelities": {name: f.cost for name, f in evaluator.fidelities.items()},
        }
        store = RunStore.create(run_dir, config, exist_ok=resume)
        return cls(store, space, evaluator)

    @classmethod
    def load(cls, run_dir: str | Path, evaluator: Evaluator | None = None) -> Study:
        """Reopen a study from its run directory; the surrogate, if any, is refit from the journal."""
        store = RunStore.open(run_dir)
        config = store.config
        if config.get("format_version") != FORMAT_VERSION:
            raise RunStoreError(f"{run_dir}: run format version {config.get('format_version')!r} is not "
                                f"supported (expected {FORMAT_VERSION})")
        space = get_space(config["space"])
        if evaluator is None:
            if config["evaluator"].get("kind") == "custom":
                raise StudyError(f"{run_dir} was created with a custom evaluator: pass it to Study.load(path, evaluator)")
            evaluator = build_evaluator(config["evaluator"], space)
        return cls(store, space, evaluator)

    # ----- journal replay -----

    def _replay(self, events: Sequence[dict[str, Any]]) -> None:
        for event in events:
            kind = event.get("event")
            if kind == "asked":
                trial = Trial(event["trial"], self.space.parse(event["arch"]), event["fidelity"])
                self._asked[trial.number] = trial
            elif kind == "finished":
                self._record_finished(self._trial_from_event(event))
            else:
                raise RunStoreError(f"{self.store.path}: unknown journal event {event!r}")

    def _trial_from_event(self, event: dict[str, Any]) -> Trial:
        number = event["trial"]
        if number not in self._asked:
            raise RunStoreError(f"{self.store.path}: journal finishes trial {number}, which was never asked")
        result = EvaluationResult(metrics=event["metrics"], cost=event["cost"], status=TrialStatus(event["status"]),
                                  error=event.get("error"))
        return self._asked[number].finished(result)

    def _record_finished(self, trial: Trial) -> None:
        if trial.number in self._finished:  # a duplicate line can only come from a hand-edited journal
            return
        self._finished[trial.number] = trial
        self._finish_order.append(trial.number)
        self.strategy.observe([trial])

    # ----- ask / tell -----

    @property
    def pending(self) -> list[Trial]:
        """Asked trials without a result, oldest first (in-flight work of a crashed run included)."""
        return [t for n, t in sorted(self._asked.items()) if n not in self._finished]

    def ask(self, n: int = 1) -> list[Trial]:
        """Propose ``n`` new trials (journalled as asked before they are returned)."""
        if n < 1:
            raise ValueError(f"ask needs n >= 1, got {n}")
        start = len(self._asked)
        numbers = list(range(start, start + n))
        suggestions = self.strategy.suggest(numbers, pending=[t.arch for t in self.pending])
        trials = []
        for number, suggestion in zip(numbers, suggestions):
            fidelity = suggestion.fidelity or self.evaluator.target_fidelity
            trial = Trial(number, self.space.validate(suggestion.arch), fidelity)
            self.store.append({"event": "asked", "trial": number, "arch": self.space.format(trial.arch),
                               "fidelity": fidelity})
            self._asked[number] = trial
            trials.append(trial)
        return trials

    def tell(self, trial: Trial | int, result: EvaluationResult | dict[str, float]) -> Trial:
        """Record the result of an asked trial (a result object, or a dict of metrics at zero cost)."""
        number = trial.number if isinstance(trial, Trial) else int(trial)
        if number not in self._asked:
            raise StudyError(f"trial {number} was never asked")
        if number in self._finished:
            raise StudyError(f"trial {number} is already finished")
        if not isinstance(result, EvaluationResult):
            result = EvaluationResult(metrics={k: float(v) for k, v in result.items()}, cost=0.0)
        result = result.checked()
        missing = [o.name for o in self.objectives if o.name not in result.metrics]
        if result.status is TrialStatus.COMPLETE and self.computed is not None and missing:
            # Objectives known from the architecture are computed here, never measured or modelled.
            arch = self._asked[number].arch
            extra = {name: float(self.computed.values([arch], name)[0]) for name in missing if name in self.computed.names}
            result = EvaluationResult({**result.metrics, **extra}, result.cost, result.status, result.error)
        if result.status is TrialStatus.COMPLETE and self.objective not in result.metrics:
            raise StudyError(f"result for trial {number} lacks the objective {self.objective!r}: {result.metrics}")
        finished = self._asked[number].finished(result)
        self.store.append({"event": "finished", "trial": number, "status": finished.status.value,
                           "metrics": finished.metrics, "cost": finished.cost, "error": finished.error})
        self._record_finished(finished)
        return finished

    # ----- the loop -----

    def optimize(self, budget: Budget | int | None = None, *, evaluations: int | None = None,
                 cost: float | None = None, seconds: float | None = None, progress: bool = True) -> Study:
        """Ask, evaluate and tell until the budget is spent; in-flight trials of a crash come first.

        ``budget`` (or ``evaluations``) counts finished trials over the study's whole life;
        ``cost`` likewise sums their costs; ``seconds`` limits this call's wall-clock time.
        """
        budget = Budget.coerce(budget, evaluations=evaluations, cost=cost, seconds=seconds)
        # Kept so that `infonas resume` can finish what was asked without being told again.
        self.store.write_snapshot("budget", dataclasses.asdict(budget))
        started = time.perf_counter()
        bar = tqdm(total=budget.evaluations, initial=min(len(self._finished), budget.evaluations or 0),
                   desc="search", unit="trial", disable=not progress, dynamic_ncols=True)
        try:
            while not budget.exhausted(len(self._finished), self.spent_cost(), time.perf_counter() - started):
                batch = self.pending or self.ask(self._batch_to_ask(budget))
                for trial in batch:
                    self.tell(trial, self.evaluator.evaluate(trial.arch, trial.fidelity))
                    bar.update(1)
                    bar.set_postfix_str(self._progress_text(), refresh=False)
                    if budget.exhausted(len(self._finished), self.spent_cost(), time.perf_counter() - started):
                        break
        finally:
            bar.close()
        return self

    def _batch_to_ask(self, budget: Budget) -> int:
        if budget.evaluations is None:
            return self.batch_size
        return max(1, min(self.batch_size, budget.evaluations - len(self._finished)))

    def _progress_text(self) -> str:
        best = self.best()
        incumbent = f"best {best[0].metrics[self.objective]:.4g}" if best else "best -"
        return f"cost {self.spent_cost():.4g} | {incumbent}"

    def saved_budget(self) -> Budget | None:
        """The budget of the last ``optimize`` call, as written in the run directory."""
        saved = self.store.read_snapshot("budget")
        return Budget(**saved) if saved else None

    # ----- results -----

    def spent_cost(self) -> float:
        return float(sum(t.cost for t in self._finished.values()))

    def finished_trials(self) -> list[Trial]:
        """Finished trials in the order they finished."""
        return [self._finished[n] for n in self._finish_order]

    def best(self, k: int = 1, fidelity: str | None = None) -> list[Trial]:
        """The ``k`` best complete trials at ``fidelity`` (default: the target fidelity)."""
        fidelity = fidelity or self.evaluator.target_fidelity
        complete = [t for t in self.finished_trials() if t.is_complete and t.fidelity == fidelity]
        sign = -1.0 if self.maximize else 1.0
        return sorted(complete, key=lambda t: (sign * t.metrics[self.objective], t.number))[:k]

    def trials(self) -> list[dict[str, Any]]:
        """Finished trials as table rows (``pandas.DataFrame(study.trials())`` makes a frame)."""
        rows = []
        for trial in self.finished_trials():
            row = {"number": trial.number, "arch": self.space.format(trial.arch), "fidelity": trial.fidelity,
                   "status": trial.status.value, "cost": trial.cost}
            row.update(trial.metrics)
            rows.append(row)
        return rows

    def history(self) -> list[dict[str, Any]]:
        """After each finished trial: cumulative cost, the incumbent at the target fidelity and,
        for several objectives, the hypervolume of the front so far."""
        sign = 1.0 if self.maximize else -1.0
        best, spent, rows = None, 0.0, []
        target = self.evaluator.target_fidelity
        for trial in self.finished_trials():
            spent += trial.cost
            if trial.is_complete and trial.fidelity == target:
                value = trial.metrics[self.objective]
                if best is None or sign * (value - best) > 0:
                    best = value
            rows.append({"number": trial.number, "cost": spent, "incumbent": best})
        if self.is_multi_objective:
            # One pass over the front candidates, in finishing order: the volume changes only when
            # a trial enters the front; the rows in between carry the last value.
            from infonas.pareto import hypervolume_curve

            if self.reference_point is None:
                raise StudyError("this study has no reference point (it has a single objective)")
            candidates = self._front_candidates()
            curve = hypervolume_curve(self.objective_vectors(candidates),
                                      signed_values(self.reference_point, self.objectives))
            after = dict(zip((t.number for t in candidates), curve))
            volume = 0.0
            for row in rows:
                volume = after.get(row["number"], volume)
                row["hypervolume"] = volume
        return rows

    # ----- several objectives -----

    @property
    def is_multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def _front_candidates(self, trials: Sequence[Trial] | None = None) -> list[Trial]:
        target = self.evaluator.target_fidelity
        trials = self.finished_trials() if trials is None else trials
        return [t for t in trials if t.is_complete and t.fidelity == target
                and all(o.name in t.metrics for o in self.objectives)]

    def objective_vectors(self, trials: Sequence[Trial]) -> np.ndarray:
        """Signed objective vectors (every entry larger-is-better) of complete trials."""
        return np.array([signed_values(t.metrics, self.objectives) for t in trials],
                        dtype=np.float64).reshape(len(trials), len(self.objectives))

    def pareto_front(self) -> list[Trial]:
        """The non-dominated complete trials at the target fidelity (BoTorch's ``is_non_dominated``).

        Recomputed from the journal on every call: the front is never a second source of truth.
        """
        from infonas.pareto import pareto_mask

        candidates = self._front_candidates()
        if not candidates:
            return []
        mask = pareto_mask(self.objective_vectors(candidates))
        return [t for t, keep in zip(candidates, mask.tolist()) if keep]

    def hypervolume(self, trials: Sequence[Trial] | None = None) -> float:
        """Hypervolume of the front of ``trials`` (default: all) above the config's reference point."""
        from infonas.pareto import hypervolume

        if self.reference_point is None:
            raise StudyError("this study has no reference point (it has a single objective)")
        candidates = self._front_candidates(trials)
        if not candidates:
            return 0.0
        reference = signed_values(self.reference_point, self.objectives)
        return hypervolume(self.objective_vectors(candidates), reference)

    def fidelity_correlation(self) -> np.ndarray | None:
        """The inter-fidelity correlation a multi-fidelity GP learns from the journal (``None``
        with one fidelity, or too little data: two distinct results per fidelity are needed)."""
        fidelities = sorted(self.evaluator.fidelities.values(), key=lambda f: f.level)
        if len(fidelities) < 2:
            return None
        index = {f.name: j for j, f in enumerate(fidelities)}
        data = [(t.arch, t.metrics[self.objective], index[t.fidelity]) for t in self.finished_trials()
                if t.is_complete and self.objective in t.metrics and t.fidelity in index]
        for j in range(len(fidelities)):
            if len({round(v, 12) for _, v, f in data if f == j}) < 2:
                return None
        from infonas.multi_fidelity import MultiFidelitySurrogate

        archs, values, groups = zip(*data)
        model = MultiFidelitySurrogate(self.space, "wl+hamming", num_fidelities=len(fidelities), seed=self.seed)
        return model.fit(list(archs), list(values), list(groups)).fidelity_correlation()
