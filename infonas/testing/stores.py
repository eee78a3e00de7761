"""Conformance suite for run stores: what ``Study`` relies on of ``RunStore`` and ``InMemoryStore``.

What every store must do:

* ``config`` reads back as the given config after a JSON round trip (tuples become lists), and
  is a copy: changing it, or the dict the store was made from, changes nothing stored; a config
  that is not JSON is refused with ``RunStoreError``;
* ``events()`` returns every appended event in append order, each equal to its JSON round trip,
  as fresh objects; the typed events of ``infonas.storage.events`` replay from it unchanged;
* an event that is not a JSON object is refused with ``RunStoreError`` and leaves the journal
  as it was;
* ``read_snapshot(name, default)`` returns ``default`` until ``write_snapshot(name, obj)``, then
  (a copy of) the last object written; a snapshot that is not JSON is refused with
  ``RunStoreError`` and leaves the previous one in place;
* ``path`` is ``None`` (in memory) or the run directory.

A test class subclasses ``StoreConformance`` and provides ``make_store(config)``; a store kept
on disk may also provide ``reopen(store)`` (a fresh view of the same run, as a restarted process
would get) so that every read is checked after reopening too. ``self.tmp_path`` is a fresh
directory for each test.

Example:
    >>> from infonas.storage import RunStore
    >>> class TestRunStore(StoreConformance):  # doctest: +SKIP
    ...     def make_store(self, config):
    ...         return RunStore.create(self.tmp_path / "run", config)
    ...     def reopen(self, store):
    ...         return RunStore.open(store.path)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infonas.exceptions import RunStoreError
from infonas.storage.events import TrialAsked, TrialFinished, replay
from infonas.trials import TrialStatus

__all__ = ["StoreConformance"]

_ARCH = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"

#: A config with every JSON type, a tuple and a nested mapping.
CONFIG: dict[str, Any] = {
    "format_version": 1, "space": "nb201", "seed": 3, "maximize": True, "lr": 0.1, "reference_point": None,
    "shape": (3, 4), "fidelities": {"acc": 1.0, "acc_cheap": 0.1}, "objectives": [{"name": "acc", "maximize": True}],
}


def _json_round_trip(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


class StoreConformance:
    """The store contract, checked for the stores ``make_store(config)`` of a subclass returns."""

    tmp_path: Path

    @pytest.fixture(autouse=True)
    def _fresh_directory(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    def make_store(self, config: dict[str, Any]) -> Any:
        """A new, empty store holding ``config`` (subclasses provide it)."""
        raise NotImplementedError("subclasses of StoreConformance provide make_store(config)")

    def reopen(self, store: Any) -> Any:
        """The same run as a restarted process would see it (default: ``store`` itself)."""
        return store

    # -- config ----------------------------------------------------------------------------------

    def test_config_round_trips_through_json(self) -> None:
        store = self.make_store(dict(CONFIG))
        expected = _json_round_trip(CONFIG)
        assert store.config == expected
        assert self.reopen(store).config == expected
        assert store.path is None or isinstance(store.path, Path)

    def test_config_is_a_copy(self) -> None:
        given = {"seed": 0, "strategy_options": {"pool": [1, 2]}}
        store = self.make_store(given)
        given["seed"] = 1
        given["strategy_options"]["pool"].append(3)
        config = store.config
        config["seed"] = 2
        config["strategy_options"]["pool"].append(4)
        assert store.config == {"seed": 0, "strategy_options": {"pool": [1, 2]}}

    def test_non_json_config_is_refused(self) -> None:
        with pytest.raises(RunStoreError, match="not JSON-serializable"):
            self.make_store({"evaluator": object()})

    # -- events ----------------------------------------------------------------------------------

    def test_events_keep_order_and_round_trip_through_json(self) -> None:
        store = self.make_store({"seed": 0})
        assert store.events() == []
        sent = [
            {"event": "asked", "trial": 0, "arch": _ARCH, "fidelity": "acc", "time": 1.7e9 + 0.123456789},
            {"event": "note", "shape": (2, 3), "text": "a\nb\u2028c \u00e9", "tiny": 1e-300, "big": 2**62},
            {"event": "finished", "trial": 0, "status": "failed", "metrics": {}, "cost": 0.5, "error": None},
        ] + [{"event": "note", "n": n} for n in range(20)]
        for event in sent:
            store.append(event)
        sent[0]["trial"] = 99  # the store holds what was appended, not a reference to it
        expected = [_json_round_trip(e) for e in sent]
        expected[0]["trial"] = 0
        assert store.events() == expected
        assert self.reopen(store).events() == expected

    def test_events_are_fresh_objects(self) -> None:
        store = self.make_store({"seed": 0})
        store.append({"event": "note", "values": [1]})
        store.events()[0]["values"].append(2)
        assert store.events() == [{"event": "note", "values": [1]}]

    def test_typed_events_replay_unchanged(self) -> None:
        store = self.make_store({"seed": 0})
        asked = [TrialAsked(0, _ARCH, "acc", 1.5, 0.25), TrialAsked(1, _ARCH, "acc_cheap")]
        finished = [TrialFinished(1, TrialStatus.COMPLETE, {"acc_cheap": 71.5}, 0.1, None, 2.0),
                    TrialFinished(0, TrialStatus.FAILED, {}, 0.5, "RuntimeError: out of memory", 3.0)]
        for event in [*asked, *finished]:
            store.append(event.to_json())
        state = replay(self.reopen(store).events())
        assert state.asked == {0: asked[0], 1: asked[1]}
        assert state.finished == finished

    @pytest.mark.parametrize("bad", [{"x": object()}, {"x": {1, 2}}, {"x": b"bytes"}, [("event", "asked")], "asked"])
    def test_non_json_event_is_refused_and_leaves_the_journal(self, bad: Any) -> None:
        store = self.make_store({"seed": 0})
        store.append({"event": "note", "n": 0})
        with pytest.raises(RunStoreError):
            store.append(bad)
        store.append({"event": "note", "n": 1})
        assert self.reopen(store).events() == [{"event": "note", "n": 0}, {"event": "note", "n": 1}]

    # -- snapshots -------------------------------------------------------------------------------

    def test_snapshot_default_write_read(self) -> None:
        store = self.make_store({"seed": 0})
        assert store.read_snapshot("budget") is None
        assert store.read_snapshot("budget", default={"fresh": True}) == {"fresh": True}
        store.write_snapshot("budget", {"evaluations": 10, "cost": None, "seconds": None})
        store.write_snapshot("state", {"shape": (1, 2)})
        store.write_snapshot("budget", {"evaluations": 13, "cost": None, "seconds": None})
        again = self.reopen(store)
        assert again.read_snapshot("budget", default={}) == {"evaluations": 13, "cost": None, "seconds": None}
        assert again.read_snapshot("state") == {"shape": [1, 2]}
        assert again.read_snapshot("other", default=[]) == []

    def test_snapshot_is_a_copy(self) -> None:
        store = self.make_store({"seed": 0})
        obj = {"pool": [1]}
        store.write_snapshot("state", obj)
        obj["pool"].append(2)
        store.read_snapshot("state")["pool"].append(3)
        assert store.read_snapshot("state") == {"pool": [1]}

    def test_non_json_snapshot_is_refused_and_keeps_the_previous_one(self) -> None:
        store = self.make_store({"seed": 0})
        store.write_snapshot("state", {"trial": 1})
        with pytest.raises(RunStoreError, match="not JSON-serializable"):
            store.write_snapshot("state", {"x": object()})
        assert self.reopen(store).read_snapshot("state") == {"trial": 1}
