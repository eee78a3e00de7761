"""The append-only journal of a run: durable appends, torn-tail trimming, corruption reports.

``<run>/journal.jsonl`` holds one JSON object per line. Each event is written with a single
``O_APPEND`` write and fsynced before ``append`` returns. A crash (``kill -9``, power loss) can
leave at most one *torn* last line: a line without its trailing newline, or (on file systems
that expose unwritten blocks after a power cut) a last line that is not valid JSON. Readers
ignore such a line, and the first append of a process cuts it off before writing, so a new
event never gets glued onto the fragment. (Optuna's ``JournalFileBackend``, which this journal
is modelled on, appends after the fragment and the journal then fails to load.)

A bad line anywhere *but* the end cannot come from a crash of this code: it is reported as a
``RunStoreError`` naming the line and the repair (``infonas.storage.salvage``, which keeps
every usable event before and after it).

Example::

    journal = Journal(Path("runs/a"))
    journal.append({"event": "asked", "trial": 0})
    journal.events()  # [{'event': 'asked', 'trial': 0}]
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infonas.exceptions import RunStoreError
from infonas.storage.files import atomic_write_bytes, fsync_dir, write_all

__all__ = ["CORRUPT_SUFFIX", "CREATED_NAME", "JOURNAL_NAME", "Journal", "excerpt"]

JOURNAL_NAME = "journal.jsonl"
CORRUPT_SUFFIX = ".corrupt-"
#: Written once the journal holds its first event, so that a deleted journal is not taken for
#: a run that never started (``RunStore`` refuses to continue such a run from trial 0).
CREATED_NAME = ".journal-created"
_EXCERPT_CHARS = 160
_UNREAD = object()


def excerpt(obj: Any) -> str:
    """``obj`` (or its repr) cut to a length that keeps error messages readable."""
    text = obj if isinstance(obj, str) else repr(obj)
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "..."


# -- reading ---------------------------------------------------------------------------------


def parse_line(line: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """``(event, None)`` for an intact line, ``(None, reason)`` otherwise."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as err:
        return None, f"not UTF-8 ({err.reason} at byte {err.start})"
    except ValueError as err:
        return None, f"not valid JSON ({err})"
    except RecursionError:  # json.loads recurses once per level of nesting
        return None, "not valid JSON (nested deeper than Python's recursion limit)"
    if not isinstance(obj, dict):
        return None, f"JSON but not an object (got {type(obj).__name__})"
    return obj, None


@dataclass
class Scan:
    """A parsed journal: the intact prefix, and what stopped the parse if anything did."""

    events: list[dict[str, Any]]
    bad_line: int | None = None  # 1-based number of the first bad line, if any
    reason: str | None = None
    bad_excerpt: bytes = b""
    bad_is_tail: bool = False  # the bad line is the last line: a torn write, not corruption
    identity: tuple[int, int] | None = None  # (inode, bytes read); None: no journal file


def scan(data: bytes) -> Scan:
    """Parse a whole journal, stopping at the first bad line and recording what it was."""
    events: list[dict[str, Any]] = []
    pos = 0
    lineno = 0
    size = len(data)
    while pos < size:
        lineno += 1
        newline = data.find(b"\n", pos)
        if newline == -1:
            # No newline: the writer died in the middle of this line.
            return Scan(events, lineno, "no trailing newline (torn write)", data[pos:pos + 80], True)
        event, reason = parse_line(data[pos:newline])
        if reason is not None:
            return Scan(events, lineno, reason, data[pos:min(newline, pos + 80)], newline + 1 == size)
        events.append(event)  # type: ignore[arg-type]
        pos = newline + 1
    return Scan(events)


def read_journal(journal: Path) -> Scan:
    """The scan of the journal file (empty when no event was appended yet)."""
    try:
        with open(journal, "rb") as f:
            inode = os.fstat(f.fileno()).st_ino
            data = f.read()
    except FileNotFoundError:
        return Scan([])
    except OSError as err:
        raise RunStoreError(f"cannot read journal {journal}: {err}; check its permissions") from err
    result = scan(data)
    result.identity = (inode, len(data))
    return result


def corruption_error(journal: Path, result: Scan) -> RunStoreError:
    """The error for a bad line that is not the last: where it is and how to repair it."""
    n = len(result.events)
    if n:
        last = (f"the last intact event is line {result.bad_line - 1}: "  # type: ignore[operator]
                f"{excerpt(json.dumps(result.events[-1], sort_keys=True))}")
    else:
        last = "no intact event precedes it"
    return RunStoreError(
        f"journal line {result.bad_line} of {journal} is corrupted: {result.reason} "
        f"(starts with {result.bad_excerpt!r}); {last}. A crash can only damage the last line, "
        f"so the file was edited or the disk is damaged. To recover, run `infonas repair "
        f"{journal.parent}` (or infonas.storage.repair({str(journal.parent)!r})): it keeps every "
        f"usable event before and after line {result.bad_line} and moves the original file to "
        f"{JOURNAL_NAME}{CORRUPT_SUFFIX}<n>."
    )


# -- writing ---------------------------------------------------------------------------------


