"""Pareto masks and hypervolumes of signed (larger-is-better) objective vectors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from infonas.exceptions import InvalidArgumentError
from infonas.pareto import (
    hypervolume,
    hypervolume_curve,
    hypervolume_ratio,
    normalise_between,
    pareto_mask,
    scaled_front_volume,
    unit_normaliser,
)


def _brute_force_mask(Y: np.ndarray) -> list[bool]:
    """Non-dominated rows by pairwise comparison; of equal rows only the first is kept."""
    keep = []
    for i, y in enumerate(Y):
        dominated = any(np.all(z >= y) and np.any(z > y) for z in Y)
        duplicate = any(np.array_equal(Y[j], y) for j in range(i))
        keep.append(not dominated and not duplicate)
    return keep


def test_pareto_mask_small_cases() -> None:
    Y = [[1.0, 0.0], [0.0, 1.0], [0.4, 0.4], [0.2, 0.2]]
    assert pareto_mask(Y).tolist() == [True, True, True, False]
    # Weak dominance: equal in one objective, better in the other.
    assert pareto_mask([[1.0, 1.0], [1.0, 0.5], [0.5, 1.0]]).tolist() == [True, False, False]
    # Duplicates: only the first copy is on the front.
    assert pareto_mask([[0.0, 2.0], [1.0, 1.0], [1.0, 1.0], [2.0, 0.0]]).tolist() == [True, True, False, True]
    # Three objectives: only [1, 1, 0] dominates [0.5, 0.5, 0]; the rest trade off.
    Y3 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0], [1.0, 1.0, 0.0]]
    assert pareto_mask(Y3).tolist() == [False, False, True, False, True]
    assert pareto_mask(np.array([[3.0, -1.0]])).tolist() == [True]
    assert pareto_mask(np.zeros((0, 2))).shape == (0,)


def test_pareto_mask_rejects_non_matrices() -> None:
    with pytest.raises(ValueError, match="n x m"):
        pareto_mask(np.zeros(4))


@pytest.mark.parametrize("m", [2, 3])
def test_pareto_mask_matches_brute_force(m: int) -> None:
    rng = np.random.default_rng(m)
    # Rounded values make ties and exact duplicates likely.
    Y = np.round(rng.uniform(size=(200, m)), 1)
    mask = pareto_mask(Y)
    assert mask.dtype == torch.bool
    assert mask.tolist() == _brute_force_mask(Y)
    assert 0 < int(mask.sum()) < 200


def test_hypervolume_two_dimensions_by_hand() -> None:
    Y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.4, 0.4], [0.2, 0.2]], dtype=torch.float64)
    # Disjoint pieces of the union above (-0.1, -0.1):
    # [-0.1, 1] x [-0.1, 0] + [-0.1, 0] x [0, 1] + [0, 0.4] x [0, 0.4] = 0.11 + 0.10 + 0.16.
    assert hypervolume(Y, [-0.1, -0.1]) == pytest.approx(0.37)
    assert hypervolume(Y.numpy(), np.array([-0.1, -0.1])) == pytest.approx(0.37)
    # A single point: a rectangle.
    assert hypervolume([[3.0, 2.0]], [1.0, 0.5]) == pytest.approx(2.0 * 1.5)
    # A staircase: (1, 3), (2, 2), (3, 1) above the origin is 3 + 2 + 1 = 6.
    assert hypervolume([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]], [0.0, 0.0]) == pytest.approx(6.0)
    # Dominated rows and duplicates add nothing.
    assert hypervolume([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [1.0, 1.0], [2.0, 2.0]], [0.0, 0.0]) == pytest.approx(6.0)


def test_hypervolume_three_dimensional_boxes() -> None:
    assert hypervolume([[1.0, 2.0, 3.0]], [0.0, 0.0, 0.0]) == pytest.approx(6.0)
    # Two unit-height boxes 2x1 and 1x2 overlapping in a 1x1 square: 2 + 2 - 1 = 3.
    assert hypervolume([[2.0, 1.0, 1.0], [1.0, 2.0, 1.0]], [0.0, 0.0, 0.0]) == pytest.approx(3.0)
    # Reference shifted by -1 in every coordinate.
    assert hypervolume([[1.0, 1.0, 1.0]], [-1.0, -1.0, -1.0]) == pytest.approx(8.0)


def test_hypervolume_ignores_points_not_beyond_the_reference() -> None:
    ref = [0.0, 0.0]
    assert hypervolume([[0.0, 1.0], [1.0, 0.0], [-1.0, 5.0]], ref) == 0.0
    assert hypervolume(np.zeros((0, 2)), ref) == 0.0
    # Only the strictly better point counts.
    assert hypervolume([[0.0, 10.0], [0.5, 0.5]], ref) == pytest.approx(0.25)


def test_hypervolume_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="do not match"):
        hypervolume([[1.0, 2.0]], [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="do not match"):
        hypervolume([1.0, 2.0], [0.0, 0.0])


def test_hypervolume_curve_by_hand() -> None:
    Y = [[1.0, 3.0], [0.5, 0.5], [2.0, 2.0], [-1.0, 9.0], [3.0, 1.0], [2.0, 2.0]]
    assert hypervolume_curve(Y, [0.0, 0.0]) == pytest.approx([3.0, 3.0, 5.0, 5.0, 6.0, 6.0])


@pytest.mark.parametrize("m", [2, 3])
def test_hypervolume_curve_is_prefix_hypervolume(m: int) -> None:
    rng = np.random.default_rng(10 + m)
    Y = rng.uniform(-0.2, 1.0, size=(40, m))
    ref = np.full(m, -0.05)
    curve = hypervolume_curve(Y, ref)
    assert len(curve) == 40
    assert all(b >= a for a, b in itertools.pairwise(curve))
    assert curve[-1] == pytest.approx(hypervolume(Y, ref), rel=1e-12)
    for t in (1, 7, 20):
        assert curve[t - 1] == pytest.approx(hypervolume(Y[:t], ref), rel=1e-12)
    # A dominated row (here: a copy of a row, shrunk towards the reference) leaves the curve flat.
    dominated = np.vstack([Y, Y[3] - 0.01])
    assert hypervolume_curve(dominated, ref)[-1] == curve[-1]


def test_unit_normaliser_maps_columns_to_unit_interval() -> None:
    Y = np.array([[1.0, -10.0, 4.0], [3.0, -20.0, 4.0], [2.0, -15.0, 4.0]])
    normalise = unit_normaliser(Y)
    Z = normalise(Y)
    assert isinstance(Z, torch.Tensor) and Z.dtype == torch.float64
    assert torch.allclose(Z[:, 0], torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64))
    assert torch.allclose(Z[:, 1], torch.tensor([1.0, 0.0, 0.5], dtype=torch.float64))
    # A constant column: no division by zero, every row maps to 0.
    assert torch.isfinite(Z).all()
    assert Z[:, 2].tolist() == [0.0, 0.0, 0.0]
    # The same affine map applies to other vectors.
    assert torch.allclose(normalise([[0.0, -25.0, 6.0]]), torch.tensor([[-0.5, -0.5, 2.0]], dtype=torch.float64))


def test_normalise_between_maps_reference_to_zero_and_ideal_to_one() -> None:
    Y = normalise_between([[10.0, -220.0], [94.0, -8.0], [52.0, -114.0]], reference=[10.0, -220.0], ideal=[94.0, -8.0])
    np.testing.assert_allclose(Y.numpy(), [[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]])
    with pytest.raises(InvalidArgumentError, match="must be better than the reference"):
        normalise_between([[1.0, 1.0]], reference=[0.0, 2.0], ideal=[1.0, 1.0])


@pytest.mark.parametrize("m", [2, 3])
def test_hypervolume_ratio_is_one_for_the_true_front_and_in_unit_interval_for_a_subset(m: int) -> None:
    rng = np.random.default_rng(10 + m)
    # Objectives on wildly different scales (accuracy in %, FLOPs in units): the ratio ignores scale.
    scales = np.array([100.0, 2e8, 1e6][:m])
    table = rng.uniform(size=(300, m)) * scales
    reference, ideal = table.min(axis=0) - 1.0, table.max(axis=0)
    true_front = table[pareto_mask(table).numpy()]
    assert hypervolume_ratio(table, reference, ideal, true_front) == pytest.approx(1.0, rel=1e-12)
    assert hypervolume_ratio(true_front, reference, ideal, true_front) == pytest.approx(1.0, rel=1e-12)
    for size in (1, 10, 100):
        ratio = hypervolume_ratio(table[:size], reference, ideal, true_front)
        assert 0.0 < ratio < 1.0
        # Without a true front: over the box [reference, ideal], which holds the true front.
        box = hypervolume_ratio(table[:size], reference, ideal)
        assert 0.0 < box <= ratio
        raw = hypervolume(table[:size], reference) / hypervolume(true_front, reference)
        assert ratio == pytest.approx(raw, rel=1e-9)  # the same ratio as in raw units
    assert hypervolume_ratio(np.zeros((0, m)), reference, ideal, true_front) == 0.0


def test_scaled_front_volume_is_the_ratio_denominator_and_refuses_empty_volumes():
    # Two staircase points in [0, 2]^2 scaled to [0, 1]^2: 1 x 0.5 + 0.5 x 0.5 = 0.75; no front: the box, 1.
    assert scaled_front_volume([0.0, 0.0], [2.0, 2.0], [[1.0, 2.0], [2.0, 1.0]]) == pytest.approx(0.75)
    assert scaled_front_volume([0.0, 0.0], [2.0, 2.0]) == 1.0
    with pytest.raises(InvalidArgumentError, match="ideal point"):
        scaled_front_volume([0.0, 0.0], [2.0, -1.0])
    with pytest.raises(InvalidArgumentError, match="dominates no volume"):
        scaled_front_volume([0.0, 0.0], [2.0, 2.0], [[-1.0, 1.0]])
