"""Names of a package loaded from their modules on first use (PEP 562).

A package lists ``name -> module`` and takes ``__getattr__``, ``__dir__`` and ``__all__`` from
``lazy_exports``, so importing it does no work: torch, the GP stack or pymoo load only when one
of their names is used.

Example:
    >>> getattr_, dir_, all_ = lazy_exports("demo", {"sqrt": "math"}, {})
    >>> getattr_("sqrt")(4.0), all_
    (2.0, ['sqrt'])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, public: Mapping[str, str], namespace: Mapping[str, Any]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` of ``package``, whose ``public`` names live in the named
    modules; ``namespace`` is the package's ``globals()`` (its own names, listed by ``dir``)."""

    def getattr_(name: str) -> Any:
        if name in public:
            return getattr(import_module(public[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(public))

    return getattr_, dir_, sorted(public)
