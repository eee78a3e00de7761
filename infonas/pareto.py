"""Pareto fronts and hypervolumes of objective vectors (BoTorch's sorting and partitioning).

Vectors are *signed*: every entry larger-is-better (``Objective.sign * value``), as BoTorch
expects. The hypervolume is the volume dominated by the front and bounded below by a reference
point ``r``: ``HV(Y) = vol(union_y [r, y])``.

Example:
    >>> import torch
    >>> Y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.4, 0.4], [0.2, 0.2]], dtype=torch.float64)
    >>> pareto_mask(Y).tolist()
    [True, True, True, False]
    >>> round(hypervolume(Y, torch.tensor([-0.1, -0.1], dtype=torch.float64)), 4)
    0.37
    >>> round(hypervolume_ratio([[0.4, 0.4]], reference=[0.0, 0.0], ideal=[1.0, 1.0]), 4)  # 0.4 x 0.4 of [0, 1]^2
    0.16
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from botorch.utils.multi_objective.box_decompositions.dominated import DominatedPartitioning
from botorch.utils.multi_objective.pareto import is_non_dominated

from infonas.exceptions import InvalidArgumentError

__all__ = ["hypervolume", "hypervolume_curve", "hypervolume_ratio", "normalise_between", "pareto_mask",
           "scaled_front_volume", "unit_normaliser"]


def _as_tensor(values: np.ndarray | torch.Tensor | Sequence[Sequence[float]]) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float64) if not isinstance(values, torch.Tensor) else values,
                           dtype=torch.float64)


def pareto_mask(Y: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Which rows of the ``n x m`` signed matrix ``Y`` are non-dominated (duplicates: the first)."""
    Y = _as_tensor(Y)
    if Y.ndim != 2:
        raise ValueError(f"expected an n x m matrix of objective vectors, got shape {tuple(Y.shape)}")
    if Y.shape[0] == 0:
        return torch.zeros(0, dtype=torch.bool)
    return is_non_dominated(Y, deduplicate=True)


def hypervolume(Y: np.ndarray | torch.Tensor, reference_point: np.ndarray | torch.Tensor | Sequence[float]) -> float:
    """Hypervolume dominated by the rows of signed ``Y`` above ``reference_point`` (0 if none is)."""
    Y = _as_tensor(Y)
    ref = _as_tensor(reference_point).reshape(-1)
    if Y.ndim != 2 or Y.shape[-1] != ref.numel():
        raise ValueError(f"objective vectors of shape {tuple(Y.shape)} do not match a {ref.numel()}-d reference point")
    better = Y[(Y > ref).all(dim=-1)]
    if better.shape[0] == 0:
        return 0.0
    front = better[pareto_mask(better)]
    return float(DominatedPartitioning(ref_point=ref, Y=front).compute_hypervolume())


def hypervolume_curve(Y: np.ndarray | torch.Tensor, reference_point: np.ndarray | torch.Tensor | Sequence[float]
                      ) -> list[float]:
    """The hypervolume of the first ``t`` rows of ``Y``, for ``t = 1..n`` (rows: evaluation order).

    Recomputed only when a row enters the front: a dominated row leaves the volume unchanged.
    """
    Y = _as_tensor(Y)
    ref = _as_tensor(reference_point).reshape(-1)
    curve: list[float] = []
    front = Y[:0]
    volume = 0.0
    for row in Y:
        if bool((row > ref).all()) and not bool(((front >= row).all(dim=-1)).any()):
            front = torch.cat([front, row.unsqueeze(0)])
            front = front[pareto_mask(front)]
            volume = float(DominatedPartitioning(ref_point=ref, Y=front).compute_hypervolume())
        curve.append(volume)
    return curve


def unit_normaliser(Y: np.ndarray | torch.Tensor):
    """``y -> (y - min) / (max - min)`` per column over ``Y`` (signed): the best value maps to 1.

    Returns a function applying the same affine map to other signed vectors.
    """
    Y = _as_tensor(Y)
    low, high = Y.min(dim=0).values, Y.max(dim=0).values
    span = torch.where(high > low, high - low, torch.ones_like(high))

    def normalise(values: np.ndarray | torch.Tensor) -> torch.Tensor:
        return (_as_tensor(values) - low) / span

    return normalise


def normalise_between(Y: np.ndarray | torch.Tensor, reference: np.ndarray | torch.Tensor | Sequence[float],
                      ideal: np.ndarray | torch.Tensor | Sequence[float]) -> torch.Tensor:
    """``y -> (y - r) / (i - r)`` per column of signed ``Y``: the reference point maps to 0, the ideal to 1.

    The ideal must be better than the reference in every objective (else the box is empty).
    """
    ref, best = _as_tensor(reference).reshape(-1), _as_tensor(ideal).reshape(-1)
    span = best - ref
    if span.numel() == 0 or not bool((span > 0).all()):
        raise InvalidArgumentError(f"the ideal point {best.tolist()} must be better than the reference point "
                                   f"{ref.tolist()} in every (signed) objective; give a reference point worse "
                                   "than every value that should count")
    return (_as_tensor(Y) - ref) / span


def scaled_front_volume(reference: np.ndarray | torch.Tensor | Sequence[float],
                        ideal: np.ndarray | torch.Tensor | Sequence[float],
                        true_front: np.ndarray | torch.Tensor | None = None) -> float:
    """The denominator of a hypervolume ratio, in objectives scaled by ``normalise_between``:
    ``HV(true_front)``, or 1 (the box ``[reference, ideal]``) when ``true_front`` is ``None``.

    Raises when the box is empty or the true front dominates no volume above the reference.

    Example:
        >>> scaled_front_volume([0.0, 0.0], [2.0, 2.0], true_front=[[1.0, 2.0], [2.0, 1.0]])
        0.75
    """
    zero = torch.zeros(_as_tensor(reference).numel(), dtype=torch.float64)
    if true_front is None:
        normalise_between(torch.zeros((0, zero.numel()), dtype=torch.float64), reference, ideal)  # box not empty
        return 1.0
    whole = hypervolume(normalise_between(true_front, reference, ideal), zero)
    if whole <= 0.0:
        raise InvalidArgumentError("the true front dominates no volume above the reference point, so no ratio "
                                   "of it is defined; give a reference point worse than the front")
    return whole


def hypervolume_ratio(Y: np.ndarray | torch.Tensor, reference: np.ndarray | torch.Tensor | Sequence[float],
                      ideal: np.ndarray | torch.Tensor | Sequence[float],
                      true_front: np.ndarray | torch.Tensor | None = None) -> float:
    """``HV(Y) / HV(true_front)`` in objectives scaled by ``normalise_between`` (``true_front=None``:
    over the volume of the box ``[reference, ideal]``, which is 1 once scaled).

    In [0, 1] when the rows of ``Y`` are among those whose front is ``true_front`` (or below the
    ideal); a ratio of volumes, so it does not depend on the objectives' units.
    """
    Y = normalise_between(_as_tensor(Y).reshape(-1, _as_tensor(reference).numel()), reference, ideal)
    whole = scaled_front_volume(reference, ideal, true_front)
    return hypervolume(Y, torch.zeros(Y.shape[-1], dtype=torch.float64)) / whole
