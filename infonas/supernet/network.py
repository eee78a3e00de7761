"""The NB201 supernet: every operation on every edge, with weights shared by all sub-networks.

The macro skeleton is ``NB201Network``'s (stem, three stages of cells separated by ResNet
reduction blocks, BN + ReLU, global pooling, classifier); each cell edge holds one module per
operation (``MixedEdge``). A forward pass runs either one sub-network (``choices``: one operation
index per edge, the same in every cell, as NB201 repeats its cell) or the DARTS-style continuous
relaxation (``weights``: a ``(6, 5)`` matrix, ``edge(x) = sum_o w[e, o] * op_o(x)``). With
``weights`` and ``selected`` (one operation index per edge, GDAS) only the selected operation runs:
``edge(x) = w[e, s] * op_s(x) + sum_{o != s} w[e, o]``, ``s = selected[e]``.

Example:
    >>> import torch
    >>> from search_spaces.nb201.network import NetworkConfig
    >>> net = Supernet(NetworkConfig.for_input((1, 40), num_cells=1, channels=4))
    >>> x = torch.zeros(2, 1, 40)
    >>> net(x, choices=(3, 3, 3, 3, 3, 3)).shape, net(x, weights=net.uniform_weights()).shape
    (torch.Size([2, 10]), torch.Size([2, 10]))
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch
from torch import nn

from infonas.exceptions import InvalidArgumentError
from search_spaces.base import Architecture
from search_spaces.nb201 import NB201_EDGES, NB201_NODES, NB201_OPS, NB201Space
from search_spaces.nb201.network import NetworkConfig, ResNetBasicBlock, layers_for, make_op

__all__ = ["MixedEdge", "Supernet", "SupernetCell"]


class MixedEdge(nn.Module):
    """All of NB201's operations on one edge: ``op_o(x)`` for one choice, or ``sum_o w_o op_o(x)``.

    With ``weights`` and ``selected = s`` only ``op_s`` runs: ``w_s op_s(x) + sum_{o != s} w_o``
    (GDAS: for a straight-through one-hot row the second term is 0 in value, not in gradient).

    Example:
        >>> edge = MixedEdge(4, spatial_dims=1)
        >>> edge(torch.ones(1, 4, 8), choice=0).abs().sum().item()  # "none"
        0.0
        >>> w = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0])  # one-hot on skip_connect
        >>> edge(torch.ones(1, 4, 8), weights=w, selected=1).sum().item()
        32.0
    """

    def __init__(self, channels: int, spatial_dims: int = 2) -> None:
        super().__init__()
        self.ops = nn.ModuleList(make_op(name, channels, spatial_dims=spatial_dims) for name in NB201_OPS)

    def forward(self, x: torch.Tensor, choice: int | None = None, weights: torch.Tensor | None = None,
                selected: int | None = None) -> torch.Tensor:
        if selected is not None:
            if weights is None or choice is not None:
                raise InvalidArgumentError(
                    f"selected={selected} goes with weights and without a choice, got weights "
                    f"{'missing' if weights is None else 'given'} and choice={choice}; "
                    "pass weights=... with selected=...")
            # GDAS's reference code adds the other weights as they are: 0 in value for a hard one-hot
            # row, yet each keeps its straight-through gradient to alpha, and only op_s runs.
            others = torch.cat([weights[:selected], weights[selected + 1:]]).sum()
            return weights[selected] * self.ops[selected](x) + others
        if choice is not None:
            return self.ops[choice](x)
        if weights is None:
            raise ValueError("a MixedEdge needs a choice (single path) or weights (mixed operation)")
        return sum(weight * op(x) for weight, op in zip(weights, self.ops))  # type: ignore[return-value]


class SupernetCell(nn.Module):
    """An NB201 cell whose six edges are ``MixedEdge``s: ``node_j = sum_{i<j} edge_{i->j}(node_i)``.

    ``keep`` (optional, ``(6, B)``) scales each edge's output per sample: path dropout.
    ``selected`` (optional, with ``weights``) runs only operation ``selected[e]`` on edge ``e`` (GDAS).
    """

    def __init__(self, channels: int, spatial_dims: int = 2) -> None:
        super().__init__()
        self.edges = nn.ModuleList(MixedEdge(channels, spatial_dims) for _ in NB201_EDGES)

    def forward(self, x: torch.Tensor, choices: Sequence[int] | None = None, weights: torch.Tensor | None = None,
                keep: torch.Tensor | None = None, selected: Sequence[int] | None = None) -> torch.Tensor:
        nodes = [x]
        for target in range(1, NB201_NODES):
            total: torch.Tensor | None = None
            for index, (edge, (source, edge_target)) in enumerate(zip(self.edges, NB201_EDGES)):
                if edge_target != target:
                    continue
                term = edge(nodes[source], choice=None if choices is None else choices[index],
                            weights=None if weights is None else weights[index],
                            selected=None if selected is None else selected[index])
                if keep is not None:
                    term = term * keep[index].view(-1, *([1] * (term.dim() - 1)))
                total = term if total is None else total + term
            assert total is not None  # every node j >= 1 has j incoming edges
            nodes.append(total)
        return nodes[-1]


class Supernet(nn.Module):
    """The weight-sharing NB201 network of ``config`` (its ``num_cells``, ``channels``, input shape).

    ``forward(x, choices=...)`` is the sub-network of one cell (``choices_of(arch)``);
    ``forward(x, weights=...)`` the mixed operation. ``keep`` is an optional ``(6, B)`` per-sample
    multiplier of each edge's output (path dropout), shared by every cell of the network.
    ``forward(x, weights=..., selected=...)`` (GDAS) runs only operation ``selected[e]`` on edge ``e``:
    ``w[e, s] * op_s(x) + sum_{o != s} w[e, o]``; ``selected`` is one index per edge (a sequence or
    a 1-D integer tensor such as ``weights.argmax(-1)``) and needs ``weights``.
    """

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        conv, batch_norm, _, adaptive_pool = layers_for(config.spatial_dims)
        self.config = config
        self.stem = nn.Sequential(conv(config.in_channels, config.channels, kernel_size=3, padding=1, bias=False),
                                  batch_norm(config.channels))
        layers: list[nn.Module] = []
        width = config.channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResNetBasicBlock(width, 2 * width, config.spatial_dims))
                width *= 2
            layers.extend(SupernetCell(width, config.spatial_dims) for _ in range(config.num_cells))
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(batch_norm(width), nn.ReLU(inplace=True))
        self.global_pooling = adaptive_pool(1)
        self.classifier = nn.Linear(width, config.num_classes)

    @staticmethod
    def choices_of(arch: Architecture) -> tuple[int, ...]:
        """The operation index of each edge of an NB201 cell (``NB201_OPS`` order)."""
        return NB201Space().to_categorical(arch)

    @staticmethod
    def uniform_weights() -> torch.Tensor:
        """Every operation weighted ``1/5`` on every edge: DARTS's relaxation at initialisation."""
        return torch.full((len(NB201_EDGES), len(NB201_OPS)), 1.0 / len(NB201_OPS))

    def forward(self, x: torch.Tensor, choices: Sequence[int] | None = None, weights: torch.Tensor | None = None,
                keep: torch.Tensor | None = None, selected: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        if (choices is None) == (weights is None):
            raise ValueError("give exactly one of choices (a sub-network) and weights (the mixed operation)")
        if selected is not None:
            selected = _checked_selected(selected, has_weights=weights is not None)
        feature = self.stem(x)
        for layer in self.cells:
            feature = (layer(feature, choices, weights, keep, selected) if isinstance(layer, SupernetCell)
                       else layer(feature))
        return self.classifier(self.global_pooling(self.lastact(feature)).flatten(1))


def _checked_selected(selected: Sequence[int] | torch.Tensor, *, has_weights: bool) -> tuple[int, ...]:
    """``selected`` as one operation index per edge, or an ``InvalidArgumentError`` saying why not."""
    if not has_weights:
        raise InvalidArgumentError("selected (one operation per edge, GDAS) is only valid with weights, got "
                                   "choices instead; pass weights=... (e.g. hard one-hot rows) with selected=...")
    values = selected.tolist() if isinstance(selected, torch.Tensor) else list(selected)
    try:  # operator.index takes Python and NumPy integers, refuses floats
        indices = tuple(operator.index(value) for value in values if not isinstance(value, bool))
    except TypeError:
        indices = ()
    if len(indices) != len(NB201_EDGES) or len(values) != len(NB201_EDGES) or not all(
            0 <= index < len(NB201_OPS) for index in indices):
        raise InvalidArgumentError(
            f"selected must be {len(NB201_EDGES)} operation indices in [0, {len(NB201_OPS)}), got {values!r}; "
            "pass e.g. weights.argmax(-1)")
    return indices
