"""The search spaces a gradient search runs on, each behind one small adapter.

``GradientSearch`` holds an architecture parameter ``alpha`` of shape ``(positions, options)``
and asks the adapter of ``GradientSettings.space`` for what depends on the space: the supernet
for an input shape, the expected cost of mixing weights (exact at one-hot rows), the
architecture that expected weights discretise to, and the per-epoch figures that show where the
search is heading (NB201: the argmax cell's share of skip and none edges, the collapse of DARTS;
macro: the argmax's depth and width per stage; darts: the derived normal cell's skips and convolutions). ``derive`` is the discretisation a search
reports: the argmax, fitted under the FLOPs budget by ``fit_budget`` when
``GradientSettings.discretise_within_budget`` asks for it.

Example:
    >>> import torch
    >>> adapter = gradient_space("macro")
    >>> adapter.alpha_shape
    (15, 3)
    >>> weights = torch.zeros(adapter.alpha_shape)
    >>> weights[:, 2] = 1.0  # the last option everywhere: depth 3, width x1, kernel 7
    >>> arch = adapter.discretise(weights, GradientSettings(space="macro"))
    >>> adapter.space.format(arch), adapter.figures(arch)
    ('|d3,x1,k7,k7,k7|d3,x1,k7,k7,k7|d3,x1,k7,k7,k7|', {'depths': [3, 3, 3], 'widths': [1.0, 1.0, 1.0]})
"""

from __future__ import annotations

import functools
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from infonas.exceptions import InvalidArgumentError
from infonas.gradient.relaxation import derive_choices, op_shares
from infonas.gradient.settings import GradientSettings
from search_spaces.base import Architecture, SearchSpace
from search_spaces.darts import PRIMITIVES, DartsSpace
from search_spaces.darts.genotype import DARTS_STEPS
from search_spaces.darts.space import CONV_OPS, DARTS_CELLS
from search_spaces.macro import MacroSpace
from search_spaces.nb201 import NB201_OPS, NB201Space

__all__ = ["GRADIENT_SPACES", "DartsGradientSpace", "GradientSpace", "MacroGradientSpace", "NB201GradientSpace",
           "gradient_space"]

ExpectedCostFn = Callable[[torch.Tensor], torch.Tensor]

logger = logging.getLogger(__name__)


