"""Exact parameters and FLOPs of every DARTS network as additive per-piece tables.

A DARTS network is a sum of pieces: the stem, every cell's two preprocessing layers, the 8
operations of every cell, and the head (pooling and classifier). Every cell outputs ``4C``
channels whatever its genotype, so the stem, the preprocessing and the head cost the same in every
network: one ``base`` per metric. An operation's cost depends on its name and on whether it reads
a cell input of a reduction cell (stride 2, at the cell's input resolution) or not, so the term of
one operation slot of node ``i`` is a table over that slot's operation position and (for nodes
1..3) the node's pair position, which fixes the input the slot reads:

    metric(arch) = base + sum_t T_t[i_pair(t), i_op(t)]

with ``T_t`` summing that slot's cost over every cell of its type in the network (the normal
cells of the three stages, the two reduction cells). Each entry is COUNTED (``count_flops`` and
``count_parameters`` on the operation built as the network builds it, at the shape it reads
there), so the sum is exact by construction; ``measure`` checks it against a whole network.

Example:
    >>> from search_spaces.darts import DARTS_V2, DartsSpace
    >>> from search_spaces.metrics import ArchitectureMetrics
    >>> config = DartsNetworkConfig.for_dataset("mnist1d", channels=4)
    >>> costs = DartsCosts.measure(config)
    >>> arch = DartsSpace().parse(DARTS_V2)
    >>> costs.value(arch, "flops") == ArchitectureMetrics(DartsSpace(), config).flops(arch)
    True
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from search_spaces.additive_costs import COST_METRICS, AdditiveCosts, CostTerm
from search_spaces.darts.genotype import DARTS_STEPS, DARTS_V2, PRIMITIVES
from search_spaces.darts.network import DartsNetworkConfig, make_op
from search_spaces.darts.space import DARTS_CELLS, NODE_PAIRS, DartsSpace, node_positions
from search_spaces.metrics import count_flops, count_parameters

__all__ = ["COST_METRICS", "CostTerm", "DartsCosts"]

_SPACE = DartsSpace()
_SIZES = np.array([len(choices) for choices in _SPACE.choices])


def _slots() -> list[tuple[str, int, int, int, tuple[int, ...]]]:
    """``(name, cell type, node, side 0/1, positions)`` per operation slot, in position order."""
    slots = []
    for cell, cell_name in enumerate(DARTS_CELLS):
        for node in range(DARTS_STEPS):
            pair_position, low, high = node_positions(cell, node)
            for side, op_position in enumerate((low, high)):
                positions = (op_position,) if pair_position is None else (pair_position, op_position)
                slots.append((f"{cell_name}.node{node}.{'ab'[side]}", cell, node, side, positions))
    return slots


@dataclass(frozen=True)
class _CellShape:
    reduction: bool
    channels: int
    input_size: tuple[int, ...]  # the resolution of the cell's inputs (after preprocessing)
    node_size: tuple[int, ...]  # the resolution of its intermediate nodes


def _count_fixed_pieces(config: DartsNetworkConfig) -> tuple[dict[str, float], list[_CellShape]]:
    """The stem, preprocessing and head costs (the same in every network) and each cell's shapes,
    from one network's forward pass: the shapes depend on no choice."""
    network = config.build(_SPACE.parse(DARTS_V2))
    seen: dict[int, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {}

    def record(index: int) -> Callable[[nn.Module, tuple, torch.Tensor], None]:
        def hook(_module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            seen[index] = (tuple(args[0].shape[1:]), tuple(args[1].shape[1:]), tuple(output.shape[1:]))
        return hook

    handles = [cell.register_forward_hook(record(index)) for index, cell in enumerate(network.cells)]
    try:
        network.eval()
        with torch.no_grad():
            network(torch.zeros(1, *config.input_shape))
    finally:
        for handle in handles:
            handle.remove()
    head = nn.Sequential(network.global_pooling, nn.Flatten(), network.classifier)
    pieces: list[tuple[nn.Module, tuple[int, ...]]] = [(network.stem, config.input_shape),
                                                       (head, seen[len(network.cells) - 1][2])]
    shapes = []
    for index, (cell, plan) in enumerate(zip(network.cells, config.cell_plans())):
        s0, s1, out = seen[index]
        pieces += [(cell.preprocess0, s0), (cell.preprocess1, s1)]
        shapes.append(_CellShape(plan.reduction, plan.channels, s1[1:], out[1:]))
    base = {"flops": float(sum(count_flops(module, shape) for module, shape in pieces)),
            "params": float(sum(count_parameters(module) for module, _ in pieces))}
    return base, shapes


class DartsCosts(AdditiveCosts):
    """Exact ``flops`` and ``params`` of every DARTS network under one ``DartsNetworkConfig``.

    ``value``/``values`` look architectures up: ``base + sum_t T_t[...]``.

    Example:
        >>> costs = DartsCosts.measure(DartsNetworkConfig.for_dataset("digits", channels=4))
        >>> costs.names, len(costs.terms)
        (('flops', 'params'), 16)
    """

    label = "DARTS"
    space = _SPACE
    config_class = DartsNetworkConfig
    check_arch = _SPACE.format(_SPACE.sample(np.random.default_rng(0)))

    @classmethod
    def measure(cls, config: DartsNetworkConfig) -> DartsCosts:
        """Count every piece: each operation once per (channels, stride, resolution), 8 x 5 at most."""
        base, shapes = _count_fixed_pieces(config)
        counted: dict[tuple[str, int, int, tuple[int, ...]], tuple[int, int]] = {}

        def op_cost(op: str, cell: int, source: int) -> np.ndarray:
            total = np.zeros(2)
            for shape in shapes:
                if shape.reduction != (cell == 1):
                    continue
                stride = 2 if shape.reduction and source < 2 else 1
                size = shape.input_size if source < 2 else shape.node_size
                key = (op, shape.channels, stride, size)
                if key not in counted:
                    module = make_op(op, shape.channels, stride, config.spatial_dims)
                    counted[key] = (count_flops(module, (shape.channels, *size)), count_parameters(module))
                total += counted[key]
            return total

        terms = []
        for name, cell, node, side, positions in _slots():
            tables = {metric: np.zeros(tuple(_SIZES[list(positions)])) for metric in COST_METRICS}
            for index in itertools.product(*(range(_SIZES[p]) for p in positions)):
                source = NODE_PAIRS[node][index[0]][side] if len(positions) == 2 else side
                tables["flops"][index], tables["params"][index] = op_cost(PRIMITIVES[index[-1]], cell, source)
            terms.append(CostTerm(name, positions, tables))
        costs = cls(config, terms, base)
        costs._self_check()
        return costs
