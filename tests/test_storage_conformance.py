"""The store conformance suite (infonas.testing.stores) over both stores a Study can run on."""

from __future__ import annotations

from typing import Any

from infonas.storage import InMemoryStore, RunStore
from infonas.testing.stores import StoreConformance


class TestRunStore(StoreConformance):
    def make_store(self, config: dict[str, Any]) -> RunStore:
        return RunStore.create(self.tmp_path / "run", config)

    def reopen(self, store: RunStore) -> RunStore:
        return RunStore.open(store.path)


class TestInMemoryStore(StoreConformance):
    def make_store(self, config: dict[str, Any]) -> InMemoryStore:
        return InMemoryStore(config)
