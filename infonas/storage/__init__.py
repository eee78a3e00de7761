"""Storage of runs: the crash-safe run directory (``RunStore``: immutable config, append-only
journal, atomic snapshots), an ``InMemoryStore`` with the same interface for runs that need no
directory (benchmarks, tests), and the typed journal events both hold (``infonas.storage.events``).

Modules by job: ``files`` (durable atomic writes), ``journal`` (appends, torn tails, repair),
``config`` (normalisation and comparison of a run's config), ``run_store`` (the directory),
``memory``, ``events``.
"""

from infonas.exceptions import IncompatibleRunError, RunStoreError
from infonas.storage.memory import InMemoryStore
from infonas.storage.run_store import RepairReport, RunStore, repair

__all__ = ["InMemoryStore", "IncompatibleRunError", "RepairReport", "RunStore", "RunStoreError", "repair"]
