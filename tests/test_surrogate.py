"""Surrogate models: validation, fitting, prediction, refits and the benchmark."""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np
import pytest
import torch
from botorch.exceptions.errors import ModelFittingError
from botorch.exceptions.warnings import OptimizationWarning
from linear_operator.utils.warnings import NumericalWarning as LinearOperatorNumericalWarning

from infonas.bench.surrogate import multifidelity_name, run_surrogate_benchmark, score_predictions
from infonas.exceptions import NumericalError, NumericalWarning
from infonas.surrogates import base
from infonas.surrogates.gp import (
    ArchitectureEncoder,
    Prediction,
    Surrogate,
    fit_many,
)
from search_spaces import NB201Space


@pytest.fixture(scope="module")
def space():
    return NB201Space()


@pytest.fixture(scope="module")
def encoder(space):
    return ArchitectureEncoder(space)


def _score(arch) -> float:
    """A smooth synthetic objective: convolutions help, pooling hurts, edge 5 matters most."""
    value = 1.0 * arch.ops.count("nor_conv_3x3") + 0.5 * arch.ops.count("nor_conv_1x1")
    value -= 0.7 * arch.ops.count("avg_pool_3x3")
    value += 1.5 * (arch.ops[5] == "nor_conv_3x3")
    return value


@pytest.fixture(scope="module")
def data(space):
    rng = np.random.default_rng(11)
    archs = [space.sample(rng) for _ in range(60)]
    y = np.array([_score(a) for a in archs]) + 0.05 * rng.standard_normal(len(archs))
    return archs, y


# ----- validation -----


def test_empty_training_data(space):
    with pytest.raises(ValueError, match="empty"):
        Surrogate(space).fit([], [])


def test_mismatched_lengths(space, data):
    archs, y = data
    with pytest.raises(ValueError, match="must match"):
        Surrogate(space).fit(archs[:5], y[:4])


def test_nan_targets(space, data):
    archs, y = data
    bad = y[:6].copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Surrogate(space).fit(archs[:6], bad)
    with pytest.raises(ValueError, match="NaN"):
        Surrogate(space).fit(archs[:6], [1.0, 2.0, float("inf"), 0.0, 1.0, 2.0])


def test_unknown_kernel_and_unfitted_use(space, data):
    with pytest.raises(ValueError, match="unknown base kernel"):
        Surrogate(space, "rbf")
    with pytest.raises(RuntimeError, match="not fitted"):
        Surrogate(space).predict(data[0][:2])


# ----- fitting and prediction -----


def test_deduplicates_by_canonical_key(space, encoder):
    # Node 3 reads only node 0: edges into nodes 1 and 2 are dead, so a and b compute the same.
    a = space.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    b = space.parse("|avg_pool_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|nor_conv_3x3~0|none~1|none~2|")
    c = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_3x3~2|")
    assert a.key == b.key
    surrogate = Surrogate(space, "wl+hamming", encoder=encoder, maxiter=5).fit([a, c, b, c], [1.0, 4.0, 3.0, 6.0])
    assert surrogate.train_archs == [a, c]
    assert surrogate.train_y.tolist() == [2.0, 5.0]
    assert surrogate.model.train_inputs[0].shape[0] == 2


@pytest.mark.parametrize("kernel", ["onehot-rbf", "hamming", "wl", "wl+hamming"])
def test_fit_and_predict(space, encoder, data, kernel):
    archs, y = data
    train, test = archs[:40], archs[40:]
    surrogate = Surrogate(space, kernel, encoder=encoder, seed=0).fit(train, y[:40])
    latent = surrogate.predict(test)
    noisy = surrogate.predict(test, observation_noise=True)
    assert latent.mean.shape == (20,) and latent.mean.dtype == torch.float64
    assert bool((latent.variance > 0).all())
    assert bool((noisy.variance > latent.variance).all())
    assert torch.allclose(noisy.mean, latent.mean)
    score = score_predictions(y[40:], noisy)
    assert score["kendall_tau"] > 0.3
    # The batched marginals are BoTorch's posterior, exactly.
    posterior = surrogate.posterior(test)
    assert torch.allclose(posterior.mean.squeeze(-1), latent.mean, atol=1e-8)
    assert torch.allclose(posterior.variance.squeeze(-1), latent.variance, atol=1e-8)
    small_batches = surrogate.predict(test, batch_size=7)
    assert torch.allclose(small_batches.mean, latent.mean) and torch.allclose(small_batches.variance, latent.variance)


