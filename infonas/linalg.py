"""Cholesky factors of covariance matrices, shared by the surrogates and the acquisitions.

``jittered_cholesky`` factors ``A + eps I`` with linear_operator's ``psd_safe_cholesky`` (GPyTorch's
own retry loop: ``eps`` grows tenfold per failed try, ``NotPSDError`` when all fail). This wrapper
adds what that function lacks:

* jitter relative to the matrix's scale (its mean diagonal): linear_operator's default, an absolute
  ``1e-8``, is large on posterior variances of ``1e-6`` and nothing on variances of ``1e4``;
* a planned first jitter (sampling always adds ``1e-8`` of the mean variance) that is not a retry;
* one infonas ``NumericalWarning`` per factorisation that needed more than the planned jitter,
  naming the matrix and the jitter, instead of one ``RuntimeWarning`` per retry;
* an ``InfonasError`` (``NumericalError``) naming the matrix when every try fails, where
  ``torch.linalg.cholesky_ex`` would hand back a silently wrong factor.

Example:
    >>> import torch
    >>> L = jittered_cholesky(torch.eye(3, dtype=torch.float64), relative_jitter=1e-8)
    >>> bool(torch.allclose(L @ L.T, torch.eye(3, dtype=torch.float64)))
    True
"""

from __future__ import annotations

import warnings

import torch
from linear_operator.utils.cholesky import psd_safe_cholesky
from linear_operator.utils.errors import NanError, NotPSDError
from linear_operator.utils.warnings import NumericalWarning as LinearOperatorNumericalWarning

from infonas.exceptions import InvalidArgumentError, NumericalError, NumericalWarning

__all__ = ["MIN_RETRY_JITTER", "jittered_cholesky"]

#: The smallest jitter of a retry, relative to the matrix's mean diagonal.
MIN_RETRY_JITTER = 1e-8

#: Floor of the scale, so that an all-zero matrix still gets a (tiny) jitter.
_MIN_SCALE = 1e-12


def jittered_cholesky(matrix: torch.Tensor, *, relative_jitter: float = 0.0, max_tries: int = 1,
                      name: str = "matrix") -> torch.Tensor:
    """Lower Cholesky factor ``L`` of ``A + eps I`` for a symmetric PSD ``A`` (``n x n``).

    With ``s = mean(diag A)`` (at least ``1e-12``), the first try uses ``eps = relative_jitter * s``
    (planned: no warning); each retry adds jitter, ``eps_k = eps + max(10 eps, 1e-8 s) 10^(k-1)``,
    ``max_tries`` tries in all. A factor that needed a retry comes with a ``NumericalWarning``;
    when all fail (or ``A`` holds NaN) ``NumericalError`` is raised. ``name`` says which matrix,
    in both messages.

    Sampling (``joint_draws``) plans ``relative_jitter = 1e-8`` for the near-duplicate cells of a
    pool and allows 3 tries; a GP's training covariance, which includes the noise, plans none and
    allows 6.

    Example:
        >>> import warnings
        >>> singular = torch.ones(2, 2, dtype=torch.float64)  # rank 1: needs jitter
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     L = jittered_cholesky(singular, max_tries=3, name="K")
        >>> [type(w.message).__name__ for w in caught], bool(torch.isfinite(L).all())
        (['NumericalWarning'], True)
    """
    if max_tries < 1:
        raise InvalidArgumentError(f"max_tries must be at least 1 (one factorisation), got {max_tries}; pass 1 or more")
    n = matrix.shape[-1]
    scale = float(matrix.diagonal(dim1=-2, dim2=-1).mean().clamp_min(_MIN_SCALE))
    planned = relative_jitter * scale
    shifted = matrix + planned * torch.eye(n, dtype=matrix.dtype, device=matrix.device) if planned else matrix
    retry = max(10 * planned, MIN_RETRY_JITTER * scale)
    description = f"{name} ({n} x {n}, mean diagonal {scale:.3g})"
    if max_tries == 1:
        # psd_safe_cholesky needs at least one retry: with max_tries=0 its failure path reads an
        # unbound name. One try is just cholesky_ex and its flag.
        factor, info = torch.linalg.cholesky_ex(shifted)
        if int(info.max()) != 0:
            raise _failure(description, planned, scale, matrix)
        return _finite(factor, description)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            factor = psd_safe_cholesky(shifted, jitter=retry, max_tries=max_tries - 1)
        except (NanError, NotPSDError) as error:
            raise _failure(description, planned + retry * 10 ** (max_tries - 2), scale, matrix) from error
    retries = 0
    for record in caught:
        if issubclass(record.category, LinearOperatorNumericalWarning):
            retries += 1
        else:  # not ours to judge: pass it on as it came
            warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)
    if retries:
        added = planned + retry * 10 ** (retries - 1)
        warnings.warn(
            f"{description} is not numerically positive definite: its Cholesky factor needed a jitter of "
            f"{added:.1e} ({added / scale:.0e} of its mean diagonal) after {retries} retr"
            f"{'y' if retries == 1 else 'ies'}, beyond the planned {planned:.1e}; results use the jittered "
            "matrix (near-duplicate inputs or a noise level near zero make it singular)",
            NumericalWarning, stacklevel=2)
    return _finite(factor, description)


def _finite(factor: torch.Tensor, description: str) -> torch.Tensor:
    # An inf on the diagonal factors "successfully" (cholesky_ex reports no failure).
    if not bool(torch.isfinite(factor).all()):
        raise NumericalError(f"{description} must be finite to be factorised, but its Cholesky factor holds "
                             "NaN or inf; the inputs or hyperparameters that produced it are not finite: "
                             "check the training targets and refit")
    return factor


def _failure(description: str, jitter: float, scale: float, matrix: torch.Tensor) -> NumericalError:
    if not bool(torch.isfinite(matrix).all()):
        return NumericalError(f"{description} must be finite to be factorised, but holds NaN or inf entries; "
                              "the inputs or hyperparameters that produced it are not finite: check the "
                              "training targets and refit")
    smallest = float(torch.linalg.eigvalsh(matrix).min())
    return NumericalError(
        f"{description} must be positive definite for a Cholesky factor, but is not even with a jitter of "
        f"{jitter:.1e} ({jitter / scale:.0e} of its mean diagonal); its smallest eigenvalue is {smallest:.2e} "
        f"({smallest / scale:.0e} of the mean diagonal): allow more tries if that is round-off, else check "
        "that the kernel is positive semi-definite and the noise level positive")
