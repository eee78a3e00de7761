"""Gaussian building blocks shared by the acquisitions: the MES formula and joint posterior draws.

Example:
    >>> import torch
    >>> round(float(mes_gain(torch.tensor([0.0], dtype=torch.float64))), 4)  # log 2: f <= f* halves the mass
    0.6931
"""

from __future__ import annotations

import math

import torch

from infonas.linalg import jittered_cholesky

__all__ = ["joint_draws", "mes_gain"]

#: Jitter of a posterior covariance before sampling, relative to its mean variance.
SAMPLING_JITTER = 1e-8


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
    ``1e-8`` of the mean variance: enough for the near-duplicate architectures of a pool.
    """
    chol = jittered_cholesky(covariance, relative_jitter=SAMPLING_JITTER)
    n = covariance.shape[-1]
    if num_samples is None:
        return mean + chol @ torch.randn(n, generator=generator, dtype=covariance.dtype)
    return mean.reshape(-1, 1) + chol @ torch.randn(n, num_samples, generator=generator, dtype=covariance.dtype)
