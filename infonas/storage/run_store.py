"""Crash-safe, append-only storage for one NAS run (one directory per run).

Layout of a run directory::

    <run>/config.json        the run's configuration, written once, atomically
    <run>/config.frozen.json its digest and a copy, written once: an edited config is refused
    <run>/journal.jsonl      append-only event log, one JSON object per line
    <run>/.journal-created   marks that the journal was created (a deleted one is not a new run)
    <run>/.lock              the writer lock (one writing process at a time; see ``lock``)
    <run>/<name>.json        snapshots (latest state of something), replaced atomically
    <run>/<anything else>    other files written with ``write_bytes_atomic`` (plots, ...)

Durability model (the point of this package):

* Whole files (config, snapshots, plots) are never modified in place: they are written to a
  temporary file, fsynced and renamed over the target (``infonas.storage.files``). A reader
  sees the old file or the new one, never a mix, whatever moment the writer is killed at.
* The journal is only ever appended to, one fsynced line per event; a crash can leave at most
  one torn last line, which readers ignore and the next append cuts off
  (``infonas.storage.journal``).
* Consequently, after a crash at any moment, :meth:`RunStore.events` returns exactly the
  events whose ``append`` returned, plus possibly the one being appended if its whole line
  reached the file.
* A bad line anywhere *but* the end cannot come from a crash of this code (someone edited the
  file, or the disk is damaged). It is reported as :class:`RunStoreError` naming the line;
  :meth:`RunStore.repair` keeps every usable event before and after it and moves the damaged
  file aside (``infonas.storage.salvage``).
* A run has one writer process at a time: the first write of a store takes the run's lock
  (``RunLockedError`` naming the holder otherwise) and keeps it until :meth:`RunStore.close`;
  a store whose run was written by another process since it read the journal refuses to write.
  Any number of processes may read a run, and readers never lock.

Only the standard library is used, so the store works in any environment the search runs in.

Example::

    store = RunStore.create("runs/nb201-seed0", {"space": "nb201", "seed": 0})
    store.append({"event": "asked", "trial": 0, "arch": "|nor_conv_3x3~0|..."})
    store.write_snapshot("state", {"next_trial": 1})
    # ... process killed, restarted ...
    store = RunStore.open("runs/nb201-seed0", {"space": "nb201", "seed": 0})
    done = store.events()
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from infonas.exceptions import RunLockedError, RunStoreError
from infonas.storage.config import CONFIG_NAME, FROZEN_NAME, create_run_files, normalize_config, stored_config
from infonas.storage.files import atomic_write_bytes, makedirs_durable
from infonas.storage.journal import CREATED_NAME, JOURNAL_NAME, Journal
from infonas.storage.lock import LOCK_NAME, RunLock
from infonas.storage.salvage import RepairReport, lost_journal_error, repair, repair_journal

__all__ = ["RepairReport", "RunStore", "RunStoreError", "repair"]

# Files that only this package may write, and only in their own way: the config is immutable
# once created, rewriting the journal wholesale would defeat its append-only guarantee, and
# replacing the lock file would give a second writer a fresh, unlocked file.
_RESERVED_FILES = frozenset({CONFIG_NAME, FROZEN_NAME, JOURNAL_NAME, CREATED_NAME, LOCK_NAME})


def _run_file(run_dir: Path, relative_name: str | os.PathLike[str]) -> Path:
    """The path of a file the caller may write in ``run_dir``: inside it, and not reserved."""
    rel = Path(relative_name)
    if (not str(relative_name) or rel.is_absolute() or rel.anchor
            or any(part in ("..", "") for part in rel.parts) or not rel.parts):
        raise RunStoreError(
            f"file name {str(relative_name)!r} must be a relative path inside the run "
            f"directory without '..'"
        )
    if rel.as_posix() in _RESERVED_FILES:
        raise RunStoreError(
            f"{rel.as_posix()} is managed by RunStore (the config is immutable, the journal "
            f"append-only); write to another name"
        )
    return run_dir / rel


def _snapshot_file(run_dir: Path, name: str) -> Path:
    """The path of snapshot ``name``: ``<run_dir>/<name>.json`` for a plain file stem."""
    if (not isinstance(name, str) or not name or name.startswith(".") or "/" in name
            or "\\" in name or f"{name}.json" in _RESERVED_FILES or name.endswith(".json")):
        raise RunStoreError(
            f"snapshot name {name!r} must be a plain file stem (no '/', no leading '.', no "
            f"'.json' suffix, not 'config' or 'config.frozen')"
        )
    return run_dir / f"{name}.json"


class RunStore:
    """One run directory: immutable config, append-only event journal, atomic snapshots.

    Get one with :meth:`create` or :meth:`open`, not the constructor. The first write takes the
    run's writer lock, held until :meth:`close` (or the store's end); ``with`` closes it too.

    Example::

        with RunStore.create(tmp / "run", {"seed": 0}) as store:
            store.append({"event": "asked", "trial": 0})
        assert RunStore.open(tmp / "run").events() == [{"event": "asked", "trial": 0}]
    """

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        self._path = path
        self._config = config
        self._journal = Journal(path)
        self._lock = RunLock(path)
        self._taking_lock = threading.Lock()  # threads of one store check the journal once

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def create(
        cls, path: str | os.PathLike[str], config: Mapping[str, Any], exist_ok: bool = False
    ) -> RunStore:
        """Create a run at ``path`` (parents too) with ``config`` written atomically.

        If a run already exists there: with ``exist_ok=False`` (the default) that is a
        :class:`RunStoreError`, so a fresh run never silently resumes an old one; with
        ``exist_ok=True`` it is opened if its stored config equals ``config``, and an
        :class:`IncompatibleRunError` listing the differing keys otherwise. An existing
        directory without a config (empty, or holding unrelated files) is turned into a run.

        Example::

            store = RunStore.create("runs/a", {"seed": 0})
            same = RunStore.create("runs/a", {"seed": 0}, exist_ok=True)  # resumes
        """
        run_dir = Path(path)
        given = normalize_config(config)
        if create_run_files(run_dir, given):
            return cls(run_dir, given)
        if not exist_ok:
            raise RunStoreError(
                f"a run already exists at {run_dir} ({CONFIG_NAME} present); to resume it use "
                f"RunStore.open({str(run_dir)!r}) or create(..., exist_ok=True), to start a new "
                f"run choose another directory"
            )
        return cls.open(run_dir, given)

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], config: Mapping[str, Any] | None = None
    ) -> RunStore:
        """Open the existing run at ``path``.

        If ``config`` is given it must equal the stored one; otherwise
        :class:`IncompatibleRunError` (a :class:`RunStoreError`) lists the differing keys
        (never a prompt: runs are often resumed unattended).

        Example::

            store = RunStore.open("runs/a", {"seed": 0})
            for event in store.events():
                ...
        """
        run_dir = Path(path)
        return cls(run_dir, stored_config(run_dir, config))

    # -- accessors ---------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The run directory."""
        return self._path

    @property
    def config(self) -> dict[str, Any]:
        """A copy of the stored config (a copy, so callers cannot desync it from the file)."""
        return copy.deepcopy(self._config)

    @property
    def journal_path(self) -> Path:
        """Path of ``journal.jsonl``."""
        return self._journal.path

    def __repr__(self) -> str:
        return f"RunStore({str(self._path)!r})"

    # -- the writer lock ---------------------------------------------------------------------

    def acquire_write_lock(self) -> None:
        """Take the run's writer lock now (every write takes it anyway): ``RunLockedError``
        naming the holder if another process writes the run, or if one wrote it since this
        store read its journal (this store's view is stale: open the run again).

        Example: ``RunStore.open("runs/a").acquire_write_lock()`` fails before any expensive work.
        """
        with self._taking_lock:
            if self._lock.held:
                return
            self._lock.acquire()
            changed = self._journal.changed_since_read()
            if changed:
                self._lock.release()
                raise RunLockedError(
                    f"run directory {self._path} was written by another process after this one read it "
                    f"({changed}), so this store's view of it is stale; open the run again (e.g. "
                    f"`infonas resume {self._path}`) to continue from what was written")

    def close(self) -> None:
        """Release the writer lock (if this store took it); reading still works, writing retakes it."""
        self._lock.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __del__(self) -> None:
        lock = getattr(self, "_lock", None)  # absent if __init__ failed
        # At interpreter exit the lock module may be half torn down; process exit frees the lock anyway.
        with contextlib.suppress(TypeError, AttributeError):
            if lock is not None:
                lock.release()

    def _check_journal_not_lost(self) -> None:
        if not self._journal.exists() and (error := lost_journal_error(self._path)) is not None:
            raise error

    # -- journal -----------------------------------------------------------------------------

    def append(self, event: Mapping[str, Any]) -> None:
        """Durably append one event; when this returns, the event survives any crash.

        The event is one compact JSON line with sorted keys. Before the first append, a torn
        last line left by a crash is cut off. If writing fails (disk full, I/O error), the
        journal is rolled back to its previous end and :class:`RunStoreError` is raised.

        Example::

            store.append({"event": "told", "trial": 3, "metrics": {"acc": 0.91}})
        """
        if not self._lock.held:
            self.acquire_write_lock()
            self._check_journal_not_lost()
        self._journal.append(event)

    def events(self) -> list[dict[str, Any]]:
        """All intact events, in append order.

        A torn last line (no newline, or not parseable) is the trace of a crash during an
        append whose call never returned, and is ignored. A bad line elsewhere raises
        :class:`RunStoreError` naming the line; fix it with :meth:`repair`.

        Example::

            told = [e for e in store.events() if e.get("event") == "told"]
        """
        events = self._journal.events()
        if not events:
            self._check_journal_not_lost()
        return events

    def repair(self) -> RepairReport:
        """Keep every usable event before and after damaged lines; see module-level :func:`repair`.

        Example::

            try:
                events = store.events()
            except RunStoreError:
                store.repair()  # original kept as journal.jsonl.corrupt-0
                events = store.events()
        """
        self._lock.acquire()  # not acquire_write_lock: a damaged journal is never read whole
        with self._journal.rewriting():
            return repair_journal(self._path)

    # -- snapshots and other files -----------------------------------------------------------

    def write_snapshot(self, name: str, obj: Any) -> Path:
        """Atomically replace snapshot ``name`` (file ``<name>.json``) with ``obj`` as JSON.

        Readers, and a process restarted after a crash, see the previous snapshot or this
        one, never a partial file. Returns the snapshot's path.

        Example::

            store.write_snapshot("surrogate_state", {"trial": 12, "lengthscales": [0.3, 1.2]})
        """
        target = _snapshot_file(self._path, name)
        try:
            data = (json.dumps(obj, sort_keys=True, indent=1) + "\n").encode("utf-8")
        except (TypeError, ValueError) as err:
            raise RunStoreError(f"snapshot {name!r} is not JSON-serializable ({err})") from err
        self.acquire_write_lock()
        self._write(target, data)
        return target

    def read_snapshot(self, name: str, default: Any = None) -> Any:
        """The object last written with :meth:`write_snapshot`, or ``default`` if none.

        Example::

            state = store.read_snapshot("surrogate_state", default={})
        """
        target = _snapshot_file(self._path, name)
        try:
            raw = target.read_bytes()
        except FileNotFoundError:
            return default
        except OSError as err:
            raise RunStoreError(f"cannot read snapshot {target}: {err}") from err
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise RunStoreError(
                f"snapshot {target} is unreadable ({err}); snapshots are written atomically, so "
                f"it was edited or the disk is damaged: delete it to fall back to the default"
            ) from err

    def write_bytes_atomic(self, relative_name: str | os.PathLike[str], data: bytes) -> Path:
        """Atomically write ``data`` to ``relative_name`` inside the run (subdirectories allowed).

        Takes no lock: these are derived files (plots) that a reader such as ``infonas report``
        writes while a search runs, and an atomic replace by two processes loses nothing.

        Example::

            store.write_bytes_atomic("plots/pareto.png", png_bytes)
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise RunStoreError(f"data must be bytes, got {type(data).__name__}")
        target = _run_file(self._path, relative_name)
        self._write(target, bytes(data))
        return target

    def _write(self, target: Path, data: bytes) -> None:
        try:
            if target.parent != self._path:
                makedirs_durable(target.parent)
            atomic_write_bytes(target, data)
        except OSError as err:
            raise RunStoreError(f"cannot write {target}: {err}") from err
