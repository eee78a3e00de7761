"""Real crashes: a writer process SIGKILLed at random moments loses no acknowledged event, and
leaves a journal every later process can read and append to."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infonas.storage.run_store import RunStore

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# After every append returns, the child reports the sequence number on stdout: the parent then
# knows exactly which appends were acknowledged before the kill.
_CHILD = r"""
import random, sys
sys.path.insert(0, sys.argv[1])
from infonas.storage.run_store import RunStore
store = RunStore.open(sys.argv[2])
rng = random.Random(int(sys.argv[3]))
seq = len(store.events())
while True:
    # big events make a kill in the middle of a write (a torn line) likely
    pad = "x" * rng.choice([0, 50, 5_000, 400_000])
    store.append({"event": "asked", "seq": seq, "pad": pad})
    sys.stdout.write(f"{seq}\n")
    sys.stdout.flush()
    store.write_snapshot("progress", {"seq": seq, "pad": pad[:1000]})
    seq += 1
"""


def _acknowledged(out: bytes) -> list[int]:
    """The sequence numbers the child reported whole (a line cut by the kill does not count)."""
    return [int(x) for x in out[: out.rfind(b"\n") + 1].split()]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill9_at_random_moments_loses_nothing_acknowledged(tmp_path: Path) -> None:
    rng = random.Random(20240611)
    run = tmp_path / "crashy"
    RunStore.create(run, {"test": "crash"})
    count = 0  # events in the journal before the current round
    for round_no in range(10):
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(PROJECT_ROOT), str(run), str(round_no)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        with proc:
            # All of stdout is read through the one buffered proc.stdout: readline() may buffer
            # lines beyond the first, which communicate() (reading the raw pipe) would miss.
            first = b""
            if rng.random() < 0.7:
                first = proc.stdout.readline()  # let it get going, then kill mid-stream
                assert first, proc.stderr.read().decode()
            # otherwise kill it anywhere: during start-up, the tail check, the first append
            time.sleep(rng.uniform(0.0, 0.15))
            proc.send_signal(signal.SIGKILL)
            out = first + proc.stdout.read()  # EOF once the killed child's pipe closes
            err = proc.stderr.read()
            proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL, err.decode()
        acked = _acknowledged(out)
        assert acked == list(range(count, count + len(acked)))

        # every complete line on disk is an intact event; at most the last one is torn
        raw = (run / "journal.jsonl").read_bytes() if (run / "journal.jsonl").exists() else b""
        lines = raw.split(b"\n")
        for line in lines[:-1]:
            assert isinstance(json.loads(line), dict)

        store = RunStore.open(run, {"test": "crash"})
        seqs = [e["seq"] for e in store.events()]
        assert seqs == list(range(len(seqs)))  # contiguous from 0, no duplicates
        # exactly the acknowledged events, plus possibly the one in flight
        assert count + len(acked) <= len(seqs) <= count + len(acked) + 1
        # snapshots are never half-written; they trail the journal
        snap = store.read_snapshot("progress")
        assert snap is None or snap["seq"] < len(seqs)
        count = len(seqs)

    # appending continues fine after all those crashes
    store = RunStore.open(run)
    store.append({"event": "asked", "seq": count})
    store.append({"event": "asked", "seq": count + 1})
    seqs = [e["seq"] for e in RunStore.open(run).events()]
    assert seqs == list(range(count + 2))
    assert count > 0