def test_prediction_distributions():
    loc = torch.tensor([0.0, 1.0], dtype=torch.float64)
    variance = torch.tensor([1.0, 4.0], dtype=torch.float64)
    gaussian = Prediction.gaussian(loc, variance)
    mean, var = gaussian
    assert torch.equal(mean, loc) and torch.equal(var, variance)
    normal = torch.distributions.Normal(loc, variance.sqrt())
    y = torch.tensor([0.3, -1.0], dtype=torch.float64)
    assert torch.allclose(gaussian.log_prob(y), normal.log_prob(y))
    low, high = gaussian.interval(0.9)
    assert torch.allclose(high - loc, 1.6448536269514722 * variance.sqrt())
    assert torch.equal(gaussian[torch.tensor([1])].mean, loc[1:])

    warped = Prediction.warped(loc, variance / 16, upper_bound=100.0)
    grid = torch.linspace(-400.0, 99.999999, 2_000_001, dtype=torch.float64)
    for i in range(2):
        single = Prediction.warped(loc[i : i + 1].expand(len(grid)), variance[i : i + 1].expand(len(grid)) / 16, 100.0)
        density = torch.exp(single.log_prob(grid))
        step = float(grid[1] - grid[0])
        assert float(density.sum()) * step == pytest.approx(1.0, abs=1e-3)
        assert float((density * grid).sum()) * step == pytest.approx(float(warped.mean[i]), abs=1e-2)
    low, high = warped.interval(0.9)
    assert bool((low < warped.median).all() and (warped.median < high).all() and (high < 100).all())
    assert float(warped.log_prob(torch.tensor([100.0, 100.0])).max()) == -math.inf


def test_upper_bound_warp(space, encoder, data):
    archs, y = data
    accuracy = 90.0 + y  # below 100
    surrogate = Surrogate(space, "wl", encoder=encoder, upper_bound=100.0, h_values=(1,)).fit(archs[:30], accuracy[:30])
    prediction = surrogate.predict(archs[30:], observation_noise=True)
    assert prediction.upper_bound == 100.0 and bool((prediction.mean < 100).all())
    assert score_predictions(accuracy[30:], prediction)["kendall_tau"] > 0.3
    with pytest.raises(ValueError, match="upper_bound"):
        Surrogate(space, "wl", encoder=encoder, upper_bound=5.0).fit(archs[:30], accuracy[:30])


def test_h_chosen_by_marginal_likelihood(space, encoder, data):
    archs, y = data
    surrogate = Surrogate(space, "wl", encoder=encoder, h_values=(0, 1, 2)).fit(archs[:30], y[:30])
    assert set(surrogate.log_marginal_likelihoods) == {0, 1, 2}
    best = max(surrogate.log_marginal_likelihoods, key=surrogate.log_marginal_likelihoods.get)
    assert surrogate.h == best
    fixed = Surrogate(space, "wl", encoder=encoder).fit(archs[:30], y[:30], h=1)
    assert fixed.h == 1 and set(fixed.log_marginal_likelihoods) == {1}


def test_fit_is_reproducible(space, data):
    archs, y = data
    first = Surrogate(space, "wl+hamming", seed=3, h_values=(1,)).fit(archs[:25], y[:25]).predict(archs[25:35])
    second = Surrogate(space, "wl+hamming", seed=3, h_values=(1,)).fit(archs[:25], y[:25]).predict(archs[25:35])
    assert torch.equal(first.mean, second.mean) and torch.equal(first.variance, second.variance)


def test_refit_warm_starts(space, encoder, data):
    archs, y = data
    surrogate = Surrogate(space, "wl+hamming", encoder=encoder).fit(archs[:30], y[:30])
    h = surrogate.h
    scale = [k.outputscale.item() for k in surrogate.model.covar_module.kernels]
    surrogate.refit(archs[:31], y[:31], maxiter=0)
    assert surrogate.h == h and len(surrogate.train_archs) == len({a.key for a in archs[:31]})
    assert [k.outputscale.item() for k in surrogate.model.covar_module.kernels] == pytest.approx(scale)
    surrogate.refit(archs[:35], y[:35], maxiter=10)
    prediction = surrogate.predict(archs[40:])
    assert bool(torch.isfinite(prediction.mean).all())


