"""Multi-objective Bayesian search: Pareto fronts of accuracy against computed costs.

Measured objectives (accuracy) are modelled, one GP each; computed objectives (FLOPs, params,
a latency lookup table) enter exactly, through the ``ComputedMetrics`` provider. Two
acquisitions score the pool of unseen architectures:

* ``log-nehvi`` (``bo-ehvi``): BoTorch's ``qLogNoisyExpectedHypervolumeImprovement`` on a
  ``ModelList`` of the GP(s) and a ``GenericDeterministicModel`` of the computed objectives.
* ``pfes`` (``bo-mesmo``): information gained about the Pareto front (Pareto-frontier entropy
  search, Suzuki et al. 2020; MESMO's truncation with the front instead of per-objective
  maxima). With one modelled objective ``f`` the front sample ``F*_s`` caps ``f(x)`` at
  ``y*_s(x) = max{f_s(p) : p in F*_s, c(p) >= c(x)}`` (``c``: the computed objectives, signed),
  so ``alpha(x) = E_s[g phi(g) / (2 Phi(g)) - log Phi(g)]``, ``g = (y*_s(x) - mu(x)) / sigma(x)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from infonas.exceptions import SpaceExhaustedError
from infonas.acquisition.candidates import candidate_pool
from infonas.objectives import Objective
from infonas.pareto import pareto_mask
from infonas.strategies.base import Suggestion
from infonas.strategies.bayesian import BayesianStrategy
from infonas.surrogates.gp import Surrogate
from search_spaces.base import Architecture, SearchSpace

MULTI_OBJECTIVE_ACQUISITIONS = ("pfes", "log-nehvi")


class ParetoStrategy(BayesianStrategy):
    """Bayesian search for the Pareto front of several objectives.

    Args:
        acquisition: ``"log-nehvi"`` or ``"pfes"`` (see the module docstring).
        screen: how many candidates reach the acquisition, chosen by non-dominated sorting of
            their optimistic vectors ``(mu + 3 sigma, computed)`` (the rest can hardly improve
            the front); ``None`` scores the whole pool.
        num_samples: posterior samples (MC samples of NEHVI, front samples of PFES).
        Other arguments are ``BayesianStrategy``'s.

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
        if acquisition not in MULTI_OBJECTIVE_ACQUISITIONS:
            raise ValueError(f"acquisition {acquisition!r} does not apply to multi-objective problems; "
                             f"choose one of {list(MULTI_OBJECTIVE_ACQUISITIONS)}")
        super().__init__(space, objective, seed, maximize, acquisition="mes", n_init=n_init, **options)
        computed_names = set(self.computed.names) if self.computed is not None else set()
        self.modelled: tuple[Objective, ...] = tuple(o for o in self.objectives if o.name not in computed_names)
        self.known: tuple[Objective, ...] = tuple(o for o in self.objectives if o.name in computed_names)
        if not self.modelled:
            raise ValueError("every objective is computed from the architecture: nothing to learn; "
                             "rank the pool directly instead of searching")
        if acquisition == "pfes" and len(self.modelled) != 1:
            raise ValueError(f"pfes models one measured objective (the others computed); got measured "
                             f"{[o.name for o in self.modelled]} -- use log-nehvi")
        self.acquisition_name = acquisition
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
        chosen: list[Suggestion] = []
        ranked: list[Architecture] | None = None
        for number in trial_numbers:
            if len(archs) < self.n_init:
                arch = self.sample_unseen(self.rng_for(number), exclude)
            else:
                if ranked is None:  # a batch takes the best q of one acquisition (no fantasies)
                    ranked = self._ranked(self.rng_for(number), archs, values, exclude)
                arch = next(a for a in ranked if a.key not in exclude)
            exclude.add(arch.key)
            chosen.append(Suggestion(arch))
        return chosen

    def _fit(self, rng: np.random.Generator, archs: list[Architecture], values: np.ndarray) -> list[Surrogate]:
        surrogates = []
        for j in range(len(self.modelled)):
            surrogate = self._surrogate(seed=int(rng.integers(2**31)))
            h = self._wl_iterations(archs, values[:, j]) if j == 0 else surrogates[0].h
            surrogates.append(surrogate.fit(archs, self.warp(values[:, j]), h=h))
        return surrogates

    def _ranked(self, rng: np.random.Generator, archs: list[Architecture], values: np.ndarray,
                exclude: set[str]) -> list[Architecture]:
        pool = candidate_pool(self.space, exclude, rng, incumbents=archs[-5:])
        if not pool:
            raise SpaceExhaustedError("the candidate pool is empty: every architecture has been evaluated")
        surrogates = self._fit(rng, archs, values)
        self.surrogate = surrogates[0]
        predictions = [s.predict(pool) for s in surrogates]
        mean = torch.stack([p.mean for p in predictions], dim=-1)
        std = torch.stack([p.variance.clamp_min(1e-12).sqrt() for p in predictions], dim=-1)
        known = self.known_values(pool)
        screened = self._screen(mean, std, known)
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        if self.acquisition_name == "pfes":
            scores = self._pfes(surrogates[0], pool, mean[:, 0], std[:, 0], known, archs, screened, generator)
        else:
            scores = self._log_nehvi(surrogates, pool, screened, known[screened], archs, values, generator)
        order = torch.argsort(scores, descending=True, stable=True)
        return [pool[int(screened[int(i)])] for i in order]

    def _screen(self, mean: torch.Tensor, std: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """Pool indices that could still join the front, at most ``screen`` of them.

        ``x`` is out when some ``p`` is at least as good in every computed objective and its
        pessimistic ``mu - 3 sigma`` beats ``x``'s optimistic ``mu + 3 sigma`` in every modelled
        one; the rest are ranked by their optimistic margin over such covering points in the
        first modelled objective. Scores of the screened-out candidates would be ~0 anyway.
        """
        n = mean.shape[0]
        optimistic, pessimistic = mean + 3 * std, mean - 3 * std
        margin = torch.empty(n, dtype=torch.float64)
        for start in range(0, n, 256):
            stop = min(start + 256, n)
            covers = (known.unsqueeze(0) >= known[start:stop].unsqueeze(1)).all(dim=-1)
            covers[torch.arange(stop - start), torch.arange(start, stop)] = False
            beaten = (pessimistic[:, 1:].unsqueeze(0) >= optimistic[start:stop, 1:].unsqueeze(1)).all(dim=-1)
            rivals = torch.where(covers & beaten, pessimistic[:, 0].unsqueeze(0), torch.tensor(float("-inf"),
                                                                                               dtype=torch.float64))
            margin[start:stop] = optimistic[start:stop, 0] - rivals.max(dim=1).values
        order = torch.argsort(margin, descending=True, stable=True)
        order = order[margin[order] > 0] if bool((margin > 0).any()) else order[:1]
        return order if self.screen is None else order[: self.screen]

    # ----- PFES -----

    def _pfes(self, surrogate: Surrogate, pool: list[Architecture], mean: torch.Tensor, std: torch.Tensor,
              known: torch.Tensor, archs: list[Architecture], screened: torch.Tensor,
              generator: torch.Generator) -> torch.Tensor:
        """Information about the front of each screened candidate (module docstring); the front is
        sampled jointly over the screened candidates and the evaluated architectures."""
        subset = [pool[int(i)] for i in screened] + list(archs)
        with torch.no_grad():
            posterior = surrogate.posterior(subset)
            joint_mean = posterior.mean.reshape(-1)
            covariance = posterior.distribution.covariance_matrix
        jitter = 1e-8 * covariance.diagonal().mean().clamp_min(1e-12)
        chol, _ = torch.linalg.cholesky_ex(covariance + jitter * torch.eye(len(subset), dtype=covariance.dtype))
        draws = joint_mean.reshape(-1, 1) + chol @ torch.randn(len(subset), self.num_samples, generator=generator,
                                                                 dtype=covariance.dtype)
        subset_known = torch.cat([known[screened], self.known_values(archs)], dim=0)
        scored_known, scored_mean, scored_std = known[screened], mean[screened], std[screened]
        cap = torch.empty((len(screened), self.num_samples), dtype=torch.float64)
        for start in range(0, len(screened), 256):
            # p caps x when p is at least as good in every computed objective.
            covers = (subset_known.unsqueeze(0) >= scored_known[start:start + 256].unsqueeze(1)).all(dim=-1)
            capped = torch.where(covers.unsqueeze(-1), draws.unsqueeze(0), torch.tensor(float("-inf"), dtype=torch.float64))
            cap[start:start + 256] = capped.max(dim=1).values
        gamma = (cap - scored_mean.reshape(-1, 1)) / scored_std.reshape(-1, 1)
        # No front point covers x: the front puts no bound on f(x), and this view of it gives no
        # information (gamma = +inf -> 0).
        gamma = torch.where(torch.isneginf(cap), torch.tensor(float("inf"), dtype=torch.float64), gamma)
        log_cdf = torch.special.log_ndtr(gamma)
        log_pdf = -0.5 * gamma.pow(2) - 0.5 * math.log(2 * math.pi)
        gain = torch.where(torch.isinf(gamma), torch.zeros_like(gamma), gamma * torch.exp(log_pdf - log_cdf) / 2 - log_cdf)
        return gain.mean(dim=1)

    # ----- NEHVI -----

    def _log_nehvi(self, surrogates: list[Surrogate], pool: list[Architecture], screened: torch.Tensor,
                   screened_known: torch.Tensor, archs: list[Architecture], values: np.ndarray,
                   generator: torch.Generator) -> torch.Tensor:
        """BoTorch's qLogNEHVI (q = 1) of the screened candidates."""
        from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
        from botorch.models.deterministic import GenericDeterministicModel
        from botorch.models.model import ModelList
        from botorch.sampling import ListSampler
        from botorch.sampling.get_sampler import get_sampler

        layout = surrogates[0].layout
        candidates = [pool[int(i)] for i in screened]
        universe = list(archs) + candidates
        X_universe = surrogates[0].encode(universe)
        codes = X_universe[:, : layout.cat_dim].long()
        known = torch.cat([self.known_values(archs), screened_known], dim=0)
        # Computed objectives are normalised to [0, 1] over the scored set: EHVI's argmax does not
        # depend on a per-objective scale, but the box decomposition is better conditioned.
        low, high = known.min(dim=0).values, known.max(dim=0).values
        known = (known - low) / torch.where(high > low, high - low, torch.ones_like(high))
        radix = torch.tensor([math.prod(layout.num_categories[:i]) for i in range(layout.cat_dim)], dtype=torch.long)
        index_of = {int(k): i for i, k in enumerate((codes * radix).sum(-1))}

        def computed(X: torch.Tensor) -> torch.Tensor:
            keys = (X[..., : layout.cat_dim].round().long() * radix).sum(-1)
            rows = torch.tensor([index_of[int(k)] for k in keys.reshape(-1)], dtype=torch.long)
            return known[rows].reshape(*keys.shape, known.shape[-1])

        models = [s.model for s in surrogates]
        if self.known:
            models.append(GenericDeterministicModel(computed, num_outputs=len(self.known)))
        model = ModelList(*models)
        warped = np.stack([self.warp(column) for column in values.T], axis=-1)
        observed = torch.cat([torch.as_tensor(warped, dtype=torch.float64), known[: len(archs)]], dim=-1)
        span = observed.max(dim=0).values - observed.min(dim=0).values
        reference = observed.min(dim=0).values - 0.1 * span.clamp_min(1e-6)
        seed = int(torch.randint(2**31, (1,), generator=generator))
        X_candidates = X_universe[len(archs):]
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            acquisition = qLogNoisyExpectedHypervolumeImprovement(
                model=model, ref_point=reference.tolist(), X_baseline=X_universe[: len(archs)],
                sampler=ListSampler(*[get_sampler(m.posterior(X_universe[:1]), torch.Size([self.num_samples]),
                                                  seed=seed + i) for i, m in enumerate(models)]),
                prune_baseline=True, cache_root=False)
            with torch.no_grad():
                scores = torch.cat([acquisition(X_candidates[i:i + 128].unsqueeze(1))
                                    for i in range(0, len(X_candidates), 128)])
        return scores.to(torch.float64)
