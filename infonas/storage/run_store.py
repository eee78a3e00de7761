"""Crash-safe, append-only storage for one NAS run (one directory per run).

Layout of a run directory::

    <run>/config.json        the run's configuration, written once, atomically
    <run>/journal.jsonl      append-only event log, one JSON object per line
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
  :meth:`RunStore.repair` keeps the intact prefix and moves the damaged file aside.

Only the standard library is used, so the store works in any environment the search runs in.
A run has one writer process at a time; any number of processes may read it.

Example::

    store = RunStore.create("runs/nb201-seed0", {"space": "nb201", "seed": 0})
    store.append({"event": "asked", "trial": 0, "arch": "|nor_conv_3x3~0|..."})
    store.write_snapshot("state", {"next_trial": 1})
    # ... process killed, restarted ...
    store = RunStore.open("runs/nb201-seed0", {"space": "nb201", "seed": 0})
    done = store.events()
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infonas.exceptions import IncompatibleRunError, RunStoreError
from infonas.storage.config import (
    CONFIG_NAME,
    config_mismatch,
    encode_config,
    load_config,
    normalize_config,
)
from infonas.storage.files import atomic_write_bytes, makedirs_durable
from infonas.storage.journal import JOURNAL_NAME, Journal, RepairReport, repair

__all__ = ["RepairReport", "RunStore", "RunStoreError", "repair"]

# Files that only this package may write, and only in their own way: the config is immutable
# once created, and rewriting the journal wholesale would defeat its append-only guarantee.
_RESERVED_FILES = frozenset({CONFIG_NAME, JOURNAL_NAME})


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
            or "\\" in name or name == "config" or name.endswith(".json")):
        raise RunStoreError(
            f"snapshot name {name!r} must be a plain file stem (no '/', no leading '.', no "
            f"'.json' suffix, not 'config')"
        )
    return run_dir / f"{name}.json"


class RunStore:
    """One run directory: immutable config, append-only event journal, atomic snapshots.

    Get one with :meth:`create` or :meth:`open`, not the constructor.

    Example::

        store = RunStore.create(tmp / "run", {"seed": 0})
        store.append({"event": "asked", "trial": 0})
        assert RunStore.open(tmp / "run").events() == [{"event": "asked", "trial": 0}]
    """

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        self._path = path
        self._config = config
        self._journal = Journal(path)

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
        if run_dir.exists() and not run_dir.is_dir():
            raise RunStoreError(f"{run_dir} exists and is not a directory; choose another path")
        if (run_dir / CONFIG_NAME).exists():
            return cls._existing(run_dir, given, exist_ok)
        if (run_dir / JOURNAL_NAME).exists():
            # A journal without a config is not something this package leaves behind; adopting
            # it under a new config would mislabel its events.
            raise RunStoreError(
                f"{run_dir} holds a {JOURNAL_NAME} but no {CONFIG_NAME}; restore the config or "
                f"move the journal away before creating a run there"
            )
        try:
            makedirs_durable(run_dir)
        except OSError as err:
            raise RunStoreError(f"cannot create run directory {run_dir}: {err}") from err
        try:
            atomic_write_bytes(run_dir / CONFIG_NAME, encode_config(given), exclusive=True)
        except FileExistsError:  # another process created the run at the same moment
            return cls._existing(run_dir, given, exist_ok)
        return cls(run_dir, given)

    @classmethod
    def _existing(cls, run_dir: Path, given: dict[str, Any], exist_ok: bool) -> RunStore:
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
        if not run_dir.exists():
            raise RunStoreError(
                f"run directory {run_dir} does not exist; check the path, or create the run "
                f"with RunStore.create({str(run_dir)!r}, config)"
            )
        if not run_dir.is_dir():
            raise RunStoreError(f"{run_dir} is not a directory; a run is a directory")
        stored = load_config(run_dir)
        if config is not None:
            message = config_mismatch(stored, normalize_config(config), run_dir)
            if message:
                raise IncompatibleRunError(message)
        return cls(run_dir, stored)

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

    # -- journal -----------------------------------------------------------------------------

    def append(self, event: Mapping[str, Any]) -> None:
        """Durably append one event; when this returns, the event survives any crash.

        The event is one compact JSON line with sorted keys. Before the first append, a torn
        last line left by a crash is cut off. If writing fails (disk full, I/O error), the
        journal is rolled back to its previous end and :class:`RunStoreError` is raised.

        Example::

            store.append({"event": "told", "trial": 3, "metrics": {"acc": 0.91}})
        """
        self._journal.append(event)

    def events(self) -> list[dict[str, Any]]:
        """All intact events, in append order.

        A torn last line (no newline, or not parseable) is the trace of a crash during an
        append whose call never returned, and is ignored. A bad line elsewhere raises
        :class:`RunStoreError` naming the line; fix it with :meth:`repair`.

        Example::

            told = [e for e in store.events() if e.get("event") == "told"]
        """
        return self._journal.events()

    def repair(self) -> RepairReport:
        """Keep the intact events before the first corrupt line; see module-level :func:`repair`.

        Example::

            try:
                events = store.events()
            except RunStoreError:
                store.repair()  # original kept as journal.jsonl.corrupt-0
                events = store.events()
        """
        return self._journal.repair()

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
