"""Every error infonas raises on purpose derives from ``InfonasError``.

Messages state the rule, the value seen and the fix, e.g.::

    budget must be at least 1 evaluation, got 0; pass --budget 1 or more

Subclasses that replace a built-in error a caller may already catch keep it as a second base
(``InvalidArchitectureError`` is a ``ValueError``), as BoTorch's errors do.

Example:
    >>> from infonas.exceptions import InfonasError, SpaceExhaustedError
    >>> issubclass(SpaceExhaustedError, InfonasError)
    True
"""

from __future__ import annotations

__all__ = [
    "IncompatibleRunError",
    "InfonasError",
    "InvalidArchitectureError",
    "InvalidArgumentError",
    "RunLockedError",
    "RunStoreError",
    "SpaceExhaustedError",
    "StudyError",
    "TableError",
    "UnsupportedError",
]


class InfonasError(Exception):
    """Root of every error infonas raises on purpose: ``except InfonasError`` catches them all."""


class InvalidArgumentError(InfonasError, ValueError):
    """An argument or option outside what is allowed (a non-positive budget, an unknown strategy,
    space or evaluator name, an objective the evaluator does not measure)."""


class InvalidArchitectureError(InfonasError, ValueError):
    """An architecture (or its string) that does not belong to the search space."""


class SpaceExhaustedError(InfonasError):
    """Every architecture a strategy may propose has been evaluated (or is pending)."""


class RunStoreError(InfonasError):
    """A run directory that cannot be read or written as asked; the message says how to repair it."""


class IncompatibleRunError(RunStoreError):
    """A run directory made by another configuration or format version than the one asked for."""


class RunLockedError(RunStoreError):
    """A run directory another process is writing (or wrote after this one read it); the message
    names the holder's pid and host."""


class StudyError(InfonasError):
    """Misuse of a study: telling an unknown or finished trial, resuming without its evaluator..."""


class TableError(InfonasError, ValueError):
    """A tabular benchmark file that cannot be used: malformed rows, missing or non-numeric columns."""


class UnsupportedError(InfonasError):
    """A combination infonas does not support (an acquisition for another problem kind, a missing
    optional extra); the message names what is supported instead."""