def test_candidates_make_joint_covariance_exact(space, encoder, data):
    """The joint posterior over candidates is the exact one, with or without ``candidates``.

    The reference is the same model over a larger vocabulary (300 more cells). Without
    ``candidates``, labels shared by two candidates but by no training cell have no count column;
    they travel in the rows' slot columns, so their covariance is exact all the same.
    """
    archs, y = data
    train, candidates = archs[:20], archs[20:]
    rng = np.random.default_rng(5)
    extra = [space.sample(rng) for _ in range(300)]
    plain = Surrogate(space, "wl", encoder=encoder).fit(train, y[:20], h=2)
    exact = Surrogate(space, "wl", encoder=encoder).fit(train, y[:20], h=2, candidates=candidates)
    reference = Surrogate(space, "wl", encoder=encoder).fit(train, y[:20], h=2, candidates=candidates + extra)
    hyperparameters = {k: v for k, v in plain.model.state_dict().items() if "active_dims" not in k}
    for surrogate in (exact, reference):  # the same hyperparameters, whatever the vocabulary
        surrogate.model.load_state_dict(hyperparameters, strict=False)
        surrogate._predictor = None

    def joint(surrogate):
        with torch.no_grad():
            posterior = surrogate.posterior(candidates)
            return posterior.mean.reshape(-1), posterior.distribution.covariance_matrix

    (mean, covariance), (true_mean, true_covariance) = joint(exact), joint(reference)
    assert covariance.shape == (40, 40)
    assert torch.allclose(mean, true_mean, atol=1e-8) and torch.allclose(covariance, true_covariance, atol=1e-8)
    # predict's marginals are the joint's diagonal, with or without candidates ...
    for surrogate in (plain, exact):
        prediction = surrogate.predict(candidates)
        assert torch.allclose(prediction.mean, true_mean, atol=1e-8)
        assert torch.allclose(prediction.variance, true_covariance.diagonal(), atol=1e-8)
    # ... and the joint is exact without candidates too: labels outside the vocabulary travel in slots.
    plain_mean, plain_covariance = joint(plain)
    assert torch.allclose(plain_mean, true_mean, atol=1e-8)
    assert torch.allclose(plain_covariance, true_covariance, atol=1e-8)


def test_fit_many(space, encoder, data):
    archs, y = data
    second = -y + 0.1
    second[0] = np.nan  # a failed evaluation of one objective only
    models = fit_many(space, archs[:20], {"acc": y[:20], "loss": second[:20]}, encoder=encoder, maxiter=10)
    assert set(models) == {"acc", "loss"}
    assert len(models["loss"].train_archs) == 19
    assert float(models["acc"].predict(archs[30:31]).mean) == pytest.approx(
        -float(models["loss"].predict(archs[30:31]).mean) + 0.1, abs=1.5
    )


# ----- warnings and failures of the fit -----


class UnexpectedWarning(UserWarning):
    """A warning fit_mll has no rule for: it must reach the caller."""


def _recorded(action):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = action()
    return result, caught


def test_a_normal_fit_emits_no_warnings(space, encoder, data):
    archs, y = data
    # maxiter=3 stops L-BFGS-B at its iteration limit: planned, so silent.
    surrogate, caught = _recorded(lambda: Surrogate(space, "wl+hamming", encoder=encoder, maxiter=3).fit(archs, y))
    _, later = _recorded(lambda: (surrogate.refit(archs[:50], y[:50], maxiter=2), surrogate.predict(archs)))
    assert [str(w.message) for w in caught + later if not issubclass(w.category, DeprecationWarning)] == []


