"""Search-space definitions: operation sets, cell graphs, encodings and network builders."""

from search_spaces.base import Architecture, InvalidArchitectureError, SearchSpace
from search_spaces.nb201 import NB201_EDGES, NB201_OPS, NB201Space

SPACES: dict[str, type[SearchSpace]] = {"nb201": NB201Space}


def get_space(name: str) -> SearchSpace:
    """The search space registered under ``name`` (e.g. ``"nb201"``)."""
    try:
        return SPACES[name]()
    except KeyError:
        raise ValueError(f"unknown search space {name!r}; available: {sorted(SPACES)}") from None


__all__ = [
    "Architecture",
    "InvalidArchitectureError",
    "NB201Space",
    "NB201_EDGES",
    "NB201_OPS",
    "SPACES",
    "SearchSpace",
    "get_space",
]
