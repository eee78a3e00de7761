"""The network of a DARTS genotype, as the reference code's ``NetworkCIFAR``, for 1-D signals and images.

A stem ``BN(Conv3(x))`` to ``3C`` channels, then ``3N + 2`` cells: ``N`` normal cells, a
reduction cell, ``N`` normal cells, a reduction cell, ``N`` normal cells (DARTS puts its two
reductions at a third and two thirds of the depth; ``N = num_cells``). A cell has ``C`` channels
per node (``2C`` after the first reduction, ``4C`` after the second) and outputs the
concatenation of its 4 nodes (``4C``). Its inputs are the outputs of the two cells before it
(the stem's for the first cells), brought to ``C`` channels by ``ReLUConvBN`` 1x1, or by a
``FactorizedReduce`` for ``c_{k-2}`` when the cell before is a reduction (it halves the
resolution). A node sums two operations of its inputs; in a reduction cell the operations on the
cell inputs 0 and 1 have stride 2. Then global average pooling and a linear classifier; no
auxiliary head and no drop path (CPU-scale networks train a few epochs).

The operations are the reference ``operations.py``'s, in torch alone: ``sep_conv`` is two stacked
``ReLU, depthwise conv, pointwise conv, BN``; ``dil_conv`` one ``ReLU, dilated depthwise conv
(dilation 2), pointwise conv, BN``; pools are 3-wide with padding 1 (average without the padding);
``skip_connect`` is the identity, or a ``FactorizedReduce`` at stride 2; ``none`` is zeros. The
1-D form swaps every 2-D layer for its 1-D version; a "3x3" kernel is 3 wide.

Example:
    >>> import torch
    >>> from search_spaces.darts import DARTS_V2, DartsSpace
    >>> config = DartsNetworkConfig.for_dataset("mnist1d")
    >>> config.cell_types()
    ('normal', 'reduce', 'normal', 'reduce', 'normal')
    >>> config.build(DartsSpace().parse(DARTS_V2))(torch.zeros(2, *config.input_shape)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from search_spaces.base import Architecture
from search_spaces.darts.space import DARTS_CELLS, DartsSpace, NodeTerms
from search_spaces.nb201.network import ReLUConvBN, layers_for
from search_spaces.shapes import SampleShapeMixin

__all__ = [
    "STEM_MULTIPLIER",
    "CellPlan",
    "DartsCell",
    "DartsNetwork",
    "DartsNetworkConfig",
    "FactorizedReduce",
    "make_op",
]

#: The stem's width is ``STEM_MULTIPLIER * C``, as in the reference network.
STEM_MULTIPLIER = 3


def _spatial(x: torch.Tensor, part: slice) -> tuple[slice, ...]:
    """An index applying ``part`` to every spatial axis of a ``(B, C, *spatial)`` tensor."""
    return (slice(None), slice(None)) + (part,) * (x.dim() - 2)


class Zero(nn.Module):
    """The ``none`` operation: zeros at the output shape of a ``stride`` operation.

    Example:
        >>> Zero(2)(torch.ones(1, 2, 5)).shape
        torch.Size([1, 2, 3])
    """

    def __init__(self, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Fresh zeros, not ``x * 0`` as the reference does: a NaN in ``x`` cannot leak through a cut edge.
        return torch.zeros_like(x[_spatial(x, slice(None, None, self.stride))])


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing the odd positions: ``BN(cat(conv1(r), conv2(r[1:])))``
    with ``r = ReLU(x)`` and two strided 1x1 convolutions to half the channels each.

    Example:
        >>> FactorizedReduce(4, 6, spatial_dims=2)(torch.zeros(1, 4, 8, 8)).shape
        torch.Size([1, 6, 4, 4])
    """

    def __init__(self, in_channels: int, out_channels: int, spatial_dims: int = 2) -> None:
        super().__init__()
        if out_channels % 2:
            raise ValueError(f"FactorizedReduce concatenates two halves, so its output channels must be even, got "
                             f"{out_channels}; use an even channel count")
        conv, batch_norm, _, _ = layers_for(spatial_dims)
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = conv(in_channels, out_channels // 2, 1, stride=2, bias=False)
        self.conv_2 = conv(in_channels, out_channels // 2, 1, stride=2, bias=False)
        self.bn = batch_norm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[_spatial(x, slice(1, None))])], dim=1))


