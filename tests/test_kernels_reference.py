"""The fast kernel paths equal the formulas they replace (kept here as references), with gradients.

The architecture kernels read their columns as views (``ColumnViews``, ``WLSubtreeKernel``'s own
column runs) and the additive kernel looks its values up by equality code; each must give the
values and hyperparameter gradients of the textbook formula on GPyTorch's ``index_select`` copy.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gpytorch.kernels import AdditiveKernel, ScaleKernel

from infonas.encodings.inputs import ArchitectureEncoder
from infonas.surrogates.kernel_columns import consecutive_run, equality_codes, equality_patterns
from infonas.surrogates.kernels import KERNELS, AdditiveHammingKernel, HammingKernel, WLSubtreeKernel, build_kernel
from search_spaces import NB201Space

ATOL = 1e-12


@pytest.fixture(scope="module")
def inputs():
    """Model inputs of 30 training cells and 70 pool cells (many outside the vocabulary), plus a fidelity column."""
    space = NB201Space()
    rng = np.random.default_rng(5)
    cells = [space.sample(rng) for _ in range(100)]
    encoder = ArchitectureEncoder(space, h_max=2)
    layout = encoder.layout(cells[:30])
    X = encoder.encode(cells, layout, extra_columns=1)
    X[:, -1] = torch.arange(100) % 2
    return layout, X


# ----- the reference formulas (the kernels' code before the fast paths) -----

def reference_additive(x1: torch.Tensor, x2: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum_i w_i [x_i = x'_i]`` through the ``n x m x d`` equality tensor."""
    return (x1.unsqueeze(-2) == x2.unsqueeze(-3)).to(x1.dtype) @ weights


def reference_wl(x1: torch.Tensor, x2: torch.Tensor, slot_columns: int) -> torch.Tensor:
    """Normalised WL kernel on inputs ``[counts | slots | norm]``; the slot term by brute force."""
    def split(x):
        return x[..., : -1 - slot_columns], x[..., -1 - slot_columns : -1], x[..., -1:].clamp_min(1e-12)

    (c1, t1, n1), (c2, t2, n2) = split(x1), split(x2)
    shared = ((t1[..., :, None, :, None] == t2[..., None, :, None, :]) & (t1 != 0)[..., :, None, :, None]).sum((-2, -1))
    return ((c1 / n1) @ (c2 / n2).transpose(-1, -2)) + shared.to(x1.dtype) / (n1 * n2.transpose(-1, -2))


# ----- additive kernel -----

@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_additive_lookup_equals_the_equality_tensor(dtype):
    generator = torch.Generator().manual_seed(0)
    x1 = torch.randint(0, 5, (3, 40, 6), generator=generator).to(dtype)
    x2 = torch.randint(0, 5, (3, 25, 6), generator=generator).to(dtype)
    kernel = AdditiveHammingKernel(6).to(dtype)
    for _ in range(5):
        weights = torch.exp(3 * torch.randn(6, generator=generator, dtype=torch.float64)).to(dtype)
        kernel.weights = weights
        with torch.no_grad():
            fast = kernel(x1, x2).to_dense()
        tolerance = ATOL if dtype == torch.float64 else 1e-6 * float(weights.sum())
        torch.testing.assert_close(fast, reference_additive(x1, x2, kernel.weights.detach()), rtol=0, atol=tolerance)
    # A NaN equals nothing, as in the formula (equality codes would group NaNs: not used then).
    x1[0, 0, 0] = x2[0, 0, 0] = float("nan")
    with torch.no_grad():
        torch.testing.assert_close(kernel(x1, x2).to_dense(), reference_additive(x1, x2, kernel.weights),
                                   rtol=0, atol=tolerance)


