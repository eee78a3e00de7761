"""Soak benchmark of the run journal's crash safety (a benchmark, not a test).

A writer process appends events (small ones and ~400 kB ones) to one run directory and reports
each sequence number on stdout once ``append`` has returned; the parent SIGKILLs it at a random
moment, reads what it acknowledged, and checks the journal: every acknowledged event must be
there (lost), exactly once (duplicated), in order (reordered), and every line but a torn last one
must parse (corrupt). Round after round the same journal grows, so each new writer also trims the
torn tail its predecessor left; every ``--rounds-per-run`` rounds a fresh run directory starts, so
the journal (which large events grow by ~100 kB each) stays small enough to read back each round.
``--load N`` keeps N busy-loop processes running meanwhile, as on a loaded machine.

    python benchmarks/soak_journal.py --rounds 500 --load 2 --out benchmarks/results/soak_journal.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

_WRITER = r"""
import random, sys
sys.path.insert(0, sys.argv[1])
from infonas.storage.run_store import RunStore
store = RunStore.open(sys.argv[2])
rng = random.Random(int(sys.argv[3]))
seq = len(store.events())
while True:
    pad = "x" * rng.choice([0, 50, 5_000, 400_000])  # large events make torn writes likely
    store.append({"event": "soak", "seq": seq, "pad": pad})
    sys.stdout.write(f"{seq}\n")
    sys.stdout.flush()
    seq += 1
"""

_BUSY = "while True: pass"


def _acknowledged(out: bytes) -> list[int]:
    """Sequence numbers the writer reported whole (a line cut by the kill does not count)."""
    return [int(x) for x in out[: out.rfind(b"\n") + 1].split()]


def _git_commit() -> str | None:
    try:
        commit = subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, text=True).strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=PROJECT_ROOT).returncode != 0
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def soak(rounds: int, seed: int, max_delay: float, rounds_per_run: int) -> dict:
    """Run the rounds; return the counts of lost, duplicated, reordered and corrupt events."""
    sys.path.insert(0, str(PROJECT_ROOT))
    from infonas.storage.run_store import RunStore

    rng = random.Random(seed)
    totals = {"rounds": 0, "acknowledged": 0, "lost": 0, "duplicated": 0, "reordered": 0, "corrupt_lines": 0,
              "torn_tails_seen": 0, "events_in_journal": 0, "events_written": 0, "writer_errors": 0,
              # events on disk whose acknowledgement the kill cut off: at most one per round
              "most_unacknowledged_in_a_round": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for round_no in range(rounds):
            if round_no % rounds_per_run == 0:  # a fresh run: its journal starts empty
                run = Path(tmp) / f"soak-{round_no}"
                RunStore.create(run, {"soak": seed, "from_round": round_no})
                acknowledged: list[int] = []
                totals["events_in_journal"] = 0
                lost = duplicated = reordered = 0
            proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(PROJECT_ROOT), str(run), str(round_no)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            with proc:
                first = proc.stdout.readline() if rng.random() < 0.7 else b""  # else: kill during start-up
                time.sleep(rng.uniform(0.0, max_delay))
                proc.send_signal(signal.SIGKILL)
                out = first + proc.stdout.read()  # one buffered reader for all of stdout
                err = proc.stderr.read()
                proc.wait(timeout=120)
            if proc.returncode != -signal.SIGKILL:
                totals["writer_errors"] += 1
                print(err.decode()[-2000:], file=sys.stderr)
            before = totals["events_in_journal"]
            acknowledged += _acknowledged(out)
            raw = (run / "journal.jsonl").read_bytes() if (run / "journal.jsonl").exists() else b""
            lines = raw.split(b"\n")
            totals["torn_tails_seen"] += int(bool(lines[-1]))
            for line in lines[:-1]:
                try:
                    json.loads(line)
                except ValueError:
                    totals["corrupt_lines"] += 1
            seqs = [event["seq"] for event in RunStore.open(run).events()]
            totals["rounds"] += 1
            totals["events_in_journal"] = len(seqs)
            totals["events_written"] += len(seqs) - before
            unacknowledged = len(seqs) - before - len(_acknowledged(out))
            totals["most_unacknowledged_in_a_round"] = max(totals["most_unacknowledged_in_a_round"], unacknowledged)
            # Counts per run are cumulative within it: keep the run's latest and add them up at its end.
            present = set(seqs)
            lost = sum(1 for s in acknowledged if s not in present)
            duplicated = len(seqs) - len(present)
            reordered = sum(1 for a, b in zip(seqs, seqs[1:]) if b <= a)
            totals["acknowledged"] += len(_acknowledged(out))
            if (round_no + 1) % rounds_per_run == 0 or round_no + 1 == rounds:
                totals["lost"] += lost
                totals["duplicated"] += duplicated
                totals["reordered"] += reordered
            if (round_no + 1) % 50 == 0:
                print(f"round {round_no + 1}/{rounds}: {json.dumps(totals)}", file=sys.stderr, flush=True)
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-delay", type=float, default=0.15, help="longest wait before the kill, in seconds")
    parser.add_argument("--load", type=int, default=2, help="busy-loop processes kept running meanwhile")
    parser.add_argument("--rounds-per-run", type=int, default=25, help="rounds written to one run directory")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "benchmarks" / "results" / "soak_journal.json")
    args = parser.parse_args()
    if args.rounds < 1 or args.rounds_per_run < 1 or args.load < 0 or args.max_delay < 0:
        parser.error("--rounds and --rounds-per-run must be at least 1, --load and --max-delay non-negative")
    started = time.perf_counter()
    # A SIGTERM (kill, pkill) must end the busy loops too: turn it into SystemExit so `finally` runs.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    load = [subprocess.Popen([sys.executable, "-c", _BUSY]) for _ in range(args.load)]
    try:
        totals = soak(args.rounds, args.seed, args.max_delay, args.rounds_per_run)
    finally:
        for proc in load:
            proc.kill()
            proc.wait()
    result = {
        "meta": {
            "command": "python benchmarks/soak_journal.py " + " ".join(sys.argv[1:]),
            "commit": _git_commit(),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "cores": os.cpu_count(),
            "load_processes": args.load,
            "seconds": round(time.perf_counter() - started, 1),
        },
        **totals,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
