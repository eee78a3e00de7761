"""The strategy interface shared by baselines and Bayesian strategies: ``suggest`` / ``observe``."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from infonas.evaluators.base import Fidelity
from infonas.exceptions import SpaceExhaustedError
from infonas.objectives import ComputedMetrics, Objective
from infonas.trials import Trial
from search_spaces.base import Architecture, SearchSpace


@dataclass(frozen=True)
class Suggestion:
    """An architecture to evaluate and the fidelity to evaluate it at (``None``: the target)."""

    arch: Architecture
    fidelity: str | None = None


class Strategy(abc.ABC):
    """Proposes architectures and learns from finished trials.

    Contract (what makes runs reproducible and resumable):
    - all state is rebuilt from the trials passed to ``observe``, in order;
    - the randomness of a suggestion for trial number ``n`` comes from ``rng_for(n)``, derived
      from ``(seed, n)``, so a resumed strategy proposes exactly what an uninterrupted one would;
    - ``pending`` architectures (asked, not yet told) are never proposed again.
    """

    name: str = "strategy"
    #: Whether the strategy searches for a Pareto front of several objectives.
    multi_objective: bool = False
    #: Whether the strategy chooses fidelities itself (else it always asks for the target one).
    multi_fidelity: bool = False

    def __init__(self, space: SearchSpace, objective: str, seed: int = 0, maximize: bool = True, *,
                 objectives: Sequence[Objective] | None = None, computed: ComputedMetrics | None = None,
                 fidelities: Sequence[Fidelity] | None = None) -> None:
        """``objective``/``maximize`` name the (first) objective; ``objectives`` lists all of them
        for multi-objective strategies; ``computed`` gives the objectives known from the
        architecture alone; ``fidelities`` are the evaluator's, cheapest first, target last."""
        self.space = space
        self.objective = objective
        self.seed = int(seed)
        self.maximize = maximize
        self.objectives: tuple[Objective, ...] = tuple(objectives) if objectives else (Objective(objective, maximize),)
        if self.objectives[0] != Objective(objective, maximize):
            raise ValueError(f"the first objective {self.objectives[0]} disagrees with objective={objective!r}, "
                             f"maximize={maximize}")
        if len(self.objectives) > 1 and not self.multi_objective:
            raise ValueError(f"strategy {self.name!r} optimises one objective; got {[str(o) for o in self.objectives]}")
        self.computed = computed
        self.fidelities: tuple[Fidelity, ...] = tuple(sorted(fidelities or (), key=lambda f: f.level))
        self.trials: list[Trial] = []
        self.seen_keys: set[str] = set()

    @property
    def target_fidelity(self) -> str | None:
        """The fidelity searches optimise for (``None`` when the strategy was given no fidelities)."""
        return self.fidelities[-1].name if self.fidelities else None

    def at_target(self, trial: Trial) -> bool:
        """Whether ``trial`` ran at the target fidelity (every trial does when fidelities are unknown)."""
        return self.target_fidelity is None or trial.fidelity == self.target_fidelity

    def rng_for(self, trial_number: int) -> np.random.Generator:
        """The generator for the suggestion of trial ``trial_number``: a function of (seed, number)."""
        return np.random.default_rng([self.seed, int(trial_number)])

    def observe(self, trials: Sequence[Trial]) -> None:
        """Record finished trials (complete, failed or infeasible).

        ``seen_keys`` holds the canonical keys evaluated at the target fidelity: a cheap look at
        an architecture does not stop it from being evaluated properly later.
        """
        for trial in trials:
            self.trials.append(trial)
            if self.at_target(trial):
                self.seen_keys.add(trial.arch.key)
            self._observe(trial)

    def _observe(self, trial: Trial) -> None:
        """Hook for strategies that keep derived state."""

    def score(self, trial: Trial) -> float | None:
        """The objective of a complete target-fidelity trial, signed so that larger is better; else ``None``."""
        if not trial.is_complete or self.objective not in trial.metrics or not self.at_target(trial):
            return None
        value = float(trial.metrics[self.objective])
        return value if self.maximize else -value

    def round_size(self, requested: int, next_number: int) -> int:
        """How many trials the next round should ask, ``requested`` by the study's batch size;
        trial ``next_number`` comes first. ``Study.optimize`` asks before each ``ask``, so a
        strategy whose one model step serves several evaluations can ask for them all. A function
        of the observed trials alone (a resumed run asks the same rounds); the budget may cut it.
        """
        return requested

    @abc.abstractmethod
    def suggest(self, trial_numbers: Sequence[int], pending: Sequence[Architecture] = ()) -> list[Suggestion]:
        """One suggestion per trial number in ``trial_numbers`` (a batch of ``len(trial_numbers)``)."""

    def sample_unseen(self, rng: np.random.Generator, exclude: set[str], max_tries: int = 10_000) -> Architecture:
        """A uniformly random architecture whose canonical key is not in ``exclude``."""
        for _ in range(max_tries):
            arch = self.space.sample(rng)
            if arch.key not in exclude:
                return arch
        raise SpaceExhaustedError(f"{max_tries} random samples found no architecture outside the {len(exclude)} "
                                  f"evaluated or pending canonical keys (the space has {self.space.size} "
                                  "architectures): it looks exhausted; stop, or search a larger space")
