"""Exact cost tables of NAS-Bench-201 cells: FLOPs, parameters and a latency lookup table.

Every cell of the network carries the same genotype and keeps all six edges, so FLOPs and
parameters add up edge by edge: ``cost(arch) = cost(all-none) + sum_e inc[op_e]``, exact for
every cell (measured once on a handful of networks, then a table lookup). Latency comes from a
per-operation lookup table measured on this machine, as FBNet and ProxylessNAS do:
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

import dataclasses
import platform
import statistics
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from search_spaces.metrics import ArchitectureMetrics, measure_latency_ms
from search_spaces import get_space
from search_spaces.base import Architecture, InvalidArchitectureError, SearchSpace
from search_spaces.nb201 import NB201Space
from search_spaces.nb201.network import CELL_OPS, NB201Cell, NetworkConfig, make_op

__all__ = ["ArchitectureCosts", "OperationLatencyTable", "lookup_vs_measured", "stage_shapes"]

FORMAT = "search_spaces.nb201.cost_tables/1"
NUM_EDGES = 6


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


def stage_shapes(config: NetworkConfig) -> list[tuple[int, int, int]]:
    """``(channels, height, width)`` that the cells of each stage see, read off the real network.

    The all-``none`` network is run once on one zero sample with hooks on its cells, so the
    shapes are whatever ``NB201Network`` does, not a re-derivation of its arithmetic.

    Example:
        >>> stage_shapes(NetworkConfig.for_dataset("cifar10"))
        [(16, 32, 32), (32, 16, 16), (64, 8, 8)]
    """
    network = config.build(NB201Space().make(["none"] * NUM_EDGES))
    cells = [m for m in network.cells if isinstance(m, NB201Cell)]
    shapes: list[tuple[int, int, int]] = []
    handles = [
        cell.register_forward_pre_hook(lambda _m, inputs: shapes.append(tuple(inputs[0].shape[1:])))
        for cell in cells
    ]
    try:
        with torch.no_grad():
            network.eval()(torch.zeros(1, *config.input_shape))
    finally:
        for handle in handles:
            handle.remove()
    per_stage = [shapes[i] for i in range(0, len(shapes), config.num_cells)]
    # Every cell of a stage sees the same shape (cells map C x H x W to itself).
    assert shapes == [s for s in per_stage for _ in range(config.num_cells)], shapes
    return [tuple(int(d) for d in s) for s in per_stage]  # type: ignore[misc]


def _machine() -> dict[str, str]:
    return {
        "node": platform.node(),
        "processor": platform.processor(),
        "machine": platform.machine(),
        "platform": platform.platform(),
    }


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


@dataclasses.dataclass(frozen=True)
class OperationLatencyTable:
    """Per-operation latencies of one network configuration, measured on one machine.

    ``op_ms[s][op]`` is the median milliseconds of a forward pass of operation ``op`` alone on a
    ``(batch_size, C_s, H_s, W_s)`` input of stage ``s``; ``base_ms`` is the whole all-``none``
    network (stem, reductions, head, and the ``none`` edges and node sums of every cell). A run
    stores the table (``to_json``) rather than re-measuring it on resume, which would change its
    trajectory; the measuring device, batch size, torch version, thread count and machine are
    recorded with it.
    """

    ops: tuple[str, ...]
    stages: tuple[tuple[int, int, int], ...]  # (channels, height, width) per stage
    cells_per_stage: int
    op_ms: tuple[tuple[float, ...], ...]  # [stage][op index], in the order of ``ops``
    base_ms: float
    batch_size: int
    device: str
    torch_version: str
    num_threads: int
    machine: Mapping[str, str]
    config: Mapping[str, int]
    repeats: int
    warmup: int
    rounds: int
    seconds: float  # wall-clock time the measurement took

    def __post_init__(self) -> None:
        if len(self.op_ms) != len(self.stages) or any(len(row) != len(self.ops) for row in self.op_ms):
            raise ValueError(
                f"op_ms must have one row of {len(self.ops)} latencies per stage ({len(self.stages)} stages)"
            )
        if "none" not in self.ops:
            raise ValueError(f"the latency table must include 'none'; it has {list(self.ops)}")

    @classmethod
    def measure(
        cls,
        config: NetworkConfig,
        ops: Sequence[str] = CELL_OPS,
        device: str | torch.device = "cpu",
        batch_size: int = 1,
        repeats: int = 30,
        warmup: int = 5,
        rounds: int = 3,
    ) -> OperationLatencyTable:
        """Time every operation at every stage's shape, and the all-``none`` network.

        Each round times every (stage, op) module and the base network once (``warmup`` discarded
        passes, then the median of ``repeats``); the table keeps the median over ``rounds``, which
        interleaves the measurements so that a burst of load on a shared machine does not bias
        one operation.
        """
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        ops = tuple(ops)
        if "none" not in ops:
            raise ValueError(f"ops must include 'none' (the base network's edges), got {list(ops)}")
        device = torch.device(device)
        start = time.perf_counter()
        shapes = stage_shapes(config)
        modules = [[make_op(op, shape[0]).to(device) for op in ops] for shape in shapes]
        base = config.build(NB201Space().make(["none"] * NUM_EDGES)).to(device)
        op_samples: list[list[list[float]]] = [[[] for _ in ops] for _ in shapes]
        base_samples: list[float] = []
        for _ in range(rounds):
            for s, shape in enumerate(shapes):
                for o, module in enumerate(modules[s]):
                    op_samples[s][o].append(measure_latency_ms(module, shape, device, batch_size, repeats, warmup))
            base_samples.append(measure_latency_ms(base, config.input_shape, device, batch_size, repeats, warmup))
        return cls(
            ops=ops,
            stages=tuple(shapes),
            cells_per_stage=config.num_cells,
            op_ms=tuple(tuple(statistics.median(x) for x in row) for row in op_samples),
            base_ms=statistics.median(base_samples),
            batch_size=batch_size,
            device=_device_name(device),
            torch_version=torch.__version__,
            num_threads=torch.get_num_threads(),
            machine=_machine(),
            config=dataclasses.asdict(config),
            repeats=repeats,
            warmup=warmup,
            rounds=rounds,
            seconds=time.perf_counter() - start,
        )

    def increments(self) -> np.ndarray:
        """Whole-network milliseconds that one edge with each op adds over a ``none`` edge.

        ``sum_s N * (op_ms[s][op] - op_ms[s]["none"])``, one entry per op of ``ops``; may be
        negative for an op cheaper than ``none`` (``skip_connect`` allocates nothing).
        """
        lat = np.asarray(self.op_ms, dtype=np.float64)
        none = self.ops.index("none")
        return self.cells_per_stage * (lat - lat[:, [none]]).sum(axis=0)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict; ``from_json(to_json())`` gives an equal table."""
        return {
            "ops": list(self.ops),
            "stages": [list(s) for s in self.stages],
            "cells_per_stage": self.cells_per_stage,
            "op_ms": [list(row) for row in self.op_ms],
            "base_ms": self.base_ms,
            "batch_size": self.batch_size,
            "device": self.device,
            "torch_version": self.torch_version,
            "num_threads": self.num_threads,
            "machine": dict(self.machine),
            "config": dict(self.config),
            "repeats": self.repeats,
            "warmup": self.warmup,
            "rounds": self.rounds,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OperationLatencyTable:
        """Inverse of ``to_json``."""
        return cls(
            ops=tuple(str(op) for op in data["ops"]),
            stages=tuple(tuple(int(d) for d in s) for s in data["stages"]),  # type: ignore[misc]
            cells_per_stage=int(data["cells_per_stage"]),
            op_ms=tuple(tuple(float(x) for x in row) for row in data["op_ms"]),
            base_ms=float(data["base_ms"]),
            batch_size=int(data["batch_size"]),
            device=str(data["device"]),
            torch_version=str(data["torch_version"]),
            num_threads=int(data["num_threads"]),
            machine={str(k): str(v) for k, v in data["machine"].items()},
            config={str(k): int(v) for k, v in data["config"].items()},
            repeats=int(data["repeats"]),
            warmup=int(data["warmup"]),
            rounds=int(data["rounds"]),
            seconds=float(data["seconds"]),
        )


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
            if dict(latency_table.config) != dataclasses.asdict(config):
                raise ValueError(
                    f"the latency table was measured for network {dict(latency_table.config)}, "
                    f"not {dataclasses.asdict(config)}"
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
            if (metrics.flops(full), metrics.params(full)) != (
                flops_base + NUM_EDGES * flops_inc[op],
                params_base + NUM_EDGES * params_inc[op],
            ):
                raise RuntimeError(
                    f"FLOPs/parameters of {op!r} are not additive over edges in this network; "
                    "the cost tables' decomposition no longer holds"
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
            "config": dataclasses.asdict(self.config),
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
            NetworkConfig(**{str(k): int(v) for k, v in data["config"].items()}),
            int(data["flops"]["base"]),
            {str(k): int(v) for k, v in data["flops"]["increments"].items()},
            int(data["params"]["base"]),
            {str(k): int(v) for k, v in data["params"]["increments"].items()},
            None if latency is None else OperationLatencyTable.from_json(latency),
        )


def lookup_vs_measured(
    costs: ArchitectureCosts,
    space: SearchSpace,
    config: NetworkConfig,
    num_cells: int = 50,
    seed: int = 0,
    device: str | torch.device = "cpu",
    batch_size: int = 1,
    progress: bool = False,
    repeats: int = 20,
    warmup: int = 3,
    rounds: int = 3,
) -> dict[str, Any]:
    """Spearman rank correlation of lookup-table latency against whole-network latency.

    Times the whole network of ``num_cells`` distinct seeded random cells with
    ``measure_latency_ms`` and returns ``{"spearman_rho", "num_cells", "archs" (strings),
    "lookup_ms", "measured_ms", "seconds"}``. Each round times every network once (``warmup``
    discarded passes, median of ``repeats``) and ``measured_ms`` is the median over ``rounds``:
    interleaving keeps a load burst on a shared machine from landing on a few cells only. Pass
    the ``device`` and ``batch_size`` the table was measured with for a like-for-like comparison.
    """
    from scipy.stats import spearmanr
    from tqdm.auto import tqdm

    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if not 2 <= num_cells <= space.size:
        raise ValueError(f"num_cells must be in [2, {space.size}], got {num_cells}")
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    archs: list[Architecture] = []
    seen: set[tuple[str, ...]] = set()
    while len(archs) < num_cells:
        arch = space.sample(rng)
        if arch.ops not in seen:
            seen.add(arch.ops)
            archs.append(arch)
    lookup = costs.values(archs, "latency_ms")
    networks: list[nn.Module] = [config.build(arch) for arch in archs]
    samples: list[list[float]] = [[] for _ in archs]
    with tqdm(total=rounds * num_cells, desc="whole-network latency", disable=not progress) as bar:
        for _ in range(rounds):
            for i, network in enumerate(networks):
                samples[i].append(measure_latency_ms(network, config.input_shape, device, batch_size, repeats, warmup))
                bar.update()
    measured = [statistics.median(x) for x in samples]
    rho = spearmanr(lookup, measured).statistic
    return {
        "spearman_rho": float(rho),
        "num_cells": num_cells,
        "archs": [space.format(a) for a in archs],
        "lookup_ms": [float(x) for x in lookup],
        "measured_ms": measured,
        "seconds": time.perf_counter() - start,
    }
