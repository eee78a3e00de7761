"""Exact costs of networks that are sums of pieces: ``cost(arch) = base + sum_t T_t[i_t(arch)]``.

A piece's cost depends on a few categorical positions only (a block's width and kernel, an
operation slot's input pair and operation), so a table ``T_t`` over the joint options of its
positions, counted once per entry with torch's FLOP counter, gives every architecture's exact
FLOPs and parameters by lookup. ``MacroCosts`` and ``DartsCosts`` are such tables; this base
holds what they share: lookup, checks, JSON, and the self-check against one whole network.

Example:
    >>> from search_spaces.macro.cost_tables import MacroCosts
    >>> issubclass(MacroCosts, AdditiveCosts)
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from infonas.exceptions import InvalidArgumentError
from search_spaces.base import Architecture, SearchSpace
from search_spaces.metrics import count_flops, count_parameters

__all__ = ["COST_METRICS", "AdditiveCosts", "CostTerm"]

#: The metrics an ``AdditiveCosts`` holds.
COST_METRICS: tuple[str, ...] = ("flops", "params")


@dataclass(frozen=True)
class CostTerm:
    """One network piece: the positions its cost depends on and, per metric, its cost at every
    joint choice of their option indices (``tables[metric][i_1, i_2, ...]``)."""

    name: str
    positions: tuple[int, ...]
    tables: Mapping[str, np.ndarray]


class AdditiveCosts:
    """``base + sum_t T_t[...]`` per metric for every architecture of ``space`` under one network config.

    Subclasses set ``label`` (for messages), ``space``, ``config_class`` (with ``build``,
    ``input_shape``, ``to_json``/``from_json``) and ``check_arch`` (the formatted architecture the
    self-check counts whole), and count the tables in a ``measure`` classmethod.
    """

    metrics: tuple[str, ...] = COST_METRICS
    #: The metrics as ``ComputedMetrics`` name them: a search can take them as objectives.
    names: tuple[str, ...] = COST_METRICS
    label: ClassVar[str]
    space: ClassVar[SearchSpace]
    config_class: ClassVar[Any]
    check_arch: ClassVar[str]

    def __init__(self, config: Any, terms: Sequence[CostTerm], base: Mapping[str, float] | None = None) -> None:
        self.config = config
        self.terms = tuple(terms)
        self.base = {metric: float((base or {}).get(metric, 0.0)) for metric in COST_METRICS}

    @classmethod
    def sizes(cls) -> np.ndarray:
        """The option count of every position of the space."""
        return np.array([len(choices) for choices in cls.space.choices])

    def _self_check(self) -> None:
        # The tables are exact only while the network is the sum of the pieces counted; one
        # whole-network count catches a network that gains a piece the tables miss.
        arch = self.space.parse(self.check_arch)
        network = self.config.build(arch)
        counted = {"params": count_parameters(network), "flops": count_flops(network, self.config.input_shape)}
        for metric, total in counted.items():
            if self.value(arch, metric) != total:
                raise RuntimeError(f"the {self.label} cost tables must add up to the counted network; {metric} of "
                                   f"{self.space.format(arch)} is {total}, the tables give {self.value(arch, metric)}: "
                                   f"update the pieces in its cost_tables.py to match its network.py")

    def _check_metric(self, metric: str) -> None:
        if metric not in COST_METRICS:
            raise InvalidArgumentError(f"a {self.label} cost metric must be one of {list(COST_METRICS)}, got "
                                       f"{metric!r}; pass one of those")

    def value(self, arch: Architecture, metric: str) -> float:
        """``metric`` of ``arch``'s network: ``base + sum_t T_t[choice indices of t's positions]``."""
        self._check_metric(metric)
        return float(self.values([arch], metric)[0])

    def values(self, archs: Sequence[Architecture] | np.ndarray, metric: str) -> np.ndarray:
        """``metric`` of many architectures at once (a list of them, or an ``(n, positions)`` index array)."""
        self._check_metric(metric)
        sizes = self.sizes()
        if isinstance(archs, np.ndarray):
            indices = archs.astype(np.int64, copy=False)
        else:
            indices = np.asarray([self.space.to_categorical(self.space.validate(a)) for a in archs], dtype=np.int64)
        indices = indices.reshape(-1, len(sizes)) if indices.size == 0 else indices
        if indices.ndim != 2 or indices.shape[1] != len(sizes) or (indices.size and (
                indices.min() < 0 or (indices >= sizes).any())):
            raise InvalidArgumentError(f"{self.label} choice indices must be an (n, {len(sizes)}) array whose column "
                                       f"p lies in 0..len(choices[p]) - 1, got shape {indices.shape}; pass "
                                       f"{type(self.space).__name__}().to_categorical of each architecture")
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
    def from_json(cls, data: Mapping[str, Any]) -> Any:
        """Inverse of ``to_json``."""
        name = cls.__name__
        try:
            terms = [CostTerm(str(t["name"]), tuple(int(p) for p in t["positions"]),
                              {metric: np.asarray(t[metric], dtype=np.float64) for metric in COST_METRICS})
                     for t in data["terms"]]
            config = cls.config_class.from_json(data["config"])
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidArgumentError(f"{cls.label} cost tables JSON needs 'config', 'base' and 'terms' (each with "
                                       f"'name', 'positions', 'flops', 'params'), as to_json writes; reading it "
                                       f"failed with {error!r}: pass the dict {name}.to_json returned") from error
        sizes = cls.sizes()
        for term in terms:
            if not all(0 <= p < len(sizes) for p in term.positions):
                raise InvalidArgumentError(f"term {term.name!r} names positions {list(term.positions)}, but "
                                           f"{cls.label} positions are 0..{len(sizes) - 1}: pass the dict "
                                           f"{name}.to_json returned")
            shape = tuple(int(sizes[p]) for p in term.positions)
            for metric, table in term.tables.items():
                if table.shape != shape:
                    raise InvalidArgumentError(f"the {metric} table of term {term.name!r} must have one axis per "
                                               f"position {list(term.positions)}, of their option counts {shape}; "
                                               f"got shape {table.shape}: pass the dict {name}.to_json returned")
        return cls(config, terms, data.get("base"))
