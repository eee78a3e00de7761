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
from infonas.exceptions import InvalidArgumentError, SpaceExhaustedError, UnsupportedError
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
    architecture is not proposed again at any fidelity, and every pick conditions on the pending
    pairs and the batch's earlier picks by the kriging believer: each counts as observed at the
    posterior mean of its fidelity, hyperparameters kept. ``pending`` items are ``Suggestion``
    (architecture and fidelity) or bare architectures, which, like a suggestion without a
    fidelity, stand for the target fidelity.

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

    def suggest(self, trial_numbers: Sequence[int],
                pending: Sequence[Architecture | Suggestion] = ()) -> list[Suggestion]:
        waiting = [self._pending_pair(item) for item in pending]
        chosen: list[Suggestion] = []
        for number in trial_numbers:
            taken = {arch.key for arch, _ in waiting}
            suggestion = self._initial_design(number, taken)
            if suggestion is None:
                arch, j = self._acquire_pair(number, taken, waiting)
                suggestion = Suggestion(arch, self.fidelities[j].name)
            chosen.append(suggestion)
            waiting.append(self._pending_pair(suggestion))
        return chosen

    def _pending_pair(self, item: Architecture | Suggestion) -> tuple[Architecture, int]:
        """``(architecture, fidelity index)`` of a pending item; a bare architecture is at the target."""
        if not isinstance(item, Suggestion):
            return item, self.target_index
        if item.fidelity is None:
            return item.arch, self.target_index
        if item.fidelity not in self._index:
            raise InvalidArgumentError(f"a pending suggestion names fidelity {item.fidelity!r}, which this "
                                       f"strategy does not know (it knows {list(self._index)}): pass pending "
                                       "trials at the evaluator's fidelities")
        return item.arch, self._index[item.fidelity]

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

    def _acquire_pair(self, number: int, taken: set[str],
                      pending: list[tuple[Architecture, int]]) -> tuple[Architecture, int]:
        """The admissible (architecture, fidelity) pair of most information gain per cost (MF-MES:
        ``infonas.acquisition.multi_fidelity``), the model conditioned on the ``pending`` pairs."""
        rng = self.rng_for(number)
        archs, values, fidelities = self.fidelity_data()
        target = self.target_index
        incumbents = [archs[i] for i in np.argsort(-values, kind="stable")[:5]]
        universe = candidate_pool(self.space, set(), rng, incumbents=incumbents)
        surrogate = MultiFidelitySurrogate(self.space, self.kernel, num_fidelities=len(self.fidelities),
                                           h_values=self.h_values, encoder=self.encoder, maxiter=self.maxiter,
                                           seed=int(rng.integers(2**31)))
        warped = self.warp_per_fidelity(values, fidelities)
        surrogate.fit(archs, warped, fidelities, h=self._mf_wl_iterations(archs, values, fidelities))
        believe_pending(surrogate, archs, warped, fidelities, pending)
        self.surrogate = surrogate
        moments = surrogate.pool_moments(universe)
        observed, observed_fidelity = surrogate.standardised_targets()
        # The incumbent is the best real observation: believed ones follow them in the model's data.
        real = len({(arch.key, int(j)) for arch, j in zip(archs, fidelities)})
        at_target = observed[:real][observed_fidelity[:real] == target]
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
        i, j = ranked[0]
        return universe[i], j

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


def believe_pending(surrogate: MultiFidelitySurrogate, archs: list[Architecture], values: np.ndarray,
                    fidelities: np.ndarray, pending: Sequence[tuple[Architecture, int]]) -> None:
    """Kriging believer over (architecture, fidelity) pairs: ``y_j(x) := E[f_j(x) | data]`` for each
    pending pair not yet observed, then the same hyperparameters conditioned on data and beliefs.

    Believed rows follow the real ones in the refitted model (``deduplicate`` keeps first appearances).
    """
    observed = {(arch.key, int(j)) for arch, j in zip(archs, fidelities)}
    fresh: dict[tuple[str, int], tuple[Architecture, int]] = {}
    for arch, j in pending:
        if (arch.key, j) not in observed:
            fresh.setdefault((arch.key, j), (arch, j))
    if not fresh:
        return
    pairs = list(fresh.values())
    believed = [float(surrogate.predict([arch], fidelity=j).mean[0]) for arch, j in pairs]
    surrogate.refit(archs + [arch for arch, _ in pairs], np.concatenate([values, believed]),
                    np.concatenate([fidelities, [j for _, j in pairs]]).astype(np.int64), maxiter=0)
