"""Killing a child process with SIGKILL at a chosen moment: the crash tests of resumable work.

Example::

    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sigkill_when(process, lambda: len(finished(run_dir)) >= 2)
    # ... resume the work and check that nothing finished was lost
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

__all__ = ["sigkill_when"]


def sigkill_when(process: subprocess.Popen, ready: Callable[[], bool], *, poll_seconds: float = 0.02,
                 timeout: float = 300.0) -> None:
    """Wait until ``ready()`` holds while ``process`` runs, then kill it with SIGKILL and reap it.

    Raises ``AssertionError`` with the child's stderr when it ended before ``ready()`` held (it
    could not be killed mid-work) or when ``timeout`` seconds passed (a guard against a hung child,
    never a timing check). The process is reaped and its stderr closed whatever happens.
    """
    try:
        deadline = time.monotonic() + timeout
        while process.poll() is None and not ready():
            if time.monotonic() > deadline:
                raise AssertionError(f"the child never became ready to be killed in {timeout:g} s")
            time.sleep(poll_seconds)
        if process.poll() is not None:
            stderr = process.stderr.read() if process.stderr else b""
            raise AssertionError(f"the child ended (exit code {process.returncode}) before it could be killed: "
                                 f"{stderr!r}")
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
