"""Tests for infonas.storage.run_store: round trips, error messages, torn writes, corruption.

Real crashes (kill -9 of a writer) are tested in test_storage_crash.py.
"""

from __future__ import annotations

import errno
import json
import os
import random
import threading
from pathlib import Path

import pytest

import infonas.storage
from infonas.exceptions import IncompatibleRunError
from infonas.storage import journal as journal_module
from infonas.storage.run_store import RepairReport, RunStore, RunStoreError, repair

CONFIG = {"space": "nb201", "seed": 0, "budget": 100, "fidelities": [12, 200]}


def _journal_lines(store: RunStore) -> list[bytes]:
    return store.journal_path.read_bytes().split(b"\n")


def _fill(store: RunStore, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        store.append({"event": "note", "seq": i})


# --------------------------------------------------------------------------------------------
# create / open
# --------------------------------------------------------------------------------------------


def test_create_open_round_trip(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "deep" / "a"  # parents are created
    store = RunStore.create(run, {**CONFIG, "shape": (3, 4)})
    assert store.config == {**CONFIG, "shape": [3, 4]}  # as it reads back from JSON
    assert store.events() == []
    assert (run / "config.json").is_file()
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]

    store.append({"event": "asked", "trial": 0, "b": [1, 2]})
    store.append({"trial": 0, "event": "told", "metrics": {"acc": 0.5}})
    # one compact line per event, keys sorted
    assert _journal_lines(store) == [
        b'{"b":[1,2],"event":"asked","trial":0}',
        b'{"event":"told","metrics":{"acc":0.5},"trial":0}',
        b"",
    ]

    again = RunStore.open(run, {**CONFIG, "shape": [3, 4]})
    assert again.config == store.config
    assert again.events() == [
        {"event": "asked", "trial": 0, "b": [1, 2]},
        {"event": "told", "trial": 0, "metrics": {"acc": 0.5}},
    ]
    # the config property is a copy: mutating it does not change the store
    again.config["seed"] = 99
    assert again.config["seed"] == 0


def test_create_refuses_existing_run_unless_exist_ok_with_same_config(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "r", CONFIG)
    store.append({"seq": 0})
    with pytest.raises(RunStoreError, match="already exists"):
        RunStore.create(tmp_path / "r", CONFIG)
    resumed = RunStore.create(tmp_path / "r", dict(CONFIG), exist_ok=True)
    assert resumed.events() == [{"seq": 0}]
    with pytest.raises(IncompatibleRunError, match="keys seed"):
        RunStore.create(tmp_path / "r", {**CONFIG, "seed": 1}, exist_ok=True)
    # an existing run is not an incompatible one: callers can tell the two apart
    with pytest.raises(RunStoreError) as info:
        RunStore.create(tmp_path / "r", CONFIG)
    assert not isinstance(info.value, IncompatibleRunError)


def test_create_in_existing_empty_directory(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path, CONFIG)  # tmp_path already exists, no run in it yet
    assert RunStore.open(tmp_path).config == CONFIG
    assert store.path == tmp_path


def test_create_refuses_orphan_journal_and_file_path(tmp_path: Path) -> None:
    (tmp_path / "journal.jsonl").write_text('{"seq":0}\n')
    with pytest.raises(RunStoreError, match="no config.json"):
        RunStore.create(tmp_path, CONFIG)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(RunStoreError, match="not a directory"):
        RunStore.create(tmp_path / "afile", CONFIG)


def test_config_mismatch_lists_keys(tmp_path: Path) -> None:
    RunStore.create(tmp_path / "r", {"a": 1, "b": 2, "c": 3, "same": [1]})
    with pytest.raises(IncompatibleRunError) as info:
        RunStore.open(tmp_path / "r", {"a": 1, "b": 5, "d": 4, "same": [1]})
    message = str(info.value)
    assert "keys b, c, d:" in message
    assert "stored b=2, c=3, d=<missing>" in message
    assert "given b=5, c=<missing>, d=4" in message
    assert "same" not in message.split("stored")[1]
    # 1 and 1.0 (or True) are different settings; NaN equals itself
    RunStore.create(tmp_path / "n", {"lr": 1, "x": float("nan")})
    RunStore.open(tmp_path / "n", {"lr": 1, "x": float("nan")})
    with pytest.raises(IncompatibleRunError, match="keys lr"):
        RunStore.open(tmp_path / "n", {"lr": 1.0, "x": float("nan")})
    assert issubclass(IncompatibleRunError, RunStoreError)


def test_config_must_be_json(tmp_path: Path) -> None:
    with pytest.raises(RunStoreError, match="not JSON-serializable"):
        RunStore.create(tmp_path / "r", {"f": object()})
    with pytest.raises(RunStoreError, match="must be a dict"):
        RunStore.create(tmp_path / "r", [1, 2])  # type: ignore[arg-type]
    assert not (tmp_path / "r").exists()


def test_open_missing_directory_or_config(tmp_path: Path) -> None:
    with pytest.raises(RunStoreError, match=r"run directory .*nope does not exist"):
        RunStore.open(tmp_path / "nope")
    with pytest.raises(RunStoreError, match="has no config.json"):
        RunStore.open(tmp_path)
    (tmp_path / "config.json").write_text('{"a": 1')
    with pytest.raises(RunStoreError, match="unreadable"):
        RunStore.open(tmp_path)
    (tmp_path / "config.json").write_text("[1]")
    with pytest.raises(RunStoreError, match="not a JSON object"):
        RunStore.open(tmp_path)


# --------------------------------------------------------------------------------------------
# journal: torn tail, corruption, repair
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "torn",
    [
        b'{"event":"asked","se',  # cut mid-line
        b'{"event":"asked","seq":3}',  # whole JSON but no newline: append never returned
        b"\x00\x00\x00\x00\x00\x00\n",  # zero-filled block after a power cut
        b"\n",  # an empty last line
    ],
)
def test_torn_last_line_ignored_then_trimmed_on_append(tmp_path: Path, torn: bytes) -> None:
    store = RunStore.create(tmp_path / "r", CONFIG)
    _fill(store, 3)
    with open(store.journal_path, "ab") as f:
        f.write(torn)
    assert [e["seq"] for e in store.events()] == [0, 1, 2]  # same object: sees it too

    reopened = RunStore.open(tmp_path / "r")  # a fresh process after the crash
    assert [e["seq"] for e in reopened.events()] == [0, 1, 2]
    reopened.append({"event": "asked", "seq": 3})
    assert [e["seq"] for e in reopened.events()] == [0, 1, 2, 3]
    lines = _journal_lines(reopened)
    assert lines[-1] == b"" and len(lines) == 5
    assert all(json.loads(line) for line in lines[:-1])


