"""The multi-fidelity surrogate: validation, learned correlation, and pool moments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

# The surrogate tests' synthetic objective and fixtures (tests/ is on sys.path under pytest).
from test_surrogate import _score, data, encoder, space  # noqa: F401

from infonas.bench.surrogate import score_predictions
from infonas.surrogates.gp import Surrogate
from infonas.surrogates.multi_fidelity import MultiFidelitySurrogate


def test_multifidelity_validation(space, data):
    archs, y = data
    with pytest.raises(ValueError, match="must match"):
        MultiFidelitySurrogate(space).fit(archs[:6], y[:6], [0, 1, 0])
    with pytest.raises(ValueError, match="fidelity indices"):
        MultiFidelitySurrogate(space).fit(archs[:4], y[:4], [0, 1, 2, 1])
    with pytest.raises(ValueError, match="empty"):
        MultiFidelitySurrogate(space).fit([], [], [])


def test_multifidelity_correlation_and_prediction(space, encoder):
    rng = np.random.default_rng(5)
    archs = [space.sample(rng) for _ in range(70)]
    truth = np.array([_score(a) for a in archs])
    cheap_related = 0.5 * truth + 10.0 + 0.05 * rng.standard_normal(len(archs))
    expensive_cells, cheap_cells, test_cells = archs[:10], archs[10:50], archs[50:]
    fidelity = [1] * 10 + [0] * 40
    y_related = np.concatenate([truth[:10], cheap_related[10:50]])
    model = MultiFidelitySurrogate(space, "wl+hamming", encoder=encoder, h_values=(1,)).fit(
        expensive_cells + cheap_cells, y_related, fidelity
    )
    correlation = model.fidelity_correlation()
    assert correlation.shape == (2, 2)
    assert np.allclose(correlation, correlation.T) and np.allclose(np.diag(correlation), 1.0)
    assert correlation[0, 1] > 0.7
    covariance = model.fidelity_covariance()
    assert np.all(np.linalg.eigvalsh(covariance) > -1e-9)
    # Cheap data help: the multi-fidelity ranking of unseen cells beats the expensive-only one.
    prediction = model.predict(test_cells)
    single = Surrogate(space, "wl+hamming", encoder=encoder, h_values=(1,)).fit(expensive_cells, truth[:10])
    tau_mf = score_predictions(truth[50:], prediction)["kendall_tau"]
    tau_sf = score_predictions(truth[50:], single.predict(test_cells))["kendall_tau"]
    assert tau_mf > tau_sf
    # Predictions at the cheap fidelity are on the cheap scale.
    cheap_prediction = model.predict(test_cells, fidelity=0)
    assert abs(float(cheap_prediction.mean.mean()) - float(cheap_related[50:].mean())) < 1.0

    # Cheap data from an unrelated function of the cell: a much weaker learned correlation.
    other = np.array([2.0 * (a.ops[0] == "skip_connect") + a.ops.count("none") for a in archs])
    y_unrelated = np.concatenate([truth[:10], other[10:50]])
    unrelated = MultiFidelitySurrogate(space, "wl+hamming", encoder=encoder, h_values=(1,)).fit(
        expensive_cells + cheap_cells, y_unrelated, fidelity
    )
    assert unrelated.fidelity_correlation()[0, 1] < correlation[0, 1] - 0.2


def _two_fidelities(space, rng, n, n_target):
    """``n`` random cells, the first ``n_target`` at the target fidelity (1), the rest at a cheap
    one that sees 0.7 of the target's score plus noise."""
    archs = [space.sample(rng) for _ in range(n)]
    truth = np.array([_score(a) for a in archs])
    fidelity = np.array([1] * n_target + [0] * (n - n_target))
    return archs, np.where(fidelity == 1, truth, 0.7 * truth + 0.2 * rng.standard_normal(n)), fidelity

def test_pool_moments_match_the_gp_posterior(space, encoder):
    rng = np.random.default_rng(3)
    archs, y, fidelity = _two_fidelities(space, rng, n=40, n_target=12)
    model = MultiFidelitySurrogate(space, "wl+hamming", encoder=encoder, h_values=(1,), maxiter=20).fit(archs, y, fidelity)
    pool = [space.sample(rng) for _ in range(7)]
    moments = model.pool_moments(pool, batch_size=3)
    gp = model.model
    for i, arch in enumerate(pool):
        X = torch.cat([model.encode([arch], 0), model.encode([arch], 1)])
        with torch.no_grad():
            posterior = gp.posterior(X.unsqueeze(0), observation_noise=False)
        # BoTorch's posterior is in raw units: undo the per-fidelity standardisation to compare.
        scales = gp.outcome_transform.stdvs.reshape(-1)
        means = gp.outcome_transform.means.reshape(-1)
        mean = posterior.mean.reshape(-1)
        cov = posterior.distribution.covariance_matrix.reshape(2, 2)
        for j in (0, 1):
            assert torch.isclose((mean[j] - means[j]) / scales[j], moments.mean[j, i], atol=1e-5)
            assert torch.isclose(cov[j, j] / scales[j] ** 2, moments.variance[j, i], rtol=1e-4, atol=1e-8)
        assert torch.isclose(cov[0, 1] / (scales[0] * scales[1]), moments.target_covariance[0, i], rtol=1e-4, atol=1e-8)
    assert torch.allclose(moments.target_covariance[1], moments.variance[1])
    mean, covariance = model.target_joint(pool)
    assert torch.allclose(mean, moments.mean[1], atol=1e-8)
    assert torch.allclose(covariance.diagonal(), moments.variance[1], rtol=1e-6, atol=1e-10)
    assert (moments.noise > 0).all() and moments.noise.shape == (2,)


def test_refit_conditions_the_same_hyperparameters_on_new_data(space, encoder):
    rng = np.random.default_rng(4)
    archs, y, fidelity = _two_fidelities(space, rng, n=24, n_target=8)
    model = MultiFidelitySurrogate(space, "wl+hamming", encoder=encoder, h_values=(1,), maxiter=20).fit(archs, y, fidelity)
    pool = [space.sample(rng) for _ in range(6)]
    before = [model.predict(pool, fidelity=j) for j in (0, 1)]
    covariance = model.fidelity_covariance()
    # On the same data, maxiter=0 is the same model.
    model.refit(archs, y, fidelity, maxiter=0)
    for j in (0, 1):
        again = model.predict(pool, fidelity=j)
        assert torch.equal(again.mean, before[j].mean) and torch.equal(again.variance, before[j].variance)
    # A kriging believer: pool[0] observed at the cheap fidelity at its posterior mean. The
    # hyperparameters stay; the cheap mean there stays, its variance collapses, and the target's
    # variance there shrinks through the learned correlation.
    believed = float(before[0].mean[0])
    model.refit(archs + pool[:1], np.append(y, believed), np.append(fidelity, 0), maxiter=0)
    assert np.allclose(model.fidelity_covariance(), covariance)
    cheap, target = model.predict(pool[:1], fidelity=0), model.predict(pool[:1], fidelity=1)
    assert abs(float(cheap.mean) - believed) < 0.05 * float(before[0].variance[0].sqrt())
    assert float(cheap.variance) < 0.1 * float(before[0].variance[0])
    assert float(target.variance) < float(before[1].variance[0])
    assert model.standardised_targets()[1][-1].item() == 0
