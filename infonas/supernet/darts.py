"""The DARTS search network (Liu et al., ICLR 2019, ``model_search.py``): every operation on every edge.

The skeleton is ``DartsNetwork``'s (stem, ``3N + 2`` cells with the reductions at a third and two
thirds of the depth, global pooling, classifier), built of the same modules. A cell holds a mixed
edge from every earlier state to every intermediate node: node ``i`` has ``i + 2`` incoming edges,
14 per cell, each holding the 8 operations of ``PRIMITIVES`` (``make_op``; stride 2 on a reduction
cell's inputs). All normal cells share one block of 14 rows of the mixing weights and all
reduction cells the other: ``weights`` is ``(28, 8)``, the normal cell's edges first, each cell's
edges in the reference order ``(node 0: inputs 0, 1; node 1: inputs 0, 1, 2; ...)`` (``EDGES``).

``forward(x, weights=w)`` mixes: ``s_{i+2} = sum_j sum_o w[e(i, j), o] op_o(s_j)``;
``forward(x, weights=w, selected=s)`` (GDAS) runs only ``op_{s_e}`` on edge ``e``:
``w[e, s_e] op_{s_e}(x) + sum_{o != s_e} w[e, o]``; ``forward(x, choices=c)`` runs the genotype of
``DartsSpace().from_categorical(c)`` alone (its 8 edges per cell, the others not computed).
As in the reference ``MixedOp``, the pools are followed by a ``BatchNorm`` without affine
parameters (``pool_batch_norm``), which keeps their scale comparable to the convolutions'
normalised outputs; the other BatchNorms are ``make_op``'s (affine, as the NB201 supernet's), so
that the weights of a genotype's edges load into its ``DartsNetwork`` (``network_state_dict``).

Example:
    >>> from search_spaces.darts.network import DartsNetworkConfig
    >>> net = DartsSupernet(DartsNetworkConfig.for_dataset("mnist1d", channels=2))
    >>> x = torch.zeros(3, 1, 40)
    >>> net(x, weights=net.uniform_weights()).shape, net(x, choices=(0,) * 22).shape
    (torch.Size([3, 10]), torch.Size([3, 10]))
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from infonas.exceptions import InvalidArgumentError
from infonas.supernet.network import MixedEdge
from search_spaces.base import Architecture
from search_spaces.darts.genotype import CONCAT, DARTS_STEPS, PRIMITIVES, Genotype
from search_spaces.darts.network import CellPlan, DartsNetworkConfig, FactorizedReduce, make_op
from search_spaces.darts.space import DARTS_CELLS, NODE_PAIRS, DartsSpace, node_positions
from search_spaces.nb201.network import ReLUConvBN, layers_for

__all__ = ["EDGES", "EDGES_PER_CELL", "DartsMixedEdge", "DartsSupernet", "DartsSupernetCell", "derive_genotype",
           "edge_costs", "edge_index"]

#: One cell's edges ``(node, input state)`` in the reference order: node ``i`` reads states ``0 .. i + 1``.
EDGES: tuple[tuple[int, int], ...] = tuple((node, j) for node in range(DARTS_STEPS) for j in range(node + 2))
EDGES_PER_CELL = len(EDGES)
ROWS = EDGES_PER_CELL * len(DARTS_CELLS)
_NONE = PRIMITIVES.index("none")


def edge_index(node: int, source: int) -> int:
    """The row of edge ``source -> node`` within its cell's block: ``edge_index(1, 2) == 4``."""
    return EDGES.index((node, source))


class DartsMixedEdge(MixedEdge):
    """The 8 DARTS operations on one edge at ``stride``; ``forward`` is ``MixedEdge``'s (one operation,
    the mixture, or GDAS's selected operation).

    Example:
        >>> edge = DartsMixedEdge(4, stride=2, spatial_dims=1)
        >>> w = torch.nn.functional.one_hot(torch.tensor(3), 8).float()  # skip_connect: FactorizedReduce
        >>> edge(torch.ones(2, 4, 8), weights=w).shape
        torch.Size([2, 4, 4])
    """

    def __init__(self, channels: int, stride: int = 1, spatial_dims: int = 2, pool_batch_norm: bool = True) -> None:
        # Not MixedEdge.__init__, which builds NB201's operations: its forward only needs self.ops.
        nn.Module.__init__(self)
        batch_norm = layers_for(spatial_dims)[1]
        self.ops = nn.ModuleList(
            nn.Sequential(make_op(name, channels, stride, spatial_dims), batch_norm(channels, affine=False))
            if pool_batch_norm and "pool" in name else make_op(name, channels, stride, spatial_dims)
            for name in PRIMITIVES)