def test_torn_tail_longer_than_read_block(tmp_path: Path) -> None:
    # Lines larger than the 64 KiB tail block force the tail reader to widen its window.
    rng = random.Random(7)
    store = RunStore.create(tmp_path / "r", CONFIG)
    for i in range(3):
        store.append({"seq": i, "pad": "".join(rng.choices("abc", k=150_000))})
    with open(store.journal_path, "ab") as f:
        f.write(b'{"seq":3,"pad":"' + b"z" * 300_000)
    reopened = RunStore.open(tmp_path / "r")
    reopened.append({"seq": 3})
    assert [e["seq"] for e in reopened.events()] == [0, 1, 2, 3]
    assert b"zzz" not in reopened.journal_path.read_bytes()


def test_torn_tail_in_first_line(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "r", CONFIG)
    store.journal_path.write_bytes(b'{"se')
    assert store.events() == []
    RunStore.open(tmp_path / "r").append({"seq": 0})
    assert store.journal_path.read_bytes() == b'{"seq":0}\n'


def test_corruption_in_middle_names_line_and_the_repair(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "r", CONFIG)
    _fill(store, 6)
    lines = _journal_lines(store)
    lines[2] = b'{"event":"asked",GARBAGE'  # line 3 of 6
    original = b"\n".join(lines)
    store.journal_path.write_bytes(original)

    with pytest.raises(RunStoreError) as info:
        store.events()
    message = str(info.value)
    assert "journal line 3" in message
    assert "last intact event is line 2" in message and '"seq": 1' in message
    assert f"infonas repair {tmp_path / 'r'}" in message and "before and after line 3" in message

    report = store.repair()  # events that are not trial events are kept as they are
    assert (report.kept_events, report.dropped_lines) == (5, 1)
    assert report.backup == tmp_path / "r" / "journal.jsonl.corrupt-0"
    assert report.kept == (1, 2, 4, 5, 6) and [d.line for d in report.dropped] == [3]
    assert report.backup.read_bytes() == original
    assert [e["seq"] for e in store.events()] == [0, 1, 3, 4, 5]
    store.append({"event": "note", "seq": 6})
    assert [e["seq"] for e in RunStore.open(tmp_path / "r").events()] == [0, 1, 3, 4, 5, 6]

    # an intact journal is left alone
    again = store.repair()
    assert (again.kept_events, again.dropped_lines, again.backup) == (6, 0, None)

    # a second corruption gets the next free backup name; the module-level repair works too
    with open(store.journal_path, "ab") as f:
        f.write(b"[1, 2]\n" + b'{"seq":9}\n')  # valid JSON but not an event object
    with pytest.raises(RunStoreError, match="journal line 7 .*not an object"):
        store.events()
    store.close()  # the module-level repair takes the lock itself
    report = repair(tmp_path / "r")
    assert report.kept_events == 7 and report.backup is not None
    assert report.backup.name == "journal.jsonl.corrupt-1"
    assert (tmp_path / "r" / "journal.jsonl.corrupt-0").read_bytes() == original


