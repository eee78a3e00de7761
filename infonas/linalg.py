"""Small dense linear algebra shared by the surrogates and the acquisitions.

Example:
    >>> import torch
    >>> L = jittered_cholesky(torch.eye(3, dtype=torch.float64), relative_jitter=1e-8)
    >>> bool(torch.allclose(L @ L.T, torch.eye(3, dtype=torch.float64)))
    True
"""

from __future__ import annotations

import torch

__all__ = ["jittered_cholesky"]

#: The smallest absolute jitter tried once the first factorisation fails.
MIN_RETRY_JITTER = 1e-8


def jittered_cholesky(matrix: torch.Tensor, *, relative_jitter: float = 0.0, max_tries: int = 1) -> torch.Tensor:
    """Lower Cholesky factor ``L`` of ``A + eps I`` for a symmetric PSD ``A`` (``n x n``).

    The first try uses ``eps = relative_jitter * mean(diag A)`` (the mean clamped at ``1e-12``;
    ``relative_jitter = 0``: no jitter); while the factorisation fails, ``eps <- max(10 eps, 1e-8)``,
    ``max_tries`` attempts in all. The last attempt's factor is returned even if it failed (as
    ``torch.linalg.cholesky_ex`` does): callers sample or solve with it rather than stop a search.

    Posterior covariances of a few hundred pool points take one try at ``relative_jitter = 1e-8``;
    a GP's training covariance, which includes the noise, takes ``relative_jitter = 0`` and up to
    six tries.
    """
    if max_tries < 1:
        raise ValueError(f"max_tries must be at least 1 (one factorisation), got {max_tries}")
    identity = torch.eye(matrix.shape[-1], dtype=matrix.dtype)
    jitter = relative_jitter * matrix.diagonal().mean().clamp_min(1e-12) if relative_jitter else 0.0
    for attempt in range(max_tries):
        factor, info = torch.linalg.cholesky_ex(matrix + jitter * identity)
        if attempt == max_tries - 1 or int(info) == 0:
            break
        jitter = max(jitter * 10, MIN_RETRY_JITTER)
    return factor
