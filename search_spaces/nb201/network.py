"""The NAS-Bench-201 network (Dong & Yang, ICLR 2020) built from one cell.

The macro skeleton is the benchmark's ``TinyNetwork``: a 3x3 stem, three stages of ``N`` cells with
``C``, ``2C`` and ``4C`` channels separated by ResNet basic reduction blocks, then BN + ReLU, global
average pooling and a linear classifier. Within a cell, node ``j = sum_{i<j} op_{i->j}(node i)``
and the cell's output is node 3. The same network has a 1-D form for signals (``spatial_dims=1``:
Conv1d, AvgPool1d and BatchNorm1d in place of their 2-D versions), chosen from the input shape by
``NetworkConfig``.

Example:
    >>> import torch
    >>> from search_spaces import NB201Space
    >>> arch = NB201Space().parse(
    ...     "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    >>> net = NB201Network(arch, num_cells=1)
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from search_spaces.base import Architecture
from search_spaces.nb201 import NB201_EDGES, NB201_NODES, NB201_OPS, NB201Space
from search_spaces.shapes import SampleShapeMixin

__all__ = [
    "CELL_OPS",
    "NB201Cell",
    "NB201Network",
    "NetworkConfig",
    "ReLUConvBN",
    "ResNetBasicBlock",
    "Zero",
    "layers_for",
    "make_op",
]


def layers_for(spatial_dims: int) -> tuple[type[nn.Module], type[nn.Module], type[nn.Module], type[nn.Module]]:
    """The ``(Conv, BatchNorm, AvgPool, AdaptiveAvgPool)`` classes for 1-D signals or 2-D images.

    Example:
        >>> [cls.__name__ for cls in layers_for(1)]
        ['Conv1d', 'BatchNorm1d', 'AvgPool1d', 'AdaptiveAvgPool1d']
    """
    if spatial_dims == 1:
        return nn.Conv1d, nn.BatchNorm1d, nn.AvgPool1d, nn.AdaptiveAvgPool1d
    if spatial_dims == 2:
        return nn.Conv2d, nn.BatchNorm2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d
    raise ValueError(f"spatial_dims must be 1 (signals) or 2 (images), got {spatial_dims!r}")


class Zero(nn.Module):
    """The ``none`` operation: ``f(x) = 0`` with the shape, dtype and device of ``x``.

    Example:
        >>> Zero()(torch.ones(1, 2, 3, 3)).abs().sum().item()
        0.0
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # A fresh tensor (not ``x * 0``) so that a NaN or inf in ``x`` cannot leak through a cut edge.
        return torch.zeros_like(x)


