"""Durable whole-file writes: atomic replacement, fsync of directories, durable ``makedirs``.

A file written here is never modified in place: the bytes go to a temporary file in the same
directory, which is flushed, fsynced and renamed over the target with ``os.replace`` (atomic on
POSIX and Windows); then the directory is fsynced so that the rename itself survives a power
cut. A reader sees the old file or the new one, never a mix, whenever the writer is killed.

Only the standard library is used, so a run can be written from any environment.

Example::

    atomic_write_bytes(Path("runs/a/state.json"), b'{"trial": 3}\\n')
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

__all__ = ["atomic_write_bytes", "fsync_dir", "makedirs_durable", "write_all"]

# Flags of the temporary file: O_EXCL so two writers never share one, O_CLOEXEC so a child
# process never inherits it, O_BINARY so Windows does not translate newlines.
_TMP_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
              | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))


def fsync_dir(directory: Path) -> None:
    """Make renames and creations inside ``directory`` durable.

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


def makedirs_durable(directory: Path) -> None:
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
        fsync_dir(new_dir.parent)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd``.

    ``os.write`` may write fewer bytes than asked (signals, quotas), hence the loop.
    """
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _create_temporary(directory: Path, name: str) -> tuple[int, Path]:
    # Mode 0o666 lets the kernel apply the umask, so the published file gets the permissions a
    # plain open() would give (mkstemp's 0o600 would need the umask, which can only be read by
    # changing it, racing with other threads).
    while True:
        tmp = directory / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, _TMP_FLAGS, 0o666), tmp
        except FileExistsError:  # 48 random bits collided: draw again
            continue


def atomic_write_bytes(target: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Replace ``target`` with ``data`` so readers see the old or the new content, never a mix.

    With ``exclusive=True`` the target must not exist yet (``FileExistsError`` otherwise); the
    file is published with ``os.link``, which, unlike ``os.replace``, refuses to overwrite, so
    two processes creating the same run cannot silently clobber each other's config.

    Example::

        atomic_write_bytes(run / "config.json", b"{}\\n", exclusive=True)
    """
    directory = target.parent
    # The temporary file must live in the same directory: rename is only atomic within one
    # file system. The leading dot keeps it out of casual listings.
    fd, tmp = _create_temporary(directory, target.name)
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)  # the content must be on disk before the name points at it
        finally:
            os.close(fd)
        if exclusive:
            _publish_exclusive(tmp, target)
        else:
            os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(directory)


def _publish_exclusive(tmp: Path, target: Path) -> None:
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:
        # Hard links unsupported (some FUSE/SMB mounts): fall back to a checked replace. The
        # window between the check and the replace is tiny, and only matters for two processes
        # creating the same run at the same instant.
        if target.exists():
            raise FileExistsError(target) from None
        os.replace(tmp, target)
    else:
        os.unlink(tmp)