class GradientSpace(ABC):
    """What a gradient search needs of its search space (see the module docstring)."""

    name: str = ""
    #: Index of the skip operation (the P-DARTS drop-path remedy), ``None`` where there is none.
    skip_index: int | None = None
    #: How to build the ``costs`` a FLOPs term needs, for the error that asks for them.
    costs_hint: str = ""

    @property
    @abstractmethod
    def space(self) -> SearchSpace:
        """The search space whose architectures the search derives."""

    @property
    def alpha_shape(self) -> tuple[int, int]:
        """``(positions, options)``: one row of ``alpha`` per position."""
        choices = self.space.choices
        return len(choices), len(choices[0])

    @abstractmethod
    def supernet(self, input_shape: tuple[int, ...], settings: GradientSettings, num_classes: int) -> nn.Module:
        """A freshly initialised supernet for samples of ``input_shape`` (``forward(x, weights=, selected=,
        choices=)``), sized by ``settings``."""

    @abstractmethod
    def costs(self, data: str, settings: GradientSettings) -> Any:
        """The exact cost tables of the networks a search on the embedded data set ``data`` derives."""

    @abstractmethod
    def expected_cost(self, costs: Any, metric: str) -> ExpectedCostFn:
        """``w -> E[metric](w)`` over mixing weights ``(..., positions, options)``, differentiable."""

    @abstractmethod
    def discretise(self, expected: torch.Tensor, settings: GradientSettings) -> Architecture:
        """The architecture the expected mixing weights stand for."""

    @abstractmethod
    def figures(self, arch: Architecture) -> dict[str, Any]:
        """The per-epoch figures of the argmax architecture that show where the search heads."""

    @abstractmethod
    def progress_text(self, record: dict[str, Any]) -> str:
        """A few characters of an epoch record for the progress bar."""

    def may_switch(self, choices: list[int], position: int, option: int, settings: GradientSettings) -> bool:
        """Whether ``fit_budget`` may give ``position`` the ``option`` (the discretisation's own rules)."""
        return True

    def check_settings(self, settings: GradientSettings) -> None:
        """Raise ``InvalidArgumentError`` for settings this space cannot honour (none here)."""

    def derive(self, expected: torch.Tensor, settings: GradientSettings, costs: Any = None) -> Architecture:
        """The architecture a search reports: ``discretise``'s, then (``discretise_within_budget``)
        ``fit_budget``'s under ``settings.flops_budget``, which needs the exact ``costs``."""
        arch = self.discretise(expected, settings)
        if not settings.discretise_within_budget:
            return arch
        if costs is None:
            raise InvalidArgumentError("discretise_within_budget needs the network's exact cost tables, got costs="
                                       f"None: pass costs={self.costs_hint}")
        return self.fit_budget(arch, expected, costs, float(settings.flops_budget or 0.0), settings)

    def fit_budget(self, arch: Architecture, expected: torch.Tensor, costs: Any, budget: float,
                   settings: GradientSettings) -> Architecture:
        """``arch`` (the argmax) made to fit ``budget`` in exact FLOPs (``costs.value``), greedily.

        While the FLOPs exceed the budget, switch the one position ``p`` to the cheaper option
        ``o`` that loses the least expected log-probability per FLOP saved,
        ``(log w[p, cur_p] - log w[p, o]) / (F(arch) - F(arch with p -> o))`` (ties: the larger
        saving, then the lower position and option), among the switches ``may_switch`` allows.
        Each step lowers the FLOPs strictly, so the loop ends; an ``arch`` within the budget comes
        back unchanged. It stops over the budget only where no single switch saves FLOPs: NB201's
        FLOPs add up over the edges and every macro position costs more with each later option,
        so that is the smallest architecture (of the allowed options). So ``F <= budget`` holds
        by construction whenever the smallest architecture is within it: reported apart from
        the hinge, which only pulls the expected FLOPs down.

        Example:
            >>> from search_spaces.macro.cost_tables import MacroCosts
            >>> from search_spaces.macro.network import MacroNetworkConfig
            >>> adapter = gradient_space("macro")
            >>> costs = MacroCosts.measure(MacroNetworkConfig.for_dataset("mnist1d"))
            >>> weights = torch.softmax(torch.randn(15, 3, generator=torch.Generator().manual_seed(0)), -1)
            >>> settings = GradientSettings(space="macro")
            >>> argmax = adapter.discretise(weights, settings)
            >>> costs.value(argmax, "flops") > 40000
            True
            >>> costs.value(adapter.fit_budget(argmax, weights, costs, 40000.0, settings), "flops") <= 40000
            True
        """
        space = self.space
        choices = [int(c) for c in space.to_categorical(arch)]
        log_w = torch.log(expected.detach().to(device="cpu", dtype=torch.float64)).tolist()
        flops = float(costs.value(arch, "flops"))
        while flops > budget:
            moves = [(p, o) for p in range(len(choices)) for o in range(len(log_w[p]))
                     if o != choices[p] and self.may_switch(choices, p, o, settings)]
            values = costs.values([space.from_categorical(choices[:p] + [o] + choices[p + 1:]) for p, o in moves],
                                  "flops") if moves else []
            best: tuple[float, float, int, int] | None = None
            for (p, o), value in zip(moves, values):
                saved = flops - float(value)
                if saved > 0:
                    # Equal log-probabilities (two pruned options: both -inf) lose nothing.
                    lost = 0.0 if log_w[p][choices[p]] == log_w[p][o] else log_w[p][choices[p]] - log_w[p][o]
                    key = (lost / saved, -saved, p, o)
                    best = key if best is None or key < best else best
            if best is None:
                logger.warning("no single switch lowers the FLOPs of %s (%.6g) under the budget %.6g: the smallest "
                               "architecture exceeds it", space.format(space.from_categorical(choices)), flops, budget)
                break
            _, _, p, o = best
            choices[p] = o
            flops = float(costs.value(space.from_categorical(choices), "flops"))
        return space.from_categorical(choices)

    def cost_figures(self, expected: torch.Tensor, arch: Architecture, costs: Any,
                     settings: GradientSettings) -> dict[str, float]:
        """Per-epoch exact costs beside the expected FLOPs: ``derived_flops`` (of ``arch``, the derived
        architecture) and, with ``discretise_within_budget``, ``argmax_flops`` (the argmax's, before the fit)."""
        figures = {"derived_flops": float(costs.value(arch, "flops"))}
        if settings.discretise_within_budget:
            figures["argmax_flops"] = float(costs.value(self.discretise(expected, settings), "flops"))
        return figures

    def drop_skips(self, weights: torch.Tensor, probability: float, generator: torch.Generator) -> torch.Tensor:
        """Drop-path on the skip operation only (P-DARTS): each row's skip weight zeroed with
        ``probability`` in this step, the kept ones scaled by ``1 / (1 - probability)``."""
        if self.skip_index is None:
            raise InvalidArgumentError(f"skip_drop_path needs a skip operation, which space {self.name!r} lacks; "
                                       "set skip_drop_path=0")
        keep = (torch.rand(len(weights), generator=generator) >= probability).float()
        scale = torch.ones_like(weights)
        scale[:, self.skip_index] = keep / (1.0 - probability)
        return weights * scale