class ReLUConvBN(nn.Sequential):
    """``BN(Conv(ReLU(x)))``: the benchmark's parametric operation and the reduction block's convs.

    The convolution has no bias because the BatchNorm that follows would cancel it.

    Example:
        >>> ReLUConvBN(16, 32, 3, stride=2, padding=1)(torch.zeros(1, 16, 8, 8)).shape
        torch.Size([1, 32, 4, 4])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        affine: bool = True,
        track_running_stats: bool = True,
        spatial_dims: int = 2,
    ) -> None:
        conv, batch_norm, _, _ = layers_for(spatial_dims)
        super().__init__(
            # Not in place: the cell feeds the same node tensor to several edges.
            nn.ReLU(inplace=False),
            conv(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False),
            batch_norm(out_channels, affine=affine, track_running_stats=track_running_stats),
        )


def make_op(
    name: str, channels: int, affine: bool = True, track_running_stats: bool = True, spatial_dims: int = 2
) -> nn.Module:
    """A fresh module for cell operation ``name`` mapping ``channels`` to ``channels`` at stride 1.

    ``affine`` and ``track_running_stats`` configure the BatchNorm of the convolutions: the
    stand-alone network uses the defaults; weight-sharing supernets often turn both off.
    ``spatial_dims`` is 2 for images and 1 for signals (a "3x3" operation has a width-3 kernel).

    Example:
        >>> make_op("nor_conv_1x1", 16)(torch.zeros(1, 16, 4, 4)).shape
        torch.Size([1, 16, 4, 4])
        >>> make_op("avg_pool_3x3", 16, spatial_dims=1)(torch.zeros(1, 16, 40)).shape
        torch.Size([1, 16, 40])
    """
    _, _, avg_pool, _ = layers_for(spatial_dims)
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0, affine, track_running_stats, spatial_dims)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1, affine, track_running_stats, spatial_dims)
    if name == "avg_pool_3x3":
        # count_include_pad=False: border pixels average only real neighbours, as in the benchmark.
        return avg_pool(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 operation {name!r}; expected one of {list(NB201_OPS)}")


# The operations ``make_op`` knows, in the search space's order.
CELL_OPS: tuple[str, ...] = NB201_OPS


class NB201Cell(nn.Module):
    """One NB201 cell: ``node_0 = x``, ``node_j = sum_{i<j} op_{i->j}(node_i)``, output ``node_3``.

    ``ops`` gives one operation per edge in the order of ``NB201_EDGES``
    ((0,1), (0,2), (1,2), (0,3), (1,3), (2,3)), i.e. the order of ``Architecture.ops``.

    Example:
        >>> cell = NB201Cell(("skip_connect",) * 6, channels=4)
        >>> cell(torch.ones(1, 4, 2, 2))[0, 0, 0, 0].item()  # node3 = x + node1 + node2 = x + x + 2x
        4.0
    """

    def __init__(self, ops: tuple[str, ...], channels: int, spatial_dims: int = 2) -> None:
        super().__init__()
        if len(ops) != len(NB201_EDGES):
            raise ValueError(f"an NB201 cell needs {len(NB201_EDGES)} operations, got {len(ops)}")
        self.ops = tuple(ops)
        self.edges = nn.ModuleList(make_op(op, channels, spatial_dims=spatial_dims) for op in self.ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for target in range(1, NB201_NODES):
            total: torch.Tensor | None = None
            for edge, (source, edge_target) in zip(self.edges, NB201_EDGES):
                if edge_target == target:
                    term = edge(nodes[source])
                    # Left-to-right addition in edge order, as the benchmark's ``sum`` does.
                    total = term if total is None else total + term
            assert total is not None  # every node j >= 1 has j incoming edges
            nodes.append(total)
        return nodes[-1]


class ResNetBasicBlock(nn.Module):
    """The reduction block between stages: ``conv_b(conv_a(x)) + conv_1x1(avgpool_2x2(x))``.

    ``conv_a`` halves the resolution (3x3, stride 2) and changes the width; the shortcut does the
    same with a 2x2 average pool and a bias-free 1x1 convolution.

    Example:
        >>> ResNetBasicBlock(16, 32)(torch.zeros(1, 16, 8, 8)).shape
        torch.Size([1, 32, 4, 4])
    """

    def __init__(self, in_channels: int, out_channels: int, spatial_dims: int = 2) -> None:
        super().__init__()
        conv, _, avg_pool, _ = layers_for(spatial_dims)
        self.conv_a = ReLUConvBN(in_channels, out_channels, 3, stride=2, padding=1, spatial_dims=spatial_dims)
        self.conv_b = ReLUConvBN(out_channels, out_channels, 3, stride=1, padding=1, spatial_dims=spatial_dims)
        self.downsample = nn.Sequential(
            avg_pool(kernel_size=2, stride=2, padding=0),
            conv(in_channels, out_channels, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.downsample(x)


class NB201Network(nn.Module):
    """The NAS-Bench-201 network for ``arch``: ``N`` cells per stage, widths ``C, 2C, 4C``.

    ``forward`` maps a ``(B, in_channels, H, W)`` batch (``(B, in_channels, L)`` signals with
    ``spatial_dims=1``) to ``(B, num_classes)`` logits; the resolution halves twice, so ``H``,
    ``W`` and ``L`` should be multiples of 4.

    Example:
        >>> arch = NB201Space().make(["nor_conv_3x3"] * 6)
        >>> net = NB201Network(arch, num_cells=1, channels=8, in_channels=1, num_classes=10)
        >>> net(torch.zeros(4, 1, 8, 8)).shape
        torch.Size([4, 10])
        >>> NB201Network(arch, num_cells=1, channels=8, in_channels=1, spatial_dims=1)(torch.zeros(4, 1, 40)).shape
        torch.Size([4, 10])
    """

    def __init__(
        self,
        arch: Architecture,
        num_cells: int = 5,
        channels: int = 16,
        in_channels: int = 3,
        num_classes: int = 10,
        spatial_dims: int = 2,
    ) -> None:
        super().__init__()
        NB201Space().validate(arch)
        if num_cells < 1 or channels < 1 or in_channels < 1 or num_classes < 1:
            raise ValueError(
                "num_cells, channels, in_channels and num_classes must be positive, got "
                f"{num_cells}, {channels}, {in_channels}, {num_classes}"
            )
        conv, batch_norm, _, adaptive_pool = layers_for(spatial_dims)
        self.arch = arch
        self.num_cells = num_cells
        self.channels = channels
        self.spatial_dims = spatial_dims
        self.stem = nn.Sequential(
            conv(in_channels, channels, kernel_size=3, padding=1, bias=False),
            batch_norm(channels),
        )
        # One flat list, as in the benchmark's TinyNetwork, so module names match its layout.
        layers: list[nn.Module] = []
        width = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResNetBasicBlock(width, 2 * width, spatial_dims))
                width *= 2
            layers.extend(NB201Cell(arch.ops, width, spatial_dims) for _ in range(num_cells))
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(batch_norm(width), nn.ReLU(inplace=True))
        self.global_pooling = adaptive_pool(1)
        self.classifier = nn.Linear(width, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled ``(B, 4C)`` features that the classifier reads."""
        feature = self.stem(x)
        for cell in self.cells:
            feature = cell(feature)
        return self.global_pooling(self.lastact(feature)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


@dataclass(frozen=True)
class NetworkConfig(SampleShapeMixin):
    """The macro settings of an NB201 network and the shape of its inputs.

    Images are ``(in_channels, height, width)``; signals (``length`` set) are
    ``(in_channels, length)`` and get the network's 1-D form.

    Example:
        >>> config = NetworkConfig.for_dataset("digits")
        >>> config.input_shape
        (1, 8, 8)
        >>> config.build(NB201Space().make(["skip_connect"] * 6))(torch.zeros(1, 1, 8, 8)).shape
        torch.Size([1, 10])
        >>> NetworkConfig.for_dataset("mnist1d").input_shape
        (1, 40)
    """

    num_cells: int = 5
    channels: int = 16
    in_channels: int = 3
    height: int = 32
    width: int = 32
    num_classes: int = 10
    #: The length of 1-D signals; ``None`` for images.
    length: int | None = None

    @classmethod
    def for_input(cls, input_shape: tuple[int, ...], num_cells: int = 5, channels: int = 16,
                  num_classes: int = 10) -> NetworkConfig:
        """The settings for samples of ``input_shape``: ``(C, L)`` signals or ``(C, H, W)`` images.

        Example:
            >>> NetworkConfig.for_input((1, 40), num_cells=1, channels=8).spatial_dims
            1
        """
        return cls.of_shape(input_shape, num_cells=num_cells, channels=channels, num_classes=num_classes)

    @classmethod
    def for_dataset(cls, name: str, *, num_cells: int | None = None, channels: int | None = None) -> NetworkConfig:
        """The named data set's inputs and classes, with the benchmark's N=5 and C=16 unless
        ``num_cells`` or ``channels`` are given (the embedded tasks' small networks).

        Example:
            >>> NetworkConfig.for_dataset("mnist1d", num_cells=1, channels=8).input_shape
            (1, 40)
        """
        try:
            preset = _PRESETS[name.lower()]
        except KeyError:
            raise ValueError(f"unknown dataset {name!r}; options: {sorted(_PRESETS)}") from None
        return dataclasses.replace(preset, num_cells=preset.num_cells if num_cells is None else num_cells,
                                   channels=preset.channels if channels is None else channels)

    def build(self, arch: Architecture) -> NB201Network:
        """A freshly initialised network for ``arch`` with these settings."""
        return NB201Network(arch, self.num_cells, self.channels, self.in_channels, self.num_classes,
                            self.spatial_dims)


_PRESETS: dict[str, NetworkConfig] = {
    "cifar10": NetworkConfig(5, 16, 3, 32, 32, 10),
    "cifar100": NetworkConfig(5, 16, 3, 32, 32, 100),
    "imagenet16-120": NetworkConfig(5, 16, 3, 16, 16, 120),
    "digits": NetworkConfig(5, 16, 1, 8, 8, 10),
    "mnist1d": NetworkConfig(5, 16, 1, num_classes=10, length=40),
}
