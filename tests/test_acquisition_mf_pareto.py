"""Multi-fidelity Pareto-front entropy (infonas.acquisition.mf_pareto) against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import simpson
from scipy.stats import norm

from infonas.acquisition.gaussian import joint_draws
from infonas.acquisition.mf_pareto import (
    fidelity_correlations,
    fidelity_pareto_gain,
    front_caps,
    multi_fidelity_pareto_entropy,
)
from infonas.acquisition.pareto import pareto_front_entropy
from infonas.surrogates.multi_fidelity import PoolMoments

T = torch.float64


def brute_force_gain(mu: float, sigma: float, rho: float, cap: float) -> float:
    """``H[y] - H[y | f <= cap]`` by numerical integration over a fine grid of the standardised look ``y``.

    ``f ~ N(mu, sigma^2)``, ``y ~ N(0, 1)`` with ``corr(f, y) = rho`` (the gain does not depend on
    ``y``'s scale); the density of ``y`` given ``f <= cap`` is
    ``p(y) Phi((cap - E[f|y]) / sd(f|y)) / Phi(gamma)``.
    """
    gamma = (cap - mu) / sigma
    conditional_sd = sigma * math.sqrt(1 - rho**2)
    if conditional_sd > 0:
        y = np.linspace(-14.0, 14.0, 400_001)
        log_q = norm.logpdf(y) + norm.logcdf((cap - (mu + rho * sigma * y)) / conditional_sd) - norm.logcdf(gamma)
    else:  # y is f, standardised: a normal truncated at gamma (integrated up to its edge)
        y = np.linspace(-14.0, gamma, 400_001)
        log_q = norm.logpdf(y) - norm.logcdf(gamma)
    q = np.exp(log_q)
    entropy_given = -simpson(q * log_q, x=y)
    assert abs(simpson(q, x=y) - 1) < 1e-6  # the grid holds the whole density
    return 0.5 * math.log(2 * math.pi * math.e) - entropy_given


@pytest.mark.parametrize(("mu", "sigma", "rho", "cap"), [
    (0.0, 1.0, 0.5, 0.5), (1.0, 2.0, 0.9, -1.0), (-0.3, 0.7, 0.99, 0.2), (0.0, 1.0, 0.3, -2.0),
    (2.0, 0.5, -0.8, 2.4), (0.0, 1.0, 1.0, 0.7),
])
def test_gain_matches_numerical_integration(mu, sigma, rho, cap):
    one = torch.ones(1, dtype=T)
    gain = fidelity_pareto_gain(mu * one, sigma * one, rho * one, torch.tensor([[cap]], dtype=T))
    assert gain.shape == (1, 1)
    assert float(gain) == pytest.approx(brute_force_gain(mu, sigma, rho, cap), abs=1e-6)


def test_gain_is_per_candidate_and_sample():
    mean, std = torch.tensor([0.0, 1.0], dtype=T), torch.tensor([1.0, 0.5], dtype=T)
    rho = torch.tensor([0.6, 0.95], dtype=T)
    cap = torch.tensor([[0.5, -1.0, float("inf")], [1.2, 3.0, 0.0]], dtype=T)
    gain = fidelity_pareto_gain(mean, std, rho, cap)
    assert gain.shape == (2, 3)
    assert float(gain[0, 2]) == 0.0  # nothing bounds f(x): no information
    for i in range(2):
        for s in range(3):
            if math.isfinite(float(cap[i, s])):
                expected = brute_force_gain(float(mean[i]), float(std[i]), float(rho[i]), float(cap[i, s]))
                assert float(gain[i, s]) == pytest.approx(expected, abs=1e-6)
    # Truncation far above the mass tells ~nothing; far below, a lot; and more with |rho|.
    assert float(gain[1, 1]) < 1e-3 < float(gain[0, 1])
    assert float(fidelity_pareto_gain(mean, std, 0.5 * rho, cap)[0, 0]) < float(gain[0, 0])


def tiny_problem():
    """Four candidates and two evaluated points, one computed objective (signed -FLOPs)."""
    mean = torch.tensor([0.2, -0.5, 1.0, 0.0], dtype=T)
    std = torch.tensor([0.8, 1.1, 0.4, 0.9], dtype=T)
    known = torch.tensor([[-1.0], [-3.0], [-4.0], [-0.5]], dtype=T)
    front_known = torch.cat([known, torch.tensor([[-2.0], [-6.0]], dtype=T)])
    front_mean = torch.cat([mean, torch.tensor([0.3, 1.5], dtype=T)])
    root = torch.randn(6, 6, generator=torch.Generator().manual_seed(3), dtype=T) / 3
    front_covariance = root @ root.T + torch.diag(torch.cat([std.pow(2), torch.tensor([0.01, 0.01], dtype=T)]))
    return mean, std, known, front_mean, front_covariance, front_known


def test_full_acquisition_against_an_explicit_loop():
    mean, std, known, front_mean, front_covariance, front_known = tiny_problem()
    correlations = torch.tensor([[0.4, 0.7, -0.5, 0.9], [0.98, 0.99, 0.97, 1.0]], dtype=T)
    costs = torch.tensor([0.1, 1.0], dtype=T)
    admissible = torch.tensor([[True, False, True, True], [True, True, True, True]])
    num_samples = 6
    scores = multi_fidelity_pareto_entropy(mean, std, known, correlations, costs, admissible, front_mean,
                                           front_covariance, front_known, torch.Generator().manual_seed(7),
                                           num_samples)
    draws = joint_draws(front_mean, front_covariance, torch.Generator().manual_seed(7), num_samples)
    for j in range(2):
        for x in range(4):
            if not admissible[j, x]:
                assert scores[j, x] == float("-inf")
                continue
            gains = []
            for s in range(num_samples):
                covering = [float(draws[p, s]) for p in range(6) if float(front_known[p, 0]) >= float(known[x, 0])]
                cap = max(covering)  # x covers itself, so never empty here
                gains.append(brute_force_gain(float(mean[x]), float(std[x]), float(correlations[j, x]), cap))
            assert float(scores[j, x]) == pytest.approx(np.mean(gains) / float(costs[j]), abs=1e-6)


def test_rho_one_is_pfes():
    mean, std, known, front_mean, front_covariance, front_known = tiny_problem()
    ones = torch.ones(2, 4, dtype=T)
    scores = multi_fidelity_pareto_entropy(mean, std, known, ones, torch.ones(2, dtype=T), ones.bool(), front_mean,
                                           front_covariance, front_known, torch.Generator().manual_seed(5), 32)
    pfes = pareto_front_entropy(mean, std, known, front_mean, front_covariance, front_known,
                                torch.Generator().manual_seed(5), 32)
    assert torch.allclose(scores[0], pfes, rtol=1e-12, atol=0) and torch.equal(scores[0], scores[1])
    assert bool((pfes > 0).all())


def test_front_caps_without_a_covering_point_are_infinite():
    draws = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.0, 5.0]], dtype=T)
    front_known = torch.tensor([[-1.0, -1.0], [-2.0, -3.0], [-0.5, -4.0]], dtype=T)
    known = torch.tensor([[-2.0, -3.0], [-0.1, -0.1], [-1.5, -4.0]], dtype=T)
    caps = front_caps(known, draws, front_known)
    # x0 is covered by points 0 and 1, x1 by none, x2 by 0 and 2 (a tie in a column covers).
    assert caps.tolist() == [[3.0, 2.0], [float("inf"), float("inf")], [1.0, 5.0]]


def test_correlations_from_pool_moments():
    moments = PoolMoments(mean=torch.zeros(2, 3, dtype=T),
                          variance=torch.tensor([[1.0, 2.0, 4.0], [1.0, 1.0, 1.0]], dtype=T),
                          target_covariance=torch.tensor([[0.5, 1.0, -1.0], [1.0, 1.0, 1.0]], dtype=T),
                          noise=torch.tensor([0.0, 0.25], dtype=T))
    rho = fidelity_correlations(moments, target=1)
    expected_cheap = torch.tensor([0.5, 1 / math.sqrt(2), -0.5], dtype=T)
    assert torch.allclose(rho[0], expected_cheap)
    assert torch.allclose(rho[1], torch.full((3,), 1 / math.sqrt(1.25), dtype=T))  # a noisy look at the target
