"""Hardware-aware terms of gradient NAS over NB201 mixing weights ``w`` of shape ``(6 edges, 5 ops)``.

Columns of ``w`` follow ``search_spaces.nb201.NB201_OPS``. Costs are linear in ``w`` because
FLOPs, parameters and lookup-table latency add up edge by edge (``ArchitectureCosts``):
``E[cost](w) = base + sum_e sum_o w[e, o] inc[o]``, exact at one-hot ``w``. The terms built on it:
a squared hinge over a budget, ``lambda max(0, E/B - 1)^2``; a swept linear term ``lambda E / ref``;
PCGrad's projection of a conflicting task/cost gradient pair; and MnasNet's reward
``acc (lat / target)^exponent``.

Example:
    >>> import torch
    >>> from search_spaces import NB201Space
    >>> from search_spaces.nb201.cost_tables import ArchitectureCosts
    >>> from search_spaces.nb201.network import NetworkConfig
    >>> costs = ArchitectureCosts.measure(NB201Space(), NetworkConfig.for_dataset("cifar10"), latency=False)
    >>> flops = ExpectedCost(costs, "flops")
    >>> w = torch.full((6, 5), 0.2, requires_grad=True)
    >>> expected = flops(w)  # MFLOPs of the uniform cell: 54.97, over a 50 MFLOPs budget
    >>> penalty = hinge_squared_penalty(expected, budget=50e6, weight=1.0)
    >>> penalty.backward()
    >>> round(penalty.item(), 6), (w.grad[0] > 0).tolist()  # (54.97 / 50 - 1)^2; only convolutions cost FLOPs
    (0.009876, [False, False, True, True, False])
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from infonas.exceptions import InvalidArgumentError
from search_spaces.nb201 import NB201_EDGES, NB201_OPS, NB201Space

if TYPE_CHECKING:
    from search_spaces.nb201.cost_tables import ArchitectureCosts

__all__ = ["ConflictCounter", "ExpectedCost", "hinge_squared_penalty", "mnasnet_reward", "network_costs", "pcgrad",
           "weighted_cost_term"]

#: ``ArchitectureCosts`` metric names; ``"latency"`` is read as its ``"latency_ms"``.
METRICS = ("flops", "params", "latency_ms")
WEIGHT_SHAPE = (len(NB201_EDGES), len(NB201_OPS))


def _checked(name: str, value: float, fix: str, zero_ok: bool = False) -> float:
    """``value`` as a float if finite and > 0 (>= 0 with ``zero_ok``), else raise with ``fix``."""
    value = float(value)
    if not (math.isfinite(value) and (value > 0 or (zero_ok and value == 0))):
        raise InvalidArgumentError(f"{name} must be a finite number {'>=' if zero_ok else '>'} 0, got {value}; {fix}")
    return value


def network_costs(data: str, *, num_cells: int, channels: int) -> ArchitectureCosts:
    """Exact FLOPs and parameters of every NB201 cell in the network a search on the embedded data
    set ``data`` trains (its input and classes, ``num_cells`` cells per stage, ``channels`` wide).

    Example:
        >>> network_costs("mnist1d", num_cells=1, channels=8).value(NB201Space().make(["none"] * 6), "flops")
        78090.0
    """
    from search_spaces.nb201.cost_tables import ArchitectureCosts
    from search_spaces.nb201.network import NetworkConfig

    config = NetworkConfig.for_dataset(data, num_cells=num_cells, channels=channels)
    return ArchitectureCosts.measure(NB201Space(), config, latency=False)


class ExpectedCost:
    """The expected cost of a relaxed cell: ``E[cost](w) = base + sum_e sum_o w[e, o] inc[o]``.

    ``inc[o]`` is what op ``o`` on one edge adds over ``none`` (``ArchitectureCosts``); for
    latency ``inc[o] = sum_s N_s (lat[s][o] - lat[s]["none"])`` and ``base`` is ``base_ms``. At a
    one-hot ``w`` of a cell this is exactly ``costs.value(cell, metric)``; ``dE/dw[e, o] = inc[o]``.
    ``weights`` may carry leading batch dimensions, ``(..., 6, 5)`` gives ``(...)``.

    Example:
        >>> import torch
        >>> from search_spaces import NB201Space
        >>> from search_spaces.nb201.cost_tables import ArchitectureCosts
        >>> from search_spaces.nb201.network import NetworkConfig
        >>> costs = ArchitectureCosts.measure(NB201Space(), NetworkConfig.for_dataset("cifar10"), latency=False)
        >>> params = ExpectedCost(costs, "params")
        >>> none_cell = torch.zeros(6, 5, dtype=torch.float64)
        >>> none_cell[:, 0] = 1.0
        >>> float(params(none_cell)), costs.value(NB201Space().make(["none"] * 6), "params")
        (73306.0, 73306.0)
    """

    def __init__(self, costs: ArchitectureCosts, metric: str) -> None:
        name = "latency_ms" if metric == "latency" else metric
        if name not in METRICS:
            raise InvalidArgumentError(
                f"metric must be one of ['flops', 'params', 'latency'], got {metric!r}; pass one of those"
            )
        missing = [op for op in NB201_OPS if op not in costs.ops]
        if missing:
            raise InvalidArgumentError(
                f"mixing weights have one column per NB201 operation {list(NB201_OPS)}, but the costs cover "
                f"only {list(costs.ops)} (missing {missing}); measure the costs on NB201Space()"
            )
        if name == "latency_ms":
            table = costs.latency_table
            if table is None:
                raise InvalidArgumentError(
                    "metric 'latency' needs costs with an operation latency table, got costs without one; build "
                    "them with ArchitectureCosts.measure(space, config, latency=True)"
                )
            by_op = dict(zip(table.ops, table.increments().tolist(), strict=True))
            base = float(table.base_ms)
        else:
            by_op = dict(costs.flops_increments if name == "flops" else costs.params_increments)
            base = float(costs.flops_base if name == "flops" else costs.params_base)
        self.metric = name
        self.base = base
        #: ``inc[o]`` in ``NB201_OPS`` order, float64 (FLOPs reach 1e8: float32 would round them).
        self.increments = torch.tensor([float(by_op[op]) for op in NB201_OPS], dtype=torch.float64)
        self._cast: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}

    def __repr__(self) -> str:
        return f"ExpectedCost(metric={self.metric!r}, base={self.base}, increments={self.increments.tolist()})"

    def __call__(self, weights: torch.Tensor) -> torch.Tensor:
        """``base + sum_e sum_o w[e, o] inc[o]`` over the last two dimensions of ``weights``."""
        if not isinstance(weights, torch.Tensor):
            raise InvalidArgumentError(
                f"weights must be a torch.Tensor, got {type(weights).__name__}; wrap them with torch.as_tensor"
            )
        if weights.dim() < 2 or tuple(weights.shape[-2:]) != WEIGHT_SHAPE:
            raise InvalidArgumentError(
                f"weights must have shape (..., {WEIGHT_SHAPE[0]}, {WEIGHT_SHAPE[1]}) (edges x NB201 ops), "
                f"got {tuple(weights.shape)}; pass the supernet's mixing weights"
            )
        if not weights.is_floating_point():
            raise InvalidArgumentError(
                f"weights must be floating point, got {weights.dtype}; convert them with weights.double()"
            )
        key = (weights.dtype, weights.device)
        if key not in self._cast:
            self._cast[key] = self.increments.to(dtype=weights.dtype, device=weights.device)
        return self.base + weights.sum(dim=-2) @ self._cast[key]


def hinge_squared_penalty(expected: torch.Tensor, budget: float, weight: float) -> torch.Tensor:
    """The budget term ``weight * max(0, expected / budget - 1)^2``: zero, with zero gradient, under budget.

    Example:
        >>> import torch
        >>> hinge_squared_penalty(torch.tensor([80.0, 150.0]), budget=100.0, weight=2.0)
        tensor([0.0000, 0.5000])
    """
    budget = _checked("budget", budget, "pass the cost budget B in the metric's units")
    weight = _checked("weight", weight, "pass the penalty's lambda, 0 to switch it off", zero_ok=True)
    return weight * torch.relu(torch.as_tensor(expected) / budget - 1.0) ** 2


def weighted_cost_term(expected: torch.Tensor, reference: float, weight: float) -> torch.Tensor:
    """The swept cost term ``weight * expected / reference`` (one ``weight`` per member of a trade-off family).

    Example:
        >>> import torch
        >>> weighted_cost_term(torch.tensor(3.0), reference=2.0, weight=0.5)
        tensor(0.7500)
    """
    reference = _checked("reference", reference, "pass a typical cost (e.g. of the uniform cell) to normalise by")
    weight = _checked("weight", weight, "pass the term's lambda, 0 to switch it off", zero_ok=True)
    return weight * torch.as_tensor(expected) / reference


def pcgrad(task_grad: torch.Tensor, cost_grad: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """PCGrad (Yu et al. 2020) for two gradients: project each onto the other's normal plane if they conflict.

    With ``g1 . g2 < 0``: ``g1' = g1 - (g1.g2 / |g2|^2) g2``, ``g2' = g2 - (g2.g1 / |g1|^2) g1``,
    returns ``(g1' + g2', True)``; otherwise ``(g1 + g2, False)``. The result never opposes either
    input: its dot product with each is ``>= 0``.

    Example:
        >>> import torch
        >>> pcgrad(torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0]))
        (tensor([0.5000, 1.5000]), True)
    """
    # Hand-written: the maintained implementations (e.g. the authors' reference code, LibMTL) wrap an
    # optimiser and a model's parameters; the search needs only this two-tensor projection.
    if not isinstance(task_grad, torch.Tensor) or not isinstance(cost_grad, torch.Tensor):
        raise InvalidArgumentError(
            f"pcgrad takes two torch.Tensor gradients, got {type(task_grad).__name__} and "
            f"{type(cost_grad).__name__}; pass the .grad of the same parameter for both terms"
        )
    if task_grad.shape != cost_grad.shape:
        raise InvalidArgumentError(
            f"pcgrad needs gradients of one shape, got {tuple(task_grad.shape)} and {tuple(cost_grad.shape)}; "
            "pass the gradients of the same parameter"
        )
    dot = torch.sum(task_grad * cost_grad)
    # cos < 0 iff the dot product is < 0 (a zero gradient has dot 0: no conflict, no division by 0).
    if not bool(dot < 0):
        return task_grad + cost_grad, False
    task_projected = task_grad - dot / torch.sum(cost_grad * cost_grad) * cost_grad
    cost_projected = cost_grad - dot / torch.sum(task_grad * task_grad) * task_grad
    return task_projected + cost_projected, True


@dataclasses.dataclass
class ConflictCounter:
    """How often the task and cost gradients conflicted: ``fraction = conflicts / steps`` (0 before any step).

    Example:
        >>> counter = ConflictCounter()
        >>> for conflict in (True, False, False, True):
        ...     counter.record(conflict)
        >>> counter.to_json()
        {'steps': 4, 'conflicts': 2, 'fraction': 0.5}
    """

    steps: int = 0
    conflicts: int = 0

    def record(self, conflict: bool) -> None:
        """Count one step, and one conflict if ``conflict`` (the flag ``pcgrad`` returns)."""
        self.steps += 1
        self.conflicts += int(bool(conflict))

    @property
    def fraction(self) -> float:
        """The share of recorded steps that conflicted."""
        return self.conflicts / self.steps if self.steps else 0.0

    def to_json(self) -> dict[str, Any]:
        """``{"steps", "conflicts", "fraction"}`` for the search's log."""
        return {"steps": self.steps, "conflicts": self.conflicts, "fraction": self.fraction}


