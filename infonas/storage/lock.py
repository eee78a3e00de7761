"""One writer per run directory: an advisory lock on ``<run>/.lock``.

The first write of a ``RunStore`` (an append, a snapshot, a repair) takes an exclusive
``flock`` on ``<run>/.lock`` without waiting, and keeps it until the store is closed, garbage
collected, or its process ends. The holder then writes its pid, host, start time and command
line into the file, so a second writer is refused with an error naming them. Readers never lock.

A lock left by a dead process is safe to take over: ``flock`` locks belong to an open file
description, and the kernel releases them when the last descriptor closes, which process exit
(``kill -9`` included) always does. The file staying behind means nothing; only the kernel's
lock counts, so no pid is ever checked for liveness (pids are reused, and hosts differ on NFS).

Within one process, stores of the same run share the lock (reference counted): the lock keeps
other *processes* out; objects of one process see the same journal.

Example::

    lock = RunLock(Path("runs/a"))
    lock.acquire()  # RunLockedError naming the holder if another process writes runs/a
    ...
    lock.release()
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from infonas.exceptions import RunLockedError, RunStoreError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "RunLock", "lock_holder"]

logger = logging.getLogger(__name__)

LOCK_NAME = ".lock"

# Locks this process holds, by (pid, st_dev, st_ino) of the lock file: [descriptor, users]. The
# pid keeps a forked child from taking its parent's entry for its own: it must lock for itself.
_HELD: dict[tuple[int, int, int], list[int]] = {}
_HELD_GUARD = threading.RLock()  # re-entrant: a store's __del__ may run inside acquire


def lock_holder(run_dir: Path) -> dict[str, Any] | None:
    """What the holder wrote into ``<run>/.lock`` (pid, host, since, argv), or ``None``.

    The content is informational: a file left by a dead process still names it.
    """
    try:
        data = json.loads((run_dir / LOCK_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _wait_for_holder(run_dir: Path, seconds: float = 1.0) -> dict[str, Any] | None:
    """The holder's record; it writes it just after locking, so give it a moment to appear."""
    deadline = time.monotonic() + seconds
    while True:
        holder = lock_holder(run_dir)
        if holder or time.monotonic() > deadline:
            return holder
        time.sleep(0.02)


def _describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "another process (it has not written its pid yet)"
    since = holder.get("since")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, (int, float)) else "?"
    command = f" ({holder['argv']})" if holder.get("argv") else ""
    return f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}{command} since {when}"


def _try_flock(fd: int) -> bool:
    """Take the exclusive lock on ``fd`` without waiting; ``False`` if another process holds it."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    import msvcrt  # pragma: no cover - Windows: a byte-range lock, also released at process exit

    try:  # pragma: no cover
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:  # pragma: no cover
        return False
    return True  # pragma: no cover


class RunLock:
    """The writer lock of the run directory ``run_dir`` (see the module docstring)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._key: tuple[int, int, int] | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds (its share of) the lock."""
        return self._key is not None

    def acquire(self) -> None:
        """Take the lock; ``RunLockedError`` naming the holder if another process has it.

        A file system without locks (``ENOLCK``, some network mounts) is logged and tolerated:
        refusing every write there would make runs impossible, not safer.
        """
        if self._key is not None:
            return
        path = self.run_dir / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError as err:
            raise RunStoreError(f"cannot open the writer lock {path}: {err}; the run directory must be "
                                f"writable to continue it") from err
        with _HELD_GUARD:
            if self._key is not None:  # another thread of this object took it meanwhile
                os.close(fd)
                return
            stat = os.fstat(fd)
            key = (os.getpid(), stat.st_dev, stat.st_ino)
            if key in _HELD:  # this process already holds it through another store
                os.close(fd)
                _HELD[key][1] += 1
                self._key = key
                return
            try:
                locked = _try_flock(fd)
            except OSError as err:
                if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                    os.close(fd)
                    raise RunStoreError(f"cannot lock {path}: {err}") from err
                logger.warning("%s does not support file locks (%s): nothing stops a second process from "
                               "writing this run at the same time", self.run_dir, err)
                locked = True
            if locked:
                _HELD[key] = [fd, 1]
                self._key = key
        if not locked:
            os.close(fd)
            raise RunLockedError(
                f"run directory {self.run_dir} is being written by {_describe(_wait_for_holder(self.run_dir))}; "
                f"one process writes a run at a time: wait for it to end or stop it (a lock left by a "
                f"dead process is released by the OS and taken over automatically)")
        self._write_holder(fd)

    @staticmethod
    def _write_holder(fd: int) -> None:
        # Rewritten in place, never replaced: a new file (inode) would carry no lock, and a
        # second process could lock that one while this one holds the old.
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(),
                  "argv": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:200]}
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, (json.dumps(holder) + "\n").encode("utf-8"))
        except OSError as err:  # only the error message of a second writer needs it
            logger.warning("could not record the writer in the lock file: %s", err)

    def release(self) -> None:
        """Give up this object's share of the lock (the last share closes it)."""
        with _HELD_GUARD:
            key, self._key = self._key, None
            if key is None or key not in _HELD:
                return
            _HELD[key][1] -= 1
            if _HELD[key][1] == 0:
                fd = _HELD.pop(key)[0]
                try:
                    os.close(fd)  # closing the descriptor releases the flock
                except OSError:
                    pass