def trim_torn_tail(journal: Path) -> None:
    """Cut off a torn last line (left by a crash) so the next append starts on a fresh line.

    Only the tail is read (the journal can be large), and only what ``events()`` ignores is
    removed: the last line if it has no newline or does not parse. If the line before it is
    bad too, that line is real corruption, and appending would bury it in the middle, so this
    refuses and points at the repair.
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
        if complete and parse_line(body[last_start:])[1] is None:
            return  # clean tail, the common case
        if last_start > 0:
            before = body[: last_start - 1]
            if parse_line(before[before.rfind(b"\n") + 1:])[1] is not None:
                raise corruption_error(journal, read_journal(journal))
        # Truncate durably: if the truncation were lost in a crash after the next append
        # reached the disk, the fragment would end up in the middle of the journal.
        f.truncate(start + last_start)
        f.flush()
        os.fsync(f.fileno())


def encode_event(event: Mapping[str, Any]) -> bytes:
    """One compact JSON line with sorted keys; ``RunStoreError`` if ``event`` is not JSON."""
    if not isinstance(event, Mapping):
        raise RunStoreError(f"an event must be a dict, got {type(event).__name__}")
    try:
        # ensure_ascii (the default) escapes every newline-like character, so one event is
        # exactly one line and the file is splittable on b"\n" without decoding first.
        line = json.dumps(dict(event), sort_keys=True, separators=(",", ":")) + "\n"
    except (TypeError, ValueError) as err:
        raise RunStoreError(
            f"event is not JSON-serializable ({err}); convert its values to str, int, "
            f"float, bool, None, lists or dicts"
        ) from err
    return line.encode("ascii")


class Journal:
    """The journal of the run directory ``run_dir``, as one process appends to and reads it.

    Example::

        journal = Journal(run_dir)
        journal.append({"event": "asked", "trial": 0})
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.path = run_dir / JOURNAL_NAME
        # The torn-tail check runs before this object's first append only: after that,
        # every line in the file was written whole by this process (or rolled back).
        self._tail_checked = False
        self._lock = threading.Lock()  # one append/repair at a time from this process
        # (inode, size) of the journal as this object last read or wrote it (None: no file),
        # _UNREAD before any read: how a writer learns that another process wrote in between.
        self._seen: tuple[int, int] | None | object = _UNREAD

    def append(self, event: Mapping[str, Any]) -> None:
        """Durably append one event: when this returns, the event survives any crash.

        If writing fails (disk full, I/O error), the journal is rolled back to its previous end
        and ``RunStoreError`` is raised.
        """
        data = encode_event(event)
        journal = self.path
        with self._lock:
            if not self._tail_checked:
                try:
                    trim_torn_tail(journal)
                except OSError as err:
                    raise RunStoreError(f"cannot check the tail of {journal}: {err}") from err
            try:
                fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            except OSError as err:
                raise RunStoreError(f"cannot open journal {journal} for appending: {err}") from err
            try:
                end = self._write_or_roll_back(fd, data)
                self._seen = (os.fstat(fd).st_ino, end)
            finally:
                os.close(fd)
            if not self._tail_checked:
                # The journal may just have been created: persist its directory entry once,
                # then mark the run as started (after: a crash in between must not leave a
                # marker without a journal).
                fsync_dir(self.run_dir)
                if not (self.run_dir / CREATED_NAME).exists():
                    try:
                        atomic_write_bytes(self.run_dir / CREATED_NAME, b"journal.jsonl was created; "
                                           b"if it is missing, it was deleted or moved\n")
                    except OSError:
                        pass  # the event is durable already; the marker only sharpens a later error
                self._tail_checked = True

    def _write_or_roll_back(self, fd: int, data: bytes) -> int:
        start = os.fstat(fd).st_size
        try:
            write_all(fd, data)
            os.fsync(fd)
            return start + len(data)
        except BaseException as err:
            # A partial line must not stay: the next append would glue onto it and create
            # corruption in the middle. Roll back (best effort) and re-check the tail before the
            # next append in case the rollback did not happen.
            self._tail_checked = False
            try:
                os.ftruncate(fd, start)
                os.fsync(fd)
            except OSError:
                pass
            if isinstance(err, OSError):
                raise RunStoreError(
                    f"could not append to journal {self.path}: {err}; the event was not "
                    f"recorded (free disk space / fix the device, then append again)"
                ) from err
            raise

    def events(self) -> list[dict[str, Any]]:
        """All intact events in append order; a torn last line is ignored, any other bad line
        raises ``RunStoreError`` naming it."""
        result = read_journal(self.path)
        self._seen = result.identity
        if result.bad_line is not None and not result.bad_is_tail:
            raise corruption_error(self.path, result)
        return result.events

    def exists(self) -> bool:
        return self.path.exists()

    def changed_since_read(self) -> str | None:
        """How the file differs from what this object last read or wrote (``None``: it does not,
        or this object never read it)."""
        if self._seen is _UNREAD:
            return None
        try:
            stat = os.stat(self.path)
            now: tuple[int, int] | None = (stat.st_ino, stat.st_size)
        except FileNotFoundError:
            now = None
        if now == self._seen:
            return None
        before, after = (("no file" if x is None else f"{x[1]} bytes") for x in (self._seen, now))
        return f"{JOURNAL_NAME} went from {before} to {after}"

    @contextmanager
    def rewriting(self) -> Iterator[None]:
        """Hold this journal's appends while the file is replaced (a repair); the next append
        re-checks the tail, and the replaced file counts as read."""
        with self._lock:
            try:
                yield
            finally:
                self._tail_checked = False
                read = read_journal(self.path)
                self._seen = read.identity
