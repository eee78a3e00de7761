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
    best_pair,
    fidelity_correlations,
    fidelity_pareto_gain,
    front_caps,
    greedy_pareto_batch,
    multi_fidelity_pareto_entropy,
    pair_scores,
    screen_candidates,
)
from infonas.acquisition.pareto import pareto_front_entropy, screen_for_front
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


@pytest.mark.parametrize("seed", range(6))
def test_best_pair_is_the_first_maximum_of_all_scores(seed):
    generator = torch.Generator().manual_seed(seed)
    n, num_samples = 80, 8
    mean, std = torch.randn(n, generator=generator, dtype=T), 0.2 + torch.rand(n, generator=generator, dtype=T)
    correlations = torch.stack([torch.rand(n, generator=generator, dtype=T), 0.99 * torch.ones(n, dtype=T)])
    cap = torch.randn(n, num_samples, generator=generator, dtype=T)
    cap[torch.rand(n, generator=generator) < 0.2] = float("inf")
    costs = torch.tensor([0.05 + 0.3 * seed / 5, 1.0], dtype=T)
    admissible = torch.rand(2, n, generator=generator) < 0.8
    scores = pair_scores(mean, std, correlations, cap, costs, admissible)
    index, score = best_pair(mean, std, correlations, cap, costs, admissible)
    assert index == int(torch.argmax(scores.reshape(-1))) and score == float(scores.max())
    assert best_pair(mean, std, correlations, cap, costs, torch.zeros(2, n, dtype=torch.bool)) == (-1, float("-inf"))


@pytest.mark.parametrize("seed", range(20))
def test_screening_of_one_computed_objective_is_screen_for_front(seed):
    generator = torch.Generator().manual_seed(seed)
    n = int(torch.randint(1, 70, (1,), generator=generator))
    mean = torch.randn(n, generator=generator, dtype=T)
    mean = torch.round(mean) if seed % 3 == 0 else mean  # ties in the pessimistic values too
    std = torch.rand(n, generator=generator, dtype=T) * (seed % 4)
    known = torch.randint(0, 6, (n, 1), generator=generator).to(T)  # tie groups of FLOPs
    for limit in (None, 5):
        expected = screen_for_front(mean.unsqueeze(-1), std.unsqueeze(-1), known, limit)
        assert screen_candidates(mean, std, known, limit).tolist() == expected.tolist()


class TwinBelief:
    """Candidates 0 and 1 are one architecture twice: a look at either tells all about the other."""

    def __init__(self) -> None:
        ones = torch.ones(2, 3, dtype=T)
        self.moments = PoolMoments(torch.zeros(2, 3, dtype=T), ones.clone(), 0.8 * ones, torch.zeros(2, dtype=T))
        self.believed: list[tuple[int, int]] = []

    def believe(self, index: int, fidelity: int) -> None:
        self.believed.append((index, fidelity))
        variance, covariance = self.moments.variance.clone(), self.moments.target_covariance.clone()
        for i in ({0, 1} if index in (0, 1) else {index}):
            # What is left of the target after the look; the cheap fidelity is known.
            variance[:, i], covariance[0, i], covariance[1, i] = 0.36, 0.0, 0.36
        self.moments = PoolMoments(self.moments.mean, variance, covariance, self.moments.noise)


def test_a_greedy_batch_conditions_each_pick_on_the_earlier_ones():
    cap = torch.tensor([[0.0], [0.0], [0.3]], dtype=T)  # candidate 2 alone is a little less informative
    costs = torch.tensor([0.1, 1.0], dtype=T)
    belief, admissible = TwinBelief(), torch.ones(2, 3, dtype=torch.bool)
    assert greedy_pareto_batch(belief, 1, cap, costs, admissible, size=3) == [(0, 0), (2, 0)]
    # The twin lost its value once its double was believed, the third pick is a target look: the batch ends.
    assert belief.believed == [(0, 0), (2, 0)] and not bool(admissible[:, [0, 2]].any())
    # Without the belief's updates the twin would come second.
    class Frozen(TwinBelief):
        def believe(self, index: int, fidelity: int) -> None:
            pass

    assert greedy_pareto_batch(Frozen(), 1, cap, costs, torch.ones(2, 3, dtype=torch.bool), size=3) == \
        [(0, 0), (1, 0), (2, 0)]
    # A target pick first is the whole batch.
    assert greedy_pareto_batch(TwinBelief(), 1, cap, torch.tensor([5.0, 1.0], dtype=T),
                               torch.ones(2, 3, dtype=torch.bool), size=3) == [(0, 1)]
