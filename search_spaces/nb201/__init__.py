"""The NAS-Bench-201 cell space: the space itself, its network builder (``network``) and exact
cost tables (``cost_tables``). Only the space is imported here; the network modules load torch."""

from search_spaces.nb201.space import NB201_EDGES, NB201_NODES, NB201_OPS, NB201Space

__all__ = ["NB201_EDGES", "NB201_NODES", "NB201_OPS", "NB201Space"]
