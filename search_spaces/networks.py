"""Which network a space's architectures are trained in: space name -> network-config factory.

A trainer knows its data (the sample shape, the classes) and a size (cells, channels) but not
which network family a space builds; ``network_config(space, input_shape, ...)`` gives the config
whose ``build(arch)`` makes the network, whatever the space. NB201 cells get ``NetworkConfig``
(``num_cells`` cells per stage, ``channels`` in the first), macro architectures get
``MacroNetworkConfig`` (``channels`` is its base ``C``; ``num_cells`` is ignored, since a macro
architecture chooses its own depth per stage), DARTS genotypes ``DartsNetworkConfig`` (``num_cells``
normal cells per stage, ``channels`` per node of the first stage). ``register_network`` adds a space.

The exact costs (FLOPs, parameters) a search can take as objectives come the same way:
``measure_costs(space, config)`` gives NB201's ``ArchitectureCosts``, the macro space's
``MacroCosts`` or the DARTS space's ``DartsCosts``, and ``costs_from_json`` reads back what a run
directory saved.

Example:
    >>> config = network_config("macro", (1, 40), num_cells=1, channels=8, num_classes=10)
    >>> type(config).__name__, config.input_shape
    ('MacroNetworkConfig', (1, 40))
    >>> network_config("nb201", (1, 8, 8), num_cells=1, channels=4, num_classes=10).num_cells
    1
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from infonas.exceptions import InvalidArgumentError

__all__ = ["COSTS", "NETWORKS", "NetworkFactory", "costs_from_json", "measure_costs", "network_config", "register_network"]


class NetworkFactory(Protocol):
    """``factory(input_shape, num_cells=, channels=, num_classes=)`` -> a config with ``build(arch)``,
    ``input_shape`` and ``spatial_dims``."""

    def __call__(self, input_shape: tuple[int, ...], *, num_cells: int, channels: int, num_classes: int) -> Any: ...


def _nb201(input_shape: tuple[int, ...], *, num_cells: int, channels: int, num_classes: int) -> Any:
    from search_spaces.nb201.network import NetworkConfig  # torch loads only when a network is wanted

    return NetworkConfig.for_input(input_shape, num_cells, channels, num_classes)


def _macro(input_shape: tuple[int, ...], *, num_cells: int, channels: int, num_classes: int) -> Any:
    from search_spaces.macro.network import MacroNetworkConfig

    del num_cells  # a macro architecture sets its own depth per stage
    return MacroNetworkConfig.for_input(input_shape, channels, num_classes)


def _darts(input_shape: tuple[int, ...], *, num_cells: int, channels: int, num_classes: int) -> Any:
    from search_spaces.darts.network import DartsNetworkConfig

    return DartsNetworkConfig.for_input(input_shape, num_cells, channels, num_classes)


#: Space name -> network-config factory. Extend with ``register_network``.
NETWORKS: dict[str, Callable[..., Any]] = {"nb201": _nb201, "macro": _macro, "darts": _darts}


def register_network(name: str, factory: NetworkFactory | Callable[..., Any]) -> None:
    """Make ``network_config(name, ...)`` call ``factory``; the same factory twice is allowed, another
    one under a taken name is an error.

    Example:
        >>> register_network("macro", NETWORKS["macro"])  # already there: no change
    """
    if not callable(factory):
        raise InvalidArgumentError(f"a network factory must be callable, got {factory!r}; pass a function "
                                   f"(input_shape, *, num_cells, channels, num_classes) -> config")
    if name in NETWORKS and NETWORKS[name] is not factory:
        raise InvalidArgumentError(f"network factories are registered once per space; {name!r} already has "
                                   f"{NETWORKS[name]!r}: register yours under the name of its own space")
    NETWORKS[name] = factory


def network_config(space_name: str, input_shape: Sequence[int], *, num_cells: int, channels: int,
                   num_classes: int) -> Any:
    """The network config of space ``space_name`` for samples of ``input_shape`` (``(C, L)`` signals
    or ``(C, H, W)`` images) and ``num_classes`` classes."""
    try:
        factory = NETWORKS[space_name]
    except KeyError:
        raise InvalidArgumentError(
            f"training needs a network for the space, and there is none for {space_name!r}; the spaces with "
            f"one are {sorted(NETWORKS)}: use one of those or add yours with register_network(name, factory)"
        ) from None
    return factory(tuple(input_shape), num_cells=num_cells, channels=channels, num_classes=num_classes)



def _nb201_costs(space: Any, config: Any, latency: bool) -> Any:
    from search_spaces.nb201.cost_tables import ArchitectureCosts

    return ArchitectureCosts.measure(space, config, latency=latency)


def _nb201_costs_from_json(data: dict[str, Any], space: Any) -> Any:
    from search_spaces.nb201.cost_tables import ArchitectureCosts

    return ArchitectureCosts.from_json(data, space)


def _additive_costs(module: str, cls: str, label: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``(measure, from_json)`` of a space whose costs are an ``AdditiveCosts`` class ``module.cls``
    (imported when used: it loads torch)."""
    def measure(space: Any, config: Any, latency: bool) -> Any:
        if latency:
            raise InvalidArgumentError(f"the {label} space's computed costs are flops and params, and latency_ms "
                                       "was asked for; measure latency on the trained networks or drop latency_ms")
        return getattr(importlib.import_module(module), cls).measure(config)

    def from_json(data: dict[str, Any], space: Any) -> Any:
        return getattr(importlib.import_module(module), cls).from_json(data)

    return measure, from_json


#: Space name -> (measure(space, config, latency), from_json(data, space)) of its exact costs; NB201's
#: edge-wise tables serve any space without an entry, as they did before spaces had their own.
COSTS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "nb201": (_nb201_costs, _nb201_costs_from_json),
    "macro": _additive_costs("search_spaces.macro.cost_tables", "MacroCosts", "macro"),
    "darts": _additive_costs("search_spaces.darts.cost_tables", "DartsCosts", "DARTS")}


def measure_costs(space: Any, config: Any, *, latency: bool = False) -> Any:
    """The exact costs of ``space``'s architectures in networks of ``config`` (``ComputedMetrics``:
    ``names`` and ``values(archs, name)``); ``latency`` adds a measured latency table (NB201 only).

    Example:
        >>> from search_spaces import get_space
        >>> from search_spaces.macro.network import MacroNetworkConfig
        >>> measure_costs(get_space("macro"), MacroNetworkConfig.for_dataset("digits")).names
        ('flops', 'params')
    """
    return COSTS.get(space.name, COSTS["nb201"])[0](space, config, latency)


def costs_from_json(data: dict[str, Any], space: Any) -> Any:
    """Inverse of the ``to_json`` of what ``measure_costs`` returned for ``space``."""
    return COSTS.get(space.name, COSTS["nb201"])[1](data, space)
