"""Gaussian building blocks shared by the acquisitions: the MES formula and joint posterior draws.

Example:
    >>> import torch
    >>> round(float(mes_gain(torch.tensor([0.0], dtype=torch.float64))), 4)  # log 2: f <= f* halves the mass
    0.6931
"""

from __future__ import annotations

import math
import warnings

import torch

from infonas.exceptions import NumericalError, NumericalWarning
from infonas.linalg import jittered_cholesky

__all__ = ["joint_draws", "mes_gain"]

#: Jitter of a posterior covariance before sampling, relative to its mean variance.
SAMPLING_JITTER = 1e-8

#: Cholesky tries before sampling falls back to an eigendecomposition (jitter up to 1e-6 relative).
SAMPLING_TRIES = 3


def mes_gain(gamma: torch.Tensor, rho_squared: torch.Tensor | None = None) -> torch.Tensor:
    """Information about ``f*`` from observing ``f(x)``, given ``gamma = (f* - mu(x)) / sigma(x)``.

    ``g phi(g) / (2 Phi(g)) - log Phi(g)`` (Wang & Jegelka 2017): the entropy of ``N(mu, sigma^2)``
    minus that of the same normal truncated above at ``f*``. With ``rho_squared``,
    ``rho^2 g phi(g) / (2 Phi(g)) - log Phi(g)``: the closed-form part of multi-fidelity MES
    (``multi_fidelity.fidelity_information_gain``). Elementwise; ``log Phi`` is computed in log space.
    """
    log_cdf = torch.special.log_ndtr(gamma)
    log_pdf = -0.5 * gamma.pow(2) - 0.5 * math.log(2 * math.pi)
    scaled = gamma if rho_squared is None else rho_squared * gamma
    return scaled * torch.exp(log_pdf - log_cdf) / 2 - log_cdf


def joint_draws(mean: torch.Tensor, covariance: torch.Tensor, generator: torch.Generator,
                num_samples: int | None = None) -> torch.Tensor:
    """Draws of ``N(mean, covariance)``: ``mean + L z``, ``L L^T = covariance + eps I``, ``z ~ N(0, I)``.

    ``num_samples=None`` gives one draw (shape ``n``); otherwise ``n x num_samples``. ``eps`` is
    ``1e-8`` of the mean variance: enough for the near-duplicate architectures of a pool; more
    (up to ``1e-6``) comes with a ``NumericalWarning``. A covariance that is still not positive
    definite is sampled through its nearest PSD matrix ``L = V sqrt(max(Lambda, 0))``
    (``covariance = V Lambda V^T``), with a ``NumericalWarning``; one holding NaN raises
    ``NumericalError``.

    Example:
        >>> cov = torch.tensor([[1.0, 1.0], [1.0, 1.0]], dtype=torch.float64)  # f1 = f2: rank 1
        >>> draw = joint_draws(torch.zeros(2, dtype=torch.float64), cov, torch.Generator().manual_seed(0))
        >>> bool(torch.isclose(draw[0], draw[1], atol=1e-3))
        True
    """
    n = covariance.shape[-1]
    try:
        root = jittered_cholesky(covariance, relative_jitter=SAMPLING_JITTER, max_tries=SAMPLING_TRIES,
                                 name=f"the joint posterior covariance of {n} points")
    except NumericalError:
        if not bool(torch.isfinite(covariance).all()):
            raise
        root = _nearest_psd_root(covariance)
    if num_samples is None:
        return mean + root @ torch.randn(n, generator=generator, dtype=covariance.dtype)
    return mean.reshape(-1, 1) + root @ torch.randn(n, num_samples, generator=generator, dtype=covariance.dtype)


def _nearest_psd_root(covariance: torch.Tensor) -> torch.Tensor:
    """``V sqrt(max(Lambda, 0))``: a square root of the PSD matrix nearest ``covariance`` (Frobenius).

    A pool's posterior covariance ``K** - K*x (K + S)^-1 Kx*`` is PSD in exact arithmetic and
    loses it to round-off only; drawing from its nearest PSD matrix keeps the search going where
    stopping it over round-off would not help. The warning reports how negative it was.
    """
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    scale = float(covariance.diagonal().mean().clamp_min(1e-12))
    smallest = float(eigenvalues.min())
    warnings.warn(
        f"the joint posterior covariance of {covariance.shape[-1]} points is not positive definite even with "
        f"a jitter of {SAMPLING_JITTER * 10 ** (SAMPLING_TRIES - 1):.0e} of its mean variance {scale:.3g} "
        f"(smallest eigenvalue {smallest:.2e}, {smallest / scale:.0e} of it); sampling from its nearest "
        "positive semi-definite matrix (negative eigenvalues set to 0) instead",
        NumericalWarning, stacklevel=3)
    return eigenvectors * eigenvalues.clamp_min(0.0).sqrt()