def mnasnet_reward(accuracy: Any, latency: Any, target: Any, exponent: float = -0.07) -> Any:
    """MnasNet's soft-constrained reward (Tan et al. 2019): ``accuracy * (latency / target) ** exponent``.

    Element-wise over NumPy arrays or tensors (a tensor in gives a tensor out); ``latency`` and
    ``target`` must be > 0. ``exponent = -0.07`` trades about 5% relative accuracy for 2x latency.

    Example:
        >>> import numpy as np
        >>> mnasnet_reward(np.array([0.9, 0.9]), np.array([10.0, 20.0]), target=10.0, exponent=-1.0)
        array([0.9 , 0.45])
    """
    exponent = float(exponent)
    if not math.isfinite(exponent):
        raise InvalidArgumentError(f"exponent must be finite, got {exponent}; MnasNet uses -0.07")
    tensors = any(isinstance(x, torch.Tensor) for x in (accuracy, latency, target))
    convert = torch.as_tensor if tensors else (lambda x: np.asarray(x, dtype=np.float64))
    accuracy, latency, target = convert(accuracy), convert(latency), convert(target)
    for name, value in (("latency", latency), ("target", target)):
        if not bool((value > 0).all()):  # NaN fails ``> 0`` too
            raise InvalidArgumentError(
                f"{name} must be > 0 everywhere, got minimum {float(value.min())}; pass latencies in milliseconds "
                "(and a positive target)"
            )
    return accuracy * (latency / target) ** exponent
