"""A run store held in memory: the interface of ``RunStore`` without a directory.

Benchmarks and tests drive ``Study`` objects on it: the same loop, journal replay included, with
nothing written to disk. Events are copied in and out as JSON, so what a ``Study`` reads back is
exactly what a ``RunStore`` would have given it.

Example:
    >>> store = InMemoryStore({"seed": 0})
    >>> store.append({"event": "asked", "trial": 0, "arch": "a", "fidelity": "full"})
    >>> store.events()[0]["trial"]
    0
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from infonas.exceptions import RunStoreError

__all__ = ["InMemoryStore"]


class InMemoryStore:
    """Config, journal and snapshots of one run, in memory (``path`` is ``None``)."""

    path = None

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._config = json.loads(_dumps(dict(config), "config"))
        self._journal: list[str] = []
        self._snapshots: dict[str, str] = {}

    @property
    def config(self) -> dict[str, Any]:
        """A copy of the config (callers cannot change the stored one)."""
        return copy.deepcopy(self._config)

    def append(self, event: Mapping[str, Any]) -> None:
        """Append one event (kept as its JSON text, as a journal line would be)."""
        if not isinstance(event, Mapping):
            raise RunStoreError(f"an event must be a dict, got {type(event).__name__}")
        self._journal.append(_dumps(dict(event), "event"))

    def events(self) -> list[dict[str, Any]]:
        """Every appended event, in order."""
        return [json.loads(line) for line in self._journal]

    def write_snapshot(self, name: str, obj: Any) -> None:
        self._snapshots[name] = _dumps(obj, f"snapshot {name!r}")

    def read_snapshot(self, name: str, default: Any = None) -> Any:
        text = self._snapshots.get(name)
        return default if text is None else json.loads(text)

    def __repr__(self) -> str:
        return f"InMemoryStore({len(self._journal)} events)"


def _dumps(obj: Any, what: str) -> str:
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise RunStoreError(f"{what} is not JSON-serializable ({error}); convert its values to str, int, "
                            "float, bool, None, lists or dicts") from error
