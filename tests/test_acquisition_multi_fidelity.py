"""MF-MES over (architecture, fidelity) pairs: the information gain, the correlations, the ranking."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from infonas.acquisition.multi_fidelity import (
    fidelity_correlations,
    fidelity_information_gain,
    hermite_nodes,
    multi_fidelity_mes,
    rank_fidelity_pairs,
)
from infonas.surrogates.multi_fidelity import PoolMoments

F64 = torch.float64


def test_hermite_nodes_integrate_gaussian_moments_and_are_memoised():
    nodes, weights = hermite_nodes(12, F64)
    assert float(weights.sum()) == pytest.approx(1.0)
    assert float((weights * nodes**2).sum()) == pytest.approx(1.0)
    assert float((weights * nodes**4).sum()) == pytest.approx(3.0)
    assert hermite_nodes(12, F64)[0] is nodes
    assert hermite_nodes(12, torch.float32)[0].dtype == torch.float32


def test_fidelity_information_gain_limits_and_quadrature():
    from scipy import integrate
    from scipy.stats import norm

    mean = torch.tensor([0.0, 0.5, -1.0], dtype=F64)
    std = torch.tensor([1.0, 0.5, 2.0], dtype=F64)
    f_star = torch.tensor([1.0, 1.5, 2.0], dtype=F64)
    gamma = ((f_star.reshape(1, -1) - mean.reshape(-1, 1)) / std.reshape(-1, 1)).numpy()
    mes = (gamma * norm.pdf(gamma) / (2 * norm.cdf(gamma)) - norm.logcdf(gamma)).mean(axis=1)
    # rho = 1 is MES; rho = 0 tells nothing; the gain grows with |rho|.
    assert torch.allclose(fidelity_information_gain(mean, std, torch.ones(3, dtype=F64), f_star),
                          torch.as_tensor(mes), atol=1e-6)
    assert torch.allclose(fidelity_information_gain(mean, std, torch.zeros(3, dtype=F64), f_star),
                          torch.zeros(3, dtype=F64), atol=1e-8)
    gains = [fidelity_information_gain(mean, std, torch.full((3,), r, dtype=F64), f_star) for r in (0.3, 0.6, 0.9)]
    assert all(bool((a < b).all()) for a, b in itertools.pairwise(gains))
    # Against the entropy difference computed by brute-force integration, at rho = 0.6.
    rho, g = 0.6, 0.7

    def truncated_density(z):
        return norm.pdf(z) * norm.cdf((g - rho * z) / np.sqrt(1 - rho**2)) / norm.cdf(g)

    entropy = integrate.quad(lambda z: -truncated_density(z) * np.log(max(truncated_density(z), 1e-300)), -12, 12,
                             limit=200)[0]
    expected = 0.5 * np.log(2 * np.pi * np.e) - entropy
    got = fidelity_information_gain(torch.zeros(1, dtype=F64), torch.ones(1, dtype=F64),
                                    torch.tensor([rho], dtype=F64), torch.tensor([g], dtype=F64))
    assert float(got) == pytest.approx(expected, abs=1e-4)


def entropy_definition_gain(gamma, rho):
    """``H[y] - H[y | f <= f*]`` of standardised ``y`` by adaptive quadrature of ``-q log q`` (one ``f*``).

    ``q(z) = phi(z) Phi((gamma - rho z) / s) / Phi(gamma)``; its edge at ``z = gamma / rho`` is
    ``s = sqrt(1 - rho^2)`` wide, so the integral is split there and ``10 s`` either side.
    """
    from scipy import integrate
    from scipy.special import log_ndtr
    from scipy.stats import norm

    s = np.sqrt(1 - rho**2)
    log_norm = log_ndtr(gamma)

    def minus_q_log_q(z):
        log_q = norm.logpdf(z) + log_ndtr((gamma - rho * z) / s) - log_norm
        return -np.exp(log_q) * log_q

    edge = gamma / rho
    cuts = sorted({-14.0, 14.0, *(c for c in (edge - 10 * s, edge, edge + 10 * s) if -14 < c < 14)})
    entropy = sum(integrate.quad(minus_q_log_q, a, b, limit=400, epsabs=1e-13, epsrel=1e-12)[0]
                  for a, b in itertools.pairwise(cuts))
    return 0.5 * np.log(2 * np.pi * np.e) - entropy


@pytest.mark.parametrize("rho", [0.6, 0.99, 0.999])
def test_fidelity_information_gain_matches_the_entropy_definition(rho):
    """Within 1e-6 (absolute) of adaptive quadrature of the definition, for gamma in [-3, 4].

    Target-fidelity pairs sit at rho ~ 0.99, where the integrand's edge is 0.14 wide: Gauss-Hermite
    nodes in ``z`` straddled it (+6% at gamma = -1, rho = 0.99; -7% at gamma = 2, rho = 0.999).
    """
    gammas = np.linspace(-3.0, 4.0, 15)
    expected = np.array([entropy_definition_gain(g, rho) for g in gammas])
    zeros, ones = torch.zeros(len(gammas), dtype=F64), torch.ones(len(gammas), dtype=F64)
    got = torch.stack([fidelity_information_gain(zeros[:1], ones[:1], torch.tensor([rho], dtype=F64),
                                                 torch.tensor([g], dtype=F64)) for g in gammas]).reshape(-1)
    assert np.abs(got.numpy() - expected).max() < 1e-6
    # One call over all (candidate, f*) pairs averages the same gains over the f* samples.
    batched = fidelity_information_gain(-torch.as_tensor(gammas), ones, torch.full_like(ones, rho), torch.zeros(3, dtype=F64))
    assert torch.allclose(batched, got, atol=1e-12)


def test_fidelity_information_gain_tends_to_mes_and_ignores_the_sign_of_rho():
    from infonas.acquisition.gaussian import mes_gain

    gamma = torch.linspace(-3, 4, 8, dtype=F64)
    zeros, ones = torch.zeros(8, dtype=F64), torch.ones(8, dtype=F64)
    f_star = torch.zeros(1, dtype=F64)
    mes = mes_gain(gamma)
    assert torch.equal(fidelity_information_gain(-gamma, ones, ones, f_star), mes)  # rho = 1: MES exactly
    near = fidelity_information_gain(-gamma, ones, torch.full_like(ones, 1 - 1e-10), f_star)
    assert bool((near < mes).all()) and torch.allclose(near, mes, atol=1e-4)  # continuous, and below MES
    for rho in (0.3, 0.99):
        assert torch.equal(fidelity_information_gain(-gamma, ones, torch.full_like(ones, -rho), f_star),
                           fidelity_information_gain(-gamma, ones, torch.full_like(ones, rho), f_star))
    assert torch.allclose(fidelity_information_gain(-gamma, ones, zeros, f_star), zeros, atol=1e-12)


def moments(n=40, seed=0):
    """Two fidelities over ``n`` architectures: a noisy cheap one correlated with the target."""
    generator = torch.Generator().manual_seed(seed)
    mean = torch.randn(2, n, generator=generator, dtype=F64)
    variance = 0.2 + torch.rand(2, n, generator=generator, dtype=F64)
    rho = 0.2 + 0.7 * torch.rand(n, generator=generator, dtype=F64)
    target_covariance = torch.stack([rho * (variance[0] * variance[1]).sqrt(), variance[1]])
    return PoolMoments(mean, variance, target_covariance, torch.tensor([0.3, 0.01], dtype=F64))


def test_fidelity_correlations():
    m = moments()
    rho = fidelity_correlations(m, target=1)
    expected = m.target_covariance / (m.variance[1].sqrt() * (m.variance + m.noise.reshape(-1, 1)).sqrt())
    assert rho.shape == (2, 40) and torch.allclose(rho, expected)
    assert bool((rho[1] < 1).all()) and bool((rho[1] > 0.97).all())  # the target sees itself through its noise


def brute_force_scores(m, costs, admissible, f_star):
    """``I(y_j(x); f*) / cost_j`` of every pair, one at a time."""
    rho = fidelity_correlations(m, 1)
    std = m.variance[1].sqrt()
    scores = torch.full((2, m.mean.shape[1]), float("-inf"), dtype=F64)
    for j in range(2):
        for i in range(m.mean.shape[1]):
            if admissible[j, i]:
                gain = fidelity_information_gain(m.mean[1, i:i + 1], std[i:i + 1], rho[j, i:i + 1], f_star)
                scores[j, i] = float(gain) / float(costs[j])
    return scores


@pytest.mark.parametrize("cheap_cost", [0.05, 0.5, 1.0])
def test_ranking_agrees_with_brute_force(cheap_cost):
    m = moments(n=300)
    costs = torch.tensor([cheap_cost, 1.0], dtype=F64)
    admissible = torch.rand(2, 300, generator=torch.Generator().manual_seed(1)) > 0.3
    f_star = torch.tensor([2.0, 2.5, 3.0], dtype=F64)
    ranked = rank_fidelity_pairs(m.mean[1], m.variance[1].sqrt(), fidelity_correlations(m, 1), costs, admissible,
                                 f_star)
    scores = brute_force_scores(m, costs, admissible, f_star)
    assert len(ranked) >= 256 and len(set(ranked)) == len(ranked)
    assert all(bool(admissible[j, i]) for i, j in ranked)
    # The best pair is the brute-force argmax, and the ranked prefix is in brute-force order.
    best = int(torch.argmax(scores))
    assert ranked[0] == (best % 300, best // 300)
    ranked_scores = [float(scores[j, i]) for i, j in ranked]
    assert ranked_scores == sorted(ranked_scores, reverse=True)
    assert ranked_scores[0] == pytest.approx(float(scores.max()), rel=1e-12)


def test_no_admissible_pair_ranks_nothing():
    m = moments()
    none = torch.zeros(2, 40, dtype=torch.bool)
    assert rank_fidelity_pairs(m.mean[1], m.variance[1].sqrt(), fidelity_correlations(m, 1),
                               torch.ones(2, dtype=F64), none, torch.ones(4, dtype=F64)) == []


def test_multi_fidelity_mes_is_seeded_and_prefers_cheap_looks_when_they_are_informative():
    m = moments()

    def joint(indices):
        return m.mean[1][indices], torch.diag(m.variance[1][indices])

    admissible = torch.ones(2, 40, dtype=torch.bool)
    run = lambda costs, seed: multi_fidelity_mes(m, 1, joint, 0.0, torch.tensor(costs, dtype=F64), admissible,
                                                 torch.Generator().manual_seed(seed), num_max_samples=16)
    assert run([0.1, 1.0], 0) == run([0.1, 1.0], 0)
    # Nearly free cheap looks win; a cheap fidelity as costly as the target (and noisier) loses.
    assert run([1e-3, 1.0], 0)[0][1] == 0
    assert run([1.0, 1.0], 0)[0][1] == 1
