"""Crash-safe, append-only storage for one NAS run (one directory per run).

Layout of a run directory::

    <run>/config.json        the run's configuration, written once, atomically
    <run>/journal.jsonl      append-only event log, one JSON object per line
    <run>/<name>.json        snapshots (latest state of something), replaced atomically
    <run>/<anything else>    other files written with ``write_bytes_atomic`` (plots, ...)

Durability model (the point of this module):

* Whole files (config, snapshots, plots) are never modified in place. They are written to a
  temporary file in the same directory, flushed, fsynced, renamed over the target with
  ``os.replace`` (atomic on POSIX and Windows) and the directory is fsynced so the rename
  itself survives a power cut. A reader therefore sees the old file or the new one, never a
  mix, whatever moment the writer is killed at.
* The journal is only ever appended to. Each event is one line written with a single
  ``O_APPEND`` write, then fsynced before ``append`` returns. A crash (``kill -9``, power
  loss) can leave at most one *torn* last line: a line without its trailing newline, or
  (on file systems that expose unwritten blocks after a power cut) a last line that is not
  valid JSON. Readers ignore such a line, and the first append of a process cuts it off
  before writing, so the new event never gets glued onto the fragment. (Optuna's
  ``JournalFileBackend``, which this journal is modelled on, appends after the fragment and
  the journal then fails to load; that is the bug avoided here.)
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
import errno
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from infonas.exceptions import RunStoreError

__all__ = ["RunStore", "RunStoreError", "RepairReport", "repair"]

CONFIG_NAME = "config.json"
JOURNAL_NAME = "journal.jsonl"
CORRUPT_SUFFIX = ".corrupt-"

# Files that only this module may write, and only in their own way: the config is immutable
# once created, and rewriting the journal wholesale would defeat its append-only guarantee.
_RESERVED_FILES = frozenset({CONFIG_NAME, JOURNAL_NAME})

# mkstemp creates files with mode 0600; atomic writes should end up with the same permissions
# a plain open() would give. The umask can only be read by setting it, so read it once, at
# import time, before any threads of the caller can race with the temporary change.
_UMASK = os.umask(0o022)
os.umask(_UMASK)

_MISSING = object()
_EXCERPT_CHARS = 160


@dataclass(frozen=True)
class RepairReport:
    """What :func:`repair` did.

    ``kept_events`` intact events remain in the journal; ``dropped_lines`` lines (the first
    corrupt one and everything after it) were removed; ``backup`` is where the original journal
    was moved, or ``None`` when the journal was already clean and nothing was changed.
    """

    kept_events: int
    dropped_lines: int
    backup: Path | None


# --------------------------------------------------------------------------------------------
# Low-level durable file operations
# --------------------------------------------------------------------------------------------


def _fsync_dir(directory: Path) -> None:
    """Make renames/creations inside ``directory`` durable.

    POSIX only persists a new directory entry (a rename, a new file) once the directory itself
    is fsynced; without it, a power cut after ``os.replace`` can bring back the old file.
    """
    if os.name == "nt":  # directories cannot be opened on Windows; NTFS journals renames
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as err:
        # Some file systems (certain network/FUSE mounts) do not support fsync on
        # directories; there is nothing more we can do there, so do not fail the write.
        if err.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(fd)


def _makedirs_durable(directory: Path) -> None:
    """``os.makedirs`` that also fsyncs each parent, so the new directories survive a crash."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for new_dir in reversed(missing):
        try:
            os.mkdir(new_dir)
        except FileExistsError:  # created concurrently: fine, it exists now
            pass
        _fsync_dir(new_dir.parent)


