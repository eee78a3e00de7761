"""Multi-fidelity Pareto search: information about the front per unit cost, over (architecture, fidelity).

``bo-mf-pareto`` joins ``bo-mf`` and ``bo-mesmo``: one GP over (architecture, fidelity)
(``MultiFidelitySurrogate``) models the measured objective, the computed ones (FLOPs, params)
enter exactly, and each step picks the pair maximising

    ``alpha(x, j) = E_s[ I(y_j(x); f_target(x) <= y*_s(x)) ] / cost_j``

(``infonas.acquisition.mf_pareto``): PFES's per-candidate cap ``y*_s(x)`` of a front sample in
place of MF-MES's ``f*``. The candidates are screened as bo-mesmo's are (``screen_for_front`` on
the target's posterior), pending pairs are believed (``believe_pending``), and the initial design
is bo-mf's: random cells at the cheapest fidelity, then the best of them at the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from infonas.acquisition.candidates import candidate_pool
from infonas.acquisition.mf_pareto import fidelity_correlations
from infonas.acquisition.pareto import screen_for_front
from infonas.exceptions import InvalidArgumentError, SpaceExhaustedError, UnsupportedError
from infonas.strategies.base import Suggestion
from infonas.strategies.cost_aware import believe_pending
from infonas.strategies.multi_objective import ParetoStrategy
from infonas.surrogates.base import uses_wl
from infonas.surrogates.multi_fidelity import MultiFidelitySurrogate
from infonas.trials import Trial
from search_spaces.base import Architecture, SearchSpace


def _modelled_names(objective: str, objectives: Sequence[Any] | None, computed: Any) -> list[str]:
    """The objectives a model must learn: those not computed from the architecture."""
    names = [o.name for o in objectives] if objectives else [objective]
    computed_names = set(computed.names) if computed is not None else set()
    return [name for name in names if name not in computed_names]


class MultiFidelityParetoStrategy(ParetoStrategy):
    """Information about the Pareto front per unit cost over (architecture, fidelity) pairs (``bo-mf-pareto``).

    Args:
        n_init: random architectures evaluated at the cheapest fidelity before the first model.
        n_init_target: then, the best of those by their cheap result are evaluated at the target.
        screen: how many candidates reach the acquisition (``screen_for_front``); ``None``: all.
        num_samples: front samples.
        Other arguments are ``BayesianStrategy``'s (kernel, warp, h_values, maxiter, h_every).

    Costs are the evaluator's fixed ones, or the mean observed at a fidelity whose cost is
    measured per evaluation. A pending architecture is not proposed again at any fidelity; a
    bare architecture in ``pending``, like a suggestion without a fidelity, is at the target.

    Example:
        >>> from infonas.evaluators.base import Fidelity
        >>> from search_spaces import NB201Space
        >>> fidelities = [Fidelity("valid_12ep", 0.06, 0), Fidelity("test_200ep", 1.0, 1)]
        >>> strategy = MultiFidelityParetoStrategy(NB201Space(), "test_200ep", fidelities=fidelities)
        >>> strategy.suggest([0])[0].fidelity
        'valid_12ep'
    """

    name = "bo-mf-pareto"
    multi_objective = True
    multi_fidelity = True

    def __init__(self, space: SearchSpace, objective: str, seed: int = 0, maximize: bool = True, *,
                 n_init: int = 10, n_init_target: int = 2, screen: int | None = 300, num_samples: int = 64,
                 **options: Any) -> None:
        fidelities = options.get("fidelities") or ()
        if len(fidelities) < 2:
            raise UnsupportedError(f"strategy {self.name!r} needs an evaluator with two or more fidelities (a cheap one "
                                   f"and the target); got {[f.name for f in fidelities]}: give the evaluator a cheap "
                                   "fidelity (a table's cheap column), or use 'bo-mesmo' at one fidelity")
        modelled = _modelled_names(objective, options.get("objectives"), options.get("computed"))
        if len(modelled) != 1:
            raise UnsupportedError(f"strategy {self.name!r} models exactly one measured objective (the others "
                                   f"computed from the architecture); got measured {modelled}: make the others "
                                   "computed metrics, or use 'bo-ehvi' at one fidelity")
        if n_init_target < 1:
            raise InvalidArgumentError(f"n_init_target must be at least 1 (the model learns how the fidelities "
                                       f"correlate from target data), got {n_init_target}: use 1 or more")
        super().__init__(space, objective, seed, maximize, acquisition="mf-pfes", n_init=n_init, screen=screen,
                         num_samples=num_samples, **options)
        self.n_init_target = n_init_target
        self._index = {f.name: j for j, f in enumerate(self.fidelities)}
        self.seen_at: list[set[str]] = [set() for _ in self.fidelities]
        self.surrogate: MultiFidelitySurrogate | None = None

    @property
    def target_index(self) -> int:
        return len(self.fidelities) - 1

    def _observe(self, trial: Trial) -> None:
        if trial.fidelity not in self._index:
            raise InvalidArgumentError(f"trial {trial.number} ran at fidelity {trial.fidelity!r}, which this strategy "
                                       f"does not know (it knows {list(self._index)}): observe trials at the "
                                       "evaluator's fidelities")
        self.seen_at[self._index[trial.fidelity]].add(trial.arch.key)

    def fidelity_data(self) -> tuple[list[Architecture], np.ndarray, np.ndarray]:
        """Complete trials as (architectures, signed modelled values, fidelity indices), in journal order."""
        modelled = self.modelled[0]
        archs, values, fidelities = [], [], []
        for trial in self.trials:
            if trial.is_complete and modelled.name in trial.metrics:
                archs.append(trial.arch)
                values.append(modelled.sign * float(trial.metrics[modelled.name]))
                fidelities.append(self._index[trial.fidelity])
        return archs, np.asarray(values, dtype=np.float64), np.asarray(fidelities, dtype=np.int64)

    def costs(self) -> torch.Tensor:
        """The cost of one evaluation at each fidelity: fixed, or the mean observed so far (1 before any)."""
        costs = []
        for j, fidelity in enumerate(self.fidelities):
            observed = [t.cost for t in self.trials if self._index[t.fidelity] == j and t.cost > 0]
            fixed = fidelity.cost is not None
            costs.append(float(fidelity.cost) if fixed else float(np.mean(observed)) if observed else 1.0)
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
        if not isinstance(item, Suggestion) or item.fidelity is None:
            return (item.arch if isinstance(item, Suggestion) else item), self.target_index
        if item.fidelity not in self._index:
            raise InvalidArgumentError(f"a pending suggestion names fidelity {item.fidelity!r}, which this strategy "
                                       f"does not know (it knows {list(self._index)}): pass pending trials at the "
                                       "evaluator's fidelities")
        return item.arch, self._index[item.fidelity]

    def _initial_design(self, number: int, taken: set[str]) -> Suggestion | None:
        target = self.target_index
        tried = [sum(1 for t in self.trials if self._index[t.fidelity] == j) for j in range(len(self.fidelities))]
        if sum(tried[:target]) < self.n_init:
            arch = self.sample_unseen(self.rng_for(number), self.seen_at[0] | self.seen_at[target] | taken)
            return Suggestion(arch, self.fidelities[0].name)
        if tried[target] >= self.n_init_target:
            return None
        archs, values, fidelities = self.fidelity_data()
        for i in np.argsort(-np.where(fidelities < target, values, -np.inf), kind="stable"):
            if fidelities[i] < target and archs[i].key not in self.seen_at[target] | taken:
                return Suggestion(archs[i], self.fidelities[target].name)
        return Suggestion(self.sample_unseen(self.rng_for(number), self.seen_at[target] | taken),
                          self.fidelities[target].name)

    def _acquire_pair(self, number: int, taken: set[str],
                      pending: list[tuple[Architecture, int]]) -> tuple[Architecture, int]:
        rng = self.rng_for(number)
        archs, values, fidelities = self.fidelity_data()
        target = self.target_index
        incumbents = [archs[i] for i in np.argsort(-values, kind="stable")[:5]]
        # Architectures seen only cheaply stay candidates: their target value is still unknown.
        pool = candidate_pool(self.space, self.seen_at[target] | taken, rng, incumbents=incumbents)
        if not pool:
            raise SpaceExhaustedError(
                f"{self.name} proposes architectures not yet evaluated at the target fidelity; every candidate of "
                f"{self.space.name!r} is evaluated there or pending ({len(taken)} pending): stop the search, "
                "or search a larger space")
        surrogate = MultiFidelitySurrogate(self.space, self.kernel, num_fidelities=len(self.fidelities),
                                           h_values=self.h_values, encoder=self.encoder, maxiter=self.maxiter,
                                           seed=int(rng.integers(2**31)))
        warped = self._warp_per_fidelity(values, fidelities)
        surrogate.fit(archs, warped, fidelities, h=self._depth(archs, values, fidelities))
        believe_pending(surrogate, archs, warped, fidelities, pending)
        self.surrogate = surrogate
        moments = surrogate.pool_moments(pool)
        mean, std = moments.mean[target], moments.variance[target].sqrt()
        known = self.known_values(pool)
        screened = screen_for_front(mean.unsqueeze(-1), std.unsqueeze(-1), known, self.screen)
        candidates = [pool[int(i)] for i in screened]
        # Front samples span the candidates, the architectures known at the target and the pending ones.
        others = {a.key: a for a, j in zip(archs, fidelities) if j == target}
        others.update({a.key: a for a, _ in pending if a.key not in others})
        front = candidates + list(others.values())
        front_mean, front_covariance = surrogate.target_joint(front)
        front_known = torch.cat([known[screened], self.known_values(list(others.values()))], dim=0)
        admissible = torch.tensor([[j == target or a.key not in self.seen_at[j] for a in candidates]
                                   for j in range(len(self.fidelities))], dtype=torch.bool)
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        scores = self.acquisition(mean[screened], std[screened], known[screened],
                                               fidelity_correlations(moments, target)[:, screened], self.costs(),
                                               admissible, front_mean, front_covariance, front_known, generator,
                                               self.num_samples)
        # The first best pair in (fidelity, candidate) order: the cheaper look wins a tie.
        best = int(torch.argmax(scores.reshape(-1)))
        return candidates[best % len(candidates)], best // len(candidates)

    def _warp_per_fidelity(self, values: np.ndarray, fidelities: np.ndarray) -> np.ndarray:
        """The target warp applied to each fidelity's values separately (their scales differ)."""
        warped = np.empty_like(values)
        for j in np.unique(fidelities):
            warped[fidelities == j] = self.warp(values[fidelities == j])
        return warped

    def _depth(self, archs: list[Architecture], values: np.ndarray, fidelities: np.ndarray) -> int | None:
        """WL depth ``h`` chosen by marginal likelihood on the data prefix at schedule points of the data
        count: a function of the journal alone, so a resumed run chooses the same."""
        if not uses_wl(self.kernel):
            return None
        if len(self.h_values) <= 1:
            return self.h_values[0] if self.h_values else None
        start = self.n_init + self.n_init_target
        point = start + (len(archs) - start) // self.h_every * self.h_every
        if point not in self._h_at:
            chooser = MultiFidelitySurrogate(self.space, self.kernel, num_fidelities=len(self.fidelities),
                                             h_values=self.h_values, encoder=self.encoder, maxiter=self.maxiter,
                                             seed=int(self.rng_for(point).integers(2**31)))
            prefix = slice(0, point)
            self._h_at[point] = chooser.fit(archs[prefix], self._warp_per_fidelity(values[prefix], fidelities[prefix]),
                                            fidelities[prefix]).h
        return self._h_at[point]
