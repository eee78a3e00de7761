"""Conformance suite for architecture kernels: GPyTorch's kernel tests on real encodings, plus ours.

``KernelConformance`` extends GPyTorch's ``BaseKernelTestCase`` (batching, ``active_dims``,
``diag``, indexing, pickling, dtypes), feeding it encodings of NAS-Bench-201 cells instead of
Gaussian noise, and adds the properties every covariance on architectures must have:

* the Gram matrix on encoded cells is symmetric positive semi-definite:
  :math:`K = K^\\top`, :math:`\\lambda_{\\min}(K) \\ge -\\varepsilon`;
* ``kernel(x, diag=True)`` equals the diagonal of ``kernel(x)``, and ``k(x, x')`` does not depend
  on the batch ``x'`` is evaluated in;
* a kernel that reads the cell's graph (``graph_invariant = True``) gives isomorphic cells the
  same row: :math:`k(\\pi x, \\cdot) = k(x, \\cdot)` for a relabelling :math:`\\pi` of the cell's nodes.

A test class mixes the suite with ``unittest.TestCase`` and says how to build the kernel and
encode cells. A base-class test that cannot apply is overridden with the reason.

Example:
    >>> import unittest
    >>> from infonas.encodings import CategoricalEncoding
    >>> from infonas.surrogates.kernels import HammingKernel
    >>> class TestMyKernel(KernelConformance, unittest.TestCase):
    ...     def encode(self, archs):
    ...         return CategoricalEncoding(self.space)(archs)
    ...     def create_kernel_no_ard(self, **kwargs):
    ...         return HammingKernel(**kwargs)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from gpytorch.kernels import Kernel
from gpytorch.test.base_kernel_test_case import BaseKernelTestCase
from torch import Tensor

from search_spaces.base import Architecture
from search_spaces.nb201.space import NB201Space

__all__ = ["KernelConformance", "isomorphic_relabelling"]


def isomorphic_relabelling(arch: Architecture, space: NB201Space) -> Architecture | None:
    """The NB201 cell with intermediate nodes 1 and 2 swapped, when that is an isomorphism.

    Nodes 1 and 2 are interchangeable exactly when the edge ``1 -> 2`` carries no operation
    (``none``): then each node reads only the input and feeds only the output, and swapping them
    swaps the edges ``0->1 / 0->2`` and ``1->3 / 2->3``. Returns ``None`` when the edge is used,
    or when the swap gives the same cell.
    """
    ops = list(arch.ops)
    if ops[2] != "none":  # position 2 is the edge 1 -> 2 (NB201_EDGES order)
        return None
    ops[0], ops[1], ops[4], ops[5] = ops[1], ops[0], ops[5], ops[4]
    swapped = space.make(ops)
    return None if swapped == arch else swapped


class KernelConformance(BaseKernelTestCase):
    """GPyTorch's kernel tests and architecture-specific checks, for one kernel class.

    Subclasses implement ``encode`` (the kernel's input for NB201 cells) and
    ``create_kernel_no_ard`` (and ``create_kernel_ard`` when the kernel has per-column
    parameters); set ``graph_invariant = True`` when the kernel reads the cell's graph, so that
    isomorphic cells must be indistinguishable to it.
    """

    seed = 0
    graph_invariant = False
    #: The tolerance on the smallest eigenvalue of a Gram matrix (float64 inputs and kernel).
    psd_tolerance = 1e-9

    # ----- what a subclass provides -----

    def encode(self, archs: Sequence[Architecture]) -> Tensor:
        """The ``len(archs) x d`` input this kernel reads for ``archs`` (any dtype)."""
        raise NotImplementedError

    # ----- architecture data for the base tests -----

    @property
    def space(self) -> NB201Space:
        return NB201Space()

    def architectures(self, n: int, seed: int = 0) -> list[Architecture]:
        rng = np.random.default_rng([seed, n])
        return [self.space.sample(rng) for _ in range(n)]

    def _inputs(self, n: int, seed: int = 0, dtype: torch.dtype | None = None) -> Tensor:
        # The base tests build their kernels in torch's default dtype: match it, unless asked.
        return self.encode(self.architectures(n, seed)).to(dtype or torch.get_default_dtype())

    def create_data_no_batch(self) -> Tensor:
        return self._inputs(12)

    def create_data_single_batch(self) -> Tensor:
        x = self._inputs(2 * 5, seed=1)
        return x.reshape(2, 5, x.shape[-1])

    def create_data_double_batch(self) -> Tensor:
        x = self._inputs(3 * 2 * 5, seed=2)
        return x.reshape(3, 2, 5, x.shape[-1])

    # ----- base tests whose hard-coded shapes assume 10-column Gaussian data -----

    def _check_active_dims(self, active_dims: list[int]) -> None:
        x = self.create_data_no_batch()
        covar = self.create_kernel_no_ard(active_dims=active_dims)(x).to_dense()
        # "Every column of the selection" rather than no active_dims: a kernel whose parameters
        # are per column (one weight per position) learns its width from it.
        everything = list(range(len(active_dims)))
        expected = self.create_kernel_no_ard(active_dims=everything)(x[:, active_dims]).to_dense()
        self.assertAllClose(covar, expected, rtol=1e-3, atol=1e-5)

    def test_active_dims_list(self) -> None:
        self._check_active_dims(list(range(0, self.create_data_no_batch().shape[-1], 2)))

    def test_active_dims_range(self) -> None:
        self._check_active_dims(list(range(1, self.create_data_no_batch().shape[-1])))

    def _check_batch_equals_loop(self, kernel: Kernel, x: Tensor) -> None:
        batched = kernel(x).to_dense()
        looped = torch.stack([torch.stack([kernel(x[i, j]).to_dense() for j in range(x.shape[1])])
                              for i in range(x.shape[0])])
        self.assertAllClose(batched, looped, rtol=1e-3, atol=1e-5)
        self.assertAllClose(kernel(x, diag=True), looped.diagonal(dim1=-1, dim2=-2), rtol=1e-3, atol=1e-5)

    def test_no_batch_kernel_double_batch_x_ard(self) -> None:
        # The base asks for num_dims=2 (its data has 2 columns); encodings are as wide as they are.
        x = self.create_data_double_batch()
        try:
            kernel = self.create_kernel_ard(num_dims=x.shape[-1], batch_shape=torch.Size([]))
        except NotImplementedError:
            self.skipTest("the kernel has no per-column (ARD) parameters")
        self._check_batch_equals_loop(kernel, x)

    def test_smoke_double_batch_kernel_double_batch_x_ard(self) -> None:
        x = self.create_data_double_batch()
        try:
            kernel = self.create_kernel_ard(num_dims=x.shape[-1], batch_shape=torch.Size([3, 2]))
        except NotImplementedError:
            self.skipTest("the kernel has no per-column (ARD) parameters")
        kernel(x).to_dense()
        kernel(x, diag=True)

    # ----- properties of a covariance on architectures -----

    def _double_kernels(self) -> list[Kernel]:
        kernels = [self.create_kernel_no_ard().double()]
        try:
            width = self._inputs(1).shape[-1]
            kernels.append(self.create_kernel_ard(num_dims=width).double())
        except NotImplementedError:
            pass
        return kernels

    def test_gram_matrix_is_symmetric_psd_on_cells(self) -> None:
        x = self._inputs(40, seed=3, dtype=torch.float64)
        for kernel in self._double_kernels():
            gram = kernel(x).to_dense().detach()
            self.assertAllClose(gram, gram.T, rtol=0.0, atol=1e-12)
            smallest = float(torch.linalg.eigvalsh(gram).min())
            self.assertGreaterEqual(smallest, -self.psd_tolerance, f"{type(kernel).__name__}: not PSD")

    def test_diag_matches_full_matrix(self) -> None:
        x = self._inputs(25, seed=4, dtype=torch.float64)
        for kernel in self._double_kernels():
            full = kernel(x).to_dense().detach()
            self.assertAllClose(kernel(x, diag=True).detach(), full.diagonal(), rtol=0.0, atol=1e-10)
            # k(x, x') is a function of the pair, not of the batch around it.
            cross = kernel(x[:7], x[7:]).to_dense().detach()
            self.assertAllClose(cross, full[:7, 7:], rtol=0.0, atol=1e-10)

    def test_duplicate_cells_have_equal_rows(self) -> None:
        archs = self.architectures(10, seed=5)
        x = self.encode([*archs, archs[0]]).to(torch.float64)
        for kernel in self._double_kernels():
            gram = kernel(x).to_dense().detach()
            self.assertAllClose(gram[0], gram[-1], rtol=0.0, atol=1e-10)

    def test_isomorphic_cells_are_indistinguishable(self) -> None:
        if not self.graph_invariant:
            self.skipTest("the kernel reads categorical positions, which a relabelling of nodes permutes")
        pairs = [(a, b) for a in self.architectures(200, seed=6)
                 if (b := isomorphic_relabelling(a, self.space)) is not None]
        self.assertGreater(len(pairs), 3, "too few relabelled cells sampled")
        pairs = pairs[:12]
        others = self.architectures(8, seed=7)
        x = self.encode([a for a, _ in pairs] + [b for _, b in pairs] + others).to(torch.float64)
        first, second = x[: len(pairs)], x[len(pairs): 2 * len(pairs)]
        for kernel in self._double_kernels():
            gram = kernel(x).to_dense().detach()
            self.assertAllClose(gram[: len(pairs)], gram[len(pairs): 2 * len(pairs)], rtol=0.0, atol=1e-10)
            self.assertAllClose(kernel(first, second, diag=True).detach(), kernel(first, diag=True).detach(),
                                rtol=0.0, atol=1e-10)
