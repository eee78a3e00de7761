"""Acquisition functions over a discrete pool of architectures.

Each entry of ``ACQUISITIONS`` scores every candidate of a pool (larger is better) from a
``PoolPosterior``: the surrogate's marginal mean and standard deviation over the pool, plus
joint draws over a few candidates. ``PROBLEM_ACQUISITIONS`` is the one table that says which
acquisitions apply to which kind of problem.

Why not BoTorch's acquisition classes directly: they evaluate ``b x q x d`` batches through the
model, one small posterior per candidate, which costs seconds over NB201's 6,466-cell pool; the
surrogate computes all marginals in one pass (milliseconds). The formulas are BoTorch's: LogEI
uses its numerically careful ``_log_ei_helper``; MES is Wang & Jegelka's closed form for q = 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from botorch.acquisition.analytic import _log_ei_helper


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
    mean, covariance = posterior.joint(top)
    jitter = 1e-8 * covariance.diagonal().mean().clamp_min(1e-12)
    chol, _ = torch.linalg.cholesky_ex(covariance + jitter * torch.eye(len(top), dtype=covariance.dtype))
    normal = torch.randn(len(top), num_samples, generator=generator, dtype=covariance.dtype)
    draws = mean.reshape(-1, 1) + chol @ normal
    return draws.max(dim=0).values.clamp_min(best_f)


def max_value_entropy(posterior: PoolPosterior, best_f: float, generator: torch.Generator,
                      num_max_samples: int = 64) -> torch.Tensor:
    """Expected information gain about the optimum's value ``f*`` (MES, Wang & Jegelka 2017).

    ``alpha(x) = E_{f*}[ g phi(g) / (2 Phi(g)) - log Phi(g) ]``, ``g = (f* - mu(x)) / sigma(x)``.
    """
    f_star = max_value_samples(posterior, best_f, generator, num_max_samples)
    gamma = (f_star.reshape(1, -1) - posterior.mean.reshape(-1, 1)) / posterior.std.reshape(-1, 1)
    log_cdf = torch.special.log_ndtr(gamma)
    log_pdf = -0.5 * gamma.pow(2) - 0.5 * math.log(2 * math.pi)
    gain = gamma * torch.exp(log_pdf - log_cdf) / 2 - log_cdf
    return gain.mean(dim=1)


def fidelity_information_gain(mean: torch.Tensor, std: torch.Tensor, correlation: torch.Tensor,
                              f_star: torch.Tensor, num_nodes: int = 48) -> torch.Tensor:
    """Information gained about ``f*`` (the target's optimum) by observing ``y`` at any fidelity.

    Multi-fidelity MES (Takeno et al., ICML 2020): with ``f`` the target at ``x`` (posterior
    ``mean``, ``std``), ``rho = corr(f, y)``, ``gamma = (f* - mean) / std`` and
    ``g(z) = (gamma - rho z) / sqrt(1 - rho^2)``,

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
    log_pdf = -0.5 * gamma.pow(2) - 0.5 * math.log(2 * math.pi)
    closed = rho.pow(2) * gamma * torch.exp(log_pdf - log_cdf) / 2 - log_cdf
    nodes, weights = _hermite_nodes(num_nodes, gamma.dtype)
    g = (gamma.unsqueeze(-1) - rho.unsqueeze(-1) * nodes) / torch.sqrt(1 - rho.pow(2)).unsqueeze(-1)
    log_cdf_g = torch.special.log_ndtr(g)
    tail = (weights * torch.exp(log_cdf_g - log_cdf.unsqueeze(-1)) * log_cdf_g).sum(-1)
    return (closed + tail).mean(dim=1)


_HERMITE: dict[tuple[int, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}


def _hermite_nodes(num_nodes: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilists' Gauss-Hermite nodes and weights normalised to ``E_{z ~ N(0, 1)}``."""
    if (num_nodes, dtype) not in _HERMITE:
        import numpy as np

        nodes, weights = np.polynomial.hermite_e.hermegauss(num_nodes)
        _HERMITE[(num_nodes, dtype)] = (torch.as_tensor(nodes, dtype=dtype),
                                        torch.as_tensor(weights / weights.sum(), dtype=dtype))
    return _HERMITE[(num_nodes, dtype)]


def thompson_sample(posterior: PoolPosterior, best_f: float, generator: torch.Generator,
                    max_joint: int = 1500) -> torch.Tensor:
    """One joint posterior draw of ``f`` over the ``max_joint`` most promising candidates.

    The cheap fallback: candidates are ranked by ``mu + 3 sigma`` and the rest score ``-inf``.
    """
    n = posterior.mean.numel()
    subset = torch.topk(posterior.mean + 3 * posterior.std, min(max_joint, n)).indices
    mean, covariance = posterior.joint(subset)
    jitter = 1e-8 * covariance.diagonal().mean().clamp_min(1e-12)
    chol, _ = torch.linalg.cholesky_ex(covariance + jitter * torch.eye(len(subset), dtype=covariance.dtype))
    draw = mean + chol @ torch.randn(len(subset), generator=generator, dtype=mean.dtype)
    scores = torch.full((n,), float("-inf"), dtype=mean.dtype)
    scores[subset] = draw
    return scores


ACQUISITIONS: dict[str, Callable[[PoolPosterior, float, torch.Generator], torch.Tensor]] = {
    "log-ei": log_expected_improvement,
    "mes": max_value_entropy,
    "ts": thompson_sample,
}

#: (objectives, fidelities) -> acquisitions that apply, the default first.
PROBLEM_ACQUISITIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("single-objective", "single-fidelity"): ("mes", "log-ei", "ts"),
    # Information gain per unit cost about the target's optimum (``fidelity_information_gain``).
    ("single-objective", "multi-fidelity"): ("mf-mes",),
}


def acquisition_for(name: str, objectives: str = "single-objective", fidelities: str = "single-fidelity"
                    ) -> Callable[[PoolPosterior, float, torch.Generator], torch.Tensor]:
    """The acquisition ``name``, checked against the problem kind it is asked for."""
    allowed = PROBLEM_ACQUISITIONS.get((objectives, fidelities), ())
    if name not in allowed:
        raise ValueError(f"acquisition {name!r} does not apply to {objectives}, {fidelities} problems; "
                         f"choose one of {list(allowed)}")
    return ACQUISITIONS[name]
