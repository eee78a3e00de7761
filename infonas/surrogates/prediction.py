"""Predictive distributions of GP surrogates, on the scale of the targets (Gaussian, or the
reflected log-normal of targets modelled as ``z = -log(u - y)`` below a known bound ``u``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

DTYPE = torch.float64


@dataclass(frozen=True)
class Prediction:
    """A predictive distribution per architecture, on the scale of the targets.

    ``mean`` and ``variance`` are its moments (1-D float64 tensors); ``mean, variance =
    prediction`` unpacks them. The distribution itself is Gaussian with ``loc``/``scale``, or,
    for a surrogate fitted with an ``upper_bound`` ``u``, ``y = u - exp(-z)`` with
    ``z ~ N(loc, scale^2)`` (a reflected log-normal); ``log_prob``, ``interval`` and ``median``
    are exact for both.
    """

    mean: torch.Tensor
    variance: torch.Tensor
    loc: torch.Tensor
    scale: torch.Tensor
    upper_bound: float | None = None

    def __iter__(self):
        yield self.mean
        yield self.variance

    def __len__(self) -> int:
        return int(self.mean.shape[0])

    @classmethod
    def gaussian(cls, mean: torch.Tensor, variance: torch.Tensor) -> Prediction:
        variance = variance.clamp_min(0.0)
        return cls(mean, variance, mean, variance.sqrt())

    @classmethod
    def warped(cls, loc: torch.Tensor, variance: torch.Tensor, upper_bound: float) -> Prediction:
        variance = variance.clamp_min(0.0)
        # y = u - exp(-z): E[exp(-z)] = exp(-loc + var/2), Var = exp(-2 loc + var) (exp(var) - 1).
        mean = upper_bound - torch.exp(-loc + variance / 2)
        var_y = torch.exp(-2 * loc + variance) * torch.expm1(variance)
        return cls(mean, var_y, loc, variance.sqrt(), float(upper_bound))

    @property
    def median(self) -> torch.Tensor:
        """The predictive median (the mean for a Gaussian): a monotone point prediction."""
        if self.upper_bound is None:
            return self.loc
        return self.upper_bound - torch.exp(-self.loc)

    def _warp(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``z = w(y)`` and ``log |w'(y)|``."""
        if self.upper_bound is None:
            return y, torch.zeros_like(y)
        gap = (self.upper_bound - y).clamp_min(1e-300)
        return -torch.log(gap), -torch.log(gap)

    def log_prob(self, y) -> torch.Tensor:
        """Log predictive density of observed values ``y`` (one per architecture)."""
        y = torch.as_tensor(y, dtype=DTYPE)
        z, log_jacobian = self._warp(y)
        scale = self.scale.clamp_min(1e-150)
        log_density = -0.5 * ((z - self.loc) / scale) ** 2 - torch.log(scale) - 0.5 * math.log(2 * math.pi)
        if self.upper_bound is not None:
            log_density = torch.where(y < self.upper_bound, log_density, torch.full_like(y, -math.inf))
        return log_density + log_jacobian

    def interval(self, level: float = 0.9) -> tuple[torch.Tensor, torch.Tensor]:
        """The central ``level`` predictive interval ``(lower, upper)``."""
        if not 0 < level < 1:
            raise ValueError(f"level must lie in (0, 1), got {level}")
        z = float(torch.special.ndtri(torch.tensor(0.5 + level / 2, dtype=DTYPE)))
        low, high = self.loc - z * self.scale, self.loc + z * self.scale
        if self.upper_bound is None:
            return low, high
        return self.upper_bound - torch.exp(-low), self.upper_bound - torch.exp(-high)

    def __getitem__(self, index) -> Prediction:
        """The predictions of a subset of the architectures (index: slice, mask or indices)."""
        index = torch.as_tensor(index) if not isinstance(index, slice) else index
        return Prediction(self.mean[index], self.variance[index], self.loc[index], self.scale[index], self.upper_bound)


def check_bound(values: np.ndarray, upper_bound: float | None) -> None:
    """Targets of a bounded (log-warped) surrogate must lie strictly below the bound."""
    if upper_bound is not None and not np.all(values < upper_bound):
        worst = float(values.max())
        raise ValueError(f"targets must lie below upper_bound={upper_bound} for the log warp, got {worst}")


def warp_values(values: np.ndarray, upper_bound: float | None) -> np.ndarray:
    """``z = -log(u - y)`` with a bound ``u``, else ``y`` itself."""
    return values if upper_bound is None else -np.log(upper_bound - values)


def prediction(loc: torch.Tensor, variance: torch.Tensor, upper_bound: float | None) -> Prediction:
    """The ``Prediction`` of a GP's marginals ``(loc, variance)`` of ``z`` (or ``y`` without a bound)."""
    if upper_bound is None:
        return Prediction.gaussian(loc, variance)
    return Prediction.warped(loc, variance, upper_bound)
