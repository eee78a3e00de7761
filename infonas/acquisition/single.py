"""Single-objective, single-fidelity acquisitions over a discrete pool of architectures.

Each scores every candidate of a pool (larger is better) from a ``PoolPosterior``: the
surrogate's marginal mean and standard deviation over the pool, plus joint draws over a few
candidates. All share one signature, ``(posterior, best_f, generator) -> scores``.

Why not BoTorch's acquisition classes directly: they evaluate ``b x q x d`` batches through the
model, one small posterior per candidate, which costs seconds over NB201's 6,466-cell pool; the
surrogate computes all marginals in one pass (milliseconds). The formulas are BoTorch's: LogEI
uses its numerically careful ``_log_ei_helper``; MES is Wang & Jegelka's closed form for q = 1.

Example:
    >>> mean, std = torch.tensor([0.0, 1.0], dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    >>> posterior = PoolPosterior(mean, std, lambda i: (mean[i], torch.diag(std[i] ** 2)))
    >>> int(log_expected_improvement(posterior, 0.5, torch.Generator()).argmax())
    1
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from botorch.acquisition.analytic import _log_ei_helper

from infonas.acquisition.gaussian import joint_draws, mes_gain

__all__ = ["PoolPosterior", "log_expected_improvement", "max_value_entropy", "max_value_samples", "thompson_sample"]


@dataclass
class PoolPosterior:
    """Posterior of ``f`` over a candidate pool: marginals, and joint draws on request.

    ``joint(indices)`` returns the mean vector and covariance matrix of ``f`` at those pool
    indices (small index sets only).
    """

    mean: torch.Tensor
    std: torch.Tensor
    joint: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def log_expected_improvement(posterior: PoolPosterior, best_f: float, generator: torch.Generator) -> torch.Tensor:
    """``log E[max(f(x) - best_f, 0)] = log h((mu - best_f) / sigma) + log sigma`` (BoTorch's LogEI)."""
    return _log_ei_helper((posterior.mean - best_f) / posterior.std) + posterior.std.log()


def max_value_samples(posterior: PoolPosterior, best_f: float, generator: torch.Generator,
                      num_samples: int = 64, top_k: int = 400) -> torch.Tensor:
    """Samples of the optimum's value ``f* = max_x f(x)`` over the pool, never below ``best_f``.

    Joint posterior draws over the ``top_k`` candidates of highest ``mu + 3 sigma``: the rest
    hold the maximum with negligible probability, and one Cholesky of ``top_k`` points is cheap.
    """
    top = torch.topk(posterior.mean + 3 * posterior.std, min(top_k, posterior.mean.numel())).indices
    draws = joint_draws(*posterior.joint(top), generator, num_samples)
    return draws.max(dim=0).values.clamp_min(best_f)


def max_value_entropy(posterior: PoolPosterior, best_f: float, generator: torch.Generator,
                      num_max_samples: int = 64) -> torch.Tensor:
    """Expected information gain about the optimum's value ``f*`` (MES, Wang & Jegelka 2017).

    ``alpha(x) = E_{f*}[ g phi(g) / (2 Phi(g)) - log Phi(g) ]``, ``g = (f* - mu(x)) / sigma(x)``.
    """
    f_star = max_value_samples(posterior, best_f, generator, num_max_samples)
    gamma = (f_star.reshape(1, -1) - posterior.mean.reshape(-1, 1)) / posterior.std.reshape(-1, 1)
    return mes_gain(gamma).mean(dim=1)


def thompson_sample(posterior: PoolPosterior, best_f: float, generator: torch.Generator,
                    max_joint: int = 1500) -> torch.Tensor:
    """One joint posterior draw of ``f`` over the ``max_joint`` most promising candidates.

    The cheap fallback: candidates are ranked by ``mu + 3 sigma`` and the rest score ``-inf``.
    """
    n = posterior.mean.numel()
    subset = torch.topk(posterior.mean + 3 * posterior.std, min(max_joint, n)).indices
    draw = joint_draws(*posterior.joint(subset), generator)
    scores = torch.full((n,), float("-inf"), dtype=draw.dtype)
    scores[subset] = draw
    return scores