class NB201GradientSpace(GradientSpace):
    """The NB201 cell: 6 edges x 5 operations; DARTS's argmax (with ``max_skips``, ``exclude_none``)."""

    name = "nb201"
    skip_index = NB201_OPS.index("skip_connect")
    costs_hint = "ArchitectureCosts.measure(space, config)"

    @property
    def space(self) -> NB201Space:
        return NB201Space()

    def supernet(self, input_shape: tuple[int, ...], settings: GradientSettings, num_classes: int) -> nn.Module:
        from infonas.supernet.network import Supernet
        from search_spaces.nb201.network import NetworkConfig

        return Supernet(NetworkConfig.for_input(input_shape, settings.num_cells, settings.channels, num_classes))

    def costs(self, data: str, settings: GradientSettings) -> Any:
        from infonas.gradient.hardware import network_costs

        return network_costs(data, num_cells=settings.num_cells, channels=settings.channels)

    def expected_cost(self, costs: Any, metric: str) -> ExpectedCostFn:
        from infonas.gradient.hardware import ExpectedCost

        return ExpectedCost(costs, metric)

    def discretise(self, expected: torch.Tensor, settings: GradientSettings) -> Architecture:
        choices = derive_choices(expected, max_skips=settings.max_skips, skip_index=self.skip_index,
                                 exclude_none=settings.exclude_none)
        return self.space.from_categorical(list(choices))

    def may_switch(self, choices: list[int], position: int, option: int, settings: GradientSettings) -> bool:
        """Never to none under ``exclude_none``; to skip only below ``max_skips`` skip edges."""
        if settings.exclude_none and option == NB201_OPS.index("none"):
            return False
        if settings.max_skips is not None and option == self.skip_index:
            return sum(choice == self.skip_index for choice in choices) < settings.max_skips
        return True

    def figures(self, arch: Architecture) -> dict[str, Any]:
        shares = op_shares(self.space.to_categorical(arch))
        return {"skip_share": shares.get("skip_connect", 0.0), "none_share": shares.get("none", 0.0)}

    def progress_text(self, record: dict[str, Any]) -> str:
        return f"skips {record['skip_share']:.2f}"


class MacroGradientSpace(GradientSpace):
    """The macro space: 15 positions x 3 options (depth, width, a kernel per block, per stage); each
    position's most weighted option (ties: the first)."""

    name = "macro"
    costs_hint = "MacroCosts.measure(config)"

    @property
    def space(self) -> MacroSpace:
        return MacroSpace()

    def supernet(self, input_shape: tuple[int, ...], settings: GradientSettings, num_classes: int) -> nn.Module:
        from infonas.supernet.macro import MacroSupernet
        from search_spaces.macro.network import MacroNetworkConfig

        return MacroSupernet(MacroNetworkConfig.for_input(input_shape, settings.channels, num_classes))

    def costs(self, data: str, settings: GradientSettings) -> Any:
        from search_spaces.macro.cost_tables import MacroCosts
        from search_spaces.macro.network import MacroNetworkConfig

        return MacroCosts.measure(MacroNetworkConfig.for_dataset(data, channels=settings.channels))

    def expected_cost(self, costs: Any, metric: str) -> ExpectedCostFn:
        if metric not in ("flops", "params"):
            raise InvalidArgumentError(f"the macro space's costs are 'flops' and 'params', got {metric!r}; pass one "
                                       "of those")
        return lambda weights: costs.expected(weights, metric)

    def discretise(self, expected: torch.Tensor, settings: GradientSettings) -> Architecture:
        if tuple(expected.shape) != self.alpha_shape:
            raise InvalidArgumentError(f"expected weights must have shape {self.alpha_shape}, got "
                                       f"{tuple(expected.shape)}; pass one row per MacroSpace position")
        return self.space.from_categorical(expected.detach().argmax(-1).tolist())

    def figures(self, arch: Architecture) -> dict[str, Any]:
        stages = self.space.stages(arch)
        return {"depths": [depth for depth, _, _ in stages], "widths": [width for _, width, _ in stages]}

    def progress_text(self, record: dict[str, Any]) -> str:
        return "depths " + ",".join(map(str, record["depths"]))


