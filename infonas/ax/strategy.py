"""Ax (``ax-platform``) as an infonas strategy: ``"ax"`` (Ax's default generation strategy) and
``"ax-infonas"`` (Ax driving the infonas GP, ``infonas.ax.generator``).

One step: a fresh Ax ``Client`` (seeded with the strategy's seed) replays the journal (every
finished target-fidelity trial attached and completed or marked failed, every pending one attached
and left running), then ``get_next_trials`` proposes the batch. A proposal whose canonical key is
already evaluated, pending or chosen in this batch is a twin of a known cell (Ax deduplicates
parameterisations, infonas canonical cells): it is told to Ax (see ``_reject``) and Ax asks again,
``max_redraws`` times at most, after which an unseen cell drawn from ``rng_for(n)`` fills the slot.

Why a client per step instead of one kept across steps: Ax keeps state outside the data (its Sobol
position, the twins it was told about), which a resumed run could not rebuild from the journal; a
client rebuilt from the journal at every step is the same in an uninterrupted and a resumed run,
so the strategy contract (``infonas.strategies.base``) holds exactly. Replaying n trials costs
milliseconds per trial, little beside Ax's model fit. Ax's Sobol design stays a Sobol design: the
rebuilt Sobol generator restarts at its first point, and Ax's deduplication against the replayed
arms skips the points already used.

Several objectives (``bench pareto``): Ax optimises ``"acc, -flops"`` (its multi-objective string,
minimised ones signed ``-``), and every replayed trial is completed with all of them: measured ones
from the trial's metrics, computed ones (FLOPs, params: ``computed``) from the architecture,
exactly. Ax's models then fit one GP per objective (computed ones included: Ax has no notion of an
exactly known outcome) and its BoTorch step uses qLogNEHVI, with objective thresholds Ax infers
from the data, as ``bo-ehvi`` infers its reference point (no strategy is given the study's).
``ax-infonas`` fits one infonas GP per objective likewise (a ``ModelListGP``, ``infonas.ax.generator``).

Example:
    >>> from search_spaces import NB201Space
    >>> strategy = AxStrategy(NB201Space(), "acc", seed=0)  # doctest: +SKIP
    >>> [s.arch for s in strategy.suggest([0])]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from infonas.ax.parameters import from_parameterization, parameter_names, require_ax, to_parameterization
from infonas.exceptions import InvalidArgumentError, UnsupportedError
from infonas.objectives import Objective
from infonas.strategies.base import Strategy, Suggestion
from infonas.trials import Trial
from search_spaces.base import Architecture, SearchSpace

__all__ = ["AxStrategy", "ax_client", "objective_string", "quiet_ax"]

logger = logging.getLogger(__name__)

#: Generation strategies a strategy can use: Ax's default, or Ax driving the infonas GP.
GENERATION_STRATEGIES = ("default", "infonas")
#: Ax generator keys of design (model-free) generators; any other generator fitted a model.
_DESIGN_GENERATORS = frozenset({"Sobol", "Fallback_Sobol", "Uniform", "Factorial", "CenterOfSearchSpace"})


@contextlib.contextmanager
def quiet_ax() -> Iterator[None]:
    """Ax's own stderr handler shows warnings only while the block runs.

    Ax attaches a stream handler at INFO to its ``"ax"`` logger on import and logs a line per
    trial generated, completed or attached; a search of hundreds of trials would drown the
    progress bar. Only that handler is raised, and only for the block: a user's own handlers (on
    ``"ax"`` or the root logger) still receive every record, and Ax warnings still show, except
    two that a Pareto search would repeat at every model step and no user can act on: Ax's advice
    to give objective thresholds (left to Ax to infer, as the module docstring says) and a torch
    copy-construct warning raised by Ax's own multi-objective code.
    """
    from ax.utils.common.logger import ROOT_STREAM_HANDLER

    previous = ROOT_STREAM_HANDLER.level
    ROOT_STREAM_HANDLER.setLevel(max(previous, logging.WARNING))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Encountered a `MultiObjective` without objective thresholds")
            warnings.filterwarnings("ignore", message="To copy construct from a tensor", module=r"ax\.")
            yield
    finally:
        ROOT_STREAM_HANDLER.setLevel(previous)


def objective_string(objectives: Sequence[Objective]) -> str:
    """Ax's objective string: names joined by ``", "``, a minimised one signed ``-``.

    Example:
        >>> objective_string([Objective("acc"), Objective("flops", maximize=False)])
        'acc, -flops'
    """
    return ", ".join(o.name if o.maximize else f"-{o.name}" for o in objectives)


def ax_client(space: SearchSpace, objective: str, maximize: bool, seed: int | None,
              objectives: Sequence[Objective] | None = None) -> Any:
    """A new Ax ``Client`` over ``space`` (one unordered str choice per position) optimising
    ``objective``, or the Pareto front of ``objectives`` when given (``objective_string``)."""
    from ax.api import Client
    from ax.api.configs import ChoiceParameterConfig

    client = Client(random_seed=seed)
    client.configure_experiment(
        parameters=[ChoiceParameterConfig(name=name, values=list(options), parameter_type="str", is_ordered=False)
                    for name, options in zip(parameter_names(space), space.choices)],
        name=f"infonas-{space.name}")
    client.configure_optimization(objective=objective_string(objectives or [Objective(objective, maximize)]))
    return client


class AxStrategy(Strategy):
    """Ax's generation strategy as an infonas strategy (one objective or a Pareto front of
    several, at the target fidelity).

    Args:
        generation_strategy: ``"default"`` (Ax's choice for the experiment: a centre point and Sobol
            points, then BoTorch; ``allow_exceeding_initialization_budget`` is set so that a batch
            or many pending trials in the design phase get more Sobol points instead of none) or
            ``"infonas"`` (``infonas.ax.generator.infonas_generation_strategy``).
        n_init: trials of the initial design (Ax's default, 5, when ``None``).
        max_redraws: new Ax proposals per batch after twins of known cells, before an unseen cell
            drawn from ``rng_for(n)`` fills a slot.

    ``surrogate`` is the Ax ``GeneratorRun`` of the last model-based proposal (one from a fitted
    model, not from Ax's centre, Sobol or fallback-Sobol generators), a new object per such step.
    ``multi_objective`` is an instance's: ``True`` when it is given several objectives (the class
    says ``False``, so that callers asking the class, ``bench scaling``, run it on one objective).
    """

    name = "ax"

    def __init__(self, space: SearchSpace, objective: str, seed: int = 0, maximize: bool = True, *,
                 generation_strategy: str = "default", n_init: int | None = None, max_redraws: int = 10,
                 **context: Any) -> None:
        require_ax(f"strategy {'ax-infonas' if generation_strategy == 'infonas' else 'ax'}")
        # Before the base class checks it: one Ax experiment optimises one objective or several.
        self.multi_objective = len(context.get("objectives") or ()) > 1
        super().__init__(space, objective, seed, maximize, **context)
        computed = set(self.computed.names) if self.computed is not None else set()
        #: The objectives read from the architecture (``computed``), not from the trial's metrics.
        self.computed_objectives = frozenset(o.name for o in self.objectives if o.name in computed)
        if self.multi_objective and len(self.computed_objectives) == len(self.objectives):
            raise UnsupportedError(f"strategy {self.name!r} searches for a Pareto front of measured objectives; every "
                                   f"one of {[o.name for o in self.objectives]} is computed from the architecture, "
                                   "so there is nothing to learn: rank the cells directly instead of searching")
        if generation_strategy not in GENERATION_STRATEGIES:
            raise InvalidArgumentError(f"generation_strategy must be one of {GENERATION_STRATEGIES}, "
                                       f"got {generation_strategy!r}")
        if n_init is not None and n_init < 1:
            raise InvalidArgumentError(f"n_init must be at least 1 (or None for Ax's default), got {n_init}")
        if max_redraws < 0:
            raise InvalidArgumentError(f"max_redraws must be at least 0, got {max_redraws}")
        self.generation_strategy = generation_strategy
        self.n_init = n_init
        self.max_redraws = max_redraws
        self.surrogate: Any = None  # the last model-based GeneratorRun, for StepRecorder
        self.last_generators: list[str | None] = []  # the Ax generator of each suggestion of the last batch

    def _values(self, trial: Trial) -> dict[str, float] | None:
        """What Ax is told of a complete target-fidelity trial (every objective: a measured one
        from its metrics, a computed one from its architecture), else ``None``."""
        measured = [o.name for o in self.objectives if o.name not in self.computed_objectives]
        if not trial.is_complete or not self.at_target(trial) or any(n not in trial.metrics for n in measured):
            return None
        values = {name: float(trial.metrics[name]) for name in measured}
        for name in self.computed_objectives:  # exact, whether or not the trial's metrics hold it too
            values[name] = float(self.computed.values([trial.arch], name)[0])
        return {o.name: values[o.name] for o in self.objectives}

    def _client(self, pending: Sequence[Architecture]) -> tuple[Any, dict[str, dict[str, float] | None]]:
        """A client that has seen the journal; also what each known canonical key is known to be
        (its objectives, or ``None`` for failed and pending cells)."""
        client = ax_client(self.space, self.objective, self.maximize, self.seed, self.objectives)
        generation_strategy = self._generation_strategy()
        client.set_generation_strategy(generation_strategy)
        known: dict[str, dict[str, float] | None] = {}
        for trial in self.trials:
            if not self.at_target(trial):
                continue  # Ax optimises the target fidelity; cheap looks are no data for it
            index = client.attach_trial(parameters=to_parameterization(self.space, trial.arch))
            values = self._values(trial)
            if values is None:
                client.mark_trial_failed(index, failed_reason=trial.error or trial.status.value)
            else:
                client.complete_trial(index, raw_data=values)
            if known.get(trial.arch.key) is None:  # a value, once known, is what a twin is told
                known[trial.arch.key] = values
        for arch in pending:
            client.attach_trial(parameters=to_parameterization(self.space, arch))  # left running: pending
            known.setdefault(arch.key, None)
        # A generation strategy moves at most one node per gen, so a new one over a replayed
        # journal would take a Sobol step before its model step, at every step; this moves it
        # as far as the journal allows (Ax's "safe" check of how much it can generate).
        generation_strategy.current_generator_run_limit()
        return client, known

    def _generation_strategy(self) -> Any:
        """A new Ax generation strategy: Ax's default for this experiment, or the infonas GP's."""
        if self.generation_strategy == "infonas":
            from infonas.ax.generator import infonas_generation_strategy

            return infonas_generation_strategy(self.space, self.seed,
                                               **({} if self.n_init is None else {"n_init": self.n_init}))
        from ax.api.utils.generation_strategy_dispatch import choose_generation_strategy
        from ax.api.utils.structs import GenerationStrategyDispatchStruct

        # What Client.configure_generation_strategy() chooses, seeded, and allowed to exceed the
        # design budget while too few trials are complete (a batch in the design phase).
        return choose_generation_strategy(GenerationStrategyDispatchStruct(
            initialization_budget=self.n_init, initialization_random_seed=self.seed,
            allow_exceeding_initialization_budget=True))

    def _reject(self, client: Any, index: int, values: dict[str, float] | None) -> None:
        """Tell Ax about a proposal that is a twin of a known cell.

        A twin of an evaluated cell is completed with that cell's value: canonically equal cells
        are one network, so this is what its evaluation would return, and Ax's model learns it
        (abandoning it would teach nothing, and the model would keep proposing the region). A
        twin of a pending or failed cell is abandoned: there is no value to tell, and an abandoned
        arm is never proposed again (a failed one may be).
        """
        if values is None:
            client.mark_trial_abandoned(index)
        else:
            client.complete_trial(index, raw_data=values)

    def suggest(self, trial_numbers: Sequence[int], pending: Sequence[Architecture] = ()) -> list[Suggestion]:
        with quiet_ax():
            client, known = self._client(pending)
            experiment = client._experiment  # the Client API names no trial's generator: read it here
            chosen: list[Architecture] = []
            generators: list[str | None] = []
            redraws = 0
            while len(chosen) < len(trial_numbers) and redraws <= self.max_redraws:
                proposals = client.get_next_trials(max_trials=len(trial_numbers) - len(chosen))
                if not proposals:
                    break
                for index, parameters in sorted(proposals.items()):
                    arch = from_parameterization(self.space, parameters)
                    if arch.key in known:
                        self._reject(client, index, known[arch.key])
                        continue
                    known[arch.key] = None  # pending from now on: no twin of it in this batch
                    chosen.append(arch)
                    generator_run = experiment.trials[index].generator_runs[0]
                    generators.append(generator_run._generator_key)
                    if generator_run._generator_key not in _DESIGN_GENERATORS:
                        self.surrogate = generator_run
                if len(chosen) < len(trial_numbers):
                    redraws += 1
        for number in trial_numbers[len(chosen):]:
            logger.warning("Ax's proposals were twins of known cells in %d rounds; trial %d takes an unseen cell "
                           "drawn at random", self.max_redraws + 1, number)
            arch = self.sample_unseen(self.rng_for(number), set(known))
            known[arch.key] = None
            chosen.append(arch)
            generators.append(None)
        self.last_generators = generators
        return [Suggestion(arch) for arch in chosen]
