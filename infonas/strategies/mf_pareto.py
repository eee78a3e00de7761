"""Multi-fidelity Pareto search: information about the front per unit cost, over (architecture, fidelity).

``bo-mf-pareto`` joins ``bo-mf`` and ``bo-mesmo``: one GP over (architecture, fidelity)
(``MultiFidelitySurrogate``) models the measured objective, the computed ones (FLOPs, params)
enter exactly, and each step picks the pair maximising

    ``alpha(x, j) = E_s[ I(y_j(x); f_target(x) <= y*_s(x)) ] / cost_j``

(``infonas.acquisition.mf_pareto``): PFES's per-candidate cap ``y*_s(x)`` of a front sample in
place of MF-MES's ``f*``. The candidates are screened as bo-mesmo's are (``screen_for_front`` on
the target's posterior), pending pairs are believed (``believe_pending``), and the initial design
is bo-mf's: random cells at the cheapest fidelity, then the best of them at the target.

A model step is cheap, as bo-mf's are: hyperparameters are fitted only at refit points of the
data count (``FitSchedule``; exact conditioning in between), the pool is screened on the target's
marginals before any joint moments, and one step proposes a batch of up to ``cheap_batch`` cheap
pairs chosen jointly (``greedy_pareto_batch``: each pick conditioned on the earlier ones by the
kriging believer, the front samples kept), or one target pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from infonas.acquisition.candidates import candidate_pool, front_gain
from infonas.acquisition.gaussian import joint_draws
from infonas.acquisition.mf_pareto import front_caps, greedy_pareto_batch, screen_candidates
from infonas.exceptions import InvalidArgumentError, SpaceExhaustedError, UnsupportedError
from infonas.pareto import pareto_mask
from infonas.strategies.cost_aware import believe_pending
from infonas.strategies.fidelity_plans import FidelityPlanning
from infonas.strategies.fit_schedule import FitSchedule
from infonas.strategies.multi_objective import ParetoStrategy
from infonas.surrogates.incremental import PoolBelief
from infonas.surrogates.multi_fidelity import MultiFidelitySurrogate
from search_spaces.base import Architecture, SearchSpace


def _modelled_names(objective: str, objectives: Sequence[Any] | None, computed: Any) -> list[str]:
    """The objectives a model must learn: those not computed from the architecture."""
    names = [o.name for o in objectives] if objectives else [objective]
    computed_names = set(computed.names) if computed is not None else set()
    return [name for name in names if name not in computed_names]


class MultiFidelityParetoStrategy(FidelityPlanning, ParetoStrategy):
    """Information about the Pareto front per unit cost over (architecture, fidelity) pairs (``bo-mf-pareto``).

    Args:
        n_init: random architectures evaluated at the cheapest fidelity before the first model.
        n_init_target: then, the best of those by their cheap result are evaluated at the target.
        screen: how many candidates reach the acquisition (``screen_for_front``); ``None``: all.
        num_samples: front samples (drawn once per model step).
        cheap_batch: how many cheap pairs one model step may propose, chosen jointly;
            ``round_size`` asks ``Study.optimize`` for them. A round cut short (by an evaluation
            budget, or an ``ask`` of fewer trials) is not continued after a resume: the next step
            plans afresh, so only uncut rounds replay exactly (as ``bo-mf``'s).
        refit_growth: hyperparameters are fitted when the data count has grown by this fraction
            since the last fit (``FitSchedule``, each a fresh fit over ``h_values``).
        cheap_random_share: the probability that a trial after the initial design is a random
            unseen cell at the cheapest fidelity (``FidelityPlanning._interleaved``); 0, the
            default, keeps every trial a model step (``bo-mf`` defaults to 0.1).
        Other arguments are ``BayesianStrategy``'s (kernel, warp, h_values, maxiter, pool, pool_budget;
            ``h_every`` unused); a sampled pool starts from the members of the front observed at the target.

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
                 cheap_batch: int = 16, refit_growth: float = 0.5, cheap_random_share: float = 0.0,
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
        if cheap_batch < 1 or not refit_growth > 0:
            raise InvalidArgumentError(f"cheap_batch must be at least 1 and refit_growth positive, got cheap_batch="
                                       f"{cheap_batch} and refit_growth={refit_growth}: use e.g. 16 and 0.5")
        super().__init__(space, objective, seed, maximize, acquisition="mf-pfes", n_init=n_init, screen=screen,
                         num_samples=num_samples, **options)
        self.n_init_target = n_init_target
        self.cheap_batch = int(cheap_batch)
        self.cheap_random_share = float(cheap_random_share)
        self._schedule = FitSchedule(n_init + n_init_target, refit_growth,
                                     lambda point: int(self.rng_for(point).integers(2**31)))
        self._init_fidelity_planning()
        self.surrogate: MultiFidelitySurrogate | None = None

    def _modelled_metric(self) -> tuple[str, float]:
        return self.modelled[0].name, self.modelled[0].sign

    def _acquire_pairs(self, number: int, taken: set[str],
                       pending: list[tuple[Architecture, int]]) -> list[tuple[Architecture, int]]:
        rng = self.rng_for(number)
        archs, values, fidelities = self.fidelity_data()
        target = self.target_index
        warped = self.warp_per_fidelity(values, fidelities)

        def fit(point: int, h: int | None, seed: int) -> MultiFidelitySurrogate:
            prefix = slice(0, point)
            warped_prefix = self.warp_per_fidelity(values[prefix], fidelities[prefix])
            return self._new_surrogate(seed).fit(archs[prefix], warped_prefix, fidelities[prefix], h=h)

        h, state = self._schedule.hyperparameters(len(archs), fit)
        surrogate = self._new_surrogate(0).condition(archs, warped, fidelities, h=h, hyperparameters=state)
        believe_pending(surrogate, archs, warped, fidelities, pending)
        self.surrogate = surrogate
        # Architectures seen only cheaply stay candidates: their target value is still unknown.
        pool = self._target_pool(rng, surrogate, archs, warped, fidelities, self.seen_at[target] | taken)
        if not pool:
            raise SpaceExhaustedError(
                f"{self.name} proposes architectures not yet evaluated at the target fidelity; every candidate of "
                f"{self.space.name!r} is evaluated there or pending ({len(taken)} pending): stop the search, "
                "or search a larger space")
        # Screening needs the target's marginals only: the joint moments of every fidelity (and the
        # rank-one beliefs) are computed over the screened candidates alone.
        marginals = surrogate.pool_moments(pool)
        known = self.known_values(pool)
        screened = screen_candidates(marginals.mean[target], marginals.variance[target].sqrt(), known, self.screen)
        candidates = [pool[int(i)] for i in screened]
        belief = PoolBelief(surrogate, surrogate.encode(candidates, target))
        # Front samples span the candidates, the architectures known at the target and the pending
        # ones; drawn once per step, kept for the whole batch.
        others = {a.key: a for a, j in zip(archs, fidelities) if j == target}
        others.update({a.key: a for a, _ in pending if a.key not in others})
        front_mean, front_covariance = surrogate.target_joint(candidates + list(others.values()))
        front_known = torch.cat([known[screened], self.known_values(list(others.values()))], dim=0)
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        draws = joint_draws(front_mean, front_covariance, generator, self.num_samples)
        admissible = torch.tensor([[j == target or a.key not in self.seen_at[j] for a in candidates]
                                   for j in range(len(self.fidelities))], dtype=torch.bool)
        picks = greedy_pareto_batch(belief, target, front_caps(known[screened], draws, front_known), self.costs(),
                                    admissible, self.cheap_batch)
        return [(candidates[i], j) for i, j in picks]

    def _target_pool(self, rng: np.random.Generator, surrogate: MultiFidelitySurrogate, archs: list[Architecture],
                     warped: np.ndarray, fidelities: np.ndarray, exclude: set[str]) -> list[Architecture]:
        """The candidates of a step: enumerated, or sampled from the members of the front observed at
        the target and guided by ``front_gain`` of ``(mu + 3 sigma at the target, computed)``."""
        at_target = np.flatnonzero(fidelities == self.target_index)
        front_archs = [archs[i] for i in at_target]
        observed = torch.cat([torch.as_tensor(warped[at_target], dtype=torch.float64).reshape(-1, 1),
                              self.known_values(front_archs)], dim=-1)
        incumbents = [front_archs[int(i)] for i in torch.nonzero(pareto_mask(observed)).reshape(-1)]

        def guide(batch: list[Architecture]) -> torch.Tensor:
            prediction = surrogate.predict(batch, fidelity=self.target_index)
            optimistic = prediction.mean + 3 * prediction.variance.clamp_min(0).sqrt()
            return front_gain(torch.cat([optimistic.reshape(-1, 1), self.known_values(batch)], dim=-1), observed)

        return candidate_pool(self.space, exclude, rng, incumbents, pool=self.pool, score=guide,
                              budget=self.pool_budget)
