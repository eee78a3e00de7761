"""The network of a macro architecture, for 1-D signals and 2-D images.

A 3-wide convolution stem to the first stage's width, then the three stages in order. Stage ``s``
runs its ``depth`` blocks at ``width = max(1, round(multiplier * C * 2^s))`` channels; a block is
``shortcut(x) + BN(Conv_k(ReLU(x)))`` (padding ``k // 2``), where the first block of stages 2 and 3
halves the resolution (stride 2) and its shortcut is a strided 1x1 convolution with BatchNorm
(the identity elsewhere, and in stage 1's first block when the widths match). Then BN, ReLU,
global average pooling and a linear classifier. Convolutions have no bias (BatchNorm follows).

Example:
    >>> import torch
    >>> from search_spaces.macro import MacroSpace
    >>> arch = MacroSpace().parse("|d2,x0.75,k3,k5,k7|d1,x1,k5,k3,k3|d3,x0.5,k7,k7,k7|")
    >>> config = MacroNetworkConfig.for_dataset("mnist1d")
    >>> config.stage_widths(arch)
    (6, 16, 16)
    >>> config.build(arch)(torch.zeros(2, *config.input_shape)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from search_spaces.base import Architecture
from search_spaces.macro.space import MacroSpace
from search_spaces.nb201.network import ReLUConvBN, layers_for
from search_spaces.shapes import SampleShapeMixin

__all__ = ["MacroBlock", "MacroNetwork", "MacroNetworkConfig", "stage_width"]


def stage_width(channels: int, stage: int, multiplier: float) -> int:
    """Channels of stage ``stage`` (0-based) at ``multiplier`` of its base ``channels * 2^stage``.

    Example:
        >>> [stage_width(8, s, 0.75) for s in range(3)]
        [6, 12, 24]
    """
    return max(1, round(multiplier * channels * 2**stage))


class MacroBlock(nn.Module):
    """``shortcut(x) + BN(Conv_k(ReLU(x)))``; the shortcut is the identity when shapes allow, else a
    strided 1x1 convolution and BatchNorm.

    Example:
        >>> MacroBlock(4, 8, 5, stride=2)(torch.zeros(1, 4, 40)).shape
        torch.Size([1, 8, 20])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, spatial_dims: int = 1) -> None:
        super().__init__()
        conv, batch_norm, _, _ = layers_for(spatial_dims)
        self.body = ReLUConvBN(in_channels, out_channels, kernel, stride, kernel // 2, spatial_dims=spatial_dims)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(conv(in_channels, out_channels, 1, stride=stride, bias=False),
                                          batch_norm(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.body(x)


class MacroNetwork(nn.Module):
    """The network of one macro architecture (see the module docstring).

    Example:
        >>> arch = MacroSpace().parse("|d1,x1,k3,k3,k3|d1,x1,k3,k3,k3|d1,x1,k3,k3,k3|")
        >>> MacroNetwork(arch, channels=4, in_channels=1, spatial_dims=2)(torch.zeros(1, 1, 8, 8)).shape
        torch.Size([1, 10])
    """

    def __init__(self, arch: Architecture, channels: int = 8, in_channels: int = 1, num_classes: int = 10,
                 spatial_dims: int = 1) -> None:
        super().__init__()
        conv, batch_norm, _, adaptive_pool = layers_for(spatial_dims)
        stages = MacroSpace().stages(arch)
        widths = [stage_width(channels, s, multiplier) for s, (_, multiplier, _) in enumerate(stages)]
        self.stem = nn.Sequential(conv(in_channels, widths[0], 3, padding=1, bias=False), batch_norm(widths[0]))
        blocks: list[nn.Module] = []
        previous = widths[0]
        for s, (_, _, kernels) in enumerate(stages):
            for b, kernel in enumerate(kernels):
                blocks.append(MacroBlock(previous, widths[s], kernel, 2 if s > 0 and b == 0 else 1, spatial_dims))
                previous = widths[s]
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(batch_norm(previous), nn.ReLU(), adaptive_pool(1), nn.Flatten())
        self.classifier = nn.Linear(previous, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


@dataclass(frozen=True)
class MacroNetworkConfig(SampleShapeMixin):
    """The base channels ``C`` of a macro network and the shape of its inputs (``length`` set: 1-D
    signals ``(in_channels, length)``; else images ``(in_channels, height, width)``).

    Example:
        >>> MacroNetworkConfig.for_dataset("digits").input_shape
        (1, 8, 8)
    """

    channels: int = 8
    in_channels: int = 1
    height: int = 8
    width: int = 8
    num_classes: int = 10
    length: int | None = None

    @classmethod
    def for_input(cls, input_shape: tuple[int, ...], channels: int = 8, num_classes: int = 10) -> MacroNetworkConfig:
        """The settings for samples of ``input_shape``: ``(C, L)`` signals or ``(C, H, W)`` images."""
        if len(input_shape) == 2:
            return cls(channels, input_shape[0], num_classes=num_classes, length=input_shape[1])
        if len(input_shape) == 3:
            return cls(channels, input_shape[0], input_shape[1], input_shape[2], num_classes)
        raise ValueError(f"inputs must be (channels, length) signals or (channels, height, width) images, "
                         f"got samples of shape {tuple(input_shape)}")

    @classmethod
    def for_dataset(cls, name: str, *, channels: int | None = None) -> MacroNetworkConfig:
        """The embedded data set's inputs and classes (``"mnist1d"``, ``"digits"``), ``C = 8`` unless given."""
        presets = {"mnist1d": cls(8, 1, num_classes=10, length=40), "digits": cls(8, 1, 8, 8, 10)}
        try:
            preset = presets[name.lower()]
        except KeyError:
            raise ValueError(f"unknown dataset {name!r} for the macro space; options: {sorted(presets)}") from None
        return preset if channels is None else dataclasses.replace(preset, channels=channels)

    def stage_widths(self, arch: Architecture) -> tuple[int, ...]:
        """The channels of each stage of ``arch``'s network."""
        return tuple(stage_width(self.channels, s, multiplier)
                     for s, (_, multiplier, _) in enumerate(MacroSpace().stages(arch)))

    def build(self, arch: Architecture) -> MacroNetwork:
        """A freshly initialised network for ``arch``."""
        return MacroNetwork(arch, self.channels, self.in_channels, self.num_classes, self.spatial_dims)

