"""The strategy interface shared by baselines and Bayesian strategies: ``suggest`` / ``observe``."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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

    def __init__(self, space: SearchSpace, objective: str, seed: int = 0, maximize: bool = True) -> None:
        self.space = space
        self.objective = objective
        self.seed = int(seed)
        self.maximize = maximize
        self.trials: list[Trial] = []
        self.seen_keys: set[str] = set()

    def rng_for(self, trial_number: int) -> np.random.Generator:
        """The generator for the suggestion of trial ``trial_number``: a function of (seed, number)."""
        return np.random.default_rng([self.seed, int(trial_number)])

    def observe(self, trials: Sequence[Trial]) -> None:
        """Record finished trials (complete, failed or infeasible)."""
        for trial in trials:
            self.trials.append(trial)
            self.seen_keys.add(trial.arch.key)
            self._observe(trial)

    def _observe(self, trial: Trial) -> None:
        """Hook for strategies that keep derived state."""

    def score(self, trial: Trial) -> float | None:
        """The objective of a complete trial, signed so that larger is better; ``None`` otherwise."""
        if not trial.is_complete or self.objective not in trial.metrics:
            return None
        value = float(trial.metrics[self.objective])
        return value if self.maximize else -value

    @abc.abstractmethod
    def suggest(self, trial_numbers: Sequence[int], pending: Sequence[Architecture] = ()) -> list[Suggestion]:
        """One suggestion per trial number in ``trial_numbers`` (a batch of ``len(trial_numbers)``)."""

    def sample_unseen(self, rng: np.random.Generator, exclude: set[str], max_tries: int = 10_000) -> Architecture:
        """A uniformly random architecture whose canonical key is not in ``exclude``."""
        for _ in range(max_tries):
            arch = self.space.sample(rng)
            if arch.key not in exclude:
                return arch
        raise RuntimeError(f"could not find an unevaluated architecture in {max_tries} samples; "
                           "the search space looks exhausted")
