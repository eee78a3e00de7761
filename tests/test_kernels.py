"""Kernels: values, symmetry and positive semi-definiteness on random architectures."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from botorch.models.kernels.categorical import CategoricalKernel
from gpytorch.kernels import AdditiveKernel, ProductKernel, ScaleKernel

from infonas.encodings.categorical import CategoricalEncoding
from infonas.encodings.inputs import ArchitectureEncoder
from infonas.encodings.wl import WLFeaturizer
from infonas.surrogates.kernels import (
    KERNELS,
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


def _wl_kernel(vocabulary, h: int) -> WLSubtreeKernel:
    return WLSubtreeKernel(slot_columns=len(vocabulary.slot_columns(h)), active_dims=vocabulary.columns(h))


def test_wl_kernel_is_normalised_linear(space, archs):
    featurizer = WLFeaturizer(space, h_max=2)
    vocabulary = featurizer.vocabulary(archs)
    X = featurizer.transform(archs, vocabulary)
    assert not bool(X[:, vocabulary.slot_columns(2)].any())  # every label has a count column
    for h in range(3):
        counts = X[:, vocabulary.count_columns(h)]
        expected = (counts @ counts.T) / torch.outer(counts.norm(dim=-1), counts.norm(dim=-1))
        K = _wl_kernel(vocabulary, h)(X).to_dense()
        assert torch.allclose(K, expected, atol=1e-12)
        plain = WLSubtreeKernel(norm_column=False)(counts).to_dense()
        assert torch.allclose(plain, expected, atol=1e-12)
        _assert_psd(K)
        assert torch.allclose(torch.diagonal(K), torch.ones(len(archs), dtype=torch.float64))


def _exact_wl_kernel(graphs, h: int) -> torch.Tensor:
    """The normalised WL kernel by brute force, independent of ``infonas.encodings.wl``.

    Labels are nested tuples ``(own label, sorted predecessor labels)``, never hashed, so two nodes
    share a label exactly when their depth-``k`` computations are equal; counts over iterations
    ``0..h``, inner products of the count dictionaries, normalised.
    """
    counts = []
    for graph in graphs:
        labels = {node: graph.nodes[node]["op"] for node in graph.nodes}
        total = Counter((0, label) for label in labels.values())
        for k in range(1, h + 1):
            labels = {node: (labels[node], tuple(sorted(labels[p] for p in graph.predecessors(node))))
                      for node in graph.nodes}
            total.update((k, label) for label in labels.values())
        counts.append(total)
    n = len(counts)
    K = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        for j in range(n):
            K[i, j] = sum(c * counts[j].get(label, 0) for label, c in counts[i].items())
    norms = K.diagonal().sqrt()
    return K / torch.outer(norms, norms)


def test_wl_kernel_is_exact_for_cells_outside_the_vocabulary(space):
    """Pool cells whose labels no training cell has: every kernel value is the exact WL kernel.

    Before, slots did not exist: the part of the inner product outside the vocabulary was dropped
    (distinct pool cells sharing such labels got too small a covariance) or, for distinct cells
    with equal in-vocabulary counts and norms, replaced by the full residual (covariance 1).
    """
    rng = np.random.default_rng(11)
    train = [space.sample(rng) for _ in range(4)]
    # Distinct cells (k = 0.833 at h=1, 0.765 at h=2) with equal counts over this vocabulary and
    # equal norms: the old kernel gave them covariance 1.
    merged = [space.parse("|none~0|+|skip_connect~0|none~1|+|nor_conv_3x3~0|none~1|skip_connect~2|"),
              space.parse("|none~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|skip_connect~2|")]
    cells = train + merged + [space.sample(rng) for _ in range(58)]
    featurizer = WLFeaturizer(space, h_max=2)
    vocabulary = featurizer.vocabulary(train)
    X = featurizer.transform(cells, vocabulary)
    encoder = ArchitectureEncoder(space, h_max=2)
    layout = encoder.layout(train)
    inputs = encoder.encode(cells, layout)
    graphs = [space.to_graph(arch) for arch in cells]
    for h in range(3):
        exact = _exact_wl_kernel(graphs, h)
        kernel = _wl_kernel(vocabulary, h)
        assert torch.allclose(kernel(X).to_dense(), exact, rtol=0, atol=1e-10)
        # Blocks and diagonals the GP asks for separately, and the kernel the surrogates build.
        assert torch.allclose(kernel(X[4:], X[:4]).to_dense(), exact[4:, :4], rtol=0, atol=1e-10)
        assert torch.allclose(kernel(X[:30], X[30:]).to_dense(), exact[:30, 30:], rtol=0, atol=1e-10)
        assert torch.allclose(kernel(X[:30], X[34:], diag=True), exact[:30, 34:].diagonal(), rtol=0, atol=1e-10)
        assert torch.allclose(kernel(X, diag=True), torch.ones(len(cells), dtype=torch.float64), rtol=0, atol=1e-10)
        surrogate_kernel = KERNELS["wl"](layout, h).double()
        assert torch.allclose(surrogate_kernel(inputs).to_dense(), exact, rtol=0, atol=1e-10)
        if h > 0:
            # The cells cover what went wrong: the merged pair ...
            columns = vocabulary.count_columns(h) + [vocabulary.norm_column(h)]
            assert torch.equal(X[4, columns], X[5, columns]) and float(exact[4, 5]) < 0.85
            # ... and many distinct pool cells sharing labels outside the vocabulary.
            slots = [set(row) - {0.0} for row in X[4:, vocabulary.slot_columns(h)].tolist()]
            shared = [(i, j) for i in range(60) for j in range(i + 1, 60) if slots[i] & slots[j]]
            assert len(shared) > 100
    _assert_psd(_wl_kernel(vocabulary, 2)(X).to_dense())


def test_wl_kernel_batches_and_slot_arguments(space, archs):
    featurizer = WLFeaturizer(space, h_max=1)
    vocabulary = featurizer.vocabulary(archs[:5])
    X = featurizer.transform(archs, vocabulary)
    kernel = _wl_kernel(vocabulary, 1)
    batched = kernel(X.reshape(4, 10, -1)).to_dense()
    full = kernel(X).to_dense()
    for b in range(4):
        assert torch.allclose(batched[b], full[10 * b : 10 * b + 10, 10 * b : 10 * b + 10], atol=1e-12)
    with pytest.raises(ValueError, match="slot_columns"):
        WLSubtreeKernel(slot_columns=-1)
    with pytest.raises(ValueError, match="slot_columns"):
        WLSubtreeKernel(norm_column=False, slot_columns=3)


def test_kernel_specs_build_sums_of_scaled_products(space, archs):
    featurizer = WLFeaturizer(space, h_max=1)
    vocabulary = featurizer.vocabulary(archs)
    X = torch.cat([CategoricalEncoding(space)(archs), featurizer.transform(archs, vocabulary)], dim=-1)
    factories = {
        "hamming": hamming_factory(range(6), [5] * 6),
        "wl": wl_factory([6 + c for c in vocabulary.columns(1)], len(vocabulary.slot_columns(1))),
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
