import numpy as np
import pytest
import torch
from botorch.acquisition import LogExpectedImprovement
from botorch.models import SingleTaskGP

from infonas.acquisition import (
    ACQUISITIONS,
    PROBLEM_ACQUISITIONS,
    PoolPosterior,
    acquisition_for,
    acquisitions_for,
    log_expected_improvement,
    max_value_entropy,
    max_value_samples,
    thompson_sample,
)
from infonas.acquisition.gaussian import joint_draws, mes_gain
from infonas.exceptions import UnsupportedError
from infonas.linalg import jittered_cholesky


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


def test_mes_gain_matches_the_formula():
    from scipy.stats import norm

    g = np.linspace(-4, 6, 11)
    gamma = torch.as_tensor(g)
    expected = g * norm.pdf(g) / (2 * norm.cdf(g)) - norm.logcdf(g)
    assert torch.allclose(mes_gain(gamma), torch.as_tensor(expected), atol=1e-10)
    expected = 0.25 * g * norm.pdf(g) / (2 * norm.cdf(g)) - norm.logcdf(g)
    assert torch.allclose(mes_gain(gamma, torch.full_like(gamma, 0.25)), torch.as_tensor(expected), atol=1e-10)


def test_joint_draws_are_seeded_and_have_the_covariance():
    mean = torch.tensor([1.0, -1.0], dtype=torch.float64)
    covariance = torch.tensor([[1.0, 0.8], [0.8, 2.0]], dtype=torch.float64)
    draws = joint_draws(mean, covariance, torch.Generator().manual_seed(0), 20_000)
    assert draws.shape == (2, 20_000)
    assert torch.equal(draws, joint_draws(mean, covariance, torch.Generator().manual_seed(0), 20_000))
    assert torch.allclose(draws.mean(dim=1), mean, atol=0.05)
    assert torch.allclose(torch.cov(draws), covariance, atol=0.06)
    assert joint_draws(mean, covariance, torch.Generator().manual_seed(0)).shape == (2,)


def test_jittered_cholesky_schedules():
    A = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    # One try at a jitter relative to the mean variance: exactly the factor of A + eps I.
    eps = 1e-8 * A.diagonal().mean()
    expected = torch.linalg.cholesky(A + eps * torch.eye(2, dtype=A.dtype))
    assert torch.equal(jittered_cholesky(A, relative_jitter=1e-8), expected)
    # No jitter while the factorisation succeeds; a singular matrix gets 1e-8, then x10 ...
    assert torch.equal(jittered_cholesky(A, max_tries=6), torch.linalg.cholesky(A))
    singular = torch.ones(2, 2, dtype=torch.float64)
    L = jittered_cholesky(singular, max_tries=6)
    assert torch.isfinite(L).all() and torch.allclose(L @ L.T, singular + 1e-8 * torch.eye(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="max_tries"):
        jittered_cholesky(A, max_tries=0)


def test_every_table_entry_resolves():
    named = set()
    for (objectives, fidelities), names in PROBLEM_ACQUISITIONS.items():
        assert names and acquisitions_for(objectives, fidelities) == names
        for name in names:
            assert acquisition_for(name, objectives, fidelities) is ACQUISITIONS[name]
            assert callable(ACQUISITIONS[name])
        named |= set(names)
    assert named == set(ACQUISITIONS) >= {"log-ei", "mes", "ts", "mf-mes", "pfes", "log-nehvi"}
    assert acquisition_for("mes") is max_value_entropy


def test_wrong_problem_kinds_raise_unsupported():
    with pytest.raises(UnsupportedError, match=r"does not apply.*choose one of \['pfes', 'log-nehvi'\]"):
        acquisition_for("mes", "multi-objective", "single-fidelity")
    with pytest.raises(UnsupportedError, match="does not apply.*'mf-mes'"):
        acquisition_for("mes", "single-objective", "multi-fidelity")
    with pytest.raises(UnsupportedError, match="no acquisition applies.*supported problem kinds"):
        acquisitions_for("multi-objective", "multi-fidelity")
    with pytest.raises(UnsupportedError, match="no acquisition applies"):
        acquisition_for("mes", "many-objective")
    with pytest.raises(TypeError):
        ACQUISITIONS["mine"] = max_value_entropy  # the table is read-only
