"""Search-space definitions: operation sets, cell graphs, encodings and network builders.

Spaces are found by name (``get_space``), which is how a run directory, which stores only the
name, gets its space back; ``register_space`` adds one.

Example:
    >>> get_space("nb201").size
    15625
"""

from infonas.exceptions import InvalidArgumentError
from search_spaces.base import Architecture, InvalidArchitectureError, SearchSpace
from search_spaces.darts import DartsSpace
from search_spaces.macro import MacroSpace
from search_spaces.nb201 import NB201_EDGES, NB201_OPS, NB201Space

#: Space name -> space class; ``get_space(name)`` builds ``SPACES[name]()``. Extend with ``register_space``.
SPACES: dict[str, type[SearchSpace]] = {"nb201": NB201Space, "macro": MacroSpace, "darts": DartsSpace}


def register_space(name: str, cls: type[SearchSpace]) -> None:
    """Make ``get_space(name)`` (and so ``Study.load`` of runs in that space) build ``cls()``.

    Registering the same class twice under one name is allowed; another class under a taken
    name is an error.

    Example:
        >>> register_space("nb201", NB201Space)  # already there: no change
    """
    if not (isinstance(cls, type) and issubclass(cls, SearchSpace)):
        raise TypeError(f"register_space needs a SearchSpace subclass, got {cls!r}")
    own_name = getattr(cls, "name", None)
    if isinstance(own_name, str) and own_name != name:
        raise InvalidArgumentError(
            f"a space must be registered under its own name so that runs can find it again; "
            f"{cls.__name__}.name is {own_name!r}, not {name!r}: register_space({own_name!r}, {cls.__name__})"
        )
    if name in SPACES and SPACES[name] is not cls:
        raise InvalidArgumentError(
            f"search space names must be unique; {name!r} is already {SPACES[name].__name__}, "
            f"not {cls.__name__}: give {cls.__name__} another name"
        )
    SPACES[name] = cls


def get_space(name: str) -> SearchSpace:
    """A new instance of the search space registered under ``name`` (e.g. ``"nb201"``)."""
    try:
        space_cls = SPACES[name]
    except KeyError:
        raise InvalidArgumentError(
            f"unknown search space {name!r}; a space must be registered by name to be used, and the "
            f"registered ones are {sorted(SPACES)}: pick one of those or add yours with register_space(name, cls)"
        ) from None
    return space_cls()


__all__ = [
    "NB201_EDGES",
    "NB201_OPS",
    "SPACES",
    "Architecture",
    "DartsSpace",
    "InvalidArchitectureError",
    "MacroSpace",
    "NB201Space",
    "SearchSpace",
    "get_space",
    "register_space",
]
