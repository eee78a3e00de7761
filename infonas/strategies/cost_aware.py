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

from infonas.exceptions import SpaceExhaustedError
from infonas.acquisition import PoolPosterior, fidelity_information_gain, max_value_samples
from infonas.acquisition.candidates import candidate_pool
from infonas.surrogates.multi_fidelity import MultiFidelitySurrogate
from infonas.strategies.base import Suggestion
from infonas.strategies.bayesian import BayesianStrategy
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
        options.setdefault("acquisition", "mes")
        super().__init__(space, objective, seed, maximize, n_init=n_init, **options)
        if len(self.fidelities) < 2:
            raise ValueError(f"strategy {self.name!r} needs an evaluator with two or more fidelities; "
                             f"got {[f.name for f in self.fidelities]}")
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
                arch, j = next((a, j) for a, j in scored if a.key not in taken)
                suggestion = Suggestion(arch, self.fidelities[j].name)
            chosen.append(suggestion)
        return chosen

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
        """Every admissible (architecture, fidelity) pair, best information gain per cost first."""
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
        std = moments.variance[target].sqrt()
        observed, observed_fidelity = surrogate.standardised_targets()
        at_target = observed[observed_fidelity == target]
        best = float(at_target.max()) if at_target.numel() else float("-inf")

        def joint(indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return surrogate.target_joint([universe[int(i)] for i in indices])

        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        f_star = max_value_samples(PoolPosterior(moments.mean[target], std, joint), best, generator,
                                   self.num_max_samples)
        costs = self.costs()
        n, num_fidelities = len(universe), len(self.fidelities)
        correlations = torch.stack([
            moments.target_covariance[j] / (std * (moments.variance[j] + moments.noise[j]).sqrt())
            for j in range(num_fidelities)])
        admissible = torch.ones(num_fidelities, n, dtype=torch.bool)
        for j in range(num_fidelities):
            # A pair already evaluated (or an architecture already known at the target) is not
            # worth buying; pending architectures wait for their result.
            done = self.seen_at[target] | taken | (self.seen_at[j] if j != target else set())
            admissible[j] = torch.tensor([a.key not in done for a in universe])
        # The gain grows with |rho| and equals MES at |rho| = 1, so MES / cost bounds every pair's
        # score: the exact (quadrature) gain is needed only for pairs whose bound can still win.
        mes = fidelity_information_gain(moments.mean[target], std, torch.ones(n, dtype=torch.float64), f_star)
        bounds = torch.where(admissible, mes.unsqueeze(0) / costs.unsqueeze(1),
                             torch.tensor(float("-inf"), dtype=torch.float64)).reshape(-1)
        by_bound = torch.argsort(bounds, descending=True, stable=True)
        by_bound = by_bound[bounds[by_bound] > float("-inf")]
        if by_bound.numel() == 0:
            raise SpaceExhaustedError("every architecture has been evaluated at the target fidelity")
        exact = torch.full_like(bounds, float("-inf"))
        count = min(256, by_bound.numel())
        while True:
            chosen = by_bound[:count]
            fidelity_of, arch_of = chosen // n, chosen % n
            gain = fidelity_information_gain(moments.mean[target][arch_of], std[arch_of],
                                             correlations[fidelity_of, arch_of], f_star)
            exact[chosen] = gain / costs[fidelity_of]
            if count == by_bound.numel() or float(exact.max()) >= float(bounds[by_bound[count]]):
                break
            count = min(2 * count, by_bound.numel())
        order = torch.argsort(exact, descending=True, stable=True)
        order = order[exact[order] > float("-inf")]
        ranked = [(universe[int(i) % n], int(i) // n) for i in order]
        return ranked

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
