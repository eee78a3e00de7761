"""Incremental steps of the multi-fidelity GP: refit schedule, pool screening, believed batches.

A search step between two hyperparameter fits only conditions the GP on all the data with the
hyperparameters it has (exact, no optimisation). Fits happen at ``refit_points``: data counts
that grow geometrically, so a search of ``n`` observations fits ``O(log n)`` times, and which
fit serves a step is a function of the data count alone (a resumed run fits the same).

``screen_pool`` keeps the pool cells that can matter before exact moments are computed: the
target's posterior conditioned on a subset ``S`` of the training rows has mean ``mu_S`` and
``sigma_S >= sigma`` (more data never widens an exact GP posterior), and the full-data mean is
distributed as ``N(mu_S, sigma_S^2 - sigma^2)`` under it, so ``mu + 3 sigma <= mu_S + 3 sigma_S``
up to a 3-sigma event per cell. ``PoolBelief`` holds exact moments over the kept cells and
conditions them on believed picks by rank-one updates (kriging believer, hyperparameters kept).

Example:
    >>> refit_points(12, 30, 0.15)
    [12, 14, 16, 18, 21, 24, 28]
    >>> refit_points(12, 5, 0.15)
    [5]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from infonas.linalg import jittered_cholesky

from infonas.surrogates.multi_fidelity import PoolMoments

if TYPE_CHECKING:
    from infonas.surrogates.multi_fidelity import MultiFidelitySurrogate

__all__ = ["PoolBelief", "refit_points", "screen_pool"]


def refit_points(start: int, n: int, growth: float) -> list[int]:
    """The data counts ``<= n`` at which hyperparameters are fitted: ``p_0 = start``,
    ``p_{k+1} = p_k + max(1, round(growth * p_k))``; ``[n]`` while ``n < start``."""
    if growth <= 0:
        raise ValueError(f"the refit growth must be positive (a fraction such as 0.15), got {growth}")
    if n < start:
        return [n]
    points = [start]
    while points[-1] + max(1, round(growth * points[-1])) <= n:
        points.append(points[-1] + max(1, round(growth * points[-1])))
    return points


def screening_rows(targets: torch.Tensor, tasks: torch.Tensor, target: int, size: int) -> torch.Tensor:
    """Training rows ``S`` of the screening posterior: every target row, then the best other rows
    by standardised value (they decide where the posterior mean is high), ``size`` in all."""
    at_target = (tasks == target).nonzero().squeeze(-1)
    others = (tasks != target).nonzero().squeeze(-1)
    best = others[torch.argsort(-targets[others], stable=True)][: max(0, size - at_target.numel())]
    return torch.sort(torch.cat([at_target, best])).values


def screen_pool(surrogate: MultiFidelitySurrogate, X: torch.Tensor, keep: int, extras: int,
                generator: torch.Generator, subset: int = 128) -> torch.Tensor:
    """Indices (ascending) of the pool rows ``X`` (encoded at the target) worth exact moments:
    the ``keep`` best by ``mu_S + 3 sigma_S`` (module docstring) and ``extras`` random others.

    Every row is kept when there are at most ``keep + extras``.
    """
    if X.shape[0] <= keep + extras:
        return torch.arange(X.shape[0])
    predictor = surrogate._marginals()
    data_kernel, task_kernel = surrogate._kernels()
    target = surrogate.target_fidelity
    train_X, train_Y = predictor.train_X, surrogate.model.train_targets
    tasks = train_X[:, -1].long()
    rows = screening_rows(train_Y, tasks, target, subset)
    with torch.no_grad():
        B = task_kernel.covar_matrix.to_dense()
        prior_mean = surrogate._prior_means()
        # K_SS + noise from the full factor (K = L L^T): no kernel evaluation among the rows.
        L_rows = predictor.L[rows]
        L_S = jittered_cholesky(L_rows @ L_rows.T, max_tries=6, name="the screening rows' covariance")
        residual = (train_Y[rows] - prior_mean[tasks[rows]]).unsqueeze(-1)
        alpha = torch.cholesky_solve(residual, L_S).squeeze(-1)
        cross = data_kernel(X, train_X[rows]).to_dense() * B[target, tasks[rows]].unsqueeze(0)
        mean = prior_mean[target] + cross @ alpha
        solved = torch.linalg.solve_triangular(L_S, cross.T, upper=False)
        variance = (data_kernel(X, X, diag=True) * B[target, target] - (solved**2).sum(0)).clamp_min(1e-12)
    score = mean + 3 * variance.sqrt()
    order = torch.argsort(score, descending=True, stable=True)
    rest = order[keep:]
    chosen = torch.cat([order[:keep], rest[torch.randperm(rest.numel(), generator=generator)[:extras]]])
    return torch.sort(chosen).values


class PoolBelief:
    """Exact posterior moments over pool rows ``X``, conditioned on believed picks one by one.

    Believing ``y_j(x_p) := E[f_j(x_p) | data]`` leaves every posterior mean unchanged and
    shrinks covariances by a rank-one term: with ``u(x, i) = Cov(f_i(x), y_j(x_p)) / sd y_j(x_p)``,
    ``Var f_i(x) -= u(x, i)^2`` and ``Cov(f_t(x), f_i(x)) -= u(x, t) u(x, i)``. ``Cov`` against
    a pick is the base posterior's minus the earlier picks' ``u`` terms (a Cholesky update of the
    picks; hand-written because it runs over pool moments, not a GP's training data).
    """

    def __init__(self, surrogate: MultiFidelitySurrogate, X: torch.Tensor) -> None:
        mean, variance, covariance, solved = surrogate.moment_parts(X)
        self.moments = PoolMoments(mean, variance, covariance, surrogate.noise_variances())
        self._surrogate, self._X, self._solved = surrogate, X, solved
        self._updates: list[torch.Tensor] = []

    def believe(self, index: int, fidelity: int) -> None:
        """Condition the moments on a believed observation of row ``index`` at ``fidelity``."""
        surrogate, j = self._surrogate, int(fidelity)
        target = surrogate.target_fidelity
        data_kernel, task_kernel = surrogate._kernels()
        moments = self.moments
        with torch.no_grad():
            B = task_kernel.covar_matrix.to_dense()
            k = data_kernel(self._X, self._X[index : index + 1]).to_dense().squeeze(-1)
            covariance = torch.stack([k * B[i, j] - self._solved[i].T @ self._solved[j][:, index]
                                      for i in range(len(self._solved))])
            for u in self._updates:
                covariance = covariance - u * u[j, index]
            u = covariance / (moments.variance[j, index] + moments.noise[j]).sqrt()
        self._updates.append(u)
        self.moments = type(moments)(moments.mean, (moments.variance - u**2).clamp_min(1e-12),
                                     moments.target_covariance - u[target] * u, moments.noise)


def subset_rows(items: Sequence, indices: torch.Tensor) -> list:
    """``items`` at ``indices`` (a helper for pools screened by ``screen_pool``)."""
    return [items[int(i)] for i in indices]
