"""One writer per run directory: the lock between real processes, its take-over after kill -9,
stale views, and two `infonas resume` of the same run at once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from infonas.exceptions import RunLockedError, RunStoreError
from infonas.storage import RunStore, repair

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300  # generous: a loaded machine may take long to start Python and import torch

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX processes and signals")

# Takes the lock, says so on stdout, then holds it until its stdin closes (or it is killed).
_HOLDER = r"""
import sys
sys.path.insert(0, sys.argv[1])
from infonas.storage import RunStore
store = RunStore.open(sys.argv[2])
store.acquire_write_lock()
print("locked", flush=True)
sys.stdin.read()
"""


def _start_holder(run: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(PROJECT_ROOT), str(run)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = proc.stdout.readline()
    assert line == b"locked\n", proc.stderr.read().decode()
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.stdin.close()
    proc.wait(timeout=TIMEOUT)
    proc.stdout.close()
    proc.stderr.close()


@pytest.fixture
def run(tmp_path: Path) -> Path:
    store = RunStore.create(tmp_path / "run", {"seed": 0})
    store.append({"event": "note", "n": 0})
    store.close()
    return store.path


def test_a_second_process_is_refused_with_the_holder_named(run: Path) -> None:
    holder = _start_holder(run)
    try:
        store = RunStore.open(run)
        with pytest.raises(RunLockedError) as info:
            store.append({"event": "note", "n": 1})
        message = str(info.value)
        assert f"being written by pid {holder.pid} on host {socket.gethostname()}" in message
        assert "wait for it to end or stop it" in message and "\n" not in message
        assert isinstance(info.value, RunStoreError)
        with pytest.raises(RunLockedError):
            store.write_snapshot("budget", {"evaluations": 3})
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
            repair(run)
        # readers never lock, and plots (derived files) can be written during a search
        reader = RunStore.open(run)
        assert reader.events() == [{"event": "note", "n": 0}]
        assert reader.read_snapshot("budget") is None
        reader.write_bytes_atomic("plots/incumbent.png", b"png")
    finally:
        _stop(holder)
    store.append({"event": "note", "n": 1})  # the holder ended: its lock is gone
    assert [e["n"] for e in RunStore.open(run).events()] == [0, 1]
    assert json.loads((run / ".lock").read_text())["pid"] == os.getpid()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_the_lock_of_a_killed_process_is_taken_over(run: Path) -> None:
    holder = _start_holder(run)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=TIMEOUT)
    holder.stdin.close()
    holder.stdout.close()
    holder.stderr.close()
    assert json.loads((run / ".lock").read_text())["pid"] == holder.pid  # the file stays behind
    store = RunStore.open(run)
    store.append({"event": "note", "n": 1})
    assert json.loads((run / ".lock").read_text())["pid"] == os.getpid()


def test_stores_of_one_process_share_the_lock_until_the_last_closes(run: Path) -> None:
    first, second = RunStore.open(run), RunStore.open(run)
    first.append({"event": "note", "n": 1})
    second.write_snapshot("state", {"n": 1})  # same process: shared, no error
    first.close()
    assert not _another_process_can_lock(run)  # still held through `second`
    second.close()
    assert _another_process_can_lock(run)
    with RunStore.open(run) as store:  # `with` releases it as well
        store.append({"event": "note", "n": 2})
    assert _another_process_can_lock(run)


def _another_process_can_lock(run: Path) -> bool:
    done = subprocess.run([sys.executable, "-c", _HOLDER, str(PROJECT_ROOT), str(run)], input=b"",
                          capture_output=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0 or b"RunLockedError" in done.stderr, done.stderr.decode()
    return done.returncode == 0


def test_a_stale_view_is_refused(run: Path) -> None:
    stale = RunStore.open(run)
    assert len(stale.events()) == 1  # read before another writer appended
    assert _another_process_can_lock(run)  # it took the lock and let go without writing: nothing changed
    writer = RunStore.open(run)
    writer.append({"event": "note", "n": 1})
    writer.close()
    with pytest.raises(RunLockedError, match="after this one read it .*journal.jsonl went from"):
        stale.append({"event": "note", "n": 1})
    assert [e["n"] for e in RunStore.open(run).events()] == [0, 1]
    fresh = RunStore.open(run)
    fresh.events()
    fresh.append({"event": "note", "n": 2})  # a fresh view writes
    fresh.close()
    fresh.append({"event": "note", "n": 3})  # its own appends never make it stale
    assert [e["n"] for e in RunStore.open(run).events()] == [0, 1, 2, 3]


# ----- two `infonas resume` of one run -----

# Resumes the run with a callback that, after the first told trial, says so and waits for a file:
# the test runs the second resume while this one is certainly writing.
_RESUMER = r"""
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from infonas.study import Study
run, go = sys.argv[2], Path(sys.argv[3])
def hold(study, trial):
    if not go.exists():
        print("writing", flush=True)
        while not go.exists():
            time.sleep(0.05)
