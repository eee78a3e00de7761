"""Multi-fidelity Pareto-front entropy: information about the front per unit cost, over (architecture, fidelity).

One modelled objective ``f`` (accuracy at the target fidelity) against computed ones ``c`` (FLOPs,
params: exact). A look ``y = y_j(x)`` at fidelity ``j`` is scored by

    ``alpha(x, j) = E_s[ I(y_j(x); f(x) <= y*_s(x)) ] / cost_j``,

``y*_s(x) = max{f_s(p) : p in F*_s, c(p) >= c(x)}`` the cap a front sample ``F*_s`` (a joint
posterior draw of ``f``) puts on ``f(x)``, as in PFES (``pareto.pareto_front_entropy``). Why:

* Given ``F*_s``, what the front says about ``x`` is the event ``f(x) <= y*_s(x)`` (``x`` does not
  dominate it), the event MF-MES conditions on with ``f*`` in place of ``y*_s(x)``. ``(f, y)`` is
  the same bivariate Gaussian in both, so ``H[y] - H[y | f <= c]`` is MF-MES's gain
  (``information.fidelity_information_gain``) at ``gamma = (c - mu) / sigma``, only with ``c``
  depending on the candidate and the sample (``fidelity_pareto_gain``).
* ``rho = corr(f_target(x), y_j(x)) = Cov(f_target(x), f_j(x)) / (sigma sqrt(Var f_j(x) + noise_j))``,
  from the multi-fidelity GP's posterior at the same architecture (``fidelity_correlations``).
* No front point covers ``x`` (every one is cheaper in some computed objective): nothing bounds
  ``f(x)``, the cap is ``+inf`` and the look tells nothing about the front (gain 0).
* At ``rho = 1`` (an exact look at the target) the gain is MES's truncation, i.e. bo-mesmo's PFES score.

Example:
    >>> import torch
    >>> one = torch.ones(1, dtype=torch.float64)
    >>> cap = torch.tensor([[0.5]], dtype=torch.float64)
    >>> low, high = (float(fidelity_pareto_gain(0 * one, one, rho * one, cap)) for rho in (0.5, 1.0))
    >>> 0 < low < high
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

from infonas.acquisition.gaussian import joint_draws
from infonas.acquisition.information import fidelity_information_gain
from infonas.acquisition.pareto import screen_for_front

if TYPE_CHECKING:
    from infonas.surrogates.multi_fidelity import PoolMoments

__all__ = ["best_pair", "fidelity_correlations", "fidelity_pareto_gain", "front_caps", "greedy_pareto_batch",
           "multi_fidelity_pareto_entropy", "pair_scores", "screen_candidates"]

#: Rows per block of the pairwise comparisons (bounds memory at ``block x m x num_samples``).
BLOCK = 256
#: How many pairs ``best_pair`` scores exactly before it checks the bounds of the rest.
FIRST_EXACT = 32


def fidelity_correlations(moments: PoolMoments, target: int) -> torch.Tensor:
    """``rho[j, x] = Cov(f_target(x), f_j(x)) / (sd f_target(x) sd y_j(x))``, ``y_j = f_j + noise_j``:
    ``num_fidelities x n``. At the target itself it is ``sigma / sqrt(sigma^2 + noise)``, a noisy look.

    Example:
        >>> import torch
        >>> from infonas.surrogates.multi_fidelity import PoolMoments
        >>> t = lambda *rows: torch.tensor(rows, dtype=torch.float64)
        >>> moments = PoolMoments(t([0.0], [0.0]), t([4.0], [1.0]), t([1.0], [1.0]), t(0.0, 0.0))
        >>> fidelity_correlations(moments, 1).tolist()
        [[0.5], [1.0]]
    """
    std = moments.variance[target].sqrt()
    look = (moments.variance + moments.noise.reshape(-1, 1)).sqrt()
    return moments.target_covariance / (std.unsqueeze(0) * look)


def screen_candidates(mean: torch.Tensor, std: torch.Tensor, known: torch.Tensor,
                      limit: int | None = None) -> torch.Tensor:
    """``screen_for_front(mean[:, None], std[:, None], known, limit)`` of one modelled objective, the same
    indices; in ``O(n log n)`` when there is one computed objective.

    There ``p`` covers ``x`` when ``known[p] >= known[x]``, so ``x``'s rival (the best pessimistic
    ``mu - 3 sigma`` of another covering point) is the best of the strictly larger ``known`` values
    (a prefix maximum in descending order) and of ``x``'s tie group without ``x`` (its top two).
    Hand-written: ``screen_for_front`` compares all pairs, a third of a second over 6,466 cells.

    Example:
        >>> mean = torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64)
        >>> known = torch.tensor([[-1.0], [-2.0], [-2.0]], dtype=torch.float64)  # FLOPs, negated
        >>> screen_candidates(mean, 0.1 * torch.ones(3, dtype=torch.float64), known).tolist()
        [0, 2]
    """
    if known.shape[1] != 1:
        return screen_for_front(mean.unsqueeze(-1), std.unsqueeze(-1), known, limit)
    optimistic, pessimistic = (mean + 3 * std).numpy(), (mean - 3 * std).numpy()
    order = np.argsort(-known[:, 0].numpy(), kind="stable")
    value, low = known[order, 0].numpy(), pessimistic[order]
    starts = np.flatnonzero(np.r_[True, value[1:] != value[:-1]])
    group = np.cumsum(np.r_[True, value[1:] != value[:-1]]) - 1
    before = np.r_[-np.inf, np.maximum.accumulate(low)[starts[1:] - 1]]
    top = np.maximum.reduceat(low, starts)
    is_top = low == top[group]
    second = np.maximum.reduceat(np.where(is_top, -np.inf, low), starts)
    alone = is_top & (np.add.reduceat(is_top.astype(np.int64), starts)[group] == 1)
    rival = np.maximum(before[group], np.where(alone, second[group], top[group]))
    margin = torch.empty(len(order), dtype=torch.float64)
    margin[torch.as_tensor(order)] = torch.as_tensor(optimistic[order] - rival)
    ranked = torch.argsort(margin, descending=True, stable=True)
    ranked = ranked[margin[ranked] > 0] if bool((margin > 0).any()) else ranked[:1]
    return ranked if limit is None else ranked[:limit]


def front_caps(known: torch.Tensor, draws: torch.Tensor, front_known: torch.Tensor) -> torch.Tensor:
    """``y*_s(x) = max{draws[p, s] : front_known[p] >= known[x] in every column}``: ``n x num_samples``.

    ``known``: ``n x c`` computed objectives of the scored candidates (signed, larger is better);
    ``draws``: ``m x num_samples`` front samples; ``front_known``: ``m x c``. ``+inf`` where no
    front point covers ``x`` (nothing bounds ``f(x)``).

    Example:
        >>> import torch
        >>> draws = torch.tensor([[1.0], [3.0]], dtype=torch.float64)
        >>> front_known = torch.tensor([[-1.0], [-5.0]], dtype=torch.float64)  # the second costs more
        >>> front_caps(torch.tensor([[-2.0], [-0.5]], dtype=torch.float64), draws, front_known).tolist()
        [[1.0], [inf]]
    """
    cap = torch.empty((known.shape[0], draws.shape[1]), dtype=draws.dtype)
    never = torch.tensor(float("-inf"), dtype=draws.dtype)
    for start in range(0, known.shape[0], BLOCK):
        covers = (front_known.unsqueeze(0) >= known[start:start + BLOCK].unsqueeze(1)).all(dim=-1)
        cap[start:start + BLOCK] = torch.where(covers.unsqueeze(-1), draws.unsqueeze(0), never).max(dim=1).values
    return torch.where(torch.isneginf(cap), torch.tensor(float("inf"), dtype=cap.dtype), cap)


def fidelity_pareto_gain(mean: torch.Tensor, std: torch.Tensor, correlation: torch.Tensor, cap: torch.Tensor,
                         num_nodes: int = 16) -> torch.Tensor:
    """``I(y; f <= cap[x, s])`` of a look with ``corr(f(x), y) = rho``, per candidate and sample: ``n x S``.

    ``mean``, ``std``, ``correlation``: ``n``; ``cap``: ``n x S`` (``+inf``: gain 0). The caps
    differ per candidate, and ``fidelity_information_gain`` takes one ``f*`` vector for all: each
    (candidate, sample) is a row of its own with ``mean - cap`` as its mean and ``f* = 0``, which
    gives the same ``gamma = (cap - mean) / std``, bit for bit.
    """
    n, num_samples = cap.shape
    bounded = torch.isfinite(cap)
    shifted = torch.where(bounded, mean.reshape(-1, 1) - cap, torch.zeros_like(cap))
    gain = fidelity_information_gain(shifted.reshape(-1), std.reshape(-1, 1).expand(n, num_samples).reshape(-1),
                                     correlation.reshape(-1, 1).expand(n, num_samples).reshape(-1),
                                     torch.zeros(1, dtype=cap.dtype), num_nodes).reshape(n, num_samples)
    return torch.where(bounded, gain, torch.zeros_like(gain))


def multi_fidelity_pareto_entropy(mean: torch.Tensor, std: torch.Tensor, known: torch.Tensor,
                                  correlations: torch.Tensor, costs: torch.Tensor, admissible: torch.Tensor,
                                  front_mean: torch.Tensor, front_covariance: torch.Tensor, front_known: torch.Tensor,
                                  generator: torch.Generator, num_samples: int = 64) -> torch.Tensor:
    """``alpha(x, j)`` (module docstring) of every admissible pair, ``-inf`` elsewhere: ``num_fidelities x n``.

    ``mean``, ``std``: the target's posterior at the ``n`` candidates; ``known``: their computed
    objectives (``n x c``); ``correlations``, ``admissible``: ``num_fidelities x n``; ``costs``:
    ``num_fidelities``. Front samples are joint draws of the target over ``m`` points (the
    candidates and the evaluated ones) with posterior ``front_mean``, ``front_covariance`` and
    computed objectives ``front_known`` (``m x c``), drawn as ``pareto_front_entropy`` draws them,
    so at ``rho = 1`` and unit costs a row is its score.
    """
    draws = joint_draws(front_mean, front_covariance, generator, num_samples)
    return pair_scores(mean, std, correlations, front_caps(known, draws, front_known), costs, admissible)


def pair_scores(mean: torch.Tensor, std: torch.Tensor, correlations: torch.Tensor, cap: torch.Tensor,
                costs: torch.Tensor, admissible: torch.Tensor) -> torch.Tensor:
    """``alpha(x, j) = mean_s I(y_j(x); f(x) <= cap[x, s]) / cost_j`` of every admissible pair, ``-inf``
    elsewhere: ``num_fidelities x n`` (``cap``: ``n x S``, ``front_caps``)."""
    scores = torch.full(admissible.shape, float("-inf"), dtype=mean.dtype)
    fidelity_of, index_of = torch.nonzero(admissible, as_tuple=True)
    if index_of.numel():
        gain = fidelity_pareto_gain(mean[index_of], std[index_of], correlations[fidelity_of, index_of], cap[index_of])
        scores[fidelity_of, index_of] = gain.mean(dim=1) / costs[fidelity_of]
    return scores


def best_pair(mean: torch.Tensor, std: torch.Tensor, correlations: torch.Tensor, cap: torch.Tensor,
              costs: torch.Tensor, admissible: torch.Tensor) -> tuple[int, float]:
    """The flat index (``fidelity * n + candidate``) and score of ``pair_scores``' first maximum.

    The gain grows with ``|rho|`` up to the exact look's (``rho = 1``, closed form), so that
    look's gain ``/ cost_j`` bounds each pair's score: the quadrature runs only over pairs whose
    bound can still beat the best exact score (strictly, so a tie is found as ``argmax`` finds it).
    ``(-1, -inf)`` when no pair is admissible.

    Example:
        >>> one = torch.ones(2, dtype=torch.float64)
        >>> cap = torch.tensor([[0.5], [0.5]], dtype=torch.float64)
        >>> correlations = torch.tensor([[0.9, 0.5], [1.0, 1.0]], dtype=torch.float64)
        >>> index, score = best_pair(0 * one, one, correlations, cap, torch.tensor([0.1, 1.0], dtype=torch.float64),
        ...                          torch.ones(2, 2, dtype=torch.bool))
        >>> index, score == float(pair_scores(0 * one, one, correlations, cap, torch.tensor([0.1, 1.0],
        ...                      dtype=torch.float64), torch.ones(2, 2, dtype=torch.bool)).max())
        (0, True)
    """
    n = mean.numel()
    exact_look = fidelity_pareto_gain(mean, std, torch.ones_like(mean), cap).mean(dim=1)
    never = torch.tensor(float("-inf"), dtype=mean.dtype)
    bounds = torch.where(admissible, exact_look.unsqueeze(0) / costs.unsqueeze(1), never).reshape(-1)
    by_bound = torch.argsort(bounds, descending=True, stable=True)
    by_bound = by_bound[bounds[by_bound] > float("-inf")]
    if by_bound.numel() == 0:
        return -1, float("-inf")
    exact = torch.full_like(bounds, float("-inf"))
    count = min(FIRST_EXACT, by_bound.numel())
    done = 0
    while True:
        chosen = by_bound[done:count]
        fidelity_of, index_of = chosen // n, chosen % n
        gain = fidelity_pareto_gain(mean[index_of], std[index_of], correlations[fidelity_of, index_of], cap[index_of])
        exact[chosen] = gain.mean(dim=1) / costs[fidelity_of]
        if count == by_bound.numel() or float(exact.max()) > float(bounds[by_bound[count]]):
            break
        done, count = count, min(2 * count, by_bound.numel())
    best = int(torch.argmax(exact))
    return best, float(exact[best])


class Belief(Protocol):
    """Pool moments conditioned on believed picks (``infonas.surrogates.incremental.PoolBelief``)."""

    moments: PoolMoments

    def believe(self, index: int, fidelity: int) -> None: ...


def greedy_pareto_batch(belief: Belief, target: int, cap: torch.Tensor, costs: torch.Tensor,
                        admissible: torch.Tensor, size: int) -> list[tuple[int, int]]:
    """Up to ``size`` cheap ``(candidate index, fidelity)`` pairs chosen jointly, or one target pair.

    Each pick is the best ``pair_scores`` pair (the first in (fidelity, candidate) order on a tie:
    the cheaper look) of the posterior conditioned on the earlier picks (``belief``, kriging
    believer: means kept, the target's variance and its covariances with the fidelities shrunk by
    a rank-one term), the front samples' caps ``cap`` (``n x S``) kept. A target pair first is the
    whole batch; a target pair later ends it, unpicked, and so does a best pair that tells nothing
    (score 0: nothing bounds its candidates). ``admissible`` (``num_fidelities x n``) is
    updated in place: a picked candidate is not picked again at any fidelity.

    Example (two candidates whose cheap looks show the target exactly, at a tenth of its cost):
        >>> from infonas.surrogates.multi_fidelity import PoolMoments
        >>> class Fixed:
        ...     moments = PoolMoments(torch.zeros(2, 2, dtype=torch.float64), torch.ones(2, 2, dtype=torch.float64),
        ...                           torch.ones(2, 2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
        ...     def believe(self, index, fidelity): pass
        >>> cap = torch.tensor([[0.5], [0.5]], dtype=torch.float64)
        >>> greedy_pareto_batch(Fixed(), 1, cap, torch.tensor([0.1, 1.0], dtype=torch.float64),
        ...                     torch.ones(2, 2, dtype=torch.bool), size=3)
        [(0, 0), (1, 0)]
    """
    n = cap.shape[0]
    picks: list[tuple[int, int]] = []
    while len(picks) < size:
        moments = belief.moments
        best, score = best_pair(moments.mean[target], moments.variance[target].sqrt(),
                                fidelity_correlations(moments, target), cap, costs, admissible)
        if best < 0 or (picks and (best // n == target or score <= 0)):
            break
        picks.append((best % n, best // n))
        admissible[:, best % n] = False
        if best // n == target:
            break
        belief.believe(best % n, best // n)
    return picks
