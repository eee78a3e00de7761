"""Single-objective, single-fidelity acquisitions over a discrete pool of architectures.

Each scores every candidate of a pool (larger is better) from a ``PoolPosterior``: the
surrogate's marginal mean and standard deviation over the pool, plus joint draws over a few
candidates. All share one signature, ``(posterior, best_f, generator) -> scores``.

Why not BoTorch's acquisition classes directly: they evaluate ``b x q x d`` batches through the
model, one small posterior per candidate, which costs seconds over NB201's 6,466-cell pool; the
surrogate computes all marginals in one pass (milliseconds). The formulas are BoTorch's: LogEI
uses its numerically careful ``_log_ei_helper``; MES is Wang & Jegelka's closed form for q = 1.
With observation noise (``PoolPosterior.noise``, the surrogate's learned noise) an evaluation shows
``y = f + eps``, not ``f``: LogEI and MES then value what ``y`` can tell (augmented EI, noisy MES),
so a candidate whose ``f`` is already pinned down is not worth a re-measurement of its noise.

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

from infonas.acquisition.gaussian import joint_draws
from infonas.acquisition.information import fidelity_information_gain, observation_correlation

__all__ = ["PoolPosterior", "log_augmented_expected_improvement", "log_expected_improvement", "max_value_entropy",
           "max_value_samples", "thompson_sample"]


@dataclass
class PoolPosterior:
    """Posterior of ``f`` over a candidate pool: marginals, and joint draws on request.

    ``joint(indices)`` returns the mean vector and covariance matrix of ``f`` at those pool
    indices (small index sets only). ``noise``: the variance ``s_n^2`` of a new evaluation's
    observation noise, ``y = f + eps`` (a scalar, or one per candidate), in the units of ``mean``;
    0, the default, scores noise-free looks at ``f``.
    """

    mean: torch.Tensor
    std: torch.Tensor
    joint: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    noise: torch.Tensor | float = 0.0


def log_expected_improvement(posterior: PoolPosterior, best_f: float, generator: torch.Generator) -> torch.Tensor:
    """``log E[max(f(x) - best_f, 0)] = log h((mu - best_f) / sigma) + log sigma`` (BoTorch's LogEI).

    The improvement of the latent ``f``: observation noise is left out on purpose. A pool never
    holds an evaluated architecture again, and on NAS-Bench-201 discounting looks near the data by
    the noise (``log_augmented_expected_improvement``) kept 2 of 20 seeds in a local trap for 99
    and 133 queries, where this form needed at most 54 (``benchmarks/results/search_bayesian.json``
    has both, as ``bo-ei`` and ``bo-ei[acquisition=log-aei]``).
    """
    return _log_ei_helper((posterior.mean - best_f) / posterior.std) + posterior.std.log()


def log_augmented_expected_improvement(posterior: PoolPosterior, best_f: float,
                                       generator: torch.Generator) -> torch.Tensor:
    """LogEI discounted by the share of an observation's spread that is signal (augmented EI).

    With observation-noise variance ``s_n^2 > 0`` this is augmented EI (Huang, Allen, Notz & Zeng,
    J. Global Optim. 34, 2006): EI times ``1 - s_n / r``, ``r = sqrt(sigma^2 + s_n^2)``, the share
    of ``y``'s spread that is ``f``'s. A candidate whose ``f`` is known (``sigma << s_n``) scores
    ~0: measuring it again would show noise. The log of the factor,
    ``log sigma^2 - log r - log(r + s_n)``, has no cancellation; zero noise adds exactly 0.
    Chosen over BoTorch's ``qLogNoisyExpectedImprovement``, which integrates over fantasies of the
    evaluated points by Monte Carlo: one closed form per candidate is what a pool of thousands
    affords. (Huang et al. also replace ``best_f`` by the posterior mean at an "effective best"
    evaluated point; the caller chooses ``best_f``.) For noisy evaluations (training from scratch).

    Example:
        >>> mean, std = torch.zeros(2, dtype=torch.float64), torch.tensor([1.0, 0.01], dtype=torch.float64)
        >>> exact, noisy = PoolPosterior(mean, std, None), PoolPosterior(mean, std, None, noise=0.01)
        >>> aei = log_augmented_expected_improvement
        >>> [round(float(p), 2) for p in aei(exact, 0.0, None) - aei(noisy, 0.0, None)]  # -log(1 - s_n / r)
        [0.1, 5.31]
    """
    log_ei = log_expected_improvement(posterior, best_f, generator)
    noise = torch.as_tensor(posterior.noise, dtype=posterior.std.dtype)
    if not bool((noise > 0).any()):
        return log_ei
    spread = torch.sqrt(posterior.std.pow(2) + noise)
    share = 2 * posterior.std.log() - spread.log() - torch.log(spread + noise.sqrt())
    return log_ei + torch.where(noise > 0, share, torch.zeros_like(share))


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

    Noise-free: ``alpha(x) = E_{f*}[ g phi(g) / (2 Phi(g)) - log Phi(g) ]``, ``g = (f* - mu(x)) / sigma(x)``.
    With observation noise ``s_n^2`` an evaluation shows ``y = f + eps``: ``alpha(x) = I(y; f*)``,
    the gain of a look with ``rho = corr(f, y) = sigma / sqrt(sigma^2 + s_n^2)``
    (``information.fidelity_information_gain``; Takeno et al., ICML 2020, with one fidelity,
    which BoTorch's ``qMaxValueEntropy`` estimates by sampling ``y``). ``f*`` is the latent optimum.
    """
    f_star = max_value_samples(posterior, best_f, generator, num_max_samples)
    correlation = observation_correlation(posterior.std, posterior.noise)
    # 8 nodes are within 4e-8 of adaptive quadrature (16: 3e-11) at half the cost over a whole pool.
    return fidelity_information_gain(posterior.mean, posterior.std, correlation, f_star, num_nodes=8)


def thompson_sample(posterior: PoolPosterior, best_f: float, generator: torch.Generator,
                    max_joint: int = 1500) -> torch.Tensor:
    """One joint posterior draw of ``f`` over the ``max_joint`` most promising candidates.

    The cheap fallback: candidates are ranked by ``mu + 3 sigma`` and the rest score ``-inf``.
    A draw of ``f``, whatever ``posterior.noise``: the sample's argmax is what it proposes.
    """
    n = posterior.mean.numel()
    subset = torch.topk(posterior.mean + 3 * posterior.std, min(max_joint, n)).indices
    draw = joint_draws(*posterior.joint(subset), generator)
    scores = torch.full((n,), float("-inf"), dtype=draw.dtype)
    scores[subset] = draw
    return scores