def test_additive_gradients_are_those_of_the_formula():
    generator = torch.Generator().manual_seed(1)
    x = torch.randint(0, 5, (30, 6), generator=generator).double()
    kernel = AdditiveHammingKernel(6).double()
    kernel.weights = torch.rand(6, generator=generator, dtype=torch.float64) + 0.1
    seed = torch.randn(30, 30, generator=generator, dtype=torch.float64)
    value = kernel(x).to_dense()
    (grad,) = torch.autograd.grad((value * seed).sum(), kernel.raw_weights)
    raw = kernel.raw_weights.detach().clone().requires_grad_(True)
    expected_value = reference_additive(x, x, kernel.raw_weights_constraint.transform(raw))
    (expected,) = torch.autograd.grad((expected_value * seed).sum(), raw)
    torch.testing.assert_close(value, expected_value, rtol=0, atol=ATOL)
    torch.testing.assert_close(grad, expected, rtol=0, atol=ATOL)
    with torch.no_grad():  # the lookup path gives the values the fit saw
        torch.testing.assert_close(kernel(x).to_dense(), value.detach(), rtol=0, atol=ATOL)


def test_equality_codes_count_equal_positions_as_bits():
    generator = torch.Generator().manual_seed(2)
    x1 = torch.randint(0, 3, (2, 9, 5), generator=generator).double() - 1.5  # any values, negatives too
    x2 = torch.randint(0, 3, (2, 7, 5), generator=generator).double() - 1.5
    bits = (x1.unsqueeze(-2) == x2.unsqueeze(-3)).long()
    expected = (bits * 2 ** torch.arange(5)).sum(-1).double()
    assert torch.equal(equality_codes(x1, x2), expected)
    patterns = equality_patterns(5)
    assert patterns.shape == (32, 5) and torch.equal(patterns[19], torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0]))


# ----- column views -----

def test_consecutive_runs():
    assert consecutive_run([3, 4, 5]) == (3, 3)
    assert consecutive_run(torch.arange(2, 9)) == (2, 7)
    assert consecutive_run([3, 5]) is None and consecutive_run([]) is None and consecutive_run(None) is None
    assert consecutive_run([-1, 0]) is None


@pytest.mark.parametrize("h", [0, 1, 2])
def test_wl_kernel_reads_its_columns_as_the_formula_does(inputs, h):
    layout, X = inputs
    columns = layout.wl_dims(h)
    slots = layout.wl_slot_count(h)
    kernel = KERNELS["wl"](layout, h)
    assert kernel.active_dims is None and kernel.columns == tuple(columns)
    selected = X[:, columns]
    assert bool((selected[30:, -1 - slots : -1] != 0).any()) or h == 0  # pool cells fill slots
    for a, b in [(slice(30, None), slice(None, 30)), (slice(None), slice(None)), (slice(50, 80), slice(10, 40))]:
        torch.testing.assert_close(kernel(X[a], X[b]).to_dense(), reference_wl(selected[a], selected[b], slots),
                                   rtol=0, atol=ATOL)
    diagonal = torch.diagonal(reference_wl(selected[40:70], selected[10:40], slots))
    torch.testing.assert_close(kernel(X[40:70], X[10:40], diag=True), diagonal, rtol=0, atol=ATOL)
    ones = torch.ones(100, dtype=torch.float64)
    assert torch.equal(kernel(X, diag=True), ones) and torch.equal(kernel(X, X.clone(), diag=True), ones)
    batched = kernel(X[:60].reshape(3, 20, -1)).to_dense()
    torch.testing.assert_close(batched[1], reference_wl(selected[20:40], selected[20:40], slots), rtol=0, atol=ATOL)
    # Columns in any order are read (index_select) as given.
    shuffled = [*reversed(columns[:-1 - slots]), *columns[-1 - slots:]]
    other = WLSubtreeKernel(slot_columns=slots, active_dims=shuffled)
    torch.testing.assert_close(other(X).to_dense(), reference_wl(X[:, shuffled], X[:, shuffled], slots),
                               rtol=0, atol=ATOL)


