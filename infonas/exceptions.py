"""Every error infonas raises on purpose derives from ``InfonasError``, every warning it emits
from ``InfonasWarning``.

Messages state the rule, the value seen and the fix, e.g.::

    budget must be at least 1 evaluation, got 0; pass --budget 1 or more

Subclasses that replace a built-in error a caller may already catch keep it as a second base
(``InvalidArchitectureError`` is a ``ValueError``), as BoTorch's errors do.

Warnings say what was repaired and what the results now rest on; turn them into errors with
``warnings.simplefilter("error", InfonasWarning)`` (or ``-W error::infonas.exceptions.InfonasWarning``).

Example:
    >>> from infonas.exceptions import InfonasError, InfonasWarning, NumericalWarning, SpaceExhaustedError
    >>> issubclass(SpaceExhaustedError, InfonasError), issubclass(NumericalWarning, InfonasWarning)
    (True, True)
"""

from __future__ import annotations

__all__ = [
    "IncompatibleRunError",
    "InfonasError",
    "InfonasWarning",
    "InvalidArchitectureError",
    "InvalidArgumentError",
    "NumericalError",
    "NumericalWarning",
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


class NumericalError(InfonasError, RuntimeError):
    """A matrix computation whose result cannot be trusted: a covariance that is not positive
    definite even with the jitter allowed, non-finite entries, a GP fit that failed in every
    attempt. ``RuntimeError`` as linear_operator's ``NotPSDError``, which it replaces."""


class InfonasWarning(UserWarning):
    """Root of every warning infonas emits on purpose: ``filterwarnings(..., category=InfonasWarning)``
    selects them all."""


class NumericalWarning(InfonasWarning):
    """A computation that went through only after a repair: more jitter on a covariance than planned,
    or a sample drawn from the nearest positive semi-definite matrix."""