Study.load(run).optimize(int(sys.argv[4]), callbacks=[hold])
"""


def _search(run: Path, table: Path, budget: int) -> None:
    done = subprocess.run([sys.executable, "-m", "infonas.cli", "search", "--table", str(table), "--objective", "acc",
                           "--strategy", "rs", "--budget", str(budget), "--run-dir", str(run), "--quiet"],
                          capture_output=True, timeout=TIMEOUT, cwd=PROJECT_ROOT, check=False)
    assert done.returncode == 0, done.stderr.decode()


def _trials(run: Path) -> tuple[list[int], list[int]]:
    events = [json.loads(line) for line in (run / "journal.jsonl").read_text().splitlines()]
    return ([e["trial"] for e in events if e["event"] == "asked"],
            [e["trial"] for e in events if e["event"] == "finished"])


def test_two_resumes_at_once_one_proceeds_the_other_names_it(tmp_path: Path, synthetic_table_file: Path) -> None:
    run = tmp_path / "run"
    _search(run, synthetic_table_file, 4)
    go = tmp_path / "go"
    first = subprocess.Popen([sys.executable, "-c", _RESUMER, str(PROJECT_ROOT), str(run), str(go), "12"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert first.stdout.readline() == b"writing\n", first.stderr.read().decode()
        second = subprocess.run([sys.executable, "-m", "infonas.cli", "resume", str(run), "--budget", "12", "--quiet"],
                                capture_output=True, timeout=TIMEOUT, cwd=PROJECT_ROOT, check=False)
    finally:
        go.write_text("go")
        _, err = first.communicate(timeout=TIMEOUT)
    assert first.returncode == 0, err.decode()
    assert second.returncode == 1
    lines = second.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and f"is being written by pid {first.pid} on host" in lines[0], lines
    asked, finished = _trials(run)
    assert asked == list(range(12)) and sorted(finished) == list(range(12))


def test_two_cli_resumes_started_together_write_each_trial_once(tmp_path: Path, synthetic_table_file: Path) -> None:
    # Whichever order the machine runs them in: one resumes, the other is refused (or, if it
    # starts after the first ended, finds the budget spent); never a trial written twice.
    run = tmp_path / "run"
    _search(run, synthetic_table_file, 4)
    command = [sys.executable, "-m", "infonas.cli", "resume", str(run), "--budget", "30", "--quiet"]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=PROJECT_ROOT)
             for _ in range(2)]
    results = [(p, *p.communicate(timeout=TIMEOUT)) for p in procs]
    assert any(p.returncode == 0 for p, _, _ in results)
    for proc, _, err in results:
        if proc.returncode != 0:
            lines = err.decode().strip().splitlines()
            assert len(lines) == 1 and ("is being written by" in lines[0] or "after this one read it" in lines[0])
    asked, finished = _trials(run)
    assert asked == list(range(30)) and sorted(finished) == list(range(30))
