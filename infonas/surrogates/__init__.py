"""Surrogates: GP models of architecture performance.

Kernels (``HammingKernel``, ``WLSubtreeKernel``, ``AdditiveHammingKernel`` and the spec language
``"wl+hamming+additive"``), the one-objective ``Surrogate`` and the ``MultiFidelitySurrogate``
over (architecture, fidelity), both built on ``GPSurrogateBase`` (see its contract).
"""

from infonas.surrogates.base import GPSurrogateBase
from infonas.surrogates.gp import KERNEL_SPECS, Surrogate, fit_many
from infonas.surrogates.kernels import (
                                       KERNELS,
                                       AdditiveHammingKernel,
                                       HammingKernel,
                                       WLSubtreeKernel,
                                       build_kernel,
                                       register_kernel,
)
from infonas.surrogates.multi_fidelity import MultiFidelitySurrogate, PoolMoments
from infonas.surrogates.prediction import Prediction

__all__ = ["KERNELS", "KERNEL_SPECS", "AdditiveHammingKernel", "GPSurrogateBase", "HammingKernel", "MultiFidelitySurrogate",
           "PoolMoments", "Prediction", "Surrogate", "WLSubtreeKernel", "build_kernel", "fit_many",
           "register_kernel"]
