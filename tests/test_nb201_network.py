"""The NAS-Bench-201 network: shapes, cell wiring, zero cells and configuration presets."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from search_spaces import NB201_EDGES, NB201Space
from search_spaces.base import Architecture, InvalidArchitectureError
from search_spaces.nb201.network import NB201Cell, NB201Network, NetworkConfig, Zero, make_op

SPACE = NB201Space()
MIXED = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


@pytest.mark.parametrize(
    "ops",
    [
        ["none"] * 6,
        ["skip_connect"] * 6,
        ["avg_pool_3x3"] * 6,
        ["nor_conv_1x1"] * 6,
        list(SPACE.parse(MIXED).ops),
    ],
)
@pytest.mark.parametrize(
    "config",
    [
        dataclasses.replace(NetworkConfig.for_dataset("cifar10"), num_cells=1),
        dataclasses.replace(NetworkConfig.for_dataset("cifar100"), num_cells=1, channels=8),
        NetworkConfig.for_dataset("digits"),
        NetworkConfig(num_cells=2, channels=4, in_channels=2, height=12, width=16, num_classes=3),
    ],
)
def test_output_shape(ops: list[str], config: NetworkConfig) -> None:
    torch.manual_seed(0)
    net = config.build(SPACE.make(ops))
    logits = net(torch.randn(3, *config.input_shape))
    assert logits.shape == (3, config.num_classes)
    assert torch.isfinite(logits).all()


def test_constructor_matches_config_build() -> None:
    arch = SPACE.parse(MIXED)
    net = NB201Network(arch, num_cells=2, channels=8, in_channels=1, num_classes=5)
    assert net(torch.zeros(2, 1, 8, 8)).shape == (2, 5)
    # N cells per stage plus two reduction blocks.
    assert len(net.cells) == 3 * 2 + 2


def test_zero_cell_gives_input_independent_output() -> None:
    torch.manual_seed(0)
    net = NetworkConfig.for_dataset("digits").build(SPACE.make(["none"] * 6)).eval()
    with torch.no_grad():
        logits = net(torch.randn(4, 1, 8, 8))
    assert torch.isfinite(logits).all()
    # Every cell cuts the signal, so all inputs get the same logits.
    assert torch.allclose(logits, logits[:1].expand_as(logits))
    cell = NB201Cell(("none",) * 6, channels=3)
    assert torch.equal(cell(torch.randn(2, 3, 4, 4)), torch.zeros(2, 3, 4, 4))


def test_zero_op_blocks_nan() -> None:
    x = torch.full((1, 2, 3, 3), float("nan"))
    assert torch.equal(Zero()(x), torch.zeros_like(x))


@pytest.mark.parametrize("position", range(6))
def test_edge_order_matches_arch_ops(position: int) -> None:
    # Only one edge is a skip: the cell outputs x exactly when that edge lies on a path 0 -> 3,
    # which for a single edge means it is the edge (0, 3).
    ops = ["none"] * 6
    ops[position] = "skip_connect"
    cell = NB201Cell(tuple(ops), channels=2)
    x = torch.randn(1, 2, 3, 3)
    expected = x if NB201_EDGES[position] == (0, 3) else torch.zeros_like(x)
    assert torch.equal(cell(x), expected)


def test_cell_sums_paths() -> None:
    # Skips on 0->1, 1->2 and 2->3 only: node3 = node2 = node1 = x.
    ops = ("skip_connect", "none", "skip_connect", "none", "none", "skip_connect")
    x = torch.randn(1, 2, 3, 3)
    assert torch.equal(NB201Cell(ops, channels=2)(x), x)
    # All skips: node1 = x, node2 = x + node1, node3 = x + node1 + node2 = 4x.
    assert torch.allclose(NB201Cell(("skip_connect",) * 6, channels=2)(x), 4 * x)


def test_make_op_preserves_shape_and_rejects_unknown() -> None:
    x = torch.randn(2, 4, 5, 5)
    for name in ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"):
        assert make_op(name, 4)(x).shape == x.shape
    bn = make_op("nor_conv_3x3", 4, affine=False, track_running_stats=False)[2]
    assert bn.weight is None and bn.running_mean is None
    with pytest.raises(ValueError, match="unknown NB201 operation"):
        make_op("sep_conv_5x5", 4)


def test_presets() -> None:
    assert NetworkConfig.for_dataset("cifar10") == NetworkConfig(5, 16, 3, 32, 32, 10)
    assert NetworkConfig.for_dataset("CIFAR100") == NetworkConfig(5, 16, 3, 32, 32, 100)
    assert NetworkConfig.for_dataset("digits") == NetworkConfig(5, 16, 1, 8, 8, 10)
    assert NetworkConfig.for_dataset("digits").input_shape == (1, 8, 8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        NetworkConfig.for_dataset("digits").channels = 8  # type: ignore[misc]


def test_unknown_dataset_names_the_options() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'mnist'.*cifar10.*cifar100.*digits"):
        NetworkConfig.for_dataset("mnist")


def test_rejects_foreign_or_bad_architectures() -> None:
    foreign = Architecture("nb101", ("none",) * 6, "#")
    with pytest.raises(InvalidArchitectureError):
        NB201Network(foreign)
    with pytest.raises(ValueError, match="positive"):
        NB201Network(SPACE.make(["none"] * 6), num_cells=0)
