"""Multi-fidelity MES: information about the target's optimum per unit cost, over (architecture, fidelity).

``alpha(x, j) = I(y_j(x); f*) / cost_j`` (Takeno et al., ICML 2020): ``f*`` is the optimum of the
target fidelity, ``y_j(x)`` a noisy observation of ``x`` at fidelity ``j``. The gain depends on
``x`` and ``j`` only through the target's posterior at ``x`` and ``rho = corr(f_target(x), y_j(x))``
(``fidelity_information_gain``), and it grows with ``|rho|`` up to MES at ``|rho| = 1``.

Example:
    >>> import torch
    >>> one = torch.ones(1, dtype=torch.float64)
    >>> gains = [float(fidelity_information_gain(0 * one, one, rho * one, one)) for rho in (0.5, 1.0)]
    >>> gains[0] < gains[1]
    True
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import torch

from infonas.acquisition.gaussian import mes_gain
from infonas.acquisition.single import PoolPosterior, max_value_samples

if TYPE_CHECKING:
    from infonas.surrogates.multi_fidelity import PoolMoments

__all__ = ["fidelity_correlations", "fidelity_information_gain", "hermite_nodes", "multi_fidelity_mes",
           "rank_fidelity_pairs"]

#: How many pairs get the exact (quadrature) gain before the bounds are checked.
FIRST_EXACT = 256


# A pure function of its arguments, so an LRU memo is exact; bounded, since callers may ask for
# any node count or dtype.
@lru_cache(maxsize=16)
def hermite_nodes(num_nodes: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilists' Gauss-Hermite nodes ``z_i`` and weights ``w_i``: ``E_{z ~ N(0, 1)}[h(z)] ~ sum_i w_i h(z_i)``.

    Example:
        >>> nodes, weights = hermite_nodes(8, torch.float64)
        >>> round(float((weights * nodes**2).sum()), 6)
        1.0
    """
    nodes, weights = np.polynomial.hermite_e.hermegauss(num_nodes)
    return torch.as_tensor(nodes, dtype=dtype), torch.as_tensor(weights / weights.sum(), dtype=dtype)


def fidelity_information_gain(mean: torch.Tensor, std: torch.Tensor, correlation: torch.Tensor,
                              f_star: torch.Tensor, num_nodes: int = 48) -> torch.Tensor:
    """Information gained about ``f*`` (the target's optimum) by observing ``y`` at any fidelity.

    With ``f`` the target at ``x`` (posterior ``mean``, ``std``), ``rho = corr(f, y)``,
    ``gamma = (f* - mean) / std`` and ``g(z) = (gamma - rho z) / sqrt(1 - rho^2)``,

    ``alpha = E_{f*}[ rho^2 gamma phi(gamma) / (2 Phi(gamma)) - log Phi(gamma) + E_q[log Phi(g(z))] ]``,

    ``q(z) = phi(z) Phi(g(z)) / Phi(gamma)`` being the standardised ``y`` given ``f <= f*``. The
    first two terms are exact (the ``E_q[z^2]`` of the entropy in closed form); the last is a
    Gauss-Hermite quadrature, since it has none. ``rho = 1`` recovers MES's closed form.
    Written by hand: BoTorch's ``qMultiFidelityMaxValueEntropy`` evaluates one small joint
    posterior per candidate through the model, seconds over a 6,466-cell pool.

    Shapes: ``mean``, ``std``, ``correlation``: ``n``; ``f_star``: ``k`` samples; returns ``n``.
    """
    rho = correlation.clamp(-1.0 + 1e-9, 1.0 - 1e-9).reshape(-1, 1)
    gamma = (f_star.reshape(1, -1) - mean.reshape(-1, 1)) / std.reshape(-1, 1)
    log_cdf = torch.special.log_ndtr(gamma)
    closed = mes_gain(gamma, rho.pow(2))
    nodes, weights = hermite_nodes(num_nodes, gamma.dtype)
    g = (gamma.unsqueeze(-1) - rho.unsqueeze(-1) * nodes) / torch.sqrt(1 - rho.pow(2)).unsqueeze(-1)
    log_cdf_g = torch.special.log_ndtr(g)
    tail = (weights * torch.exp(log_cdf_g - log_cdf.unsqueeze(-1)) * log_cdf_g).sum(-1)
    return (closed + tail).mean(dim=1)


