"""What every multi-fidelity strategy shares: fidelity bookkeeping, costs, the initial design,
and rounds of (architecture, fidelity) pairs planned by one model step.

A model step (``_acquire_pairs``, the strategy's own) proposes either up to ``cheap_batch``
cheap pairs, chosen jointly, or one target pair. ``round_size`` tells ``Study.optimize`` how
many trials the next step serves, and ``suggest`` hands them out; the plan is cached under a key
of the journal's state, so the sizing and the suggest after it run one step, and a fresh
strategy given the same trials plans the same (a resumed run proposes what an uninterrupted one
would). The initial design: ``n_init`` cells at the cheapest fidelity (``_cheap_initial``), then
the best of them by their cheap result at the target until ``n_init_target`` target results exist
(the model needs target data to learn how the fidelities correlate). After it, a share
``cheap_random_share`` of the trials are random unseen cells at the cheapest fidelity
(``_interleaved``), as SMAC interleaves random configurations (Hutter et al., LION 2011).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from infonas.exceptions import InvalidArgumentError
from infonas.strategies.base import Suggestion
from infonas.surrogates.multi_fidelity import MultiFidelitySurrogate
from infonas.trials import Trial
from search_spaces.base import Architecture

__all__ = ["FidelityPlanning"]

Pair = tuple[Architecture, int]


class FidelityPlanning:
    """Mixin for multi-fidelity strategies (before their ``Strategy`` base in the class list).

    The strategy sets ``fidelities`` (through its ``BayesianStrategy`` base, with the kernel, warp
    and encoder), ``n_init``, ``n_init_target`` and ``cheap_batch``, calls
    ``_init_fidelity_planning()`` in ``__init__``, and implements ``_modelled_metric()`` and
    ``_acquire_pairs(number, taken, pending)``.
    """

    fidelities: Sequence
    trials: list[Trial]
    n_init: int
    n_init_target: int
    cheap_batch: int
    #: Probability that a trial after the initial design is a random cell at the cheapest fidelity.
    cheap_random_share: float = 0.0

    def _init_fidelity_planning(self) -> None:
        if not 0.0 <= self.cheap_random_share < 1.0:
            raise InvalidArgumentError(f"cheap_random_share is a probability below 1, got {self.cheap_random_share}: "
                                       "give a value in [0, 1), e.g. 0.1")
        self._index = {f.name: j for j, f in enumerate(self.fidelities)}
        self.seen_at: list[set[str]] = [set() for _ in self.fidelities]
        # The last plan, a pure function of the journal: round_size and the suggest after it share it.
        self._plan_cache: tuple[tuple, list[Pair]] | None = None

    @property
    def target_index(self) -> int:
        return len(self.fidelities) - 1

    def _observe(self, trial: Trial) -> None:
        if trial.fidelity not in self._index:
            raise InvalidArgumentError(f"trial {trial.number} ran at fidelity {trial.fidelity!r}, which this strategy "
                                       f"does not know (it knows {list(self._index)}): observe trials at the "
                                       "evaluator's fidelities")
        self.seen_at[self._index[trial.fidelity]].add(trial.arch.key)

    def _modelled_metric(self) -> tuple[str, float]:
        """The metric the GP models and its sign (+1 when larger is better)."""
        raise NotImplementedError

    def fidelity_data(self) -> tuple[list[Architecture], np.ndarray, np.ndarray]:
        """Complete trials as (architectures, signed modelled values, fidelity indices), in journal order."""
        name, sign = self._modelled_metric()
        archs, values, fidelities = [], [], []
        for trial in self.trials:
            if trial.is_complete and name in trial.metrics:
                archs.append(trial.arch)
                values.append(sign * float(trial.metrics[name]))
                fidelities.append(self._index[trial.fidelity])
        return archs, np.asarray(values, dtype=np.float64), np.asarray(fidelities, dtype=np.int64)

    def warp_per_fidelity(self, values: np.ndarray, fidelities: np.ndarray) -> np.ndarray:
        """The target warp applied to each fidelity's values separately (their scales differ)."""
        warped = np.empty_like(values)
        for j in np.unique(fidelities):
            mask = fidelities == j
            warped[mask] = self.warp(values[mask])  # type: ignore[attr-defined]
        return warped

    def _new_surrogate(self, seed: int) -> MultiFidelitySurrogate:
        """An unfitted GP over (architecture, fidelity) with the strategy's kernel and encoder."""
        return MultiFidelitySurrogate(self.space, self.kernel, num_fidelities=len(self.fidelities),  # type: ignore[attr-defined]
                                      h_values=self.h_values, encoder=self.encoder,  # type: ignore[attr-defined]
                                      maxiter=self.maxiter, seed=seed)  # type: ignore[attr-defined]

    def _acquire_pairs(self, number: int, taken: set[str], pending: list[Pair]) -> list[Pair]:
        raise NotImplementedError

    def _cheap_initial(self, number: int, exclude: set[str]) -> Architecture:
        """A cell of the cheap initial design (default: uniformly random, unseen)."""
        return self.sample_unseen(self.rng_for(number), exclude)  # type: ignore[attr-defined]

    def costs(self) -> torch.Tensor:
        """The cost of one evaluation at each fidelity: fixed, or the mean observed so far (1 before any)."""
        costs = []
        for j, fidelity in enumerate(self.fidelities):
            if fidelity.cost is not None:
                costs.append(float(fidelity.cost))
                continue
            observed = [t.cost for t in self.trials if self._index[t.fidelity] == j and t.cost > 0]
            costs.append(float(np.mean(observed)) if observed else 1.0)
        return torch.tensor(costs, dtype=torch.float64)

    def round_size(self, requested: int, next_number: int) -> int:
        """``requested``, or the size of the cheap batch the next model step proposes, if larger."""
        if (self.cheap_batch == 1 or self._initial_design(next_number, set()) is not None
                or self._interleaved(next_number)):
            return requested
        return max(requested, len(self._plan(next_number, set(), [])))

    def suggest(self, trial_numbers: Sequence[int],
                pending: Sequence[Architecture | Suggestion] = ()) -> list[Suggestion]:
        waiting = [self._pending_pair(item) for item in pending]
        chosen: list[Suggestion] = []
        while len(chosen) < len(trial_numbers):
            number = trial_numbers[len(chosen)]
            taken = {arch.key for arch, _ in waiting}
            suggestion = self._initial_design(number, taken)
            if suggestion is None and self._interleaved(number):
                exclude = self.seen_at[0] | self.seen_at[self.target_index] | taken
                suggestion = Suggestion(self.sample_unseen(self._interleave_rng(number), exclude),  # type: ignore[attr-defined]
                                        self.fidelities[0].name)
            plan = ([(suggestion.arch, self._index[suggestion.fidelity])] if suggestion is not None
                    else self._plan(number, taken, waiting))
            for arch, j in plan[: len(trial_numbers) - len(chosen)]:
                chosen.append(Suggestion(arch, self.fidelities[j].name))
                waiting.append((arch, j))
        return chosen

    def _pending_pair(self, item: Architecture | Suggestion) -> Pair:
        """``(architecture, fidelity index)`` of a pending item; a bare architecture is at the target."""
        if not isinstance(item, Suggestion) or item.fidelity is None:
            return (item.arch if isinstance(item, Suggestion) else item), self.target_index
        if item.fidelity not in self._index:
            raise InvalidArgumentError(f"a pending suggestion names fidelity {item.fidelity!r}, which this strategy "
                                       f"does not know (it knows {list(self._index)}): pass pending trials at the "
                                       "evaluator's fidelities")
        return item.arch, self._index[item.fidelity]

    def _interleave_rng(self, number: int) -> np.random.Generator:
        # A stream of its own: the model step of the same trial draws from ``rng_for(number)``.
        return np.random.default_rng([self.seed, int(number), 24681])  # type: ignore[attr-defined]

    def _interleaved(self, number: int) -> bool:
        """Whether trial ``number``, when past the initial design, is a random unseen cell at the
        cheapest fidelity instead of a model step (probability ``cheap_random_share``, a function
        of the seed and the number, so a resumed run draws the same).

        Why: the model is misspecified, and a cheap look is nearly free. On NB201 the additive
        kernel learns "skip on edge 0->3 is bad" from two or three bad cells that happen to have
        it, and a pure model step then rarely looks there again (at 0.06 a look, four seeds of 20
        paid 18-58 to the optimum). Random cells keep every main effect witnessed.
        """
        return self.cheap_random_share > 0 and bool(self._interleave_rng(number).random() < self.cheap_random_share)

    def _initial_design(self, number: int, taken: set[str]) -> Suggestion | None:
        target = self.target_index
        tried = [sum(1 for t in self.trials if self._index[t.fidelity] == j) for j in range(len(self.fidelities))]
        if sum(tried[:target]) < self.n_init:
            arch = self._cheap_initial(number, self.seen_at[0] | self.seen_at[target] | taken)
            return Suggestion(arch, self.fidelities[0].name)
        if tried[target] >= self.n_init_target:
            return None
        archs, values, fidelities = self.fidelity_data()
        for i in np.argsort(-np.where(fidelities < target, values, -np.inf), kind="stable"):
            if fidelities[i] < target and archs[i].key not in self.seen_at[target] | taken:
                return Suggestion(archs[i], self.fidelities[target].name)
        arch = self.sample_unseen(self.rng_for(number), self.seen_at[target] | taken)  # type: ignore[attr-defined]
        return Suggestion(arch, self.fidelities[target].name)

    def _plan(self, number: int, taken: set[str], pending: list[Pair]) -> list[Pair]:
        """The model step of trial ``number``: up to ``cheap_batch`` cheap pairs or one target pair,
        the model conditioned on the ``pending`` pairs. Cached, so that ``round_size`` and the
        ``suggest`` after it run one step."""
        key = (number, len(self.trials), tuple(sorted(taken)), tuple((arch.key, j) for arch, j in pending))
        if self._plan_cache is None or self._plan_cache[0] != key:
            self._plan_cache = (key, self._acquire_pairs(number, taken, pending))
        return list(self._plan_cache[1])