def test_append_refuses_to_bury_corruption_under_a_torn_tail(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "r", CONFIG)
    _fill(store, 2)
    with open(store.journal_path, "ab") as f:
        f.write(b"NOT JSON\n" + b'{"seq":')
    with pytest.raises(RunStoreError, match="journal line 3"):
        store.events()
    with pytest.raises(RunStoreError, match="journal line 3"):
        RunStore.open(tmp_path / "r").append({"seq": 2})
    assert RunStore.open(tmp_path / "r").repair().kept_events == 2


def test_repair_errors_and_noops(tmp_path: Path) -> None:
    with pytest.raises(RunStoreError, match="does not exist"):
        repair(tmp_path / "nope")
    store = RunStore.create(tmp_path / "r", CONFIG)
    report = store.repair()  # no journal yet
    assert (report.kept_events, report.dropped_lines, report.backup) == (0, 0, None)
    assert isinstance(report, RepairReport)


def test_failed_write_is_rolled_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RunStore.create(tmp_path / "r", CONFIG)
    _fill(store, 2)
    size = store.journal_path.stat().st_size
    real_write_all = journal_module.write_all

    def half_then_enospc(fd: int, data: bytes) -> None:
        real_write_all(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal_module, "write_all", half_then_enospc)
    with pytest.raises(RunStoreError, match="No space left"):
        store.append({"event": "asked", "seq": 2})
    monkeypatch.undo()
    assert store.journal_path.stat().st_size == size
    store.append({"event": "asked", "seq": 2})
    assert [e["seq"] for e in store.events()] == [0, 1, 2]


def test_bad_events_are_rejected_before_touching_the_journal(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "r", CONFIG)
    _fill(store, 1)
    before = store.journal_path.read_bytes()
    with pytest.raises(RunStoreError, match="not JSON-serializable"):
        store.append({"x": {1, 2}})
    with pytest.raises(RunStoreError, match="must be a dict"):
        store.append([1, 2])  # type: ignore[arg-type]
    assert store.journal_path.read_bytes() == before
    # newlines inside values never split an event across lines
    store.append({"text": "a\nb\u2028c", "seq": 1})
    assert store.events()[-1]["text"] == "a\nb\u2028c"
    assert len(_journal_lines(store)) == 3


def test_threads_appending_concurrently(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "r", CONFIG)

    def work(worker: int) -> None:
        for i in range(25):
            store.append({"worker": worker, "i": i})

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = RunStore.open(tmp_path / "r").events()
    assert sorted((e["worker"], e["i"]) for e in events) == [
        (w, i) for w in range(4) for i in range(25)
    ]


# --------------------------------------------------------------------------------------------
# snapshots and other files
# --------------------------------------------------------------------------------------------


def test_snapshot_atomic_round_trip(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "r", CONFIG)
    assert store.read_snapshot("state") is None
    assert store.read_snapshot("state", default={"fresh": True}) == {"fresh": True}
    path = store.write_snapshot("state", {"trial": 1, "ls": [0.5, 1.5]})
    assert path == tmp_path / "r" / "state.json"
    assert store.read_snapshot("state") == {"trial": 1, "ls": [0.5, 1.5]}
    store.write_snapshot("state", {"trial": 2})
    assert RunStore.open(tmp_path / "r").read_snapshot("state") == {"trial": 2}
    # no temporary files are left behind, the config is untouched
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [".lock", "config.frozen.json", "config.json",
                                                                  "state.json"]
    assert RunStore.open(tmp_path / "r", CONFIG).config == CONFIG

    for bad in ["", "config", "config.frozen", "a/b", "../x", ".hidden", "x.json"]:
        with pytest.raises(RunStoreError, match="snapshot name"):
            store.write_snapshot(bad, {})
    with pytest.raises(RunStoreError, match="not JSON-serializable"):
        store.write_snapshot("state", {"x": object()})
    assert store.read_snapshot("state") == {"trial": 2}

    (tmp_path / "r" / "state.json").write_text('{"trial": ')
    with pytest.raises(RunStoreError, match="unreadable"):
        store.read_snapshot("state")


