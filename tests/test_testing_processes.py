"""The crash-test helper ``infonas.testing.processes.sigkill_when``."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from infonas.testing.processes import sigkill_when


def _child(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_a_ready_child_is_killed_and_reaped() -> None:
    process = _child("import time; time.sleep(600)")
    sigkill_when(process, lambda: True)
    assert process.returncode == -signal.SIGKILL and process.stderr.closed


def test_a_child_that_ends_first_fails_with_its_stderr() -> None:
    process = _child("import sys; sys.stderr.write('boom'); sys.exit(3)")
    with pytest.raises(AssertionError, match=r"exit code 3.*boom"):
        sigkill_when(process, lambda: False)
    assert process.stderr.closed


def test_a_child_never_ready_is_killed_after_the_timeout() -> None:
    process = _child("import time; time.sleep(600)")
    with pytest.raises(AssertionError, match="never became ready"):
        sigkill_when(process, lambda: False, timeout=0.2)
    assert process.returncode is not None  # reaped, not left running
