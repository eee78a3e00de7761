"""The kernel conformance suite (infonas.testing.kernels) run over every kernel in infonas.surrogates.kernels."""

from __future__ import annotations

import unittest

import torch

from infonas.encodings.categorical import CategoricalEncoding
from infonas.encodings.wl import WLFeaturizer
from infonas.surrogates.kernels import AdditiveHammingKernel, HammingKernel, WLSubtreeKernel
from infonas.testing.kernels import KernelConformance


class CategoricalInputs:
    """Inputs of the categorical kernels: one option index per NB201 edge."""

    def encode(self, archs):
        return CategoricalEncoding(self.space)(archs)

    @staticmethod
    def width(kwargs, default):
        active_dims = kwargs.get("active_dims")
        return default if active_dims is None else len(active_dims)


class TestHammingKernel(CategoricalInputs, KernelConformance, unittest.TestCase):
    """Botorch's path (no category counts): every ARD and batch configuration."""

    def create_kernel_no_ard(self, **kwargs):
        return HammingKernel(**kwargs)

    def create_kernel_ard(self, num_dims, **kwargs):
        return HammingKernel(ard_num_dims=num_dims, **kwargs)


class TestHammingKernelOneHotPath(CategoricalInputs, KernelConformance, unittest.TestCase):
    """The fast path the surrogates use: category counts given, one lengthscale per edge."""

    def create_kernel_no_ard(self, **kwargs):
        return HammingKernel(num_categories=[5] * self.width(kwargs, 6), **kwargs)

    def create_kernel_ard(self, num_dims, **kwargs):
        return HammingKernel(num_categories=[5] * num_dims, ard_num_dims=num_dims, **kwargs)


class TestAdditiveHammingKernel(CategoricalInputs, KernelConformance, unittest.TestCase):
    def create_kernel_no_ard(self, **kwargs):
        kernel = AdditiveHammingKernel(self.width(kwargs, 6), **kwargs)
        kernel.weights = torch.linspace(0.1, 0.6, kernel.raw_weights.shape[-1])
        return kernel


class TestWLSubtreeKernel(KernelConformance, unittest.TestCase):
    graph_invariant = True

    def encode(self, archs):
        featurizer = WLFeaturizer(self.space, h_max=1)
        vocabulary = featurizer.vocabulary(archs)
        return featurizer.transform(archs, vocabulary)[:, vocabulary.columns(1)]

    def create_kernel_no_ard(self, **kwargs):
        return WLSubtreeKernel(**kwargs)

    def test_kernel_dtype_device(self):
        self.skipTest("WLSubtreeKernel has no parameters: it computes in its inputs' dtype, and GPyTorch "
                      "reports torch's default dtype for a kernel without parameters")