def fidelity_correlations(moments: PoolMoments, target: int) -> torch.Tensor:
    """``rho[j, x] = Cov(f_target(x), f_j(x)) / (sd f_target(x) * sd y_j(x))``: ``num_fidelities x n``.

    ``y_j = f_j + noise_j`` is what an evaluation at fidelity ``j`` observes.
    """
    std = moments.variance[target].sqrt()
    return torch.stack([moments.target_covariance[j] / (std * (moments.variance[j] + moments.noise[j]).sqrt())
                        for j in range(moments.mean.shape[0])])


def rank_fidelity_pairs(mean: torch.Tensor, std: torch.Tensor, correlations: torch.Tensor, costs: torch.Tensor,
                        admissible: torch.Tensor, f_star: torch.Tensor) -> list[tuple[int, int]]:
    """Admissible ``(architecture index, fidelity)`` pairs, best ``I(y_j(x); f*) / cost_j`` first.

    ``mean``, ``std``: the target's posterior (``n``); ``correlations``, ``admissible``:
    ``num_fidelities x n``; ``costs``: ``num_fidelities``. The gain grows with ``|rho|`` and equals
    MES at ``|rho| = 1``, so ``MES / cost`` bounds every pair's score: the exact (quadrature) gain
    is computed only for pairs whose bound can still beat the best exact score, and only those
    pairs are ranked (at least ``FIRST_EXACT``, or every admissible pair when fewer).
    """
    n = mean.numel()
    mes = fidelity_information_gain(mean, std, torch.ones(n, dtype=mean.dtype), f_star)
    never = torch.tensor(float("-inf"), dtype=mean.dtype)
    bounds = torch.where(admissible, mes.unsqueeze(0) / costs.unsqueeze(1), never).reshape(-1)
    by_bound = torch.argsort(bounds, descending=True, stable=True)
    by_bound = by_bound[bounds[by_bound] > float("-inf")]
    if by_bound.numel() == 0:
        return []
    exact = torch.full_like(bounds, float("-inf"))
    count = min(FIRST_EXACT, by_bound.numel())
    while True:
        chosen = by_bound[:count]
        fidelity_of, arch_of = chosen // n, chosen % n
        gain = fidelity_information_gain(mean[arch_of], std[arch_of], correlations[fidelity_of, arch_of], f_star)
        exact[chosen] = gain / costs[fidelity_of]
        if count == by_bound.numel() or float(exact.max()) >= float(bounds[by_bound[count]]):
            break
        count = min(2 * count, by_bound.numel())
    order = torch.argsort(exact, descending=True, stable=True)
    order = order[exact[order] > float("-inf")]
    return [(int(i) % n, int(i) // n) for i in order]


def multi_fidelity_mes(moments: PoolMoments, target: int,
                       joint: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], best_f: float,
                       costs: torch.Tensor, admissible: torch.Tensor, generator: torch.Generator,
                       num_max_samples: int = 32) -> list[tuple[int, int]]:
    """MF-MES over a pool: ``(architecture index, fidelity)`` pairs, best information per cost first.

    ``moments``: the surrogate's ``PoolMoments`` over the pool (standardised units); ``joint``:
    the target's joint posterior at pool indices, for sampling ``f*`` (``max_value_samples``, never
    below ``best_f``, the best standardised target value seen); ``admissible``:
    ``num_fidelities x n`` pairs that may be proposed. Empty when no pair is admissible.
    """
    mean, std = moments.mean[target], moments.variance[target].sqrt()
    f_star = max_value_samples(PoolPosterior(mean, std, joint), best_f, generator, num_max_samples)
    return rank_fidelity_pairs(mean, std, fidelity_correlations(moments, target), costs, admissible, f_star)