def _write_all(fd: int, data: bytes) -> None:
    """os.write may write fewer bytes than asked (signals, quotas); loop until all is out."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _atomic_write_bytes(target: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Replace ``target`` with ``data`` so readers see the old or the new content, never a mix.

    With ``exclusive=True`` the target must not exist yet (``FileExistsError`` otherwise); the
    file is published with ``os.link``, which, unlike ``os.replace``, refuses to overwrite, so
    two processes creating the same run cannot silently clobber each other's config.
    """
    directory = target.parent
    # The temporary file must live in the same directory: rename is only atomic within one
    # file system. The leading dot keeps it out of casual listings.
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o666 & ~_UMASK)
            _write_all(fd, data)
            os.fsync(fd)  # the content must be on disk before the name points at it
        finally:
            os.close(fd)
        if exclusive:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise
            except OSError:
                # Hard links unsupported (some FUSE/SMB mounts): fall back to a checked
                # replace. The window between the check and the replace is tiny, and only
                # matters for two processes creating the same run at the same instant.
                if target.exists():
                    raise FileExistsError(target) from None
                os.replace(tmp, target)
            else:
                os.unlink(tmp)
        else:
            os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(directory)


# --------------------------------------------------------------------------------------------
# Journal parsing
# --------------------------------------------------------------------------------------------


