"""The ``Study``: ask / tell / optimize over a search space, every event kept in a store.

The one search loop of infonas: benchmarks, tests and the CLI all drive Studies. The store (a
``RunStore`` directory, or an ``InMemoryStore``) is the single source of truth: the strategy's
state, the budget spent and the incumbents are all derived from its journal, so a study loaded
after a crash continues exactly where an uninterrupted one would be.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from infonas.budget import Budget
from infonas.evaluators import Evaluator, build_evaluator
from infonas.exceptions import (
    IncompatibleRunError,
    InvalidArchitectureError,
    InvalidArgumentError,
    RunStoreError,
    StudyError,
)
from infonas.execution import EvaluationJob, Executor, FailureRateLimit, RetryPolicy, SerialExecutor
from infonas.objectives import ComputedMetrics, Objective
from infonas.results import (
    best_trials,
    front_candidates,
    history,
    hypervolume_of,
    pareto_front,
    trials_dataframe,
)
from infonas.search_loop import SearchLoop, next_number
from infonas.storage import InMemoryStore, RunStore
from infonas.storage.events import FORMAT_VERSION, TrialAsked, TrialFinished, replay
from infonas.strategies.base import Strategy, Suggestion
from infonas.study_setup import build_strategy, computed_from_config, search_domain, study_config
from infonas.trials import EvaluationResult, Trial, TrialStatus
from search_spaces import get_space
from search_spaces.base import Architecture, SearchSpace

logger = logging.getLogger(__name__)

#: Defaults shared by ``Study.create`` and ``infonas search``.
DEFAULT_STRATEGY = "bo-ei"
DEFAULT_SEED = 0
DEFAULT_BATCH_SIZE = 1


class Store(Protocol):
    """What a Study needs of its store (``RunStore`` and ``InMemoryStore`` provide it)."""

    path: Path | None

    @property
    def config(self) -> dict[str, Any]: ...
    def append(self, event: dict[str, Any]) -> None: ...
    def events(self) -> list[dict[str, Any]]: ...
    def write_snapshot(self, name: str, obj: Any) -> Any: ...
    def read_snapshot(self, name: str, default: Any = None) -> Any: ...


def _checked_result(study: Study, number: int, result: EvaluationResult) -> EvaluationResult:
    """``result`` of trial ``number`` as a study records it: failed if a metric is not finite, with
    the computed objectives added; ``StudyError`` if it is complete without the objective."""
    result = result.checked()
    if result.status is TrialStatus.FAILED and result.failure is None:
        result = dataclasses.replace(result, failure="error")  # a custom evaluator's failure without a kind
    missing = [o.name for o in study.objectives if o.name not in result.metrics]
    if result.status is TrialStatus.COMPLETE and study.computed is not None and missing:
        # Objectives known from the architecture are computed here, never measured or modelled.
        arch = study._asked[number].arch
        extra = {name: float(study.computed.values([arch], name)[0]) for name in missing if name in study.computed.names}
        result = EvaluationResult({**result.metrics, **extra}, result.cost, result.status, result.error)
    if result.status is TrialStatus.COMPLETE and study.objective not in result.metrics:
        raise StudyError(f"result for trial {number} lacks the objective {study.objective!r}: {result.metrics}")
    return result


def _journalled_arch(space: SearchSpace, event: TrialAsked) -> Architecture:
    """The architecture an ``asked`` event names; one that is not the space's means an edited or
    damaged journal, which the error says (the space's own error would not name the journal)."""
    try:
        return space.parse(event.arch)
    except InvalidArchitectureError as error:
        raise InvalidArchitectureError(
            f"the journal asks trial {event.trial} with a string that is not a {space.name} architecture ({error}); "
            f"a run journals only its space's architectures, so journal.jsonl was edited or damaged: restore it "
            f"from a backup, or delete the lines of trial {event.trial} from it (keep a copy)") from None


def _pending_for(strategy: Strategy, pending: Sequence[Trial]) -> list:
    """What ``strategy.suggest`` is told is pending: multi-fidelity strategies also learn each fidelity."""
    if strategy.multi_fidelity:
        return [Suggestion(trial.arch, trial.fidelity) for trial in pending]
    return [trial.arch for trial in pending]


class Study:
    """A budgeted architecture search whose every step is journalled.

    Example:
        >>> study = Study.create(None, NB201Space(), evaluator, objective="cifar10_test_200ep",
        ...                      strategy="ls", seed=0)  # doctest: +SKIP
        >>> study.optimize(budget=50).best()  # doctest: +SKIP
    """

    def __init__(self, store: Store, space: SearchSpace, evaluator: Evaluator) -> None:
        self.store = store
        self.space = space
        self.evaluator = evaluator
        config = store.config
        self.objective: str = config["objective"]
        self.maximize: bool = config["maximize"]
        self.objectives: tuple[Objective, ...] = tuple(
            Objective.from_json(o) for o in config.get("objectives", [{"name": self.objective, "maximize": self.maximize}]))
        self.reference_point: dict[str, float] | None = config.get("reference_point")
        self.computed: ComputedMetrics | None = computed_from_config(config.get("computed_metrics"), space)
        self.seed: int = config["seed"]
        self.batch_size: int = config["batch_size"]
        #: What strategies search: the space, or the part of it the evaluator can evaluate.
        self.domain: SearchSpace = search_domain(space, evaluator)
        self.strategy: Strategy = build_strategy(config, self.domain, evaluator, self.objectives, self.computed)
        #: Why the last ``optimize`` stopped before its budget (``None``: it spent its budget).
        self.stop_reason: str | None = None
        self._asked: dict[int, Trial] = {}
        self._sizing_seconds = 0.0
        self._finished: dict[int, Trial] = {}
        state = replay(store.events())
        for event in state.asked.values():
            self._asked[event.trial] = Trial(event.trial, _journalled_arch(space, event), event.fidelity,
                                             asked_at=event.time, suggest_seconds=event.suggest_seconds,
                                             retry_of=event.retry_of)
        for event in state.finished:
            result = EvaluationResult(event.metrics, event.cost, event.status, event.error, event.failure)
            try:  # what tell checked before journalling it, so only an edited journal fails here
                result = _checked_result(self, event.trial, result)
            except StudyError as error:
                raise RunStoreError(f"the journal's {error}; journal.jsonl was edited or damaged: delete the finished "
                                    f"line of trial {event.trial} from it (keep a copy), and a resume evaluates the "
                                    "trial again") from None
            self._record_finished(self._asked[event.trial].finished(result, event.time))

    @classmethod
    def create(cls, run_dir: str | Path | None, space: SearchSpace, evaluator: Evaluator, objective: str | None = None,
               *, strategy: str = DEFAULT_STRATEGY, seed: int = DEFAULT_SEED, maximize: bool = True,
               batch_size: int = DEFAULT_BATCH_SIZE, strategy_options: dict[str, Any] | None = None,
               evaluator_spec: dict[str, Any] | None = None, objectives: Sequence[str | Objective] | str | None = None,
               computed: Any = None, reference_point: dict[str, float] | None = None, resume: bool = False) -> Study:
        """Start a new study in ``run_dir`` (``None``: in memory; with ``resume``, reopen one made
        with the same config). Every argument is checked before anything is created.

        The strategy proposes only what the evaluator can evaluate (``Evaluator.domain``: the rows
        of a table of part of the space), so no budget goes to architectures it cannot answer for.
        ``evaluator_spec`` is the JSON description from which ``load`` rebuilds the evaluator
        (``infonas.evaluators.build_evaluator``); without it, ``load`` must be given the evaluator.
        Multi-objective: ``objectives`` (``"acc:max,flops:min"`` or a list) replaces
        ``objective``/``maximize``; objectives that are not evaluator metrics come from
        ``computed`` (an ``ArchitectureCosts``, saved with the run). ``reference_point`` maps each
        objective to the worst value that still counts for the hypervolume (default: the worst
        over the table, or over the space for computed objectives).
        """
        config = study_config(space, evaluator, objective, strategy=strategy, seed=seed, maximize=maximize,
                              batch_size=batch_size, strategy_options=strategy_options, evaluator_spec=evaluator_spec,
                              objectives=objectives, computed=computed, reference_point=reference_point)
        store = InMemoryStore(config) if run_dir is None else RunStore.create(run_dir, config, exist_ok=resume)
        return cls(store, space, evaluator)

    @classmethod
    def load(cls, run_dir: str | Path, evaluator: Evaluator | None = None) -> Study:
        """Reopen a study from its run directory; the surrogate, if any, is refit from the journal."""
        store = RunStore.open(run_dir)
        config = store.config
        if config.get("format_version") != FORMAT_VERSION:
            raise IncompatibleRunError(f"{run_dir}: run format version {config.get('format_version')!r} is not "
                                       f"supported (this infonas reads version {FORMAT_VERSION})")
        space = get_space(config["space"])
        if evaluator is None:
            if config["evaluator"].get("kind") == "custom":
                raise StudyError(f"{run_dir} was created with a custom evaluator: pass it to Study.load(path, evaluator)")
            evaluator = build_evaluator(config["evaluator"], space)
        return cls(store, space, evaluator)

    def _record_finished(self, trial: Trial) -> None:
        self._finished[trial.number] = trial
        self.strategy.observe([trial])

    # ----- ask / tell -----

    @property
    def pending(self) -> list[Trial]:
        """Asked trials without a result, oldest first (in-flight work of a crashed run included)."""
        return [t for n, t in sorted(self._asked.items()) if n not in self._finished]

    def ask(self, n: int = 1) -> list[Trial]:
        """Propose ``n`` new trials (journalled as asked before they are returned).

        Raises ``SpaceExhaustedError`` when the strategy has nothing left to propose.
        """
        if n < 1:
            raise InvalidArgumentError(f"ask needs n >= 1, got {n}")
        start = next_number(self)
        numbers = list(range(start, start + n))
        started = time.perf_counter()
        suggestions = self.strategy.suggest(numbers, pending=_pending_for(self.strategy, self.pending))
        # Sizing the round (``_round_size``) may have run the model step: it counts as suggesting.
        seconds = time.perf_counter() - started + self._sizing_seconds
        self._sizing_seconds = 0.0
        trials = []
        for number, suggestion in zip(numbers, suggestions):
            fidelity = suggestion.fidelity or self.evaluator.target_fidelity
            trial = Trial(number, self.domain.validate(suggestion.arch), fidelity, asked_at=time.time(),
                          suggest_seconds=seconds)
            self.store.append(TrialAsked(number, self.space.format(trial.arch), fidelity, trial.asked_at,
                                         seconds).to_json())
            self._asked[number] = trial
            trials.append(trial)
        return trials

    def tell(self, trial: Trial | int, result: EvaluationResult | dict[str, float]) -> Trial:
        """Record the result of an asked trial (a result object, or a dict of metrics at zero cost)."""
        number = trial.number if isinstance(trial, Trial) else int(trial)
        if number not in self._asked:
            raise StudyError(f"trial {number} was never asked; tell only trials returned by ask()")
        if number in self._finished:
            raise StudyError(f"trial {number} is already finished; each trial is told once")
        if not isinstance(result, EvaluationResult):
            result = EvaluationResult(metrics={k: float(v) for k, v in result.items()}, cost=0.0)
        result = _checked_result(self, number, result)
        finished = self._asked[number].finished(result, time.time())
        self.store.append(TrialFinished(number, finished.status, finished.metrics, finished.cost, finished.error,
                                        finished.finished_at, finished.failure).to_json())
        self._record_finished(finished)
        return finished

    # ----- the loop -----

    def optimize(self, budget: Budget | int | None = None, *, evaluations: int | None = None,
                 cost: float | None = None, seconds: float | None = None, progress: bool = False,
                 callbacks: Sequence[Callable[[Study, Trial], None]] = (), executor: Executor | None = None,
                 queue: int | None = None, retries: RetryPolicy | None = None,
                 failure_limit: FailureRateLimit | None = None) -> Study:
        """Ask, evaluate and tell until the budget is spent; in-flight trials of a crash come first.

        ``budget`` (or ``evaluations``) counts finished trials over the study's whole life;
        ``cost`` likewise sums their costs; ``seconds`` limits this call's wall-clock time.
        ``callbacks`` are called as ``callback(study, trial)`` after each told trial; one may
        call ``study.stop(reason)`` to end the loop there. A search space with nothing left to
        propose also ends it early. ``stop_reason`` says why a loop ended before its budget.

        ``executor`` runs the evaluations (default: ``SerialExecutor``, in this process); an
        asynchronous one (pool, Ray) is kept ``workers + queue`` trials busy, suggesting as soon as
        one finishes (``infonas.search_loop``). Failed trials are retried as ``retries`` allows;
        past ``failure_limit`` the loop raises ``FailureRateExceededError``.
        """
        budget = Budget.coerce(budget, evaluations=evaluations, cost=cost, seconds=seconds)
        # Kept so that `infonas resume` can finish what was asked without being told again.
        self.store.write_snapshot("budget", dataclasses.asdict(budget))
        SearchLoop(self, budget, SerialExecutor() if executor is None else executor, queue=queue,
                   retries=RetryPolicy() if retries is None else retries,
                   failure_limit=FailureRateLimit() if failure_limit is None else failure_limit,
                   callbacks=callbacks).run(progress)
        return self

    def _job(self) -> EvaluationJob:
        return EvaluationJob.of(self.space, self.evaluator, self.store.config.get("evaluator"))

    def attempts(self, trial: Trial) -> int:
        """How many times ``trial``'s evaluation has been tried: 1, plus one per retry before it."""
        count = 1
        while trial.retry_of is not None and trial.retry_of in self._asked:
            trial, count = self._asked[trial.retry_of], count + 1
        return count

    def ask_retry(self, failed: Trial) -> Trial:
        """A new trial evaluating ``failed``'s architecture and fidelity again (journalled ``retry_of`` it)."""
        number = next_number(self)
        trial = Trial(number, failed.arch, failed.fidelity, asked_at=time.time(), suggest_seconds=0.0,
                      retry_of=failed.number)
        self.store.append(TrialAsked(number, self.space.format(trial.arch), trial.fidelity, trial.asked_at, 0.0,
                                     failed.number).to_json())
        self._asked[number] = trial
        return trial

    def stop(self, reason: str = "stopped by a callback") -> None:
        """End the running ``optimize`` loop after the current trial (from a callback)."""
        self.stop_reason = reason

    def saved_budget(self) -> Budget | None:
        """The budget of the last ``optimize`` call, as written in the run directory."""
        saved = self.store.read_snapshot("budget")
        return Budget(**saved) if saved else None

    # ----- results (all derived from the journal) -----

    def spent_cost(self) -> float:
        """The finished trials' costs plus the evaluator's one-off ``setup_cost`` (a supernet's training)."""
        return float(sum(t.cost for t in self._finished.values())) + self.evaluator.setup_cost()

    def finished_trials(self) -> list[Trial]:
        """Finished trials in the order they finished."""
        return list(self._finished.values())

    def best(self, k: int = 1, fidelity: str | None = None) -> list[Trial]:
        """The ``k`` best complete trials at ``fidelity`` (default: the target fidelity)."""
        return best_trials(self.finished_trials(), self.objectives[0], fidelity or self.evaluator.target_fidelity, k)

    def record(self, trial: Trial) -> dict[str, Any]:
        """The JSON record of one trial (``Trial.record``)."""
        return trial.record(self.space.format(trial.arch))

    def trials(self) -> list[dict[str, Any]]:
        """Finished trials as records: number, arch, fidelity, status, values, cost, error, timestamps."""
        return [self.record(t) for t in self.finished_trials()]

    def trials_dataframe(self):
        """Finished trials as a pandas DataFrame, one column per metric (``pip install 'infonas[pandas]'``)."""
        return trials_dataframe(self.trials())

    def history(self) -> list[dict[str, Any]]:
        """After each finished trial: cumulative cost, the incumbent at the target fidelity and,
        for several objectives, the hypervolume of the front so far."""
        if self.is_multi_objective and self.reference_point is None:
            raise StudyError("this study has no reference point (it has a single objective)")
        return history(self.finished_trials(), self.objectives, self.evaluator.target_fidelity,
                       self.reference_point if self.is_multi_objective else None)

    @property
    def is_multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def pareto_front(self) -> list[Trial]:
        """The non-dominated complete trials at the target fidelity, recomputed from the journal."""
        return pareto_front(self.finished_trials(), self.objectives, self.evaluator.target_fidelity)

    def hypervolume(self, trials: Sequence[Trial] | None = None) -> float:
        """Hypervolume of the front of ``trials`` (default: all) above the config's reference point."""
        if self.reference_point is None:
            raise StudyError("this study has no reference point (it has a single objective)")
        trials = self.finished_trials() if trials is None else trials
        return hypervolume_of(trials, self.objectives, self.evaluator.target_fidelity, self.reference_point)

    def front_candidates(self) -> list[Trial]:
        """Complete target-fidelity trials that carry every objective."""
        return front_candidates(self.finished_trials(), self.objectives, self.evaluator.target_fidelity)
