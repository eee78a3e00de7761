"""A per-operation latency lookup table of NAS-Bench-201 cells, and its check against whole networks.

Latency comes from a per-operation lookup table measured on this machine, as FBNet and
ProxylessNAS do: every operation is timed alone at each stage's input shape, and a cell's
whole-network latency is estimated as
``latency(arch) = base_ms + sum_s N_s * sum_e (lat[s][op_e] - lat[s]["none"])``
(``ArchitectureCosts`` in ``cost_tables`` does the lookup). ``lookup_vs_measured`` says how well
that estimate ranks real networks.

Example:
    >>> from search_spaces.nb201.network import NetworkConfig
    >>> table = OperationLatencyTable.measure(NetworkConfig.for_dataset("digits"), repeats=3, warmup=1, rounds=1)
    >>> table.ops[0], len(table.increments()) == len(table.ops)
    ('none', True)
"""

from __future__ import annotations

import dataclasses
import platform
import statistics
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from search_spaces.base import Architecture, SearchSpace
from search_spaces.metrics import measure_latency_ms
from search_spaces.nb201 import NB201_EDGES, NB201Space
from search_spaces.nb201.network import CELL_OPS, NB201Cell, NetworkConfig, make_op

__all__ = ["NUM_EDGES", "OperationLatencyTable", "lookup_vs_measured", "stage_shapes"]

NUM_EDGES = len(NB201_EDGES)


class LatencyLookup(Protocol):
    """What ``lookup_vs_measured`` needs of the costs it checks (``ArchitectureCosts`` provides it)."""

    def values(self, archs: Sequence[Architecture], name: str) -> np.ndarray: ...


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
            config=config.to_json(),
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


def lookup_vs_measured(
    costs: LatencyLookup,
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
