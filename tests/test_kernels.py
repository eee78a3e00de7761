"""Kernels: values, symmetry and positive semi-definiteness on random architectures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from botorch.models.kernels.categorical import CategoricalKernel
from gpytorch.kernels import AdditiveKernel, ProductKernel, ScaleKernel

from infonas.encodings.categorical import CategoricalEncoding
from infonas.encodings.wl import WLFeaturizer
from infonas.surrogates.kernels import (
    HammingKernel,
    WLSubtreeKernel,
    build_kernel,
    hamming_factory,
    parse_kernel_spec,
    wl_factory,
)
from search_spaces import NB201Space


@pytest.fixture(scope="module")
def space():
    return NB201Space()


@pytest.fixture(scope="module")
def archs(space):
    rng = np.random.default_rng(3)
    return [space.sample(rng) for _ in range(40)]


def _assert_psd(K: torch.Tensor) -> None:
    K = K.detach()
    assert torch.allclose(K, K.T, atol=1e-12)
    assert float(torch.linalg.eigvalsh(K).min()) > -1e-9


def test_hamming_matches_botorch_categorical_kernel(space, archs):
    X = CategoricalEncoding(space)(archs)
    ours = HammingKernel(num_categories=[5] * 6, ard_num_dims=6).double()
    reference = CategoricalKernel(ard_num_dims=6).double()
    lengthscale = torch.linspace(0.3, 2.0, 6, dtype=torch.float64).reshape(1, 6)
    ours.lengthscale = lengthscale
    reference.lengthscale = lengthscale
    K = ours(X).to_dense()
    assert torch.allclose(K, reference(X).to_dense(), atol=1e-12)
    assert torch.allclose(ours(X, diag=True), torch.ones(len(archs), dtype=torch.float64))
    # Formula: exp(-mean_i [x_i != x'_i] / l_i).
    a, b = X[0], X[1]
    expected = torch.exp(-((a != b).double() / lengthscale[0]).mean())
    assert torch.allclose(K[0, 1], expected)
    _assert_psd(K)


def test_hamming_without_category_counts_and_batches(space, archs):
    X = CategoricalEncoding(space)(archs).reshape(4, 10, 6)
    plain = HammingKernel(ard_num_dims=6).double()
    fast = HammingKernel(num_categories=[5] * 6, ard_num_dims=6).double()
    assert torch.allclose(plain(X).to_dense(), fast(X).to_dense(), atol=1e-12)
    assert torch.allclose(fast(X, diag=True), torch.ones(4, 10, dtype=torch.float64))


def test_wl_kernel_is_normalised_linear(space, archs):
    featurizer = WLFeaturizer(space, h_max=2)
    vocabulary = featurizer.vocabulary(archs)
    X = featurizer.transform(archs, vocabulary)
    for h in range(3):
        counts = X[:, vocabulary.count_columns(h)]
        expected = (counts @ counts.T) / torch.outer(counts.norm(dim=-1), counts.norm(dim=-1))
        K = WLSubtreeKernel(active_dims=vocabulary.columns(h))(X).to_dense()
        assert torch.allclose(K, expected, atol=1e-12)
        plain = WLSubtreeKernel(norm_column=False)(counts).to_dense()
        assert torch.allclose(plain, expected, atol=1e-12)
        _assert_psd(K)
        assert torch.allclose(torch.diagonal(K), torch.ones(len(archs), dtype=torch.float64))


def test_wl_kernel_with_out_of_vocabulary_cells(space, archs):
    featurizer = WLFeaturizer(space, h_max=2)
    full = featurizer.vocabulary(archs)
    train = featurizer.vocabulary(archs[:8])  # most other cells have labels outside it
    exact = WLSubtreeKernel(active_dims=full.columns(2))(featurizer.transform(archs, full)).to_dense()
    kernel = WLSubtreeKernel(active_dims=train.columns(2))
    X = featurizer.transform(archs, train)
    K = kernel(X).to_dense()
    _assert_psd(K)
    # Exact against every in-vocabulary cell and on the diagonal, both lazily and with diag=True.
    assert torch.allclose(K[:, :8], exact[:, :8], atol=1e-12)
    assert torch.allclose(torch.diagonal(K), torch.ones(len(archs), dtype=torch.float64))
    assert torch.allclose(kernel(X, diag=True), torch.ones(len(archs), dtype=torch.float64))
    # Elsewhere it never overstates the covariance.
    assert bool((K <= exact + 1e-12).all())


def test_kernel_specs_build_sums_of_scaled_products(space, archs):
    featurizer = WLFeaturizer(space, h_max=1)
    vocabulary = featurizer.vocabulary(archs)
    X = torch.cat([CategoricalEncoding(space)(archs), featurizer.transform(archs, vocabulary)], dim=-1)
    factories = {
        "hamming": hamming_factory(range(6), [5] * 6),
        "wl": wl_factory([6 + c for c in vocabulary.columns(1)]),
    }
    total = build_kernel("wl+hamming", factories).double()
    assert isinstance(total, AdditiveKernel)
    assert all(isinstance(k, ScaleKernel) for k in total.kernels)
    product = build_kernel("wl*hamming", factories).double()
    assert isinstance(product, ScaleKernel) and isinstance(product.base_kernel, ProductKernel)
    for kernel in (total, product, build_kernel("wl", factories).double(), build_kernel("hamming", factories).double()):
        K = kernel(X).to_dense()
        _assert_psd(K)
        assert torch.allclose(kernel(X, diag=True), torch.diagonal(K))
    # The sum is the sum of its scaled parts.
    parts = [k(X).to_dense() for k in total.kernels]
    assert torch.allclose(total(X).to_dense(), parts[0] + parts[1])


@pytest.mark.parametrize("spec", ["", "rbf", "wl+", "wl++hamming", "hamming*"])
def test_invalid_specs(spec):
    with pytest.raises(ValueError):
        parse_kernel_spec(spec)


def test_spec_parsing():
    assert parse_kernel_spec("wl+hamming") == [["wl"], ["hamming"]]
    assert parse_kernel_spec("wl + wl*hamming") == [["wl"], ["wl", "hamming"]]


def test_additive_hamming_kernel_counts_weighted_matches(space, archs):
    from infonas.surrogates.kernels import AdditiveHammingKernel

    X = CategoricalEncoding(space)(archs)
    kernel = AdditiveHammingKernel(6).double()
    weights = torch.linspace(0.1, 0.6, 6, dtype=torch.float64)
    kernel.weights = weights
    K = kernel(X).to_dense()
    a, b = X[0], X[1]
    assert torch.allclose(K[0, 1], ((a == b).double() * weights).sum())
    assert torch.allclose(kernel(X, diag=True), torch.full((len(archs),), float(weights.sum()), dtype=torch.float64))
    assert torch.allclose(K.diagonal(), kernel(X, diag=True))
    _assert_psd(K)
    assert parse_kernel_spec("wl+hamming+additive") == [["wl"], ["hamming"], ["additive"]]
