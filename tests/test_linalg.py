"""Cholesky factors of covariances: planned and repair jitter, warnings, failures, the sampling fallback."""

from __future__ import annotations

import warnings

import pytest
import torch

import infonas
from infonas.acquisition.gaussian import joint_draws
from infonas.exceptions import InfonasError, InfonasWarning, InvalidArgumentError, NumericalError, NumericalWarning
from infonas.linalg import jittered_cholesky

F64 = torch.float64


def _rank_two(scale: float) -> torch.Tensor:
    """A 5 x 5 PSD matrix of rank 2 (singular): ``scale * X X^T``."""
    X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, -1.0], [2.0, 1.0]], dtype=F64)
    return scale * X @ X.T


def test_categories_are_exported():
    assert issubclass(NumericalWarning, InfonasWarning) and issubclass(InfonasWarning, UserWarning)
    assert issubclass(NumericalError, InfonasError) and issubclass(NumericalError, RuntimeError)
    assert infonas.NumericalWarning is NumericalWarning and infonas.InfonasWarning is InfonasWarning
    assert infonas.NumericalError is NumericalError


def test_positive_definite_needs_no_jitter_and_no_warning():
    A = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=F64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(jittered_cholesky(A, max_tries=6), torch.linalg.cholesky(A))
        # The planned jitter is relative to the mean diagonal, on the first try, and silent.
        expected = torch.linalg.cholesky(A + 1e-8 * 2.0 * torch.eye(2, dtype=F64))
        assert torch.equal(jittered_cholesky(A, relative_jitter=1e-8), expected)
        # A rank-deficient matrix the planned jitter makes positive definite: silent too.
        jittered_cholesky(_rank_two(1.0), relative_jitter=1e-8)


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e4])
def test_singular_matrix_gets_relative_jitter_and_one_warning(scale):
    A = _rank_two(scale)
    mean_diagonal = float(A.diagonal().mean())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        L = jittered_cholesky(A, max_tries=4, name="the test matrix")
    # One infonas warning, linear_operator's per-retry RuntimeWarnings folded into it.
    assert [w.category for w in caught] == [NumericalWarning]
    message = str(caught[0].message)
    assert "the test matrix (5 x 5" in message and "after 1 retry" in message
    # The repair jitter is 1e-8 of the mean diagonal, whatever the scale (an absolute 1e-8 would
    # be most of the 1e-6 matrix and nothing to the 1e4 one).
    added = (L @ L.T - A).diagonal()
    assert torch.allclose(added, torch.full((5,), 1e-8 * mean_diagonal, dtype=F64), rtol=1e-3, atol=0)
    assert f"{1e-8 * mean_diagonal:.1e}" in message


def test_retries_grow_tenfold_from_the_planned_jitter():
    # Eigenvalue -5e-7 of the mean diagonal: 1e-8 and 1e-7 (planned, then 1e-8 + 1e-7) fail,
    # 1e-8 + 1e-6 succeeds on the second retry.
    V, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(0), dtype=F64))
    A = V @ torch.diag(torch.tensor([2.0, 1.0, 1.0, -5e-7], dtype=F64)) @ V.T
    scale = float(A.diagonal().mean())
    with pytest.warns(NumericalWarning, match="after 2 retries") as record:
        L = jittered_cholesky(A, relative_jitter=1e-8, max_tries=3)
    assert f"{(1e-8 + 1e-6) * scale:.1e}" in str(record[0].message)
    assert torch.allclose((L @ L.T - A).diagonal(), torch.full((4,), (1e-8 + 1e-6) * scale, dtype=F64), rtol=1e-6)


def test_indefinite_matrix_raises_with_its_eigenvalue():
    A = torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=F64)  # eigenvalues 3 and -1
    for tries in (1, 4):  # one try is cholesky_ex; more go through psd_safe_cholesky
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(NumericalError, match=r"K \(2 x 2.*smallest eigenvalue is -1\.00e\+00"):
                jittered_cholesky(A, max_tries=tries, name="K")
        assert caught == []  # the error says it all: no retry warnings before it


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_matrix_raises(bad):
    A = torch.eye(3, dtype=F64)
    A[0, 0] = bad  # an inf on the diagonal factors "successfully" in cholesky_ex
    for tries in (1, 3):
        with pytest.raises(NumericalError, match="NaN or inf"):
            jittered_cholesky(A, max_tries=tries)


def test_max_tries_must_be_positive():
    with pytest.raises(InvalidArgumentError, match=r"max_tries must be at least 1.*got 0"):
        jittered_cholesky(torch.eye(2, dtype=F64), max_tries=0)


def test_other_warnings_during_the_factorisation_pass_through(monkeypatch):
    from infonas import linalg

    real = linalg.psd_safe_cholesky

    class Unrelated(UserWarning):
        pass

    def noisy(*args, **kwargs):
        warnings.warn("something else", Unrelated)
        return real(*args, **kwargs)

    monkeypatch.setattr(linalg, "psd_safe_cholesky", noisy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        jittered_cholesky(_rank_two(1.0), max_tries=3)
    assert sorted(w.category.__name__ for w in caught) == ["NumericalWarning", "Unrelated"]


# ----- joint draws -----


def test_joint_draws_of_a_positive_definite_covariance_are_silent():
    covariance = torch.tensor([[1.0, 0.5], [0.5, 2.0]], dtype=F64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        draws = joint_draws(torch.zeros(2, dtype=F64), covariance, torch.Generator().manual_seed(0), 10)
    assert draws.shape == (2, 10)


def test_joint_draws_fall_back_to_the_nearest_psd_matrix():
    # A covariance with eigenvalue -1e-4 of its scale: no jitter up to 1e-6 repairs it.
    V, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(1), dtype=F64))
    covariance = V @ torch.diag(torch.tensor([1.0, 0.5, -1e-4], dtype=F64)) @ V.T
    mean = torch.tensor([1.0, -1.0, 0.0], dtype=F64)
    with pytest.warns(NumericalWarning, match="nearest positive semi-definite") as record:
        draws = joint_draws(mean, covariance, torch.Generator().manual_seed(0), 20_000)
    assert "smallest eigenvalue -1.00e-04" in str(record[-1].message)
    centred = draws - mean.reshape(-1, 1)
    # Nothing along the negative direction (its eigenvalue is set to 0), the rest as asked.
    assert float((V[:, 2] @ centred).abs().max()) < 1e-10
    nearest = V @ torch.diag(torch.tensor([1.0, 0.5, 0.0], dtype=F64)) @ V.T
    assert torch.allclose(torch.cov(draws), nearest, atol=0.03)
    with pytest.warns(NumericalWarning, match="nearest"):
        single = joint_draws(mean, covariance, torch.Generator().manual_seed(0))
    assert single.shape == (3,) and float((V[:, 2] @ (single - mean)).abs()) < 1e-10


def test_joint_draws_of_a_nan_covariance_raise():
    covariance = torch.eye(2, dtype=F64)
    covariance[1, 0] = covariance[0, 1] = float("nan")
    with pytest.raises(NumericalError, match="NaN"):
        joint_draws(torch.zeros(2, dtype=F64), covariance, torch.Generator().manual_seed(0))
