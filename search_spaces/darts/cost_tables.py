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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from infonas.exceptions import InvalidArgumentError
from search_spaces.base import Architecture
from search_spaces.darts.genotype import DARTS_STEPS, DARTS_V2, PRIMITIVES
from search_spaces.darts.network import DartsNetworkConfig, make_op
from search_spaces.darts.space import DARTS_CELLS, NODE_PAIRS, DartsSpace, node_positions
from search_spaces.metrics import count_flops, count_parameters

__all__ = ["COST_METRICS", "CostTerm", "DartsCosts"]

#: The metrics a ``DartsCosts`` holds.
COST_METRICS: tuple[str, ...] = ("flops", "params")
_SPACE = DartsSpace()
_SIZES = np.array([len(choices) for choices in _SPACE.choices])


@dataclass(frozen=True)
class CostTerm:
    """One operation slot: the positions its cost depends on and, per metric, its summed cost over
    the network's cells of its type at every joint choice of their option indices."""

    name: str
    positions: tuple[int, ...]
    tables: Mapping[str, np.ndarray]


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


class DartsCosts:
    """Exact ``flops`` and ``params`` of every DARTS network under one ``DartsNetworkConfig``.

    ``value``/``values`` look architectures up: ``base + sum_t T_t[...]``.

    Example:
        >>> costs = DartsCosts.measure(DartsNetworkConfig.for_dataset("digits", channels=4))
        >>> costs.names, len(costs.terms)
        (('flops', 'params'), 16)
    """

    metrics: tuple[str, ...] = COST_METRICS
    #: The metrics as ``ComputedMetrics`` name them: a search can take them as objectives.
    names: tuple[str, ...] = COST_METRICS

    def __init__(self, config: DartsNetworkConfig, terms: Sequence[CostTerm],
                 base: Mapping[str, float] | None = None) -> None:
        self.config = config
        self.terms = tuple(terms)
        self.base = {metric: float((base or {}).get(metric, 0.0)) for metric in COST_METRICS}

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

    def _self_check(self) -> None:
        # The tables are exact only while the network is the sum of the pieces counted here; one
        # whole-network count catches a network that gains a piece this module misses.
        arch = _SPACE.sample(np.random.default_rng(0))
        network = self.config.build(arch)
        counted = {"params": count_parameters(network), "flops": count_flops(network, self.config.input_shape)}
        for metric, total in counted.items():
            if self.value(arch, metric) != total:
                raise RuntimeError(f"the DARTS cost tables must add up to the counted network; {metric} of "
                                   f"{_SPACE.format(arch)} is {total}, the tables give {self.value(arch, metric)}: "
                                   f"update cost_tables.py to match network.py")

    def _check_metric(self, metric: str) -> None:
        if metric not in COST_METRICS:
            raise InvalidArgumentError(f"a DARTS cost metric must be one of {list(COST_METRICS)}, got {metric!r}; "
                                       f"pass one of those")

    def value(self, arch: Architecture, metric: str) -> float:
        """``metric`` of ``arch``'s network: ``base + sum_t T_t[choice indices of t's positions]``."""
        self._check_metric(metric)
        return float(self.values([arch], metric)[0])

    def values(self, archs: Sequence[Architecture] | np.ndarray, metric: str) -> np.ndarray:
        """``metric`` of many architectures at once (a list of them, or an ``(n, 22)`` index array)."""
        self._check_metric(metric)
        if isinstance(archs, np.ndarray):
            indices = archs.astype(np.int64, copy=False)
        else:
            indices = np.asarray([_SPACE.to_categorical(_SPACE.validate(a)) for a in archs], dtype=np.int64)
        indices = indices.reshape(-1, len(_SIZES)) if indices.size == 0 else indices
        if indices.ndim != 2 or indices.shape[1] != len(_SIZES) or (indices.size and (
                indices.min() < 0 or (indices >= _SIZES).any())):
            raise InvalidArgumentError(f"DARTS choice indices must be an (n, {len(_SIZES)}) array whose column p lies "
                                       f"in 0..len(DartsSpace().choices[p]) - 1, got shape {indices.shape}; pass "
                                       f"DartsSpace().to_categorical of each architecture")
        total = np.full(len(indices), self.base[metric])
        for term in self.terms:
            total += term.tables[metric][tuple(indices[:, p] for p in term.positions)]
        return total

    def to_json(self) -> dict[str, Any]:
        """The config, base and tables as JSON-ready lists (integers stay exact in float64)."""
        return {"config": self.config.to_json(), "base": dict(self.base),
                "terms": [{"name": t.name, "positions": list(t.positions),
                           **{metric: t.tables[metric].tolist() for metric in COST_METRICS}} for t in self.terms]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DartsCosts:
        """Inverse of ``to_json``."""
        try:
            terms = [CostTerm(str(t["name"]), tuple(int(p) for p in t["positions"]),
                              {metric: np.asarray(t[metric], dtype=np.float64) for metric in COST_METRICS})
                     for t in data["terms"]]
            config = DartsNetworkConfig.from_json(data["config"])
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidArgumentError(f"DARTS cost tables JSON needs 'config', 'base' and 'terms' (each with "
                                       f"'name', 'positions', 'flops', 'params'), as to_json writes; reading it "
                                       f"failed with {error!r}: pass the dict DartsCosts.to_json returned") from error
        for term in terms:
            if not all(0 <= p < len(_SIZES) for p in term.positions):
                raise InvalidArgumentError(f"term {term.name!r} names positions {list(term.positions)}, but DARTS "
                                           f"positions are 0..{len(_SIZES) - 1}: pass the dict DartsCosts.to_json "
                                           f"returned")
            shape = tuple(int(_SIZES[p]) for p in term.positions)
            for metric, table in term.tables.items():
                if table.shape != shape:
                    raise InvalidArgumentError(f"the {metric} table of term {term.name!r} must have one axis per "
                                               f"position {list(term.positions)}, of their option counts {shape}; "
                                               f"got shape {table.shape}: pass the dict DartsCosts.to_json returned")
        return cls(config, terms, data.get("base"))