def test_fit_filters_only_the_warnings_it_means_to(space, data, monkeypatch, caplog):
    real = base.fit_gpytorch_mll

    def fit(mll, **kwargs):
        warnings.warn("`scipy_minimize` terminated with status OptimizationStatus.FAILURE, displaying original "
                      "message from `scipy.optimize.minimize`: STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT",
                      OptimizationWarning)
        warnings.warn("A not p.d., added jitter of 1.0e-08 to the diagonal", LinearOperatorNumericalWarning)
        warnings.warn("A not p.d., added jitter of 1.0e-07 to the diagonal", LinearOperatorNumericalWarning)
        warnings.warn("ABNORMAL_TERMINATION_IN_LNSRCH", OptimizationWarning)
        warnings.warn("something new", UnexpectedWarning)
        return real(mll, **kwargs)

    monkeypatch.setattr(base, "fit_gpytorch_mll", fit)
    archs, y = data
    with caplog.at_level(logging.DEBUG, logger=base.__name__):
        _, caught = _recorded(lambda: Surrogate(space, "hamming").fit(archs[:20], y[:20]))
    kinds = [w.category for w in caught if not issubclass(w.category, DeprecationWarning)]
    # The iteration limit is logged; two jitter warnings become one of ours; the rest pass as they came.
    assert sorted(k.__name__ for k in kinds) == ["NumericalWarning", "OptimizationWarning", "UnexpectedWarning"]
    assert NumericalWarning in kinds and LinearOperatorNumericalWarning not in kinds
    ours = next(str(w.message) for w in caught if w.category is NumericalWarning)
    assert "20 points" in ours and "up to 1.0e-07 in 2 factorisation(s)" in ours
    assert "ABNORMAL" in next(str(w.message) for w in caught if w.category is OptimizationWarning)
    assert "ITERATIONS REACHED LIMIT" in caplog.text
    # Under an "error" filter the unexpected warning stops the fit, as any warning would.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", UnexpectedWarning)
        with pytest.raises(UnexpectedWarning):
            Surrogate(space, "hamming").fit(archs[:20], y[:20])


def test_failed_fit_raises_numerical_error(space, data, monkeypatch):
    def fit(mll, **kwargs):
        warnings.warn("what went wrong first", UnexpectedWarning)
        raise ModelFittingError("All attempts to fit the model have failed.")

    monkeypatch.setattr(base, "fit_gpytorch_mll", fit)
    archs, y = data
    with pytest.warns(UnexpectedWarning), pytest.raises(NumericalError, match="GP on 12 training points.*failed"):
        Surrogate(space, "hamming").fit(archs[:12], y[:12])


def test_non_finite_training_covariance_raises_instead_of_predicting_nan(space, encoder, data):
    archs, y = data
    surrogate = Surrogate(space, "hamming", encoder=encoder).fit(archs[:20], y[:20])
    with torch.no_grad():
        surrogate.model.covar_module.raw_outputscale.fill_(float("nan"))
    surrogate._predictor = None  # factorise again, with the broken hyperparameter
    with pytest.raises(NumericalError, match="the GP's training covariance K \\+ noise \\(20 x 20"):
        surrogate.predict(archs[20:25])


# ----- benchmark -----


def test_benchmark_structure(space):
    rng = np.random.default_rng(2)
    archs = [space.sample(rng) for _ in range(70)]
    values = np.array([_score(a) for a in archs])
    cheap = values + 0.3 * rng.standard_normal(len(archs))
    result = run_surrogate_benchmark(
        archs, values, "synthetic", cheap, train_sizes=[10], seeds=1, models=["hamming", "wl"], progress=False
    )
    assert set(result) == {"objective", "results"} and result["objective"] == "synthetic"
    assert [(r["model"], r["train_size"]) for r in result["results"]] == [
        ("hamming", 10),
        ("wl", 10),
        (multifidelity_name("wl+hamming"), 10),
    ]
    for row in result["results"]:
        assert set(row) == {
            "model", "train_size", "kendall_tau", "spearman", "nlpd", "coverage_90", "fit_predict_seconds"
        }
        assert -1.0 <= row["kendall_tau"] <= 1.0 and 0.0 <= row["coverage_90"] <= 1.0
        assert row["kendall_tau"] > 0.0
        assert np.isfinite(row["nlpd"]) and row["fit_predict_seconds"] > 0
    with pytest.raises(ValueError, match="train sizes"):
        run_surrogate_benchmark(archs, values, "synthetic", train_sizes=[70], seeds=1, progress=False)
    with pytest.raises(ValueError, match="objective values"):
        run_surrogate_benchmark(archs, values[:-1], "synthetic", progress=False)
