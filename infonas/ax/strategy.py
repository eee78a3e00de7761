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

Example:
    >>> from search_spaces import NB201Space
    >>> strategy = AxStrategy(NB201Space(), "acc", seed=0)  # doctest: +SKIP
    >>> [s.arch for s in strategy.suggest([0])]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from infonas.ax.parameters import from_parameterization, parameter_names, require_ax, to_parameterization
from infonas.exceptions import InvalidArgumentError
from infonas.strategies.base import Strategy, Suggestion
from infonas.trials import Trial
from search_spaces.base import Architecture, SearchSpace

__all__ = ["AxStrategy", "ax_client", "quiet_ax"]

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
    ``"ax"`` or the root logger) still receive every record, and Ax warnings still show.
    """
    from ax.utils.common.logger import ROOT_STREAM_HANDLER

    previous = ROOT_STREAM_HANDLER.level
    ROOT_STREAM_HANDLER.setLevel(max(previous, logging.WARNING))
    try:
        yield
    finally:
        ROOT_STREAM_HANDLER.setLevel(previous)


def ax_client(space: SearchSpace, objective: str, maximize: bool, seed: int | None) -> Any:
    """A new Ax ``Client`` over ``space`` (one unordered str choice per position) optimising ``objective``."""
    from ax.api import Client
    from ax.api.configs import ChoiceParameterConfig

    client = Client(random_seed=seed)
    client.configure_experiment(
        parameters=[ChoiceParameterConfig(name=name, values=list(options), parameter_type="str", is_ordered=False)
                    for name, options in zip(parameter_names(space), space.choices)],
        name=f"infonas-{space.name}")
    client.configure_optimization(objective=objective if maximize else f"-{objective}")
    return client


class AxStrategy(Strategy):
    """Ax's generation strategy as an infonas strategy (one objective, the target fidelity).

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
    """

    name = "ax"

    def __init__(self, space: SearchSpace, objective: str, seed: int = 0, maximize: bool = True, *,
                 generation_strategy: str = "default", n_init: int | None = None, max_redraws: int = 10,
                 **context: Any) -> None:
        require_ax(f"strategy {'ax-infonas' if generation_strategy == 'infonas' else 'ax'}")
        super().__init__(space, objective, seed, maximize, **context)
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
        """What Ax is told of a complete target-fidelity trial (its objective), else ``None``."""
        if not trial.is_complete or not self.at_target(trial) or self.objective not in trial.metrics:
            return None
        return {self.objective: float(trial.metrics[self.objective])}

    def _client(self, pending: Sequence[Architecture]) -> tuple[Any, dict[str, dict[str, float] | None]]:
        """A client that has seen the journal; also what each known canonical key is known to be
        (its objective, or ``None`` for failed and pending cells)."""
        client = ax_client(self.space, self.objective, self.maximize, self.seed)
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
