import math

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
    log_augmented_expected_improvement,
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


def test_max_value_samples_follow_the_pool_maximum():
    """``f*`` samples are maxima of *joint* draws over the pool, floored at the incumbent.

    The reference maxima come from an independent Cholesky of the whole pool's covariance; the
    two samples of 4,000 must agree in distribution (two-sample Kolmogorov-Smirnov distance;
    0.044 is its 0.1% critical value). Independent per-point draws, or pruning the pool to the
    wrong candidates, put the distance above 0.3.
    """
    from scipy.stats import ks_2samp

    model, pool, _, posterior = gp_posterior()
    with torch.no_grad():
        full = model.posterior(pool)
        mean, covariance = full.mean.reshape(-1), full.distribution.covariance_matrix
    z = torch.randn(len(pool), 4000, generator=torch.Generator().manual_seed(99), dtype=torch.float64)
    reference = (mean.reshape(-1, 1) + jittered_cholesky(covariance, relative_jitter=1e-8) @ z).max(dim=0).values
    independent = (mean.reshape(-1, 1) + covariance.diagonal().sqrt().reshape(-1, 1) * z).max(dim=0).values
    assert ks_2samp(independent.numpy(), reference.numpy()).statistic > 0.3  # what the check can tell apart
    for top_k in (400, 60):  # the whole pool of 300, and only its 60 of highest mu + 3 sigma
        samples = max_value_samples(posterior, -math.inf, torch.Generator().manual_seed(1), 4000, top_k=top_k)
        assert ks_2samp(samples.numpy(), reference.numpy()).statistic < 0.05

    a = max_value_samples(posterior, -math.inf, torch.Generator().manual_seed(1))
    assert torch.equal(a, max_value_samples(posterior, -math.inf, torch.Generator().manual_seed(1)))
    assert not torch.equal(a, max_value_samples(posterior, -math.inf, torch.Generator().manual_seed(2)))
    # The incumbent floors the samples and changes nothing else (half of them lie below this one).
    floor = float(a.median())
    floored = max_value_samples(posterior, floor, torch.Generator().manual_seed(1))
    assert torch.equal(floored, a.clamp_min(floor)) and bool((a < floor).any())


def test_mes_equals_botorch_qmaxvalueentropy_for_the_same_max_values(monkeypatch):
    """Our closed-form MES equals BoTorch's ``qMaxValueEntropy`` given the same ``f*`` samples.

    BoTorch estimates the information gain of a *noisy* observation by quasi-Monte Carlo over
    ``y``; with a noise variance of 1e-6 (GPyTorch's floor; the posterior variances here are
    above 1e-3) and 4,096 Sobol draws it agrees with the noiseless closed form to about 2e-3.
    """
    from botorch.acquisition.max_value_entropy_search import qMaxValueEntropy

    from infonas.acquisition import single

    torch.manual_seed(0)  # BoTorch's Sobol sampler draws its seed from the global generator
    X = torch.rand(12, 2, dtype=torch.float64)
    Y = torch.sin(6 * X).sum(-1, keepdim=True)
    Y = (Y - Y.mean()) / Y.std()  # standardised, so that the fixed noise is 1e-6 on the model's scale
    model = SingleTaskGP(X, Y, train_Yvar=torch.full_like(Y, 1e-6), outcome_transform=None).eval()
    pool = torch.rand(40, 2, dtype=torch.float64)
    with torch.no_grad():
        marginal = model.posterior(pool)
    posterior = PoolPosterior(marginal.mean.reshape(-1), marginal.variance.reshape(-1).sqrt(), None)
    f_star = float(Y.max()) + torch.tensor([0.05, 0.2, 0.4, 0.8, 1.5], dtype=torch.float64)
    monkeypatch.setattr(single, "max_value_samples", lambda *args, **kwargs: f_star)
    ours = max_value_entropy(posterior, float(Y.max()), torch.Generator().manual_seed(0), len(f_star))

    botorch_mes = qMaxValueEntropy(model, candidate_set=pool, num_mv_samples=len(f_star), num_y_samples=4096)
    botorch_mes.posterior_max_values = f_star.reshape(-1, 1)  # num_mv_samples x num_fantasies (1)
    with torch.no_grad():
        theirs = botorch_mes(pool.unsqueeze(1))
    assert float(ours.max()) > 0.3 and float(ours.min()) < 0.01  # informative and uninformative points
    assert torch.allclose(ours, theirs, atol=5e-3, rtol=0)


