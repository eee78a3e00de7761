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


# The 1-D form for signals (MNIST-1D): Conv1d, BatchNorm1d and pooling over one axis.

SIGNAL = (1, 40)


@pytest.mark.parametrize("num_cells", [1, 2])
@pytest.mark.parametrize("ops", [["none"] * 6, ["avg_pool_3x3"] * 6, list(SPACE.parse(MIXED).ops)])
def test_signal_network_output_shape(ops: list[str], num_cells: int) -> None:
    torch.manual_seed(0)
    config = NetworkConfig.for_input(SIGNAL, num_cells=num_cells, channels=4)
    net = config.build(SPACE.make(ops))
    assert config.spatial_dims == 1 and net.spatial_dims == 1 and config.input_shape == SIGNAL
    assert len(net.cells) == 3 * num_cells + 2
    logits = net(torch.randn(3, *SIGNAL))
    assert logits.shape == (3, 10) and torch.isfinite(logits).all()


def test_signal_network_is_one_dimensional_throughout() -> None:
    net = NetworkConfig.for_input(SIGNAL, num_cells=1, channels=4).build(SPACE.parse(MIXED))
    kinds = {type(module) for module in net.modules()}
    assert {torch.nn.Conv1d, torch.nn.BatchNorm1d, torch.nn.AvgPool1d, torch.nn.AdaptiveAvgPool1d} <= kinds
    assert not kinds & {torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.AvgPool2d, torch.nn.AdaptiveAvgPool2d}
    # A "3x3" operation is width 3 over the signal, padded to keep its length.
    conv = make_op("nor_conv_3x3", 4, spatial_dims=1)[1]
    assert conv.kernel_size == (3,) and conv.padding == (1,)
    x = torch.randn(2, 4, 40)
    for name in ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"):
        assert make_op(name, 4, spatial_dims=1)(x).shape == x.shape
    with pytest.raises(ValueError, match="spatial_dims must be 1.*or 2.*got 3"):
        make_op("nor_conv_3x3", 4, spatial_dims=3)


def test_signal_avg_pool_averages_real_neighbours_only() -> None:
    # count_include_pad=False, as in 2-D: the first sample averages itself and its one neighbour.
    x = torch.tensor([[[1.0, 3.0, 5.0, 7.0]]])
    assert torch.equal(make_op("avg_pool_3x3", 1, spatial_dims=1)(x), torch.tensor([[[2.0, 3.0, 5.0, 6.0]]]))


def test_for_input_chooses_the_form_from_the_shape() -> None:
    assert NetworkConfig.for_input((1, 40)) == NetworkConfig(5, 16, 1, num_classes=10, length=40)
    assert NetworkConfig.for_dataset("mnist1d") == NetworkConfig.for_input((1, 40))
    images = NetworkConfig.for_input((3, 16, 12), num_cells=2, channels=8, num_classes=5)
    assert images == NetworkConfig(2, 8, 3, 16, 12, 5) and images.spatial_dims == 2
    for shape in [(40,), (1, 2, 8, 8), ()]:
        with pytest.raises(ValueError, match=r"\(channels, length\).*\(channels, height, width\).*got samples"):
            NetworkConfig.for_input(shape)


def _one_dimensional_params_by_hand(channels: int, num_classes: int) -> int:
    """Parameters of the all-``none`` 1-D network with one cell per stage, layer by layer."""
    c = channels
    stem = 1 * c * 3 + 2 * c  # width-3 conv from 1 channel, BN
    total = stem
    for width in (c, 2 * c):  # the two reduction blocks, width -> 2 * width
        conv_a = width * 2 * width * 3 + 2 * (2 * width)
        conv_b = 2 * width * 2 * width * 3 + 2 * (2 * width)
        downsample = width * 2 * width  # 1-wide conv after the pooling
        total += conv_a + conv_b + downsample
    return total + 2 * (4 * c) + (4 * c * num_classes + num_classes)  # last BN, classifier


def test_signal_network_parameter_counts() -> None:
    from search_spaces.metrics import count_parameters

    none, conv3 = SPACE.make(["none"] * 6), SPACE.make(["nor_conv_3x3"] * 6)
    signals = NetworkConfig.for_input((1, 40), num_cells=1, channels=2)
    images = NetworkConfig.for_input((1, 8, 8), num_cells=1, channels=2)
    assert count_parameters(signals.build(none)) == _one_dimensional_params_by_hand(2, 10) == 564
    # Width-3 kernels hold 3 weights where 3x3 ones hold 9: the difference is 6 per (in, out)
    # channel pair of each 3-wide conv. Those are the stem, the four reduction convs and, for
    # the all-3x3 cell, the six edges of each stage: C + 30 C^2 and C + 156 C^2 pairs at C = 2.
    assert count_parameters(images.build(none)) - count_parameters(signals.build(none)) == 6 * (2 + 30 * 4)
    assert count_parameters(images.build(conv3)) - count_parameters(signals.build(conv3)) == 6 * (2 + 156 * 4)


def test_flops_of_a_signal_network() -> None:
    from search_spaces.metrics import ArchitectureMetrics, count_flops

    config = NetworkConfig.for_input((1, 40), num_cells=1, channels=2)
    net = config.build(SPACE.make(["none"] * 6))
    # MACs of the all-none network, length 40 -> 20 -> 10: stem 40*2*3; reduction 1: 20*4*6,
    # 20*4*12, 20*4*2; reduction 2: 10*8*12, 10*8*24, 10*8*4; classifier 8*10 + 10 bias adds.
    assert count_flops(net, (1, 40)) == 240 + (480 + 960 + 160) + (960 + 1920 + 320) + 90
    metrics = ArchitectureMetrics(SPACE, config)
    assert metrics.flops(SPACE.make(["none"] * 6)) == 5130
    assert metrics.flops(SPACE.make(["nor_conv_3x3"] * 6)) > metrics.flops(SPACE.make(["nor_conv_1x1"] * 6)) > 5130


def test_a_data_sets_preset_takes_another_width_and_depth():
    small = NetworkConfig.for_dataset("mnist1d", num_cells=1, channels=8)
    preset = NetworkConfig.for_dataset("mnist1d")
    assert (small.num_cells, small.channels) == (1, 8) and (preset.num_cells, preset.channels) == (5, 16)
    assert small.input_shape == preset.input_shape == (1, 40) and small.num_classes == preset.num_classes
    assert NetworkConfig.for_dataset("digits", channels=4) == NetworkConfig.for_input((1, 8, 8), 5, 4, 10)