class DartsSupernetCell(nn.Module):
    """One search cell: ``DartsCell``'s preprocessing, then ``s_{i+2} = sum_{j <= i+1} edge_{e(i,j)}(s_j)``,
    output ``cat(s_2..s_5)``.

    ``active`` (single path): ``{edge: operation}`` of the edges that run, the others left out.
    """

    def __init__(self, plan: CellPlan, spatial_dims: int = 2, pool_batch_norm: bool = True) -> None:
        super().__init__()
        channels = plan.channels
        self.reduction = plan.reduction
        self.preprocess0: nn.Module = (
            FactorizedReduce(plan.prev_prev_channels, channels, spatial_dims) if plan.reduction_prev
            else ReLUConvBN(plan.prev_prev_channels, channels, 1, 1, 0, spatial_dims=spatial_dims))
        self.preprocess1 = ReLUConvBN(plan.prev_channels, channels, 1, 1, 0, spatial_dims=spatial_dims)
        self.edges = nn.ModuleList(
            DartsMixedEdge(channels, 2 if plan.reduction and source < 2 else 1, spatial_dims, pool_batch_norm)
            for _, source in EDGES)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor | None = None,
                selected: Sequence[int] | None = None, active: dict[int, int] | None = None) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(DARTS_STEPS):
            total: torch.Tensor | None = None
            for source in range(node + 2):
                e = edge_index(node, source)
                if active is not None:
                    if e not in active:
                        continue
                    term = self.edges[e](states[source], choice=active[e])
                else:
                    assert weights is not None
                    term = self.edges[e](states[source], weights=weights[e],
                                         selected=None if selected is None else selected[e])
                total = term if total is None else total + term
            assert total is not None  # two active edges per node, or every edge mixed
            states.append(total)
        return torch.cat(states[2:], dim=1)


