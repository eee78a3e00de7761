"""Incremental multi-fidelity steps: the refit schedule, pool screening and believed batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infonas.surrogates.incremental import PoolBelief, refit_points, screen_pool
from infonas.surrogates.multi_fidelity import MultiFidelitySurrogate
from search_spaces import NB201Space


@pytest.fixture(scope="module")
def fitted():
    space = NB201Space()
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(24)]
    truth = np.array([arch.ops.count("nor_conv_3x3") - arch.ops.count("none") for arch in archs], dtype=float)
    fidelities = np.arange(24) % 3 == 0
    y = truth + 0.3 * rng.standard_normal(24) + fidelities
    surrogate = MultiFidelitySurrogate(space, "wl+hamming", h_values=(1,), maxiter=20)
    surrogate.fit(archs, y, fidelities.astype(np.int64))
    pool = [space.sample(rng) for _ in range(40)]
    return surrogate, pool, archs, y, fidelities.astype(np.int64)


def test_refit_points_grow_geometrically():
    points = refit_points(10, 1000, 0.15)
    assert points[0] == 10 and points[-1] <= 1000 < points[-1] * 1.16
    steps = np.diff(points) / np.array(points[:-1])
    assert np.all(steps >= 0.09) and np.all(steps <= 0.2) and len(points) < 40
    assert refit_points(10, 9, 0.15) == [9]
    with pytest.raises(ValueError, match="positive"):
        refit_points(10, 20, 0.0)


def test_believing_a_pick_is_the_gaussian_conditioning_of_the_pool(fitted):
    surrogate, pool, *_ = fitted
    X = surrogate.encode(pool)
    belief = PoolBelief(surrogate, X)
    noise = surrogate.noise_variances()
    # The dense joint posterior of the pool at both fidelities, from the GP itself.
    Z = torch.cat([X.clone(), X.clone()])
    Z[: len(pool), -1] = 0
    with torch.no_grad():
        C = surrogate.model(Z).covariance_matrix
    n = len(pool)
    for index, fidelity in [(3, 0), (7, 1), (11, 0)]:
        p = fidelity * n + index
        C = C - torch.outer(C[:, p], C[p]) / (C[p, p] + noise[fidelity])
        belief.believe(index, fidelity)
        variance = torch.stack([C.diagonal()[:n], C.diagonal()[n:]])
        covariance = torch.stack([C[n:, :n].diagonal(), C[n:, n:].diagonal()])
        assert torch.allclose(belief.moments.variance, variance.clamp_min(1e-12), atol=1e-6)
        assert torch.allclose(belief.moments.target_covariance, covariance, atol=1e-6)
    # The believer keeps every mean, and the pick's variance is (nearly) gone at a small noise.
    assert torch.equal(belief.moments.mean, PoolBelief(surrogate, X).moments.mean)
    assert float(belief.moments.variance[1, 7]) < float(PoolBelief(surrogate, X).moments.variance[1, 7])


def test_screening_keeps_the_best_cells_by_the_full_posterior(fitted):
    surrogate, pool, *_ = fitted
    X = surrogate.encode(pool)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(screen_pool(surrogate, X, 30, 10, generator), torch.arange(40))
    kept = screen_pool(surrogate, X, 10, 5, generator, subset=6)
    assert kept.numel() == 15 and torch.equal(kept, torch.sort(kept).values)
    moments = surrogate.pool_moments(pool)
    score = moments.mean[1] + 3 * moments.variance[1].sqrt()
    # The subset posterior is wider, so the top cells of the exact score survive the screen.
    assert set(torch.topk(score, 3).indices.tolist()) <= set(kept.tolist())
    # Conditioning with the fitted hyperparameters reproduces the fitted model.
    _, _, archs, y, fidelities = fitted
    again = MultiFidelitySurrogate(surrogate.space, "wl+hamming", h_values=(1,))
    again.condition(archs, y, fidelities, h=surrogate.h, hyperparameters=surrogate.fitted_hyperparameters())
    assert torch.allclose(again.pool_moments(pool).variance, moments.variance)
