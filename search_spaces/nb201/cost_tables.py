"""Exact cost tables of NAS-Bench-201 cells: FLOPs, parameters and lookup-table latency.

Every cell of the network carries the same genotype and keeps all six edges, so FLOPs and
parameters add up edge by edge: ``cost(arch) = cost(all-none) + sum_e inc[op_e]``, exact for
every cell (measured once on a handful of networks, then a table lookup). Latency is looked up
in an ``OperationLatencyTable`` (``search_spaces.nb201.latency``, re-exported here with
``lookup_vs_measured`` and ``stage_shapes``):
``latency(arch) = base_ms + sum_s N_s * sum_e (lat[s][op_e] - lat[s]["none"])``.

Example:
    >>> from search_spaces import NB201Space
    >>> from search_spaces.nb201.network import NetworkConfig
    >>> space = NB201Space()
    >>> costs = ArchitectureCosts.measure(space, NetworkConfig.for_dataset("cifar10"), latency=False)
    >>> costs.values([space.make(["none"] * 6), space.make(["nor_conv_3x3"] * 6)], "flops")
    array([7.7830500e+06, 2.2011969e+08])
    >>> costs.value(space.make(["none"] * 6), "params")
    73306.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from search_spaces import get_space
from search_spaces.base import Architecture, InvalidArchitectureError, SearchSpace
from search_spaces.metrics import ArchitectureMetrics
from search_spaces.nb201.latency import NUM_EDGES, OperationLatencyTable, lookup_vs_measured, stage_shapes
from search_spaces.nb201.network import CELL_OPS, NetworkConfig

__all__ = ["ArchitectureCosts", "OperationLatencyTable", "lookup_vs_measured", "stage_shapes"]

FORMAT = "search_spaces.nb201.cost_tables/1"


def _cell_ops(space: SearchSpace) -> tuple[str, ...]:
    """The op set of an NB201-like space (6 edges sharing one set of ``make_op`` ops), else raise."""
    choices = space.choices
    if len(choices) != NUM_EDGES or any(tuple(c) != tuple(choices[0]) for c in choices):
        raise ValueError(
            f"cost tables need an NB201-like space (6 edges sharing one operation set); space "
            f"{space.name!r} has {len(choices)} positions with choices {[list(c) for c in choices]}"
        )
    ops = tuple(choices[0])
    unknown = [op for op in ops if op not in CELL_OPS]
    if unknown or "none" not in ops:
        raise ValueError(
            f"cost tables need the NB201 operations (including 'none'); space {space.name!r} has {list(ops)}, "
            f"the network builds {list(CELL_OPS)}"
        )
    return ops


class ArchitectureCosts:
    """Exact FLOPs and parameters, and lookup-table latency, of every cell of an NB201-like space.

    Satisfies ``infonas.objectives.ComputedMetrics``. ``values`` is a vectorised table lookup
    (all 15,625 cells in milliseconds); build one with ``measure`` or restore it with
    ``from_json``.

    Why the FLOP/parameter decomposition is exact: ``NB201Network`` builds every cell of every
    stage as ``NB201Cell(arch.ops, width)``, and each cell builds a module for all six edges,
    dead ones included (``make_op`` for each op, no pruning). Everything else (stem, reduction
    blocks, last BN, classifier) does not depend on the cell. An edge's module maps
    ``C x H x W`` to itself, so its parameters and FLOPs depend only on (op, stage) and not on
    the edge's position; the node sums add no parameters and NB201 counts no FLOPs for them;
    ``none`` has neither. Hence ``cost(arch) = cost(all-none) + sum_e inc[op_e]`` where
    ``inc[op] = cost(op on one edge, none elsewhere) - cost(all-none)``. ``measure`` also checks
    ``cost(all-op) == cost(all-none) + 6 inc[op]`` for every op, so a network change that broke
    this would fail loudly rather than give wrong numbers.
    """

    def __init__(
        self,
        space: SearchSpace,
        config: NetworkConfig,
        flops_base: int,
        flops_increments: Mapping[str, int],
        params_base: int,
        params_increments: Mapping[str, int],
        latency_table: OperationLatencyTable | None = None,
    ) -> None:
        self.space = space
        self.config = config
        self.ops = _cell_ops(space)
        self._op_index = {op: i for i, op in enumerate(self.ops)}
        missing = [op for op in self.ops if op not in flops_increments or op not in params_increments]
        if missing:
            raise ValueError(f"the FLOP/parameter increments lack operations {missing}")
        self.flops_base = int(flops_base)
        self.params_base = int(params_base)
        self.flops_increments = {op: int(flops_increments[op]) for op in self.ops}
        self.params_increments = {op: int(params_increments[op]) for op in self.ops}
        self.latency_table = latency_table
        self._tables: dict[str, tuple[float, np.ndarray]] = {
            "flops": (float(self.flops_base), np.array([self.flops_increments[op] for op in self.ops], np.float64)),
            "params": (float(self.params_base), np.array([self.params_increments[op] for op in self.ops], np.float64)),
        }
        if latency_table is not None:
            if dict(latency_table.config) != config.to_json():
                raise ValueError(
                    f"the latency table was measured for network {dict(latency_table.config)}, "
                    f"not {config.to_json()}"
                )
            absent = [op for op in self.ops if op not in latency_table.ops]
            if absent:
                raise ValueError(f"the latency table lacks operations {absent}")
            increments = latency_table.increments()
            self._tables["latency_ms"] = (
                latency_table.base_ms,
                np.array([increments[latency_table.ops.index(op)] for op in self.ops], np.float64),
            )
        self.names: tuple[str, ...] = tuple(self._tables)

    @classmethod
    def measure(
        cls,
        space: SearchSpace,
        config: NetworkConfig,
        device: str | torch.device = "cpu",
        batch_size: int = 1,
        latency: bool = True,
        repeats: int = 30,
        warmup: int = 5,
        rounds: int = 3,
    ) -> ArchitectureCosts:
        """Count FLOPs/parameters on ``2 + 2 * (#ops - 1)`` networks and, with ``latency``, time the LUT.

        ``device``, ``batch_size``, ``repeats``, ``warmup`` and ``rounds`` configure the latency
        table only (``OperationLatencyTable.measure``); counts are device-independent.
        """
        ops = _cell_ops(space)
        metrics = ArchitectureMetrics(space, config)
        none = space.make(["none"] * NUM_EDGES)
        flops_base, params_base = metrics.flops(none), metrics.params(none)
        flops_inc: dict[str, int] = {"none": 0}
        params_inc: dict[str, int] = {"none": 0}
        for op in ops:
            if op == "none":
                continue
            one = space.make([op] + ["none"] * (NUM_EDGES - 1))
            flops_inc[op] = metrics.flops(one) - flops_base
            params_inc[op] = metrics.params(one) - params_base
            full = space.make([op] * NUM_EDGES)
            measured = (metrics.flops(full), metrics.params(full))
            additive = (flops_base + NUM_EDGES * flops_inc[op], params_base + NUM_EDGES * params_inc[op])
            if measured != additive:
                # An internal invariant of NB201Network, not a user error (no space or config the
                # checks above accept can break it): a RuntimeError, so it is never caught as one.
                raise RuntimeError(
                    f"FLOPs/parameters must add up over edges for the cost tables to be exact; an all-{op!r} "
                    f"cell measures (flops, params) = {measured}, the edge sum gives {additive}. "
                    "NB201Network must build all six edges of every cell as independent modules "
                    "(see ArchitectureCosts); fix the network builder"
                )
        table = (
            OperationLatencyTable.measure(config, ops, device, batch_size, repeats, warmup, rounds) if latency else None
        )
        return cls(space, config, flops_base, flops_inc, params_base, params_inc, table)

    def _indices(self, archs: Sequence[Architecture]) -> np.ndarray:
        """``(n, 6)`` op indices of ``archs``; raises on an architecture of another space."""
        name, index = self.space.name, self._op_index
        rows = np.empty((len(archs), NUM_EDGES), dtype=np.intp)
        for i, arch in enumerate(archs):
            if not isinstance(arch, Architecture):
                raise InvalidArchitectureError(f"expected an Architecture, got {type(arch).__name__}")
            if arch.space != name or len(arch.ops) != NUM_EDGES:
                raise InvalidArchitectureError(
                    f"architecture {arch} belongs to space {arch.space!r}, not {name!r}: "
                    "these cost tables only cover their own space"
                )
            try:
                rows[i] = [index[op] for op in arch.ops]
            except KeyError as error:
                raise InvalidArchitectureError(
                    f"unknown operation {error.args[0]!r} in {arch}; expected one of {list(self.ops)}"
                ) from None
        return rows

    def _table(self, name: str) -> tuple[float, np.ndarray]:
        if name in self._tables:
            return self._tables[name]
        if name == "latency_ms":
            raise ValueError(
                "'latency_ms' needs an operation latency table: build the costs with "
                "ArchitectureCosts.measure(space, config) (latency=True) or pass latency_table="
                "OperationLatencyTable.measure(config)"
            )
        raise ValueError(f"unknown metric {name!r}; these costs provide {list(self.names)}")

    def values(self, archs: Sequence[Architecture], name: str) -> np.ndarray:
        """``base + sum_e inc[op_e]`` for every architecture, as a float64 array of ``len(archs)``."""
        base, increments = self._table(name)
        return base + increments[self._indices(archs)].sum(axis=1)

    def value(self, arch: Architecture, name: str) -> float:
        """The metric ``name`` of one architecture."""
        return float(self.values([arch], name)[0])

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict of the tables; ``from_json`` restores identical values."""
        return {
            "format": FORMAT,
            "space": self.space.name,
            "ops": list(self.ops),
            "config": self.config.to_json(),
            "flops": {"base": self.flops_base, "increments": dict(self.flops_increments)},
            "params": {"base": self.params_base, "increments": dict(self.params_increments)},
            "latency": None if self.latency_table is None else self.latency_table.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], space: SearchSpace | None = None) -> ArchitectureCosts:
        """Inverse of ``to_json``; the space is looked up by its stored name unless given."""
        if data.get("format") != FORMAT:
            raise ValueError(f"not an ArchitectureCosts table (format {data.get('format')!r}, expected {FORMAT!r})")
        space = get_space(str(data["space"])) if space is None else space
        if space.name != data["space"]:
            raise ValueError(f"these costs belong to space {data['space']!r}, not {space.name!r}")
        latency = data.get("latency")
        return cls(
            space,
            NetworkConfig.from_json(data["config"]),
            int(data["flops"]["base"]),
            {str(k): int(v) for k, v in data["flops"]["increments"].items()},
            int(data["params"]["base"]),
            {str(k): int(v) for k, v in data["params"]["increments"].items()},
            None if latency is None else OperationLatencyTable.from_json(latency),
        )

