"""How a search space looks to Ax: one unordered choice parameter per decision position.

Position ``i`` of a space (``space.choices[i]``) is the Ax parameter ``choice_{i:02d}`` with the
option strings as values, in the space's order. An architecture is the parameterisation
``{"choice_00": op_0, ...}`` and back; the mapping is exact and one to one on choice vectors
(canonically equal cells with different choice vectors stay different parameterisations, as
they are different points of Ax's search space).

Nothing here imports Ax: ``require_ax`` does, with a clear error naming the extra.

Example:
    >>> from search_spaces import NB201Space
    >>> space = NB201Space()
    >>> arch = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|skip_connect~1|avg_pool_3x3~2|")
    >>> parameterization = to_parameterization(space, arch)
    >>> parameterization["choice_00"], len(parameterization)
    ('nor_conv_3x3', 6)
    >>> from_parameterization(space, parameterization) == arch
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infonas.exceptions import InvalidArchitectureError, UnsupportedError
from search_spaces.base import Architecture, SearchSpace

__all__ = ["AX_EXTRA", "from_parameterization", "parameter_name", "parameter_names", "require_ax",
           "to_parameterization"]

#: What a user installs to get Ax (the version the README's figures were measured with).
AX_EXTRA = "pip install 'infonas[ax]'"


def require_ax(feature: str) -> None:
    """Raise ``UnsupportedError`` naming the extra when Ax is not installed (``feature``: what needed it)."""
    try:
        import ax  # noqa: F401
    except ImportError as error:
        raise UnsupportedError(f"{feature} needs Ax (ax-platform), which is not installed: {AX_EXTRA}") from error


def parameter_name(position: int) -> str:
    """The Ax parameter of decision position ``position``."""
    return f"choice_{position:02d}"


def parameter_names(space: SearchSpace) -> list[str]:
    """Ax parameter names of ``space``, in encoding order."""
    return [parameter_name(i) for i in range(len(space.choices))]


def to_parameterization(space: SearchSpace, arch: Architecture) -> dict[str, str]:
    """``{choice_i: op_i}`` of ``arch`` (validated against ``space``)."""
    space.validate(arch)
    return dict(zip(parameter_names(space), arch.ops))


def from_parameterization(space: SearchSpace, parameterization: Mapping[str, Any]) -> Architecture:
    """The architecture of an Ax parameterisation; a missing or unknown parameter or option fails clearly."""
    names = parameter_names(space)
    missing = [name for name in names if name not in parameterization]
    extra = sorted(set(parameterization) - set(names))
    if missing or extra:
        raise InvalidArchitectureError(
            f"an Ax parameterisation of {space.name!r} has exactly the parameters {names[0]}..{names[-1]}; "
            f"missing {missing}, unexpected {extra}: was the experiment made for another space?")
    return space.make(str(parameterization[name]) for name in names)
