"""The NAS-Bench-201 cell space: the space itself, its network builder (``network``), exact
cost tables (``cost_tables``) and the latency lookup table they use (``latency``). Only the space
is imported here; the other modules load torch."""

from search_spaces.nb201.space import NB201_EDGES, NB201_NODES, NB201_OPS, NB201Space

__all__ = ["NB201_EDGES", "NB201_NODES", "NB201_OPS", "NB201Space"]