@pytest.mark.parametrize("noise", [0.05, 0.3])
def test_noisy_mes_equals_botorch_qmaxvalueentropy_with_observation_noise(monkeypatch, noise):
    """With observation noise, MES is ``I(y; f*)`` for ``y = f + eps``: BoTorch's ``qMaxValueEntropy``
    estimates it by quasi-Monte Carlo over ``y`` (4,096 Sobol draws, about 1e-3), given the same ``f*``.
    The noise-free closed form is 0.1 or more off for the uncertain-but-noisy points."""
    from botorch.acquisition.max_value_entropy_search import qMaxValueEntropy

    from infonas.acquisition import single

    torch.manual_seed(0)
    X = torch.rand(12, 2, dtype=torch.float64)
    Y = torch.sin(6 * X).sum(-1, keepdim=True)
    Y = (Y - Y.mean()) / Y.std()
    model = SingleTaskGP(X, Y, train_Yvar=torch.full_like(Y, noise), outcome_transform=None).eval()
    pool = torch.rand(40, 2, dtype=torch.float64)
    with torch.no_grad():
        marginal = model.posterior(pool)
    mean, std = marginal.mean.reshape(-1), marginal.variance.reshape(-1).sqrt()
    f_star = float(Y.max()) + torch.tensor([0.05, 0.2, 0.4, 0.8, 1.5], dtype=torch.float64)
    monkeypatch.setattr(single, "max_value_samples", lambda *args, **kwargs: f_star)
    ours = max_value_entropy(PoolPosterior(mean, std, None, noise=noise), float(Y.max()), torch.Generator(), 5)
    noise_free = max_value_entropy(PoolPosterior(mean, std, None), float(Y.max()), torch.Generator(), 5)

    botorch_mes = qMaxValueEntropy(model, candidate_set=pool, num_mv_samples=len(f_star), num_y_samples=4096)
    botorch_mes.posterior_max_values = f_star.reshape(-1, 1)
    with torch.no_grad():
        theirs = botorch_mes(pool.unsqueeze(1))
    assert torch.allclose(ours, theirs, atol=2e-3, rtol=0)
    assert float((noise_free - theirs).abs().max()) > 0.1


def test_noise_aware_forms_are_the_noise_free_ones_at_zero_noise():
    from botorch.acquisition.analytic import _log_ei_helper

    from infonas.acquisition import single

    _, _, best_f, posterior = gp_posterior()
    f_star = max_value_samples(posterior, best_f, torch.Generator().manual_seed(3))
    gamma = (f_star.reshape(1, -1) - posterior.mean.reshape(-1, 1)) / posterior.std.reshape(-1, 1)
    plain_ei = _log_ei_helper((posterior.mean - best_f) / posterior.std) + posterior.std.log()
    for zero in (0.0, torch.zeros(len(posterior.mean), dtype=torch.float64)):
        quiet = single.PoolPosterior(posterior.mean, posterior.std, posterior.joint, noise=zero)
        assert torch.equal(max_value_entropy(quiet, best_f, torch.Generator().manual_seed(3)), mes_gain(gamma).mean(1))
        assert torch.equal(log_augmented_expected_improvement(quiet, best_f, torch.Generator()), plain_ei)
    # Per-candidate noise: a noise-free candidate keeps its noise-free score, a noisy one loses.
    noise = torch.zeros(len(posterior.mean), dtype=torch.float64)
    noise[:10] = 0.1
    mixed = PoolPosterior(posterior.mean, posterior.std, posterior.joint, noise=noise)
    # LogEI values the latent f and ignores the noise on purpose (see its docstring).
    assert torch.equal(log_expected_improvement(mixed, best_f, None), plain_ei)
    for scores, plain in ((log_augmented_expected_improvement(mixed, best_f, None), plain_ei),
                          (max_value_entropy(mixed, best_f, torch.Generator().manual_seed(3)), mes_gain(gamma).mean(1))):
        assert torch.allclose(scores[10:], plain[10:], rtol=1e-12, atol=0) and bool((scores[:10] < plain[:10]).all())


