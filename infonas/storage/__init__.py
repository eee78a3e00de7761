"""Storage of runs: the crash-safe run directory (``RunStore``: immutable config, append-only
journal, atomic snapshots), an ``InMemoryStore`` with the same interface for runs that need no
directory (benchmarks, tests), and the typed journal events both hold (``infonas.storage.events``).

Modules by job: ``files`` (durable atomic writes), ``journal`` (appends, torn tails),
``salvage`` (repair of a damaged journal), ``lock`` (one writer per run), ``config``
(normalisation, comparison and freezing of a run's config), ``run_store`` (the directory),
``memory``, ``events``.
"""

from infonas.exceptions import IncompatibleRunError, RunLockedError, RunStoreError
from infonas.storage.memory import InMemoryStore
from infonas.storage.run_store import RepairReport, RunStore, repair

__all__ = ["InMemoryStore", "IncompatibleRunError", "RepairReport", "RunLockedError", "RunStore", "RunStoreError",
           "repair"]