class DartsGradientSpace(GradientSpace):
    """The DARTS cells: 2 x 14 edges x 8 operations (the normal cell's edges first, in
    ``infonas.supernet.darts.EDGES`` order), discretised by the reference ``genotype()``
    (``derive_genotype``: per node the two edges of largest non-``none`` weight, each with its best
    non-``none`` operation). Its expected FLOPs price the supernet's mixture of all 14 edges, but a
    genotype keeps 8 of them, so the FLOPs hinge and ``discretise_within_budget`` are refused.

    Example:
        >>> from search_spaces.darts import DARTS_V2
        >>> adapter = gradient_space("darts")
        >>> adapter.alpha_shape, adapter.figures(adapter.space.parse(DARTS_V2))
        ((28, 8), {'normal_skips': 2, 'normal_convs': 6, 'reduce_skips': 3})
    """

    name = "darts"
    costs_hint = "DartsCosts.measure(DartsNetworkConfig.for_dataset(data, channels=...))"

    @property
    def space(self) -> DartsSpace:
        return DartsSpace()

    @property
    def alpha_shape(self) -> tuple[int, int]:
        return len(DARTS_CELLS) * sum(node + 2 for node in range(DARTS_STEPS)), len(PRIMITIVES)

    def check_settings(self, settings: GradientSettings) -> None:
        """Refuse the FLOPs budget's terms (see the class docstring), in one line."""
        for name in ("flops_weight", "discretise_within_budget"):
            if getattr(settings, name):
                raise InvalidArgumentError(
                    f"{name}={getattr(settings, name)!r} is refused on space 'darts': a FLOPs budget needs the "
                    "derived network's expected FLOPs, but the relaxation mixes all 14 edges of a cell while the "
                    "derived genotype keeps its 2 strongest per node, so no exact expectation exists; leave "
                    f"{name} at its default (or search space 'macro' or 'nb201')")

    def supernet(self, input_shape: tuple[int, ...], settings: GradientSettings, num_classes: int) -> nn.Module:
        from infonas.supernet.darts import DartsSupernet
        from search_spaces.darts.network import DartsNetworkConfig

        self.check_settings(settings)  # every search builds its supernet first
        return DartsSupernet(DartsNetworkConfig.for_input(input_shape, settings.num_cells, settings.channels,
                                                          num_classes))

    def costs(self, data: str, settings: GradientSettings) -> Any:
        from search_spaces.darts.network import DartsNetworkConfig

        return _darts_costs(DartsNetworkConfig.for_dataset(data, num_cells=settings.num_cells,
                                                           channels=settings.channels))

    def expected_cost(self, costs: Any, metric: str) -> ExpectedCostFn:
        """``w -> base + sum_{e, o} w[e, o] cost(e, o)``: the supernet's mixture priced edge by edge
        (``edge_costs``), exact at one-hot rows that keep a genotype's edges and ``none`` elsewhere;
        reported per epoch, never a search term (``check_settings``)."""
        from infonas.supernet.darts import edge_costs

        if metric not in ("flops", "params"):
            raise InvalidArgumentError(f"the darts space's costs are 'flops' and 'params', got {metric!r}; pass one "
                                       "of those")
        table, base = edge_costs(costs, metric), float(costs.base[metric])
        return lambda weights: base + (weights * table.to(weights)).sum((-2, -1))

    def discretise(self, expected: torch.Tensor, settings: GradientSettings) -> Architecture:
        from infonas.supernet.darts import derive_genotype

        return self.space.from_genotype(derive_genotype(expected))

    def derive(self, expected: torch.Tensor, settings: GradientSettings, costs: Any = None) -> Architecture:
        self.check_settings(settings)
        return self.discretise(expected, settings)

    def cost_figures(self, expected: torch.Tensor, arch: Architecture, costs: Any,
                     settings: GradientSettings) -> dict[str, float]:
        """The derived genotype's exact ``derived_flops`` and ``derived_params``."""
        return {"derived_flops": float(costs.value(arch, "flops")), "derived_params": float(costs.value(arch, "params"))}

    def figures(self, arch: Architecture) -> dict[str, Any]:
        """The collapse of DARTS shows in the normal cell: its skips replace its convolutions."""
        normal, reduce = ([op for node in nodes for _, op in node] for nodes in self.space.cells(arch))
        return {"normal_skips": normal.count("skip_connect"), "normal_convs": sum(op in CONV_OPS for op in normal),
                "reduce_skips": reduce.count("skip_connect")}

    def progress_text(self, record: dict[str, Any]) -> str:
        return f"skips {record['normal_skips']}/8"


@functools.lru_cache(maxsize=4)
def _darts_costs(config: Any) -> Any:
    """``DartsCosts.measure(config)``, once per process: counting takes seconds, and the tables of a
    frozen config never change (every search of a benchmark on one config shares them)."""
    from search_spaces.darts.cost_tables import DartsCosts

    return DartsCosts.measure(config)


#: Adapters by ``GradientSettings.space``.
GRADIENT_SPACES: dict[str, GradientSpace] = {"nb201": NB201GradientSpace(), "macro": MacroGradientSpace(),
                                             "darts": DartsGradientSpace()}


def gradient_space(name: str) -> GradientSpace:
    """The adapter of the space called ``name``.

    Example:
        >>> gradient_space("nb201").alpha_shape
        (6, 5)
    """
    if name not in GRADIENT_SPACES:
        raise InvalidArgumentError(f"space must be one of {sorted(GRADIENT_SPACES)}, got {name!r}; pick one of them")
    return GRADIENT_SPACES[name]