def _parse_line(line: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """Return ``(event, None)`` for an intact line, ``(None, reason)`` otherwise."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as err:
        return None, f"not UTF-8 ({err.reason} at byte {err.start})"
    except ValueError as err:
        return None, f"not valid JSON ({err})"
    if not isinstance(obj, dict):
        return None, f"JSON but not an object (got {type(obj).__name__})"
    return obj, None


@dataclass
class _Scan:
    events: list[dict[str, Any]]
    intact_end: int  # byte offset just after the last intact line of the prefix
    bad_line: int | None = None  # 1-based number of the first bad line, if any
    reason: str | None = None
    bad_excerpt: bytes = b""
    bad_is_tail: bool = False  # the bad line is the last line: a torn write, not corruption
    total_lines: int = 0


def _scan(data: bytes) -> _Scan:
    """Parse a whole journal. Stops at the first bad line and records what it was."""
    events: list[dict[str, Any]] = []
    pos = 0
    lineno = 0
    size = len(data)
    total_lines = data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)
    while pos < size:
        lineno += 1
        newline = data.find(b"\n", pos)
        if newline == -1:
            # No newline: the writer died in the middle of this line.
            return _Scan(events, pos, lineno, "no trailing newline (torn write)",
                         data[pos:pos + 80], True, total_lines)
        event, reason = _parse_line(data[pos:newline])
        if reason is not None:
            return _Scan(events, pos, lineno, reason, data[pos:pos + 80],
                         newline + 1 == size, total_lines)
        events.append(event)  # type: ignore[arg-type]
        pos = newline + 1
    return _Scan(events, pos, total_lines=total_lines)


def _excerpt(obj: Any) -> str:
    text = obj if isinstance(obj, str) else repr(obj)
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "..."


def _corruption_error(journal: Path, scan: _Scan) -> RunStoreError:
    n = len(scan.events)
    if n:
        last = (f"the last intact event is line {scan.bad_line - 1}: "  # type: ignore[operator]
                f"{_excerpt(json.dumps(scan.events[-1], sort_keys=True))}")
    else:
        last = "no intact event precedes it"
    return RunStoreError(
        f"journal line {scan.bad_line} of {journal} is corrupted: {scan.reason} "
        f"(starts with {scan.bad_excerpt!r}); {last}. A crash can only damage the last line, "
        f"so the file was edited or the disk is damaged. To recover, call "
        f"RunStore.open(...).repair() or infonas.storage.run_store.repair({str(journal.parent)!r}): "
        f"it keeps the {n} intact event(s) before line {scan.bad_line} and moves the original "
        f"file to {JOURNAL_NAME}{CORRUPT_SUFFIX}<n>."
    )


def _read_journal(journal: Path) -> _Scan:
    try:
        data = journal.read_bytes()
    except FileNotFoundError:  # no event appended yet
        return _Scan([], 0)
    except OSError as err:
        raise RunStoreError(f"cannot read journal {journal}: {err}; check its permissions") from err
    return _scan(data)


def _trim_torn_tail(journal: Path) -> None:
    """Cut off a torn last line (left by a crash) so the next append starts on a fresh line.

    Only the tail is read (the journal can be large), and only what ``events()`` ignores is
    removed: the last line if it has no newline or does not parse. If the line before it is
    bad too, that line is real corruption, and appending would bury it in the middle, so this
    refuses and points at ``repair()``.
    """
    try:
        f = open(journal, "r+b")
    except FileNotFoundError:
        return
    with f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return
        # Read a growing block from the end until it holds the last two lines whole.
        block = 1 << 16
        while True:
            start = max(0, size - block)
            f.seek(start)
            chunk = f.read(size - start)
            if start == 0 or chunk[:-1].count(b"\n") >= 2:
                break
            block *= 4
        if start > 0:  # drop the partial line at the front so chunk starts on a boundary
            cut = chunk.index(b"\n") + 1
            chunk, start = chunk[cut:], start + cut

        complete = chunk.endswith(b"\n")
        body = chunk[:-1] if complete else chunk
        last_start = body.rfind(b"\n") + 1
        if complete and _parse_line(body[last_start:])[1] is None:
            return  # clean tail, the common case
        if last_start > 0:
            before = body[: last_start - 1]
            if _parse_line(before[before.rfind(b"\n") + 1:])[1] is not None:
                raise _corruption_error(journal, _read_journal(journal))
        # Truncate durably: if the truncation were lost in a crash after the next append
        # reached the disk, the fragment would end up in the middle of the journal.
        f.truncate(start + last_start)
        f.flush()
        os.fsync(f.fileno())


def _repair_journal(run_dir: Path) -> RepairReport:
    journal = run_dir / JOURNAL_NAME
    try:
        data = journal.read_bytes()
    except FileNotFoundError:
        return RepairReport(0, 0, None)
    scan = _scan(data)
    if scan.intact_end == len(data):
        return RepairReport(len(scan.events), 0, None)
    dropped = scan.total_lines - len(scan.events)
    # Keep the original under a fresh name first (a hard link: instant, and atomic with
    # respect to crashes), and only then swap in the trimmed journal. At no moment is
    # there no journal, and the damaged data always survives somewhere.
    n = 0
    while True:
        backup = run_dir / f"{JOURNAL_NAME}{CORRUPT_SUFFIX}{n}"
        try:
            os.link(journal, backup)
            break
        except FileExistsError:
            n += 1
        except OSError:
            # No hard links on this file system: write a copy instead ("x" refuses to
            # overwrite an older backup).
            try:
                with open(backup, "xb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                break
            except FileExistsError:
                n += 1
    _fsync_dir(run_dir)
    _atomic_write_bytes(journal, data[: scan.intact_end])
    return RepairReport(len(scan.events), dropped, backup)


def repair(path: str | os.PathLike[str]) -> RepairReport:
    """Repair the journal of the run at ``path`` after :class:`RunStoreError` reported corruption.

    Keeps the intact events before the first bad line, moves the original journal to
    ``journal.jsonl.corrupt-<n>`` (the first free ``n``) and atomically writes the trimmed
    journal. The config need not be readable. A clean journal is left untouched.

    Example::

        report = repair("runs/nb201-seed0")
        print(report.kept_events, "events kept; original saved as", report.backup)
    """
    run_dir = Path(path)
    if not run_dir.is_dir():
        raise RunStoreError(f"run directory {run_dir} does not exist; nothing to repair")
    return _repair_journal(run_dir)


# --------------------------------------------------------------------------------------------
# Config handling
# --------------------------------------------------------------------------------------------


def _normalize_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as it will read back from config.json (tuples -> lists, keys -> str)."""
    if not isinstance(config, Mapping):
        raise RunStoreError(f"config must be a dict, got {type(config).__name__}")
    try:
        return json.loads(json.dumps(dict(config), sort_keys=True))
    except (TypeError, ValueError) as err:
        raise RunStoreError(
            f"config is not JSON-serializable ({err}); convert its values to str, int, float, "
            f"bool, None, lists or dicts before creating the run"
        ) from err


def _canonical(value: Any) -> Any:
    # Compare JSON text rather than Python values: NaN equals itself there, and 1 vs 1.0 or
    # True vs 1 (which Python calls equal) count as different settings.
    return value if value is _MISSING else json.dumps(value, sort_keys=True)


def _config_mismatch(stored: dict[str, Any], given: dict[str, Any], run_dir: Path) -> str | None:
    keys = sorted(k for k in set(stored) | set(given)
                  if _canonical(stored.get(k, _MISSING)) != _canonical(given.get(k, _MISSING)))
    if not keys:
        return None

    def show(d: dict[str, Any]) -> str:
        return ", ".join(
            f"{k}={'<missing>' if k not in d else _excerpt(json.dumps(d[k], sort_keys=True))}"
            for k in keys
        )

    return (
        f"config differs from the stored one in {run_dir / CONFIG_NAME} in keys "
        f"{', '.join(keys)}: stored {show(stored)} vs given {show(given)}. To resume this run, "
        f"pass its stored config (or none); to run the new config, use a new run directory."
    )


def _load_config(run_dir: Path) -> dict[str, Any]:
    config_file = run_dir / CONFIG_NAME
    try:
        raw = config_file.read_bytes()
    except FileNotFoundError:
        raise RunStoreError(
            f"{run_dir} has no {CONFIG_NAME}, so it is not a run directory (or its creation "
            f"was interrupted before the config was written); create the run with "
            f"RunStore.create({str(run_dir)!r}, config)"
        ) from None
    except OSError as err:
        raise RunStoreError(f"cannot read {config_file}: {err}; check its permissions") from err
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise RunStoreError(
            f"{config_file} is unreadable ({err}); it is written atomically, so it was edited or "
            f"the disk is damaged: restore it from a backup or recreate the run"
        ) from err
    if not isinstance(config, dict):
        raise RunStoreError(
            f"{config_file} holds a {type(config).__name__}, not a JSON object; restore it from "
            f"a backup or recreate the run"
        )
    return config


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------


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
        # The torn-tail check runs before this object's first append only: after that,
        # every line in the file was written whole by this process (or rolled back).
        self._tail_checked = False
        self._lock = threading.Lock()  # one append/repair at a time from this process

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def create(
        cls, path: str | os.PathLike[str], config: Mapping[str, Any], exist_ok: bool = False
    ) -> RunStore:
        """Create a run at ``path`` (parents too) with ``config`` written atomically.

        If a run already exists there: with ``exist_ok=False`` (the default) that is a
        :class:`RunStoreError`, so a fresh run never silently resumes an old one; with
        ``exist_ok=True`` it is opened if its stored config equals ``config``, and a
        :class:`RunStoreError` listing the differing keys otherwise. An existing directory
        without a config (empty, or holding unrelated files) is turned into a run.

        Example::

            store = RunStore.create("runs/a", {"seed": 0})
            same = RunStore.create("runs/a", {"seed": 0}, exist_ok=True)  # resumes
        """
        run_dir = Path(path)
        given = _normalize_config(config)
        if run_dir.exists() and not run_dir.is_dir():
            raise RunStoreError(f"{run_dir} exists and is not a directory; choose another path")
        if (run_dir / CONFIG_NAME).exists():
            return cls._existing(run_dir, given, exist_ok)
        if (run_dir / JOURNAL_NAME).exists():
            # A journal without a config is not something this module leaves behind; adopting
            # it under a new config would mislabel its events.
            raise RunStoreError(
                f"{run_dir} holds a {JOURNAL_NAME} but no {CONFIG_NAME}; restore the config or "
                f"move the journal away before creating a run there"
            )
        try:
            _makedirs_durable(run_dir)
        except OSError as err:
            raise RunStoreError(f"cannot create run directory {run_dir}: {err}") from err
        data = (json.dumps(given, sort_keys=True, indent=2) + "\n").encode("utf-8")
        try:
            _atomic_write_bytes(run_dir / CONFIG_NAME, data, exclusive=True)
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

        If ``config`` is given it must equal the stored one; otherwise :class:`RunStoreError`
        lists the differing keys (never a prompt: runs are often resumed unattended).

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
        stored = _load_config(run_dir)
        if config is not None:
            message = _config_mismatch(stored, _normalize_config(config), run_dir)
            if message:
                raise RunStoreError(message)
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
        return self._path / JOURNAL_NAME

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
        if not isinstance(event, Mapping):
            raise RunStoreError(f"an event must be a dict, got {type(event).__name__}")
        try:
            # ensure_ascii (the default) escapes every newline-like character, so one event is
            # exactly one line and the file is splittable on b"\n" without decoding first.
            line = (json.dumps(dict(event), sort_keys=True, separators=(",", ":")) + "\n")
        except (TypeError, ValueError) as err:
            raise RunStoreError(
                f"event is not JSON-serializable ({err}); convert its values to str, int, "
                f"float, bool, None, lists or dicts"
            ) from err
        data = line.encode("ascii")
        journal = self.journal_path
        with self._lock:
            if not self._tail_checked:
                try:
                    _trim_torn_tail(journal)
                except OSError as err:
                    raise RunStoreError(f"cannot check the tail of {journal}: {err}") from err
            try:
                fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            except OSError as err:
                raise RunStoreError(f"cannot open journal {journal} for appending: {err}") from err
            try:
                start = os.fstat(fd).st_size
                try:
                    _write_all(fd, data)
                    os.fsync(fd)
                except BaseException as err:
                    # A partial line must not stay: the next append would glue onto it and
                    # create corruption in the middle. Roll back (best effort) and re-check
                    # the tail before the next append in case the rollback did not happen.
                    self._tail_checked = False
                    try:
                        os.ftruncate(fd, start)
                        os.fsync(fd)
                    except OSError:
                        pass
                    if isinstance(err, OSError):
                        raise RunStoreError(
                            f"could not append to journal {journal}: {err}; the event was not "
                            f"recorded (free disk space / fix the device, then append again)"
                        ) from err
                    raise
            finally:
                os.close(fd)
            if not self._tail_checked:
                # The journal may just have been created: persist its directory entry once.
                _fsync_dir(self._path)
                self._tail_checked = True

    def events(self) -> list[dict[str, Any]]:
        """All intact events, in append order.

        A torn last line (no newline, or not parseable) is the trace of a crash during an
        append whose call never returned, and is ignored. A bad line elsewhere raises
        :class:`RunStoreError` naming the line; fix it with :meth:`repair`.

        Example::

            told = [e for e in store.events() if e.get("event") == "told"]
        """
        scan = _read_journal(self.journal_path)
        if scan.bad_line is not None and not scan.bad_is_tail:
            raise _corruption_error(self.journal_path, scan)
        return scan.events

    def repair(self) -> RepairReport:
        """Keep the intact events before the first corrupt line; see module-level :func:`repair`.

        Example::

            try:
                events = store.events()
            except RunStoreError:
                store.repair()  # original kept as journal.jsonl.corrupt-0
                events = store.events()
        """
        with self._lock:
            report = _repair_journal(self._path)
            self._tail_checked = False
            return report

    # -- snapshots and other files -----------------------------------------------------------

    def _target(self, relative_name: str | os.PathLike[str]) -> Path:
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
        return self._path / rel

    def write_snapshot(self, name: str, obj: Any) -> Path:
        """Atomically replace snapshot ``name`` (file ``<name>.json``) with ``obj`` as JSON.

        Readers, and a process restarted after a crash, see the previous snapshot or this
        one, never a partial file. Returns the snapshot's path.

        Example::

            store.write_snapshot("surrogate_state", {"trial": 12, "lengthscales": [0.3, 1.2]})
        """
        target = self._snapshot_path(name)
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
        target = self._snapshot_path(name)
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
        target = self._target(relative_name)
        self._write(target, bytes(data))
        return target

    def _snapshot_path(self, name: str) -> Path:
        if (not isinstance(name, str) or not name or name.startswith(".") or "/" in name
                or "\\" in name or name == "config" or name.endswith(".json")):
            raise RunStoreError(
                f"snapshot name {name!r} must be a plain file stem (no '/', no leading '.', no "
                f"'.json' suffix, not 'config')"
            )
        return self._path / f"{name}.json"

    def _write(self, target: Path, data: bytes) -> None:
        try:
            if target.parent != self._path:
                _makedirs_durable(target.parent)
            _atomic_write_bytes(target, data)
        except OSError as err:
            raise RunStoreError(f"cannot write {target}: {err}") from err
