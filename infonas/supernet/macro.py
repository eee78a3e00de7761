"""The macro space's supernet: every stage at its widest, every kernel of every block, mixed by weights.

The skeleton is ``MacroNetwork``'s at multiplier 1 (stem, three stages of three blocks, BN + ReLU,
pooling, classifier). A block holds one ``BN(Conv_k(ReLU(x)))`` body per kernel ``k`` in 3, 5, 7
and ``MacroBlock``'s shortcut at full width. With ``weights`` ``w`` (15 positions x 3 options,
``MacroSpace().choices`` order), per stage ``s``:

* kernel: ``body(x) = sum_k w[kernel_b, k] body_k(x)``;
* depth: block 1 always runs (``shortcut(x) + body(x)``); blocks 2 and 3 are
  ``x + g_b body(x)`` with gates ``g_2 = w[d2] + w[d3]``, ``g_3 = w[d3]`` (the depth row's options);
* width (channel masks, as FBNetV2 and DAS mix widths): the stage's features are multiplied by
  ``m_c = sum_o w[width, o] 1[c < width_o]`` after the stem (stage 1), after each block and
  after the head's BN + ReLU, so at a one-hot row the channels past the chosen width are exactly 0
  and the network computes the chosen architecture's ``MacroNetwork`` (its weights the slices).

``selected`` (one option per position, hard relaxations such as GDAS) runs only the selected
kernel's body: ``w[s] body_s(x) + sum_{o != s} w[o]``, as ``MixedEdge`` does; gates and masks take
the (one-hot in value) rows as they are. ``choices`` runs one architecture's path, gated-off blocks
skipped.

Example:
    >>> import torch
    >>> from search_spaces.macro.network import MacroNetworkConfig
    >>> net = MacroSupernet(MacroNetworkConfig.for_dataset("mnist1d", channels=4))
    >>> x = torch.zeros(2, 1, 40)
    >>> net(x, weights=net.uniform_weights()).shape, net(x, choices=(2, 1, 0, 1, 2) * 3).shape
    (torch.Size([2, 10]), torch.Size([2, 10]))
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch
from torch import nn

from infonas.exceptions import InvalidArgumentError
from search_spaces.base import Architecture
from search_spaces.macro.network import MacroNetworkConfig, stage_width
from search_spaces.macro.space import (
    MACRO_KERNELS,
    MACRO_MAX_DEPTH,
    MACRO_STAGES,
    MACRO_WIDTHS,
    STAGE_POSITIONS,
    MacroSpace,
    kernel_size,
    width_multiplier,
)
from search_spaces.nb201.network import ReLUConvBN, layers_for

__all__ = ["MacroSupernet", "MacroSupernetBlock"]

POSITIONS = STAGE_POSITIONS * MACRO_STAGES
OPTIONS = len(MACRO_KERNELS)


class MacroSupernetBlock(nn.Module):
    """One block with a body per kernel: ``shortcut(x) + sum_k w_k body_k(x)`` (see the module docstring).

    Example:
        >>> block = MacroSupernetBlock(4, 8, stride=2, spatial_dims=1)
        >>> block(torch.zeros(1, 4, 40), torch.tensor([0.2, 0.3, 0.5])).shape
        torch.Size([1, 8, 20])
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, spatial_dims: int = 1) -> None:
        super().__init__()
        conv, batch_norm, _, _ = layers_for(spatial_dims)
        self.bodies = nn.ModuleList(
            ReLUConvBN(in_channels, out_channels, k, stride, k // 2, spatial_dims=spatial_dims)
            for k in map(kernel_size, MACRO_KERNELS))
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(conv(in_channels, out_channels, 1, stride=stride, bias=False),
                                          batch_norm(out_channels))

    def body(self, x: torch.Tensor, row: torch.Tensor, selected: int | None = None) -> torch.Tensor:
        """``sum_k row[k] body_k(x)``, or only ``body_s``: ``row[s] body_s(x) + sum_{k != s} row[k]``."""
        if selected is not None:
            others = torch.cat([row[:selected], row[selected + 1:]]).sum()
            return row[selected] * self.bodies[selected](x) + others
        return sum(weight * body(x) for weight, body in zip(row, self.bodies))  # type: ignore[return-value]

    def forward(self, x: torch.Tensor, row: torch.Tensor, selected: int | None = None) -> torch.Tensor:
        return self.shortcut(x) + self.body(x, row, selected)


class MacroSupernet(nn.Module):
    """The weight-sharing network of the macro space for ``config`` (its base channels and inputs).

    ``forward(x, weights=...)``: the mixture (``(15, 3)`` rows); with ``selected`` (15 option
    indices) only the selected kernels run; ``forward(x, choices=...)``: one architecture
    (``choices_of(arch)``). Exactly one of ``weights`` and ``choices``.
    """

    def __init__(self, config: MacroNetworkConfig) -> None:
        super().__init__()
        conv, batch_norm, _, adaptive_pool = layers_for(config.spatial_dims)
        self.config = config
        widths = [stage_width(config.channels, s, 1.0) for s in range(MACRO_STAGES)]
        self.stem = nn.Sequential(conv(config.in_channels, widths[0], 3, padding=1, bias=False),
                                  batch_norm(widths[0]))
        blocks: list[nn.Module] = []
        previous = widths[0]
        for s, width in enumerate(widths):
            # 1[c < width_o] per width option: the stage's channel masks (buffers: they move with the module).
            options = torch.tensor([stage_width(config.channels, s, width_multiplier(w)) for w in MACRO_WIDTHS])
            self.register_buffer(f"masks{s}", (torch.arange(width) < options[:, None]).float(), persistent=False)
            for b in range(MACRO_MAX_DEPTH):
                blocks.append(MacroSupernetBlock(previous, width, 2 if s > 0 and b == 0 else 1, config.spatial_dims))
                previous = width
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Sequential(batch_norm(previous), nn.ReLU())
        self.pool = nn.Sequential(adaptive_pool(1), nn.Flatten())
        self.classifier = nn.Linear(previous, config.num_classes)

    @staticmethod
    def choices_of(arch: Architecture) -> tuple[int, ...]:
        """The option index of each position (``MacroSpace().choices`` order)."""
        return MacroSpace().to_categorical(arch)

    @staticmethod
    def uniform_weights() -> torch.Tensor:
        """Every option weighted ``1/3`` at every position."""
        return torch.full((POSITIONS, OPTIONS), 1.0 / OPTIONS)

    def _masked(self, feature: torch.Tensor, stage: int, row: torch.Tensor) -> torch.Tensor:
        mask = row.to(feature.dtype) @ getattr(self, f"masks{stage}")
        return feature * mask.view(1, -1, *([1] * (feature.dim() - 2)))

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None,
                selected: Sequence[int] | torch.Tensor | None = None,
                choices: Sequence[int] | None = None) -> torch.Tensor:
        if (choices is None) == (weights is None):
            raise ValueError("give exactly one of choices (a sub-network) and weights (the mixed operation)")
        if selected is not None:
            if weights is None:
                raise InvalidArgumentError("selected (one option per position, GDAS) is only valid with weights, "
                                           "got choices instead; pass weights=... with selected=...")
            selected = _checked_indices("selected", selected)
        if choices is not None:
            selected = _checked_indices("choices", choices)
            weights = nn.functional.one_hot(torch.tensor(selected), OPTIONS).to(x.dtype).to(x.device)
        assert weights is not None
        if tuple(weights.shape) != (POSITIONS, OPTIONS):
            raise InvalidArgumentError(f"weights must have shape ({POSITIONS}, {OPTIONS}) (positions x options), got "
                                       f"{tuple(weights.shape)}; pass one row per MacroSpace position")
        feature = self._masked(self.stem(x), 0, weights[1])
        for index, block in enumerate(self.blocks):
            stage, b = divmod(index, MACRO_MAX_DEPTH)
            base = stage * STAGE_POSITIONS
            kernel = base + 2 + b
            pick = None if selected is None else selected[kernel]
            if b == 0:
                feature = block(feature, weights[kernel], pick)
            else:
                if choices is not None and selected[base] < b:  # gated off on this path: skip its work
                    continue
                gate = weights[base, b:].sum()  # block b+1 runs at depths >= b+1
                feature = feature + gate * block.body(feature, weights[kernel], pick)
            feature = self._masked(feature, stage, weights[base + 1])
        feature = self._masked(self.head(feature), MACRO_STAGES - 1, weights[POSITIONS - STAGE_POSITIONS + 1])
        return self.classifier(self.pool(feature))


def _checked_indices(name: str, values: Sequence[int] | torch.Tensor) -> tuple[int, ...]:
    """``values`` as one option index per position, or an ``InvalidArgumentError`` saying why not."""
    listed = values.tolist() if isinstance(values, torch.Tensor) else list(values)
    try:  # operator.index takes Python and NumPy integers, refuses floats
        indices = tuple(operator.index(value) for value in listed if not isinstance(value, bool))
    except TypeError:
        indices = ()
    if len(indices) != POSITIONS or len(listed) != POSITIONS or not all(0 <= i < OPTIONS for i in indices):
        raise InvalidArgumentError(f"{name} must be {POSITIONS} option indices in [0, {OPTIONS}), got {listed!r}; "
                                   "pass e.g. weights.argmax(-1) or MacroSupernet.choices_of(arch)")
    return indices
