"""Acquisitions for Pareto fronts: measured objectives modelled, computed ones known exactly.

Objective vectors are signed (larger is better). ``known`` holds the computed objectives (FLOPs,
params, a latency lookup table) of each point; the measured ones (accuracy) have a GP each.

* ``pareto_front_entropy``: information gained about the Pareto front (Pareto-frontier entropy
  search, Suzuki et al. 2020; MESMO's truncation with the front instead of per-objective maxima).
  With one modelled objective ``f`` the front sample ``F*_s`` caps ``f(x)`` at
  ``y*_s(x) = max{f_s(p) : p in F*_s, c(p) >= c(x)}`` (``c``: the computed objectives), so
  ``alpha(x) = E_s[g phi(g) / (2 Phi(g)) - log Phi(g)]``, ``g = (y*_s(x) - mu(x)) / sigma(x)``.
* ``log_nehvi``: BoTorch's ``qLogNoisyExpectedHypervolumeImprovement`` (q = 1) on a ``ModelList``
  of the GP(s), each tabulated over the step's inputs (``TabulatedModel``), and a
  ``GenericDeterministicModel`` of the computed objectives; pending points
  are its ``X_pending``, so each candidate's score is the hypervolume it adds to the front of the
  baseline and pending points, jointly sampled.
* ``screen_for_front``: which candidates are worth either (the rest can hardly join the front).

Example:
    >>> import torch
    >>> mean = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    >>> std = torch.full((2, 1), 0.1, dtype=torch.float64)
    >>> known = torch.tensor([[-5.0], [-6.0]], dtype=torch.float64)  # 1 costs more and is surely worse
    >>> screen_for_front(mean, std, known).tolist()
    [0]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from infonas.acquisition.gaussian import joint_draws, mes_gain

__all__ = ["log_nehvi", "pareto_front_entropy", "screen_for_front"]

#: Rows per block of the pairwise comparisons (bounds memory at ``block x n``).
BLOCK = 256


def screen_for_front(mean: torch.Tensor, std: torch.Tensor, known: torch.Tensor,
                     limit: int | None = None) -> torch.Tensor:
    """Pool indices that could still join the front, best first, at most ``limit`` of them.

    ``mean``, ``std``: ``n x m`` modelled objectives; ``known``: ``n x c`` computed ones. ``x`` is
    out when some ``p`` is at least as good in every computed objective and its pessimistic
    ``mu - 3 sigma`` beats ``x``'s optimistic ``mu + 3 sigma`` in every modelled one; the rest are
    ranked by their optimistic margin over such covering points in the first modelled objective.
    Acquisition scores of the screened-out candidates would be ~0 anyway. When none has a positive
    margin, the best one is kept.
    """
    n = mean.shape[0]
    optimistic, pessimistic = mean + 3 * std, mean - 3 * std
    margin = torch.empty(n, dtype=torch.float64)
    for start in range(0, n, BLOCK):
        stop = min(start + BLOCK, n)
        covers = (known.unsqueeze(0) >= known[start:stop].unsqueeze(1)).all(dim=-1)
        covers[torch.arange(stop - start), torch.arange(start, stop)] = False
        beaten = (pessimistic[:, 1:].unsqueeze(0) >= optimistic[start:stop, 1:].unsqueeze(1)).all(dim=-1)
        rivals = torch.where(covers & beaten, pessimistic[:, 0].unsqueeze(0),
                             torch.tensor(float("-inf"), dtype=torch.float64))
        margin[start:stop] = optimistic[start:stop, 0] - rivals.max(dim=1).values
    order = torch.argsort(margin, descending=True, stable=True)
    order = order[margin[order] > 0] if bool((margin > 0).any()) else order[:1]
    return order if limit is None else order[:limit]


def pareto_front_entropy(mean: torch.Tensor, std: torch.Tensor, known: torch.Tensor, front_mean: torch.Tensor,
                         front_covariance: torch.Tensor, front_known: torch.Tensor, generator: torch.Generator,
                         num_samples: int = 64) -> torch.Tensor:
    """PFES score of each candidate (module docstring), one modelled objective.

    ``mean``, ``std`` (``n``) and ``known`` (``n x c``): the scored candidates. Front samples are
    joint draws of ``f`` over ``m`` points (the candidates and the evaluated architectures) with
    posterior ``front_mean`` (``m``), ``front_covariance`` (``m x m``) and computed objectives
    ``front_known`` (``m x c``). Returns ``n`` scores.
    """
    draws = joint_draws(front_mean, front_covariance, generator, num_samples)
    cap = torch.empty((len(mean), num_samples), dtype=torch.float64)
    for start in range(0, len(mean), BLOCK):
        # p caps x when p is at least as good in every computed objective.
        covers = (front_known.unsqueeze(0) >= known[start:start + BLOCK].unsqueeze(1)).all(dim=-1)
        capped = torch.where(covers.unsqueeze(-1), draws.unsqueeze(0), torch.tensor(float("-inf"), dtype=torch.float64))
        cap[start:start + BLOCK] = capped.max(dim=1).values
    gamma = (cap - mean.reshape(-1, 1)) / std.reshape(-1, 1)
    # No front point covers x: the front puts no bound on f(x), and this view of it gives no
    # information (gamma = +inf -> 0).
    gamma = torch.where(torch.isneginf(cap), torch.tensor(float("inf"), dtype=torch.float64), gamma)
    gain = torch.where(torch.isinf(gamma), torch.zeros_like(gamma), mes_gain(gamma))
    return gain.mean(dim=1)


def log_nehvi(models: Sequence, X: torch.Tensor, num_baseline: int, observed: torch.Tensor,
              known: torch.Tensor, generator: torch.Generator, num_samples: int = 64, *,
              num_pending: int = 0) -> torch.Tensor:
    """BoTorch's qLogNEHVI (q = 1) of the candidates ``X[num_baseline + num_pending:]``.

    ``models``: one fitted BoTorch model per modelled objective; ``X``: model inputs (encodings) of
    the evaluated architectures, then ``num_pending`` pending ones (BoTorch's ``X_pending``: the
    improvement is over the front of evaluated and pending points, sampled jointly with the
    candidate), then the candidates; ``observed``: the evaluated architectures' modelled
    objectives, as the models were fitted on (``num_baseline x m``); ``known``: every row's
    computed objectives (``len(X) x c``, ``c`` may be 0).

    Each model is asked once, for the joint posterior of every row of ``X``
    (``infonas.acquisition.tabulated``), and BoTorch's batches (the pruned baseline, the pending
    points and one candidate) gather theirs from it by row number: the same distributions as
    asking the model per batch, without recomputing the baseline's for every candidate. The
    baseline BoTorch prunes is screened first (``screen_for_front``), so its 2048 draws cover the
    points that could be on the front, not every observation.
    """
    from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
    from botorch.models.deterministic import GenericDeterministicModel
    from botorch.models.model import ModelList
    from botorch.sampling import ListSampler
    from botorch.sampling.get_sampler import get_sampler

    from infonas.acquisition.tabulated import TabulatedModel, row_numbers

    # Computed objectives are normalised to [0, 1] over the scored set: EHVI's argmax does not
    # depend on a per-objective scale, but the box decomposition is better conditioned.
    low, high = known.min(dim=0).values, known.max(dim=0).values
    known = (known - low) / torch.where(high > low, high - low, torch.ones_like(high))

    def computed(Z: torch.Tensor) -> torch.Tensor:
        return known[row_numbers(Z, len(known))]

    # Every input BoTorch will ask about is a row of X: one joint posterior over them all, and
    # BoTorch is handed row numbers, instead of the baseline's posterior recomputed with each
    # candidate.
    models = [TabulatedModel(m, X) for m in models]
    rows = models[0].rows
    # BoTorch prunes the baseline to the points with a sampled chance of being on the front, from
    # 2048 joint draws over all of it: O(n^2) a step and most of its time at hundreds of
    # observations. Points that can hardly be on the front (screen_for_front: another is at least
    # as good in every computed objective and 3 sigma better in every modelled one) go first, so
    # BoTorch samples only the rest.
    mean = torch.stack([m.mean[:num_baseline] for m in models], dim=-1)
    std = torch.stack([m.covariance.diagonal()[:num_baseline].clamp_min(1e-12).sqrt() for m in models], dim=-1)
    baseline = torch.sort(screen_for_front(mean, std, known[:num_baseline])).values
    if known.shape[-1]:
        models.append(GenericDeterministicModel(computed, num_outputs=known.shape[-1]))
    model = ModelList(*models)
    observed = torch.cat([observed, known[:num_baseline]], dim=-1)
    span = observed.max(dim=0).values - observed.min(dim=0).values
    reference = observed.min(dim=0).values - 0.1 * span.clamp_min(1e-6)
    seed = int(torch.randint(2**31, (1,), generator=generator))
    X_candidates = rows[num_baseline + num_pending:]
    X_pending = rows[num_baseline:num_baseline + num_pending] if num_pending else None
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        acquisition = qLogNoisyExpectedHypervolumeImprovement(
            model=model, ref_point=reference.tolist(), X_baseline=rows[baseline], X_pending=X_pending,
            sampler=ListSampler(*[get_sampler(m.posterior(rows[:1]), torch.Size([num_samples]), seed=seed + i)
                                  for i, m in enumerate(models)]),
            prune_baseline=True, cache_root=False)
        with torch.no_grad():
            scores = torch.cat([acquisition(X_candidates[i:i + 128].unsqueeze(1))
                                for i in range(0, len(X_candidates), 128)])
    return scores.to(torch.float64)