def test_noise_discounts_looks_at_points_whose_value_is_already_known():
    """A candidate known to within less than the noise (sigma 0.05 < s_n 0.2) wins noise-free, since
    its mean is higher, and loses once an evaluation is understood to show ``f`` plus noise."""
    mean = torch.tensor([0.5, 0.0], dtype=torch.float64)
    std = torch.tensor([0.05, 0.5], dtype=torch.float64)
    exact = PoolPosterior(mean, std, lambda idx: (mean[idx], torch.diag(std[idx] ** 2)))
    noisy = PoolPosterior(mean, std, exact.joint, noise=0.04)
    for acquisition in (log_augmented_expected_improvement, max_value_entropy):
        before = acquisition(exact, 0.0, torch.Generator().manual_seed(0))
        after = acquisition(noisy, 0.0, torch.Generator().manual_seed(0))
        assert int(before.argmax()) == 0 and int(after.argmax()) == 1, acquisition.__name__
        assert bool((after < before).all())
        assert float(after[0] - before[0]) < float(after[1] - before[1])  # the known point loses most


def test_augmented_ei_penalty_is_exact_when_noise_dominates():
    """``log(1 - s_n / r)``: with ``sigma = 1e-8 << s_n = 1``, ``1 - s_n / r`` rounds to 0 (log: -inf);
    the cancellation-free form gives ``log(sigma^2 / (2 s_n^2))``, its limit."""
    std = torch.tensor([1e-8, 0.3, 1.0, 5.0], dtype=torch.float64)
    mean = torch.zeros(4, dtype=torch.float64)
    exact = log_augmented_expected_improvement(PoolPosterior(mean, std, None), -1.0, None)
    penalty = log_augmented_expected_improvement(PoolPosterior(mean, std, None, noise=1.0), -1.0, None) - exact
    r = np.sqrt(std.numpy() ** 2 + 1.0)
    assert float(penalty[0]) == pytest.approx(np.log(1e-16 / 2), rel=1e-12)
    assert np.allclose(penalty[1:].numpy(), np.log1p(-1 / r[1:]), rtol=1e-12, atol=0)


def test_pool_posterior_carries_the_learned_noise(space):
    from infonas.strategies.bayesian import pool_posterior
    from infonas.surrogates.gp import Surrogate

    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(12)]
    y = [arch.ops.count("nor_conv_3x3") + 0.3 * rng.standard_normal() for arch in archs]
    surrogate = Surrogate(space, "hamming", h_values=(0,), maxiter=20).fit(archs, y)
    pool = [space.sample(rng) for _ in range(30)]
    posterior = pool_posterior(surrogate, pool)
    prediction = surrogate.predict(pool)
    assert posterior.noise == surrogate.noise_variance > 0  # in the units of the targets, as mean and std
    assert torch.equal(posterior.mean, prediction.mean)
    assert torch.allclose(posterior.std ** 2 + posterior.noise,
                          surrogate.predict(pool, observation_noise=True).variance, rtol=1e-9)


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


def test_every_table_entry_resolves():
    named = set()
    for (objectives, fidelities), names in PROBLEM_ACQUISITIONS.items():
        assert names and acquisitions_for(objectives, fidelities) == names
        for name in names:
            assert acquisition_for(name, objectives, fidelities) is ACQUISITIONS[name]
            assert callable(ACQUISITIONS[name])
        named |= set(names)
    assert named == set(ACQUISITIONS) >= {"log-ei", "log-aei", "mes", "ts", "mf-mes", "pfes", "log-nehvi"}
    assert acquisition_for("mes") is max_value_entropy


def test_wrong_problem_kinds_raise_unsupported():
    with pytest.raises(UnsupportedError, match=r"does not apply.*choose one of \['pfes', 'log-nehvi'\]"):
        acquisition_for("mes", "multi-objective", "single-fidelity")
    with pytest.raises(UnsupportedError, match="does not apply.*'mf-mes'"):
        acquisition_for("mes", "single-objective", "multi-fidelity")
    with pytest.raises(UnsupportedError, match="no acquisition applies.*supported problem kinds"):
        acquisitions_for("many-objective", "multi-fidelity")
    with pytest.raises(UnsupportedError, match="no acquisition applies"):
        acquisition_for("mes", "many-objective")
    with pytest.raises(TypeError):
        ACQUISITIONS["mine"] = max_value_entropy  # the table is read-only