def test_write_bytes_atomic(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "r", CONFIG)
    data = bytes(random.Random(3).randrange(256) for _ in range(5000))
    path = store.write_bytes_atomic("plots/pareto.png", data)
    assert path == tmp_path / "r" / "plots" / "pareto.png"
    assert path.read_bytes() == data
    store.write_bytes_atomic("plots/pareto.png", b"v2")
    assert path.read_bytes() == b"v2"
    assert os.listdir(path.parent) == ["pareto.png"]
    for bad in ["../escape", str(tmp_path / "abs"), "config.json", "journal.jsonl", ".lock", "config.frozen.json",
                ".journal-created", ""]:
        with pytest.raises(RunStoreError):
            store.write_bytes_atomic(bad, b"x")
    assert not (tmp_path / "escape").exists()


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_atomic_writes_get_the_permissions_of_a_plain_open(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        store = RunStore.create(tmp_path / "r", CONFIG)
        snapshot = store.write_snapshot("state", {"trial": 1})
        plain = tmp_path / "r" / "plain"
        plain.write_bytes(b"x")
    finally:
        os.umask(previous)
    modes = {path.name: path.stat().st_mode & 0o777 for path in (store.path / "config.json", snapshot, plain)}
    assert modes == {"config.json": 0o640, "state.json": 0o640, "plain": 0o640}


def test_public_names_are_importable_from_the_package_and_the_module() -> None:
    from infonas.storage import run_store

    for name in ["RunStore", "RepairReport", "repair", "RunStoreError"]:
        assert getattr(infonas.storage, name) is getattr(run_store, name)
    assert infonas.storage.RunStoreError is RunStoreError
    assert infonas.storage.IncompatibleRunError is IncompatibleRunError


# --------------------------------------------------------------------------------------------
# frozen config, lost journal
# --------------------------------------------------------------------------------------------


def test_an_edited_config_is_refused_naming_the_changed_keys(tmp_path: Path) -> None:
    run = tmp_path / "r"
    RunStore.create(run, CONFIG)
    original = (run / "config.json").read_bytes()
    (run / "config.json").write_text(json.dumps({**CONFIG, "seed": 5, "extra": True}))
    for opening in (lambda: RunStore.open(run), lambda: RunStore.create(run, CONFIG, exist_ok=True)):
        with pytest.raises(IncompatibleRunError) as info:
            opening()
        message = str(info.value)
        assert "was edited after the run was created, in keys extra, seed" in message
        assert "extra: <missing> -> true, seed: 0 -> 5" in message
        assert "Restore config.json, or start a new run in another directory" in message
    # the frozen copy restores it; formatting changes alone are no edit
    frozen = json.loads((run / "config.frozen.json").read_text())
    (run / "config.json").write_text(json.dumps(frozen["config"]))
    assert RunStore.open(run).config == CONFIG
    assert (run / "config.json").read_bytes() != original
    # a damaged frozen copy still catches the edit, through the digest alone
    (run / "config.frozen.json").write_text(json.dumps({**frozen, "config": {"seed": 1}}))
    (run / "config.json").write_text(json.dumps({**CONFIG, "seed": 5}))
    with pytest.raises(IncompatibleRunError, match="its SHA-256 [0-9a-f]{64} is not the '[0-9a-f]{64}' recorded"):
        RunStore.open(run)
    (run / "config.frozen.json").write_text("{")
    with pytest.raises(RunStoreError, match="config.frozen.json is unreadable"):
        RunStore.open(run)


def test_runs_made_before_the_frozen_copy_still_open(tmp_path: Path) -> None:
    run = tmp_path / "r"
    RunStore.create(run, CONFIG).append({"event": "note", "seq": 0})
    (run / "config.frozen.json").unlink()
    (run / "config.json").write_text(json.dumps({**CONFIG, "seed": 9}))  # nothing to tell it from
    assert RunStore.open(run).config["seed"] == 9


def test_a_deleted_journal_is_not_a_silent_restart(tmp_path: Path) -> None:
    run = tmp_path / "r"
    store = RunStore.create(run, CONFIG)
    store.write_snapshot("budget", {"evaluations": 10})
    assert RunStore.open(run).events() == []  # asked nothing yet: a fresh run, whatever budget.json says
    _fill(store, 2)
    store.close()
    (run / "journal.jsonl").unlink()
    for use in (lambda s: s.events(), lambda s: s.append({"event": "note", "seq": 0})):
        with pytest.raises(RunStoreError) as info:
            use(RunStore.open(run))
        message = str(info.value)
        assert f"{run} has no journal.jsonl, but .journal-created show(s) the run had started" in message
        assert "silently restart the search from trial 0" in message and "start a new run in another directory" in message
    assert not (run / "journal.jsonl").exists()
    # a run made before the marker existed: its snapshots show it had started
    (run / ".journal-created").unlink()
    (run / "config.frozen.json").unlink()
    with pytest.raises(RunStoreError, match="but budget.json show"):
        RunStore.open(run).events()
