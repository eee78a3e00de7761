"""Multi-fidelity MES: information about the target's optimum per unit cost, over (architecture, fidelity).

``alpha(x, j) = I(y_j(x); f*) / cost_j`` (Takeno et al., ICML 2020): ``f*`` is the optimum of the
target fidelity, ``y_j(x)`` a noisy observation of ``x`` at fidelity ``j``. The gain depends on
``x`` and ``j`` only through the target's posterior at ``x`` and ``rho = corr(f_target(x), y_j(x))``
(``information.fidelity_information_gain``), and it grows with ``|rho|`` up to MES at ``|rho| = 1``.

Example:
    >>> import torch
    >>> one = torch.ones(1, dtype=torch.float64)
    >>> gains = [float(fidelity_information_gain(0 * one, one, rho * one, one)) for rho in (0.5, 1.0)]
    >>> gains[0] < gains[1]
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

# Re-exported: MF-MES's gain and its nodes live with noisy MES's, which shares them.
from infonas.acquisition.information import fidelity_information_gain, hermite_nodes
from infonas.acquisition.single import PoolPosterior, max_value_samples

if TYPE_CHECKING:
    from infonas.surrogates.incremental import PoolBelief
    from infonas.surrogates.multi_fidelity import PoolMoments

__all__ = ["fidelity_correlations", "fidelity_information_gain", "greedy_fidelity_batch", "hermite_nodes",
           "multi_fidelity_mes", "rank_fidelity_pairs"]

#: How many pairs get the exact (quadrature) gain before the bounds are checked.
FIRST_EXACT = 256


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


def greedy_fidelity_batch(belief: PoolBelief, target: int, f_star: torch.Tensor, costs: torch.Tensor,
                          admissible: torch.Tensor, size: int) -> list[tuple[int, int]]:
    """Up to ``size`` cheap ``(architecture index, fidelity)`` pairs chosen jointly, or one target pair.

    Each pick is the best MF-MES pair (``rank_fidelity_pairs``) of the posterior conditioned on
    the earlier picks (``belief``: kriging believer, its moments updated in place; ``f*`` samples
    kept). A target pair first is the whole batch; a target pair later ends it, unpicked.
    ``admissible`` is updated too: a picked architecture is not picked again at any fidelity.

    Example (one architecture, a cheap fidelity that shows the target exactly, at a tenth of its cost):
        >>> from infonas.surrogates.multi_fidelity import PoolMoments
        >>> class Fixed:
        ...     moments = PoolMoments(torch.zeros(2, 1, dtype=torch.float64), torch.ones(2, 1, dtype=torch.float64),
        ...                           torch.ones(2, 1, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
        ...     def believe(self, index, fidelity): pass
        >>> costs = torch.tensor([0.1, 1.0], dtype=torch.float64)
        >>> greedy_fidelity_batch(Fixed(), 1, torch.ones(4, dtype=torch.float64), costs,
        ...                       torch.ones(2, 1, dtype=torch.bool), size=3)
        [(0, 0)]
    """
    picks: list[tuple[int, int]] = []
    while len(picks) < size:
        moments = belief.moments
        mean, std = moments.mean[target], moments.variance[target].sqrt()
        ranked = rank_fidelity_pairs(mean, std, fidelity_correlations(moments, target), costs, admissible, f_star)
        if not ranked or (picks and ranked[0][1] == target):
            break
        i, j = ranked[0]
        picks.append((i, j))
        admissible[:, i] = False
        if j == target:
            break
        belief.believe(i, j)
    return picks
