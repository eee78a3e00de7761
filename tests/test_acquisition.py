import numpy as np
import pytest
import torch
from botorch.acquisition import LogExpectedImprovement
from botorch.models import SingleTaskGP

from infonas.acquisition import (ACQUISITIONS, PoolPosterior, acquisition_for, log_expected_improvement,
                                 max_value_entropy, max_value_samples, thompson_sample)


def gp_posterior():
    torch.manual_seed(0)
    X = torch.rand(12, 2, dtype=torch.float64)
    Y = torch.sin(6 * X).sum(-1, keepdim=True)
    model = SingleTaskGP(X, Y).eval()
    pool = torch.rand(300, 2, dtype=torch.float64)
    with torch.no_grad():
        posterior = model.posterior(pool)
        mean, std = posterior.mean.reshape(-1), posterior.variance.reshape(-1).sqrt()

    def joint(indices):
        with torch.no_grad():
            p = model.posterior(pool[indices])
            return p.mean.reshape(-1), p.distribution.covariance_matrix

    return model, pool, float(Y.max()), PoolPosterior(mean, std, joint)


def test_log_ei_matches_botorch():
    model, pool, best_f, posterior = gp_posterior()
    expected = LogExpectedImprovement(model, best_f=best_f)(pool.unsqueeze(1)).detach()
    ours = log_expected_improvement(posterior, best_f, torch.Generator().manual_seed(0))
    assert torch.allclose(ours, expected, atol=1e-6)


def test_max_value_samples_are_above_incumbent_and_seeded():
    _, _, best_f, posterior = gp_posterior()
    a = max_value_samples(posterior, best_f, torch.Generator().manual_seed(1))
    b = max_value_samples(posterior, best_f, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and bool((a >= best_f).all())


def test_mes_prefers_uncertain_promising_points():
    mean = torch.tensor([0.0, 0.0, 1.0, -3.0], dtype=torch.float64)
    std = torch.tensor([0.1, 1.0, 1.0, 0.1], dtype=torch.float64)
    posterior = PoolPosterior(mean, std, lambda idx: (mean[idx], torch.diag(std[idx] ** 2)))
    scores = max_value_entropy(posterior, best_f=0.5, generator=torch.Generator().manual_seed(0))
    assert scores[2] > scores[1] > scores[0] > scores[3] >= 0


def test_thompson_sample_scores_only_a_subset_when_asked():
    _, _, best_f, posterior = gp_posterior()
    scores = thompson_sample(posterior, best_f, torch.Generator().manual_seed(0), max_joint=50)
    assert torch.isfinite(scores).sum() == 50


def test_acquisition_table():
    assert set(ACQUISITIONS) >= {"log-ei", "mes", "ts"}
    assert acquisition_for("mes") is max_value_entropy
    with pytest.raises(ValueError, match="does not apply"):
        acquisition_for("mes", "multi-objective", "single-fidelity")


def test_fidelity_information_gain_limits_and_quadrature():
    from scipy import integrate
    from scipy.stats import norm

    from infonas.acquisition import fidelity_information_gain

    mean = torch.tensor([0.0, 0.5, -1.0], dtype=torch.float64)
    std = torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)
    f_star = torch.tensor([1.0, 1.5, 2.0], dtype=torch.float64)
    gamma = ((f_star.reshape(1, -1) - mean.reshape(-1, 1)) / std.reshape(-1, 1)).numpy()
    mes = (gamma * norm.pdf(gamma) / (2 * norm.cdf(gamma)) - norm.logcdf(gamma)).mean(axis=1)
    # rho = 1 is MES; rho = 0 tells nothing; the gain grows with |rho|.
    assert torch.allclose(fidelity_information_gain(mean, std, torch.ones(3, dtype=torch.float64), f_star),
                          torch.as_tensor(mes), atol=1e-6)
    assert torch.allclose(fidelity_information_gain(mean, std, torch.zeros(3, dtype=torch.float64), f_star),
                          torch.zeros(3, dtype=torch.float64), atol=1e-8)
    gains = [fidelity_information_gain(mean, std, torch.full((3,), r, dtype=torch.float64), f_star)
             for r in (0.3, 0.6, 0.9)]
    assert all(bool((a < b).all()) for a, b in zip(gains, gains[1:]))
    # Against the entropy difference computed by brute-force integration, at rho = 0.6.
    rho, g = 0.6, 0.7

    def truncated_density(z):
        return norm.pdf(z) * norm.cdf((g - rho * z) / np.sqrt(1 - rho**2)) / norm.cdf(g)

    entropy = integrate.quad(lambda z: -truncated_density(z) * np.log(max(truncated_density(z), 1e-300)), -12, 12,
                             limit=200)[0]
    expected = 0.5 * np.log(2 * np.pi * np.e) - entropy
    got = fidelity_information_gain(torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64),
                                    torch.tensor([rho], dtype=torch.float64), torch.tensor([g], dtype=torch.float64))
    assert float(got) == pytest.approx(expected, abs=1e-4)
