"""Multi-fidelity Bayesian search: which architecture to evaluate, and how cheaply.

Each step fits one GP over (architecture, fidelity) (``MultiFidelitySurrogate``) and picks the
pair maximising information gained about the target fidelity's optimum per unit cost,

    ``alpha(x, j) = I(y_j(x); f*) / cost_j``  (multi-fidelity MES, Takeno et al., ICML 2020),

so cheap evaluations are bought while they still say something about where the optimum is,
and an expensive one once an architecture's cheap result is known (its cheap information is
then spent). Randomness for trial ``n`` comes from ``(seed, n)``, as for every strategy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from infonas.acquisition.candidates import candidate_pool
from infonas.exceptions import SpaceExhaustedError, UnsupportedError
from infonas.strategies.base import Suggestion
from infonas.strategies.bayesian import BayesianStrategy
from infonas.surrogates.multi_fidelity import MultiFidelitySurrogate
from infonas.trials import Trial
from search_spaces.base import Architecture, SearchSpace


class MultiFidelityStrategy(BayesianStrategy):
    """Cost-aware information gain over (architecture, fidelity) pairs (``bo-mf``).

    Args:
        n_init: random architectures evaluated at the cheapest fidelity before the first model.
        n_init_target: then, the best of those by their cheap result are evaluated at the target
            fidelity (the model needs target data to learn how the fidelities correlate).
        num_max_samples: draws of the target optimum ``f*``.
        Other arguments are ``BayesianStrategy``'s (kernel, warp, h_values, maxiter, h_every).

    Costs are the evaluator's fixed costs, or, for a fidelity whose cost is measured per
    evaluation (seconds of training), the mean cost observed at it so far. A pending
    architecture is not proposed again at any fidelity; a batch takes the best ``q`` pairs of
    one acquisition (no fantasies).

    Example:
        >>> from infonas.evaluators.base import Fidelity
        >>> from search_spaces import NB201Space
        >>> fidelities = [Fidelity("valid_12ep", 0.06, 0), Fidelity("test_200ep", 1.0, 1)]
        >>> strategy = MultiFidelityStrategy(NB201Space(), "test_200ep", seed=0, fidelities=fidelities)
        >>> strategy.suggest([0])[0].fidelity
        'valid_12ep'
    """

    name = "bo-mf"
    multi_fidelity = True

    def __init__(self, space: SearchSpace, objective: str, seed: int = 0, maximize: bool = True, *,
                 n_init: int = 10, n_init_target: int = 2, num_max_samples: int = 32, **options: Any) -> None:
        options.setdefault("acquisition", "mf-mes")
        super().__init__(space, objective, seed, maximize, n_init=n_init, **options)
        if len(self.fidelities) < 2:
            raise UnsupportedError(f"strategy {self.name!r} needs an evaluator with two or more fidelities (a cheap "
                                   f"one and the target); got {[f.name for f in self.fidelities]}: give the "
                                   "evaluator a cheap fidelity, or use a single-fidelity strategy such as 'bo-mes'")
        if n_init_target < 1:
            raise ValueError(f"n_init_target must be at least 1, got {n_init_target}")
        self.n_init_target = n_init_target
        self.num_max_samples = num_max_samples
        self._index = {f.name: j for j, f in enumerate(self.fidelities)}
        self.seen_at: list[set[str]] = [set() for _ in self.fidelities]
        self.surrogate: MultiFidelitySurrogate | None = None

    @property
    def target_index(self) -> int:
        return len(self.fidelities) - 1

    def _observe(self, trial: Trial) -> None:
        if trial.fidelity not in self._index:
            raise ValueError(f"trial {trial.number} ran at unknown fidelity {trial.fidelity!r}; "
                             f"this strategy knows {list(self._index)}")
        self.seen_at[self._index[trial.fidelity]].add(trial.arch.key)

    def fidelity_data(self) -> tuple[list[Architecture], np.ndarray, np.ndarray]:
        """Complete trials as (architectures, signed values, fidelity indices), in journal order."""
        archs, values, fidelities = [], [], []
        for trial in self.trials:
            if trial.is_complete and self.objective in trial.metrics:
                archs.append(trial.arch)
                values.append((1.0 if self.maximize else -1.0) * float(trial.metrics[self.objective]))
                fidelities.append(self._index[trial.fidelity])
        return archs, np.asarray(values, dtype=np.float64), np.asarray(fidelities, dtype=np.int64)

    def warp_per_fidelity(self, values: np.ndarray, fidelities: np.ndarray) -> np.ndarray:
        """The target warp applied to each fidelity's values separately (their scales differ)."""
        warped = np.empty_like(values)
        for j in np.unique(fidelities):
            mask = fidelities == j
            warped[mask] = self.warp(values[mask])
        return warped

    def costs(self) -> torch.Tensor:
        """The cost of one evaluation at each fidelity: fixed, or the mean observed so far."""
        costs = []
        for j, fidelity in enumerate(self.fidelities):
            if fidelity.cost is not None:
                costs.append(float(fidelity.cost))
                continue
            observed = [t.cost for t in self.trials if self._index[t.fidelity] == j and t.cost > 0]
            costs.append(float(np.mean(observed)) if observed else 1.0)
        return torch.tensor(costs, dtype=torch.float64)

    def suggest(self, trial_numbers: Sequence[int], pending: Sequence[Architecture] = ()) -> list[Suggestion]:
        pending_keys = {a.key for a in pending}
        chosen: list[Suggestion] = []
        scored: list[tuple[Architecture, int]] | None = None
        for number in trial_numbers:
            taken = pending_keys | {s.arch.key for s in chosen}
            suggestion = self._initial_design(number, taken)
            if suggestion is None:
                if scored is None:
                    scored = self._ranked_pairs(number, taken)
                arch, j = self._best_untaken(scored, taken)
                suggestion = Suggestion(arch, self.fidelities[j].name)
            chosen.append(suggestion)
        return chosen

    def _best_untaken(self, scored: list[tuple[Architecture, int]], taken: set[str]) -> tuple[Architecture, int]:
        for arch, j in scored:
            if arch.key not in taken:
                return arch, j
        raise SpaceExhaustedError(f"a batch of bo-mf takes distinct architectures from one ranking of "
                                  f"{len(scored)} (architecture, fidelity) pairs, and all are taken by the "
                                  f"{len(taken)} pending ones: ask for a smaller batch")

    def _initial_design(self, number: int, taken: set[str]) -> Suggestion | None:
        cheapest, target = 0, self.target_index
        tried = [sum(1 for t in self.trials if self._index[t.fidelity] == j) for j in range(len(self.fidelities))]
        if sum(tried[:target]) < self.n_init:
            arch = self.sample_unseen(self.rng_for(number), self.seen_at[cheapest] | self.seen_at[target] | taken)
            return Suggestion(arch, self.fidelities[cheapest].name)
        if tried[target] < self.n_init_target:
            archs, values, fidelities = self.fidelity_data()
            best_cheap = [archs[i] for i in np.argsort(-np.where(fidelities < target, values, -np.inf), kind="stable")
                          if fidelities[i] < target]
            for arch in best_cheap:
                if arch.key not in self.seen_at[target] and arch.key not in taken:
                    return Suggestion(arch, self.fidelities[target].name)
            arch = self.sample_unseen(self.rng_for(number), self.seen_at[target] | taken)
            return Suggestion(arch, self.fidelities[target].name)
        return None

    def _ranked_pairs(self, number: int, taken: set[str]) -> list[tuple[Architecture, int]]:
        """Admissible (architecture, fidelity) pairs, best information gain per cost first (MF-MES:
        ``infonas.acquisition.multi_fidelity``; only pairs that could win are scored and ranked)."""
        rng = self.rng_for(number)
        archs, values, fidelities = self.fidelity_data()
        target = self.target_index
        incumbents = [archs[i] for i in np.argsort(-values, kind="stable")[:5]]
        universe = candidate_pool(self.space, set(), rng, incumbents=incumbents)
        surrogate = MultiFidelitySurrogate(self.space, self.kernel, num_fidelities=len(self.fidelities),
                                           h_values=self.h_values, encoder=self.encoder, maxiter=self.maxiter,
                                           seed=int(rng.integers(2**31)))
        surrogate.fit(archs, self.warp_per_fidelity(values, fidelities), fidelities,
                      h=self._mf_wl_iterations(archs, values, fidelities))
        self.surrogate = surrogate
        moments = surrogate.pool_moments(universe)
        observed, observed_fidelity = surrogate.standardised_targets()
        at_target = observed[observed_fidelity == target]
        best = float(at_target.max()) if at_target.numel() else float("-inf")

        def joint(indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return surrogate.target_joint([universe[int(i)] for i in indices])

        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        admissible = torch.ones(len(self.fidelities), len(universe), dtype=torch.bool)
        for j in range(len(self.fidelities)):
            # A pair already evaluated (or an architecture already known at the target) is not
            # worth buying; pending architectures wait for their result.
            done = self.seen_at[target] | taken | (self.seen_at[j] if j != target else set())
            admissible[j] = torch.tensor([a.key not in done for a in universe])
        if not bool(admissible.any()):
            raise SpaceExhaustedError(
                f"bo-mf proposes architectures not yet evaluated at the target fidelity; all {len(universe)} "
                f"candidates of {self.space.name!r} are evaluated there or pending ({len(taken)} pending): "
                "stop the search, or search a larger space")
        ranked = self.acquisition(moments, target, joint, best, self.costs(), admissible, generator,
                                  self.num_max_samples)
        return [(universe[i], j) for i, j in ranked]

    def _mf_wl_iterations(self, archs: list[Architecture], values: np.ndarray, fidelities: np.ndarray) -> int | None:
        """``h`` chosen by marginal likelihood on the (raw, then warped) data prefix at schedule points
        of the data count: a function of the journal alone, so a resumed run chooses the same."""
        if len(self.h_values) <= 1:
            return self.h_values[0] if self.h_values else None
        start = self.n_init + self.n_init_target
        point = start + (len(archs) - start) // self.h_every * self.h_every
        if point not in self._h_at:
            prefix = slice(0, point)
            chooser = MultiFidelitySurrogate(self.space, self.kernel, num_fidelities=len(self.fidelities),
                                             h_values=self.h_values, encoder=self.encoder, maxiter=self.maxiter,
                                             seed=int(self.rng_for(point).integers(2**31)))
            prefix_values = self.warp_per_fidelity(values[prefix], fidelities[prefix])
            self._h_at[point] = chooser.fit(archs[prefix], prefix_values, fidelities[prefix]).h
        return self._h_at[point]
