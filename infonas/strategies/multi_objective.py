"""Multi-objective Bayesian search: Pareto fronts of accuracy against computed costs.

Measured objectives (accuracy) are modelled, one GP each; computed objectives (FLOPs, params,
a latency lookup table) enter exactly, through the ``ComputedMetrics`` provider. Each step
screens the pool of unseen architectures for those that could join the front, then scores them
with one of two acquisitions (``infonas.acquisition.pareto``):

* ``log-nehvi`` (``bo-ehvi``): BoTorch's ``qLogNoisyExpectedHypervolumeImprovement`` on a
  ``ModelList`` of the GP(s) and a ``GenericDeterministicModel`` of the computed objectives.
* ``pfes`` (``bo-mesmo``): information gained about the Pareto front (Pareto-frontier entropy
  search, Suzuki et al. 2020), with one modelled objective.

Every pick of a batch conditions on the pending architectures and the batch's earlier picks:
qLogNEHVI takes them as BoTorch's ``X_pending`` (their values sampled jointly with each
candidate's), PFES by the kriging believer (each modelled objective's GP conditioned on them at
its posterior mean, hyperparameters kept, as single-objective batches do).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from infonas.acquisition.candidates import candidate_pool, front_gain
from infonas.acquisition.pareto import screen_for_front
from infonas.exceptions import SpaceExhaustedError, UnsupportedError
from infonas.objectives import Objective
from infonas.pareto import pareto_mask
from infonas.strategies.base import Suggestion
from infonas.strategies.bayesian import BayesianStrategy, ScoredMarginals, believe, empty_pool_message
from infonas.surrogates.gp import Surrogate
from search_spaces.base import Architecture, SearchSpace


class ParetoStrategy(BayesianStrategy):
    """Bayesian search for the Pareto front of several objectives.

    Args:
        acquisition: ``"log-nehvi"`` or ``"pfes"`` (see the module docstring).
        screen: how many candidates reach the acquisition, chosen by non-dominated sorting of
            their optimistic vectors ``(mu + 3 sigma, computed)`` (the rest can hardly improve
            the front); ``None`` scores the whole pool.
        num_samples: posterior samples (MC samples of NEHVI, front samples of PFES).
        Other arguments are ``BayesianStrategy``'s; a sampled pool (``pool="sampled"``) starts from
        the members of the observed front, guided by ``front_gain`` of the optimistic vectors.

    Example:
        >>> from search_spaces.nb201.cost_tables import ArchitectureCosts
        >>> from infonas.objectives import parse_objectives
        >>> from search_spaces import NB201Space
        >>> from search_spaces.nb201.network import NetworkConfig
        >>> space = NB201Space()
        >>> costs = ArchitectureCosts.measure(space, NetworkConfig.for_dataset("cifar10"), latency=False)
        >>> objectives = parse_objectives("acc:max,flops:min")
        >>> strategy = ParetoStrategy(space, "acc", objectives=objectives, computed=costs, acquisition="pfes")
        >>> len(strategy.suggest([0]))
        1
    """

    name = "bo-pareto"
    multi_objective = True

    def __init__(self, space: SearchSpace, objective: str, seed: int = 0, maximize: bool = True, *,
                 acquisition: str = "pfes", n_init: int = 10, screen: int | None = 500, num_samples: int = 64,
                 **options: Any) -> None:
        super().__init__(space, objective, seed, maximize, acquisition=acquisition, n_init=n_init, **options)
        computed_names = set(self.computed.names) if self.computed is not None else set()
        self.modelled: tuple[Objective, ...] = tuple(o for o in self.objectives if o.name not in computed_names)
        self.known: tuple[Objective, ...] = tuple(o for o in self.objectives if o.name in computed_names)
        if not self.modelled:
            raise UnsupportedError(f"a Pareto search models at least one measured objective; every one of "
                                   f"{[o.name for o in self.objectives]} is computed from the architecture, so "
                                   "there is nothing to learn: rank the pool directly instead of searching")
        if acquisition == "pfes" and len(self.modelled) != 1:
            raise UnsupportedError(f"pfes models one measured objective (the others computed); got measured "
                                   f"{[o.name for o in self.modelled]}: use acquisition 'log-nehvi' (bo-ehvi)")
        self.screen = screen
        self.num_samples = num_samples

    def modelled_data(self) -> tuple[list[Architecture], np.ndarray]:
        """Complete target-fidelity trials with every measured objective: archs and signed values."""
        archs, rows = [], []
        for trial in self.trials:
            if trial.is_complete and self.at_target(trial) and all(o.name in trial.metrics for o in self.modelled):
                archs.append(trial.arch)
                rows.append([o.sign * float(trial.metrics[o.name]) for o in self.modelled])
        return archs, np.asarray(rows, dtype=np.float64).reshape(len(archs), len(self.modelled))

    def known_values(self, archs: Sequence[Architecture]) -> torch.Tensor:
        """The computed objectives of ``archs``, signed (larger is better): ``n x len(known)``."""
        columns = [o.sign * torch.as_tensor(self.computed.values(archs, o.name), dtype=torch.float64)
                   for o in self.known]
        return torch.stack(columns, dim=-1) if columns else torch.zeros(len(archs), 0, dtype=torch.float64)

    def suggest(self, trial_numbers: Sequence[int], pending: Sequence[Architecture] = ()) -> list[Suggestion]:
        archs, values = self.modelled_data()
        exclude = self.seen_keys | {a.key for a in pending}
        waiting = list(pending)
        chosen: list[Suggestion] = []
        for number in trial_numbers:
            rng = self.rng_for(number)
            if len(archs) < self.n_init:
                arch = self.sample_unseen(rng, exclude)
            else:
                arch = self._acquire(rng, archs, values, waiting, exclude)
            exclude.add(arch.key)
            waiting.append(arch)
            chosen.append(Suggestion(arch))
        return chosen

    def _fit(self, archs: list[Architecture], values: np.ndarray) -> list[Surrogate]:
        """One GP per modelled objective, each on its own ``FitSchedule``."""
        return [self._conditioned(archs, values[:, j], objective=j) for j in range(len(self.modelled))]

    def _pool(self, rng: np.random.Generator, surrogates: list[Surrogate], archs: list[Architecture],
              warped: np.ndarray, exclude: set[str]) -> tuple[list[Architecture], tuple | None]:
        """The candidates of a step and, when sampled, their ``(mean, std)`` (``n x modelled``):
        enumerated, or sampled from the incumbents (the members of the observed front) and guided
        by ``front_gain`` of the optimistic vectors ``(mu + 3 sigma, computed)``."""
        observed = torch.cat([torch.as_tensor(warped, dtype=torch.float64), self.known_values(archs)], dim=-1)
        incumbents = [archs[int(i)] for i in torch.nonzero(pareto_mask(observed)).reshape(-1)]
        kept = ScoredMarginals()

        def guide(batch: list[Architecture]) -> torch.Tensor:
            predictions = [s.predict(batch) for s in surrogates]
            mean = torch.stack([p.mean for p in predictions], dim=-1)
            std = torch.stack([p.variance.clamp_min(1e-12).sqrt() for p in predictions], dim=-1)
            kept.add(batch, mean, std)
            return front_gain(torch.cat([mean + 3 * std, self.known_values(batch)], dim=-1), observed)

        pool = candidate_pool(self.space, exclude, rng, incumbents, pool=self.pool, score=guide,
                              budget=self.pool_budget)
        return pool, (kept.over(pool) if self.pool == "sampled" and pool else None)

    def _acquire(self, rng: np.random.Generator, archs: list[Architecture], values: np.ndarray,
                 pending: list[Architecture], exclude: set[str]) -> Architecture:
        surrogates = self._fit(archs, values)
        evaluated = {arch.key for arch in archs}
        pending = list({a.key: a for a in pending if a.key not in evaluated}.values())
        warped = np.stack([self.warp(column) for column in values.T], axis=-1)
        if pending and self.acquisition_name == "pfes":
            for j, surrogate in enumerate(surrogates):
                believe(surrogate, archs, warped[:, j], pending)
        self.surrogate = surrogates[0]
        pool, marginals = self._pool(rng, surrogates, archs, warped, exclude)
        if not pool:
            raise SpaceExhaustedError(empty_pool_message(self.space, exclude))
        if marginals is not None:
            mean, std = marginals
        else:
            predictions = [s.predict(pool) for s in surrogates]
            mean = torch.stack([p.mean for p in predictions], dim=-1)
            std = torch.stack([p.variance.clamp_min(1e-12).sqrt() for p in predictions], dim=-1)
        known = self.known_values(pool)
        screened = screen_for_front(mean, std, known, self.screen)
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        candidates = [pool[int(i)] for i in screened]
        if self.acquisition_name == "pfes":
            # Front samples span the candidates and the evaluated (and, believed, the pending).
            front = candidates + list(archs) + pending
            with torch.no_grad():
                posterior = surrogates[0].posterior(front)
                front_mean, front_covariance = posterior.mean.reshape(-1), posterior.distribution.covariance_matrix
            front_known = torch.cat([known[screened], self.known_values(list(archs) + pending)], dim=0)
            scores = self.acquisition(mean[screened, 0], std[screened, 0], known[screened], front_mean,
                                      front_covariance, front_known, generator, self.num_samples)
        else:
            X = surrogates[0].encode(list(archs) + pending + candidates)
            every_known = torch.cat([self.known_values(list(archs) + pending), known[screened]], dim=0)
            scores = self.acquisition([s.model for s in surrogates], X, len(archs),
                                      torch.as_tensor(warped, dtype=torch.float64), every_known, generator,
                                      self.num_samples, num_pending=len(pending))
        return candidates[int(torch.argsort(scores, descending=True, stable=True)[0])]
