"""Bayesian strategies: a GP surrogate over architectures scores a candidate pool by acquisition.

One step: complete trials -> (warped) targets -> surrogate fit -> acquisition over the pool of
unseen canonical keys -> the best candidate. The fit is a function of the data and of
``(seed, trial number)`` alone, so a resumed search proposes exactly what an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy.stats import norm

from infonas.acquisition import (
    MULTI_FIDELITY,
    MULTI_OBJECTIVE,
    SINGLE_FIDELITY,
    SINGLE_OBJECTIVE,
    PoolPosterior,
    acquisition_for,
    log_expected_improvement,
)
from infonas.acquisition.candidates import DEFAULT_POOL_BUDGET, candidate_pool, check_pool_budget, pool_mode
from infonas.exceptions import SpaceExhaustedError
from infonas.strategies.base import Strategy, Suggestion
from infonas.strategies.fit_schedule import FitSchedule
from infonas.surrogates.gp import ArchitectureEncoder, Surrogate
from infonas.surrogates.kernels import parse_kernel_spec
from search_spaces.base import Architecture, SearchSpace

#: The attribute of a space instance that holds its encoders, by WL depth.
_ENCODERS_ATTRIBUTE = "_infonas_encoders"


def shared_encoder(space: SearchSpace, h_max: int) -> ArchitectureEncoder:
    """The ``ArchitectureEncoder`` of ``space`` up to WL depth ``h_max``, shared by its strategies.

    Example:
        >>> from search_spaces import NB201Space
        >>> space = NB201Space()
        >>> shared_encoder(space, 2) is shared_encoder(space, 2)
        True
    """
    # Feature caches are pure functions of the architectures, so strategies of one space share
    # them; memoised on the space instance, they die with it and never mix parameterised spaces.
    encoders = getattr(space, _ENCODERS_ATTRIBUTE, None)
    if encoders is None:
        encoders = {}
        setattr(space, _ENCODERS_ATTRIBUTE, encoders)
    if h_max not in encoders:
        encoders[h_max] = ArchitectureEncoder(space, h_max=h_max)
    return encoders[h_max]


def copula_warp(values: np.ndarray) -> np.ndarray:
    """Gaussian copula of the targets: ``Phi^-1((rank - 1/2) / n)``, ties sharing their mean rank.

    Monotone, so the argmax is unchanged, and robust to the heavy tail of broken cells
    (Salinas et al., ICML 2020).
    """
    from scipy.stats import rankdata

    ranks = rankdata(values, method="average")
    return norm.ppf((ranks - 0.5) / len(values))


def power_warp(values: np.ndarray) -> np.ndarray:
    """Yeo-Johnson power transform fitted by maximum likelihood, then standardised (as in HEBO).

    Monotone and, unlike the copula, keeps the spacing of the values it does not need to squash.
    """
    from sklearn.preprocessing import PowerTransformer

    if np.ptp(values) == 0:
        return np.zeros_like(values)
    return PowerTransformer(method="yeo-johnson").fit_transform(values.reshape(-1, 1)).reshape(-1)


WARPS = {"none": lambda v: v, "copula": copula_warp, "power": power_warp}


def balanced_design(space: SearchSpace, n: int, rng: np.random.Generator) -> list[Architecture]:
    """``n`` architectures in which every choice of every position appears equally often (up to
    one): an independent random permutation of the choices per position, a categorical Latin
    hypercube.

    Random cells give each (position, choice) main effect a random number of witnesses; with
    NB201's 5 cells, three bad ones may share "skip on edge 0->3", the very choice 93 of the 100
    best cells need, and the additive kernel then steers the search away from it for good.

    Example:
        >>> from search_spaces import NB201Space
        >>> space = NB201Space()
        >>> design = balanced_design(space, 5, np.random.default_rng(0))
        >>> all(len({a.ops[i] for a in design}) == 5 for i in range(6))
        True
    """
    columns = [np.concatenate([rng.permutation(len(c)) for _ in range(-(-n // len(c)))])[:n] for c in space.choices]
    return [space.from_categorical([int(column[i]) for column in columns]) for i in range(n)]


def pool_posterior(surrogate: Surrogate, pool: Sequence[Architecture],
                   marginals: tuple[torch.Tensor, torch.Tensor] | None = None) -> PoolPosterior:
    """The surrogate's posterior of ``f`` over ``pool``: marginals in one pass (or ``marginals``,
    mean and variance already predicted over ``pool``), joints on request, and its learned
    observation-noise variance, which noisy MES and augmented EI discount a look by.

    All on the scale of the surrogate's targets (the strategy's surrogates have no ``upper_bound``).
    """
    if marginals is None:
        prediction = surrogate.predict(pool)
        marginals = prediction.mean, prediction.variance
    mean, variance = marginals

    def joint(indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            posterior = surrogate.posterior([pool[int(i)] for i in indices])
            return posterior.mean.reshape(-1), posterior.distribution.covariance_matrix

    return PoolPosterior(mean, variance.clamp_min(1e-12).sqrt(), joint, noise=surrogate.noise_variance)


class ScoredMarginals:
    """What a sampled pool's guide predicted, kept by canonical key: the acquisition over the final
    pool then reuses it instead of predicting every candidate again.

    Example:
        >>> from search_spaces import NB201Space
        >>> space = NB201Space()
        >>> a, b = space.sample(np.random.default_rng(0)), space.sample(np.random.default_rng(1))
        >>> kept = ScoredMarginals()
        >>> kept.add([a, b], torch.tensor([1.0, 2.0]))
        >>> kept.over([b, a])[0].tolist()
        [2.0, 1.0]
    """

    def __init__(self) -> None:
        self._index: dict[str, int] = {}
        self._parts: list[tuple[torch.Tensor, ...]] = []

    def add(self, archs: Sequence[Architecture], *values: torch.Tensor) -> None:
        """Record ``values`` (each with one row per architecture) for ``archs``."""
        self._index.update({arch.key: len(self._index) + i for i, arch in enumerate(archs)})
        self._parts.append(values)

    def over(self, pool: Sequence[Architecture]) -> tuple[torch.Tensor, ...]:
        """The recorded values of every architecture of ``pool``, in its order."""
        rows = torch.tensor([self._index[arch.key] for arch in pool], dtype=torch.long)
        return tuple(torch.cat([part[k] for part in self._parts])[rows] for k in range(len(self._parts[0])))


def believe(surrogate: Surrogate, archs: list[Architecture], targets: np.ndarray,
            pending: Sequence[Architecture]) -> None:
    """Kriging believer: ``pending`` count as observed at their posterior mean, ``y(x) := E[f(x) | data]``,
    and ``surrogate`` (fitted on ``archs``, ``targets``) is conditioned on data and beliefs with its
    hyperparameters kept, so a batch spreads out instead of repeating one idea.
    """
    believed = surrogate.predict(pending).mean.numpy()
    surrogate.refit(archs + list(pending), np.concatenate([targets, believed]), maxiter=0)


def empty_pool_message(space: SearchSpace, exclude: set[str]) -> str:
    """Why a Bayesian strategy has nothing left to score, and what to do."""
    return (f"a Bayesian step needs at least one candidate that is neither evaluated nor pending; the candidate "
            f"pool of {space.name!r} ({space.size} architectures) is empty once {len(exclude)} evaluated or "
            "pending canonical keys are excluded: stop the search, or search a larger space")


class BayesianStrategy(Strategy):
    """GP-based search over a discrete pool.

    Args:
        kernel: surrogate kernel spec (``"wl+hamming"``, ``"hamming"``, ``"onehot-rbf"``...).
        acquisition: ``"mes"`` (max-value entropy search), ``"log-ei"`` or ``"ts"``; subclasses for
            other problem kinds take theirs (``infonas.acquisition.PROBLEM_ACQUISITIONS``).
        n_init: architectures of a balanced random design (``balanced_design``) before the first model.
        warp: target transform before fitting (``"copula"`` or ``"none"``).
        h_values: WL iterations to choose from by marginal likelihood.
        maxiter: optimiser iterations of each hyperparameter fit.
        refit_growth: hyperparameters are fitted when the number of observations has grown by this
            fraction since the last fit (``FitSchedule``); the steps in between condition the GP on
            all data with the last fit's hyperparameters, exactly.
        h_every: choose ``h`` afresh (one fit per candidate ``h``) at every this many fits.
        pool: the candidates an acquisition scores (``infonas.acquisition.candidates``):
            ``"enumerate"`` (the whole space; the default where it has at most ``ENUMERATION_LIMIT``
            architectures) or ``"sampled"`` (local search from the incumbents, the best complete
            target-fidelity trials, guided pointwise; the default above the limit).
        pool_budget: candidates a sampled pool scores per suggestion, refinement included.

    Each fit sees the data prefix up to its refit point and is seeded by that point: a function of
    the journal alone, so a resumed run recomputes the same fits.
    """

    name = "bo"

    def __init__(self, space: SearchSpace, objective: str, seed: int = 0, maximize: bool = True, *,
                 kernel: str = "wl+hamming+additive", acquisition: str = "mes", n_init: int = 5, warp: str = "copula",
                 h_values: Sequence[int] = (0, 1, 2), maxiter: int = 25, refit_growth: float = 0.1, h_every: int = 3,
                 pool: str | None = None, pool_budget: int = DEFAULT_POOL_BUDGET, **context: Any) -> None:
        super().__init__(space, objective, seed, maximize, **context)
        self.pool = pool_mode(space, pool)
        self.pool_budget = check_pool_budget(pool_budget)
        if n_init < 1:
            raise ValueError(f"n_init must be at least 1, got {n_init}")
        if warp not in WARPS:
            raise ValueError(f"unknown warp {warp!r}; choose one of {sorted(WARPS)}")
        if kernel != "onehot-rbf":
            parse_kernel_spec(kernel)  # a typo fails here, not at the first model fit
        self.acquisition_name = acquisition
        self.acquisition = acquisition_for(acquisition, MULTI_OBJECTIVE if self.multi_objective else SINGLE_OBJECTIVE,
                                           MULTI_FIDELITY if self.multi_fidelity else SINGLE_FIDELITY)
        self.kernel = kernel
        self.n_init = n_init
        self.warp = WARPS[warp]
        self.h_values = tuple(h_values)
        self.maxiter = maxiter
        self.refit_growth, self.h_every = float(refit_growth), int(h_every)
        # One schedule per modelled objective (a Pareto strategy models several).
        self._schedules: dict[int, FitSchedule] = {}
        self.encoder = shared_encoder(space, max(self.h_values) if self.h_values else 0)
        self.surrogate: Surrogate | None = None  # the last fitted model, for inspection

    def training_data(self) -> tuple[list[Architecture], np.ndarray]:
        archs, values = [], []
        for trial in self.trials:
            score = self.score(trial)
            if score is not None:
                archs.append(trial.arch)
                values.append(score)
        return archs, np.asarray(values, dtype=np.float64)

    def suggest(self, trial_numbers: Sequence[int], pending: Sequence[Architecture] = ()) -> list[Suggestion]:
        archs, values = self.training_data()
        chosen: list[Architecture] = []
        exclude = self.seen_keys | {a.key for a in pending}
        for number in trial_numbers:
            rng = self.rng_for(number)
            if len(archs) < self.n_init:
                arch = self._initial(number, rng, exclude)
            else:
                arch = self._acquire(rng, archs, values, list(pending) + chosen, exclude)
            exclude.add(arch.key)
            chosen.append(arch)
        return [Suggestion(arch) for arch in chosen]

    def _initial(self, number: int, rng: np.random.Generator, exclude: set[str]) -> Architecture:
        """Trial ``number`` of the balanced initial design (a function of the seed alone), or a
        random unseen architecture once the design is used up or its cell is already seen."""
        if number < self.n_init:
            design = balanced_design(self.space, self.n_init, np.random.default_rng([self.seed, 987654]))
            if design[number].key not in exclude:
                return design[number]
        return self.sample_unseen(rng, exclude)

    def _surrogate(self, seed: int) -> Surrogate:
        return Surrogate(self.space, self.kernel, h_values=self.h_values, encoder=self.encoder,
                         maxiter=self.maxiter, seed=seed)

    def _schedule(self, objective: int = 0) -> FitSchedule:
        if objective not in self._schedules:
            self._schedules[objective] = FitSchedule(
                self.n_init, self.refit_growth, lambda point: int(self.rng_for(point).integers(2**31)) + objective,
                h_every=self.h_every)
        return self._schedules[objective]

    def _conditioned(self, archs: list[Architecture], values: np.ndarray, objective: int = 0) -> Surrogate:
        """The GP on ``(archs, warp(values))`` with the hyperparameters of the last refit point
        (``FitSchedule``); a fit sees the warp of its own data prefix, a function of the journal alone."""

        def fit(point: int, h: int | None, seed: int) -> Surrogate:
            return self._surrogate(seed).fit(archs[:point], self.warp(values[:point]), h=h)

        h, state = self._schedule(objective).hyperparameters(len(archs), fit)
        return self._surrogate(seed=0).condition(archs, self.warp(values), h=h, hyperparameters=state)

    def _acquire(self, rng: np.random.Generator, archs: list[Architecture], values: np.ndarray,
                 pending: list[Architecture], exclude: set[str]) -> Architecture:
        targets = self.warp(values)
        surrogate = self._conditioned(archs, values)
        if pending:
            believe(surrogate, archs, targets, pending)
        self.surrogate = surrogate
        best = float(targets.max())
        kept = ScoredMarginals()

        def guide(batch: list[Architecture]) -> torch.Tensor:
            # LogEI, whatever the acquisition: pointwise, so a candidate's score needs no pool
            # (MES's f* and Thompson draws do); the acquisition then scores the final pool.
            prediction = surrogate.predict(batch)
            kept.add(batch, prediction.mean, prediction.variance)
            std = prediction.variance.clamp_min(1e-12).sqrt()
            return log_expected_improvement(PoolPosterior(prediction.mean, std, None), best, None)

        incumbents = [archs[i] for i in np.argsort(-values, kind="stable")[:5]]
        pool = candidate_pool(self.space, exclude, rng, incumbents, pool=self.pool, score=guide,
                              budget=self.pool_budget)
        if not pool:
            raise SpaceExhaustedError(empty_pool_message(self.space, exclude))
        posterior = pool_posterior(surrogate, pool, kept.over(pool) if self.pool == "sampled" else None)
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        scores = self.acquisition(posterior, best, generator)
        return pool[int(torch.argmax(scores))]