@pytest.mark.parametrize("spec", ["wl+hamming+additive", "wl*hamming+additive", "hamming"])
def test_model_kernels_equal_gpytorch_selection_with_gradients(inputs, spec):
    """The kernel a surrogate builds, its sum reading every column but the fidelity's as MultiTaskGP
    sets it, equals the same kernel applied to the index_select copies, value and gradient."""
    layout, X = inputs
    torch.manual_seed(0)
    kernel = build_kernel(spec, {name: (lambda name=name: KERNELS[name](layout, 1)) for name in KERNELS}).double()
    with torch.no_grad():
        for name, parameter in kernel.named_parameters():
            parameter.copy_(0.5 * torch.randn_like(parameter))
    if kernel.active_dims is None:  # what MultiTaskGP does (a single term has its base's columns)
        kernel.active_dims = torch.arange(X.shape[-1] - 1)
    active_dims = kernel.active_dims.clone()

    def by_formula(x1, x2):
        total = 0.0
        for term in (kernel.kernels if isinstance(kernel, AdditiveKernel) else [kernel]):
            assert isinstance(term, ScaleKernel)
            factors = getattr(term.base_kernel, "kernels", [term.base_kernel])
            value = term.outputscale
            for factor in factors:
                if isinstance(factor, WLSubtreeKernel):
                    cols = list(factor.columns)
                    value = value * reference_wl(x1[:, cols], x2[:, cols], factor.slot_columns)
                elif isinstance(factor, AdditiveHammingKernel):
                    cols = factor.active_dims
                    value = value * reference_additive(x1[:, cols], x2[:, cols], factor.weights)
                else:
                    assert isinstance(factor, HammingKernel)
                    cols = factor.active_dims
                    delta = (x1[:, cols].unsqueeze(-2) != x2[:, cols].unsqueeze(-3)).double()
                    value = value * torch.exp(-(delta / factor.lengthscale).mean(-1))
            total = total + value
        return total

    parameters = [p for _, p in kernel.named_parameters()]
    seed = torch.randn(70, 30, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    value = kernel(X[30:], X[:30]).to_dense()
    grads = torch.autograd.grad((value * seed).sum(), parameters, allow_unused=True)
    expected = by_formula(X[30:], X[:30])
    expected_grads = torch.autograd.grad((expected * seed).sum(), parameters, allow_unused=True)
    torch.testing.assert_close(value, expected, rtol=0, atol=ATOL)
    for grad, reference in zip(grads, expected_grads):
        assert (grad is None) == (reference is None)
        if grad is not None:
            torch.testing.assert_close(grad, reference, rtol=0, atol=ATOL)
    with torch.no_grad():
        torch.testing.assert_close(kernel(X[30:], X[:30]).to_dense(), expected.detach(), rtol=0, atol=ATOL)
        # diag=True is k(x, x) (GPyTorch's contract): equal rows in another tensor.
        torch.testing.assert_close(kernel(X[30:60], X[30:60].clone(), diag=True),
                                   torch.diagonal(by_formula(X[30:60], X[30:60])), rtol=0, atol=ATOL)
    assert torch.equal(kernel.active_dims, active_dims)  # restored after every call


def test_lazy_kernel_tensors_evaluate_after_the_call(inputs):
    """A lazily evaluated kernel matrix built on views is right when evaluated later, and the
    kernel's active_dims are back in place meanwhile."""
    layout, X = inputs
    hamming = KERNELS["hamming"](layout, 0).double()
    lazy = hamming(X[:10], X[10:20])
    assert torch.equal(hamming.active_dims, torch.arange(6))
    plain = HammingKernel(num_categories=layout.num_categories, ard_num_dims=6).double()
    plain.lengthscale = hamming.lengthscale.detach()
    torch.testing.assert_close(lazy.to_dense(), plain(X[:10, :6], X[10:20, :6]).to_dense(), rtol=0, atol=ATOL)