def _separable(channels: int, kernel: int, stride: int, padding: int, dilation: int,
               spatial_dims: int) -> list[nn.Module]:
    conv, batch_norm, _, _ = layers_for(spatial_dims)
    return [nn.ReLU(inplace=False),
            conv(channels, channels, kernel, stride=stride, padding=padding, dilation=dilation, groups=channels,
                 bias=False),
            conv(channels, channels, 1, bias=False),
            batch_norm(channels)]


def make_op(name: str, channels: int, stride: int = 1, spatial_dims: int = 2) -> nn.Module:
    """A fresh module for DARTS operation ``name`` on ``channels`` channels at ``stride``.

    Example:
        >>> make_op("dil_conv_5x5", 4, stride=2, spatial_dims=1)(torch.zeros(1, 4, 40)).shape
        torch.Size([1, 4, 20])
        >>> type(make_op("skip_connect", 4, stride=2)).__name__
        'FactorizedReduce'
    """
    _, _, avg_pool, _ = layers_for(spatial_dims)
    max_pool = nn.MaxPool1d if spatial_dims == 1 else nn.MaxPool2d
    if name == "none":
        return Zero(stride)
    if name == "max_pool_3x3":
        return max_pool(3, stride=stride, padding=1)
    if name == "avg_pool_3x3":
        return avg_pool(3, stride=stride, padding=1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels, spatial_dims)
    if name in ("sep_conv_3x3", "sep_conv_5x5"):
        kernel = int(name[-1])
        return nn.Sequential(*_separable(channels, kernel, stride, kernel // 2, 1, spatial_dims),
                             *_separable(channels, kernel, 1, kernel // 2, 1, spatial_dims))
    if name in ("dil_conv_3x3", "dil_conv_5x5"):
        kernel = int(name[-1])
        return nn.Sequential(*_separable(channels, kernel, stride, kernel - 1, 2, spatial_dims))
    raise ValueError(f"unknown DARTS operation {name!r}; use one of the DARTS space's PRIMITIVES")


class CellPlan(NamedTuple):
    """Where a cell sits: its type, whether the cell before reduces, and its channel counts
    (the inputs ``c_{k-2}``, ``c_{k-1}`` and each node)."""

    reduction: bool
    reduction_prev: bool
    prev_prev_channels: int
    prev_channels: int
    channels: int


class DartsCell(nn.Module):
    """One DARTS cell: ``s_{i+2} = op_a(s_a) + op_b(s_b)`` for its 4 nodes, output ``cat(s_2..s_5)``.

    ``ops`` holds the node's two operations in order (node 0 first, smaller input first), as
    ``DartsSpace.cells`` lists them.

    Example:
        >>> nodes = (((0, "sep_conv_3x3"), (1, "skip_connect")), ((0, "none"), (2, "max_pool_3x3")),
        ...          ((1, "dil_conv_5x5"), (3, "avg_pool_3x3")), ((2, "sep_conv_5x5"), (4, "dil_conv_3x3")))
        >>> cell = DartsCell(nodes, CellPlan(False, False, 6, 6, 4), spatial_dims=1)
        >>> cell(torch.zeros(1, 6, 40), torch.zeros(1, 6, 40)).shape
        torch.Size([1, 16, 40])
    """

    def __init__(self, nodes: tuple[NodeTerms, ...], plan: CellPlan, spatial_dims: int = 2) -> None:
        super().__init__()
        channels = plan.channels
        self.preprocess0: nn.Module = (
            FactorizedReduce(plan.prev_prev_channels, channels, spatial_dims) if plan.reduction_prev
            else ReLUConvBN(plan.prev_prev_channels, channels, 1, 1, 0, spatial_dims=spatial_dims))
        self.preprocess1 = ReLUConvBN(plan.prev_channels, channels, 1, 1, 0, spatial_dims=spatial_dims)
        self.inputs = tuple(source for node in nodes for source, _ in node)
        self.ops = nn.ModuleList(
            make_op(op, channels, 2 if plan.reduction and source < 2 else 1, spatial_dims)
            for node in nodes for source, op in node)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(len(self.ops) // 2):
            a, b = 2 * node, 2 * node + 1
            states.append(self.ops[a](states[self.inputs[a]]) + self.ops[b](states[self.inputs[b]]))
        return torch.cat(states[2:], dim=1)


class DartsNetwork(nn.Module):
    """The network of one DARTS genotype (see the module docstring).

    Example:
        >>> from search_spaces.darts import DARTS_V1
        >>> config = DartsNetworkConfig.for_dataset("digits", channels=4)
        >>> net = DartsNetwork(DartsSpace().parse(DARTS_V1), config.cell_plans(), in_channels=1, spatial_dims=2)
        >>> net(torch.zeros(3, 1, 8, 8)).shape
        torch.Size([3, 10])
    """

    def __init__(self, arch: Architecture, plans: tuple[CellPlan, ...], in_channels: int = 1, num_classes: int = 10,
                 spatial_dims: int = 2) -> None:
        super().__init__()
        conv, batch_norm, _, adaptive_pool = layers_for(spatial_dims)
        normal, reduce = DartsSpace().cells(arch)
        stem = plans[0].prev_channels
        self.stem = nn.Sequential(conv(in_channels, stem, 3, padding=1, bias=False), batch_norm(stem))
        self.cells = nn.ModuleList(DartsCell(reduce if plan.reduction else normal, plan, spatial_dims)
                                   for plan in plans)
        self.global_pooling = adaptive_pool(1)
        self.classifier = nn.Linear(4 * plans[-1].channels, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled ``(B, 16C)`` features that the classifier reads."""
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.global_pooling(s1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


@dataclass(frozen=True)
class DartsNetworkConfig(SampleShapeMixin):
    """``N`` (normal cells per stage), ``C`` (channels per node of the first stage) and the input shape.

    Example:
        >>> config = DartsNetworkConfig.for_input((1, 8, 8), num_cells=2, channels=4)
        >>> [plan.channels for plan in config.cell_plans()]
        [4, 4, 8, 8, 8, 16, 16, 16]
    """

    num_cells: int = 1
    channels: int = 8
    in_channels: int = 1
    height: int = 8
    width: int = 8
    num_classes: int = 10
    length: int | None = None

    def __post_init__(self) -> None:
        if min(self.num_cells, self.channels, self.in_channels, self.num_classes) < 1:
            raise ValueError(f"a DARTS network needs num_cells, channels, in_channels and num_classes >= 1, got "
                             f"{self.num_cells}, {self.channels}, {self.in_channels}, {self.num_classes}")
        sizes = self.input_shape[1:]
        if any(size % 4 for size in sizes):
            raise ValueError(f"a DARTS network halves the resolution twice with FactorizedReduce, which needs "
                             f"even sizes, so every spatial size must be a multiple of 4; got {sizes}: crop or pad "
                             f"the inputs")

    @classmethod
    def for_input(cls, input_shape: tuple[int, ...], num_cells: int = 1, channels: int = 8,
                  num_classes: int = 10) -> DartsNetworkConfig:
        """The settings for samples of ``input_shape``: ``(C, L)`` signals or ``(C, H, W)`` images."""
        return cls.of_shape(input_shape, num_cells=num_cells, channels=channels, num_classes=num_classes)

    @classmethod
    def for_dataset(cls, name: str, *, num_cells: int | None = None, channels: int | None = None
                    ) -> DartsNetworkConfig:
        """The embedded data set's inputs and classes (``"mnist1d"``, ``"digits"``), ``N = 1`` and
        ``C = 8`` unless given."""
        presets = {"mnist1d": cls(1, 8, 1, num_classes=10, length=40), "digits": cls(1, 8, 1, 8, 8, 10)}
        try:
            preset = presets[name.lower()]
        except KeyError:
            raise ValueError(f"unknown dataset {name!r} for the DARTS space; options: {sorted(presets)}") from None
        return dataclasses.replace(preset, num_cells=preset.num_cells if num_cells is None else num_cells,
                                   channels=preset.channels if channels is None else channels)

    def cell_plans(self) -> tuple[CellPlan, ...]:
        """Each cell's place, as the reference ``NetworkCIFAR`` lays out ``3N + 2`` layers."""
        layers = 3 * self.num_cells + 2
        previous_previous = previous = STEM_MULTIPLIER * self.channels
        channels, reduction_prev, plans = self.channels, False, []
        for layer in range(layers):
            reduction = layer in (layers // 3, 2 * layers // 3)
            channels *= 2 if reduction else 1
            plans.append(CellPlan(reduction, reduction_prev, previous_previous, previous, channels))
            previous_previous, previous, reduction_prev = previous, 4 * channels, reduction
        return tuple(plans)

    def cell_types(self) -> tuple[str, ...]:
        """``"normal"`` or ``"reduce"`` per cell, in network order."""
        return tuple(DARTS_CELLS[1] if plan.reduction else DARTS_CELLS[0] for plan in self.cell_plans())

    def build(self, arch: Architecture) -> DartsNetwork:
        """A freshly initialised network for ``arch``."""
        return DartsNetwork(arch, self.cell_plans(), self.in_channels, self.num_classes, self.spatial_dims)