class DartsSupernet(nn.Module):
    """The weight-sharing DARTS network of ``config`` (its ``num_cells``, ``channels``, input shape);
    see the module docstring. ``pool_batch_norm=False`` leaves out the reference's BatchNorm after the
    pools: a genotype's path then computes exactly its ``DartsNetwork`` with the inherited weights.
    """

    def __init__(self, config: DartsNetworkConfig, pool_batch_norm: bool = True) -> None:
        super().__init__()
        conv, batch_norm, _, adaptive_pool = layers_for(config.spatial_dims)
        self.config = config
        plans = config.cell_plans()
        stem = plans[0].prev_channels
        self.stem = nn.Sequential(conv(config.in_channels, stem, 3, padding=1, bias=False), batch_norm(stem))
        self.cells = nn.ModuleList(DartsSupernetCell(plan, config.spatial_dims, pool_batch_norm) for plan in plans)
        self.global_pooling = adaptive_pool(1)
        self.classifier = nn.Linear(4 * plans[-1].channels, config.num_classes)

    @staticmethod
    def choices_of(arch: Architecture) -> tuple[int, ...]:
        """The option index of each of the 22 ``DartsSpace`` positions (what ``forward(choices=)`` takes)."""
        return DartsSpace().to_categorical(arch)

    @staticmethod
    def uniform_weights() -> torch.Tensor:
        """Every operation weighted ``1/8`` on every edge of both cells."""
        return torch.full((ROWS, len(PRIMITIVES)), 1.0 / len(PRIMITIVES))

    @staticmethod
    def active_edges(arch: Architecture) -> tuple[dict[int, int], dict[int, int]]:
        """Per cell type, ``{edge row: operation index}`` of the genotype's 8 edges."""
        return tuple({edge_index(node, source): PRIMITIVES.index(op)  # type: ignore[return-value]
                      for node, terms in enumerate(nodes) for source, op in terms}
                     for nodes in DartsSpace().cells(arch))

    @classmethod
    def one_hot_weights(cls, arch: Architecture) -> torch.Tensor:
        """``arch``'s path as mixing weights: its 8 edges per cell one-hot on their operation, the
        other 6 on ``none`` (the mixture then computes what ``forward(choices=)`` does)."""
        weights = nn.functional.one_hot(torch.full((ROWS,), _NONE), len(PRIMITIVES)).float()
        for kind, active in enumerate(cls.active_edges(arch)):
            for edge, op in active.items():
                weights[kind * EDGES_PER_CELL + edge] = nn.functional.one_hot(torch.tensor(op), len(PRIMITIVES))
        return weights

    def forward(self, x: torch.Tensor, choices: Sequence[int] | None = None, weights: torch.Tensor | None = None,
                selected: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        if (choices is None) == (weights is None):
            raise ValueError("give exactly one of choices (a sub-network) and weights (the mixed operation)")
        active = None
        if choices is not None:
            if selected is not None:
                raise InvalidArgumentError("selected (one operation per edge, GDAS) is only valid with weights, got "
                                           "choices instead; pass weights=... with selected=...")
            active = self.active_edges(DartsSpace().from_categorical(list(choices)))
        else:
            assert weights is not None
            if tuple(weights.shape) != (ROWS, len(PRIMITIVES)):
                raise InvalidArgumentError(f"weights must have shape ({ROWS}, {len(PRIMITIVES)}) (the normal cell's "
                                           f"{EDGES_PER_CELL} edges, then the reduction cell's, x operations), got "
                                           f"{tuple(weights.shape)}; pass one row per edge")
            if selected is not None:
                selected = _checked_selected(selected)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            kind = int(cell.reduction)
            rows = slice(kind * EDGES_PER_CELL, (kind + 1) * EDGES_PER_CELL)
            s0, s1 = s1, cell(s0, s1, None if weights is None else weights[rows],
                              None if selected is None else selected[rows], None if active is None else active[kind])
        return self.classifier(self.global_pooling(s1).flatten(1))

    def network_state_dict(self, arch: Architecture) -> dict[str, torch.Tensor]:
        """The weights of ``arch``'s ``DartsNetwork`` (``config.build(arch)``) inherited from this
        supernet: the stem, preprocessing and classifier as they are, each operation of the genotype
        from its edge (the pools' extra BatchNorm has no place there and is left out).

        Example:
            >>> from search_spaces.darts import DARTS_V2
            >>> config = DartsNetworkConfig.for_dataset("digits", channels=2)
            >>> arch = DartsSpace().parse(DARTS_V2)
            >>> config.build(arch).load_state_dict(DartsSupernet(config).network_state_dict(arch))
            <All keys matched successfully>
        """
        # The network's ops of a cell are its nodes' terms in order, the smaller input first.
        slots = [{(edge_index(node, source), PRIMITIVES.index(op)): 2 * node + side
                  for node, terms in enumerate(nodes) for side, (source, op) in enumerate(terms)}
                 for nodes in DartsSpace().cells(arch)]
        state = {}
        for name, tensor in self.state_dict().items():
            parts = name.split(".")
            if parts[0] != "cells" or parts[2] != "edges":
                state[name] = tensor
                continue
            cell, edge, op = int(parts[1]), int(parts[3]), int(parts[5])
            slot = slots[int(self.cells[cell].reduction)].get((edge, op))
            if slot is not None and "pool" not in PRIMITIVES[op]:  # a pool has no state of its own
                state[".".join(["cells", parts[1], "ops", str(slot), *parts[6:]])] = tensor
        return state


def _checked_selected(selected: Sequence[int] | torch.Tensor) -> tuple[int, ...]:
    """``selected`` as one operation index per row of the weights, or an ``InvalidArgumentError``."""
    values = selected.tolist() if isinstance(selected, torch.Tensor) else list(selected)
    try:  # operator.index takes Python and NumPy integers, refuses floats
        indices = tuple(operator.index(value) for value in values if not isinstance(value, bool))
    except TypeError:
        indices = ()
    if len(indices) != ROWS or len(values) != ROWS or not all(0 <= i < len(PRIMITIVES) for i in indices):
        raise InvalidArgumentError(f"selected must be {ROWS} operation indices in [0, {len(PRIMITIVES)}), got "
                                   f"{values!r}; pass e.g. weights.argmax(-1)")
    return indices


def derive_genotype(weights: torch.Tensor) -> Genotype:
    """The reference ``Network.genotype()`` of mixing weights ``(28, 8)``: per node, its two incoming
    edges of largest ``max_{o != none} w[e, o]`` (ties: the lower input), strongest first, each with
    its ``argmax_{o != none} w[e, o]`` (ties: the first in ``PRIMITIVES``).

    Example:
        >>> from search_spaces.darts import format_genotype
        >>> weights = DartsSupernet.uniform_weights()
        >>> weights[edge_index(3, 4), PRIMITIVES.index("dil_conv_5x5")] = 0.5  # node 3 reads node 2 first
        >>> derive_genotype(weights).normal[-2:]
        (('dil_conv_5x5', 4), ('max_pool_3x3', 0))
    """
    if not isinstance(weights, torch.Tensor) or tuple(weights.shape) != (ROWS, len(PRIMITIVES)) \
            or not bool(torch.isfinite(weights).all()):
        seen = tuple(weights.shape) if isinstance(weights, torch.Tensor) else type(weights).__name__
        raise InvalidArgumentError(f"DARTS mixing weights must be a finite ({ROWS}, {len(PRIMITIVES)}) tensor (the "
                                   f"normal cell's {EDGES_PER_CELL} edges, then the reduction cell's), got {seen}; "
                                   "pass the relaxation's expected weights")
    rows = weights.detach().to(device="cpu", dtype=torch.float64).tolist()
    ops = [k for k in range(len(PRIMITIVES)) if k != _NONE]
    cells = []
    for kind in range(len(DARTS_CELLS)):
        gene = []
        for node in range(DARTS_STEPS):
            edges = [rows[kind * EDGES_PER_CELL + edge_index(node, j)] for j in range(node + 2)]
            strongest = sorted(range(node + 2), key=lambda j: -max(edges[j][k] for k in ops))[:2]  # stable: ties low
            gene += [(PRIMITIVES[max(ops, key=lambda k: (edges[j][k], -k))], j) for j in strongest]
        cells.append(tuple(gene))
    return Genotype(cells[0], CONCAT, cells[1], CONCAT)


def edge_costs(costs: Any, metric: str) -> torch.Tensor:
    """``(28, 8)``: ``metric`` of operation ``o`` on edge ``e``, summed over the network's cells of
    ``e``'s type, read from the exact tables of a ``DartsCosts`` (an operation's cost depends only on
    the state it reads, so any slot of the node reading that state gives it).

    ``costs.base[metric] + sum(w * edge_costs(costs, metric))`` is exact at one-hot rows that pick a
    genotype's 8 edges per cell and ``none`` (cost 0) on the other 6.

    Example:
        >>> from search_spaces.darts.cost_tables import DartsCosts
        >>> costs = DartsCosts.measure(DartsNetworkConfig.for_dataset("mnist1d", channels=2))
        >>> table = edge_costs(costs, "params")
        >>> table.shape, float(table[:, PRIMITIVES.index("none")].abs().sum())
        (torch.Size([28, 8]), 0.0)
    """
    tables = {term.positions[-1]: term.tables[metric] for term in costs.terms}  # by the slot's op position
    rows = []
    for kind in range(len(DARTS_CELLS)):
        for node, source in EDGES:
            if node == 0:
                rows.append(tables[node_positions(kind, 0)[1 + source]])
                continue
            pair, side = next((p, side) for p, inputs in enumerate(NODE_PAIRS[node]) for side in (0, 1)
                              if inputs[side] == source)
            rows.append(tables[node_positions(kind, node)[1 + side]][pair])
    return torch.tensor([list(map(float, row)) for row in rows], dtype=torch.float64)
