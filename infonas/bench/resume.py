"""Resumable benchmarks: finished jobs are appended to ``OUT.partial.jsonl`` as they finish.

A benchmark with an output file ``OUT`` writes, beside it, one JSON line per finished job
(a (method, seed) search, a (train size, seed) round of surrogate fits), each flushed and
fsynced before the next job starts. Re-running the same command reads them back and runs only
the missing jobs, so a benchmark killed at any moment loses at most the jobs that were running;
since each job's numbers depend only on its key, the results equal an uninterrupted run's
(timings apart). The first line holds the options that determine the numbers; a re-run with
other options is refused. Values measured once per benchmark that later jobs depend on (the
latency table of ``bench pareto``) are saved too, and reused. Once ``OUT`` is written the
sidecar is deleted.

File layout (one JSON object per line)::

    {"benchmark": "search", "format": 1, "options": {...}}
    {"saved": "costs", "value": {...}}
    {"job": ["bo-ei", 3], "run": {...}}

Example:
    >>> log = JobLog.open(None, "search", {"seeds": 2})  # no output file: nothing is kept
    >>> log.record(("rs", 0), {"queries_to_optimum": 4}); log.done
    {('rs', 0): {'queries_to_optimum': 4}}
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from infonas.exceptions import IncompatibleRunError, RunStoreError
from infonas.storage.files import atomic_write_bytes, fsync_dir, write_all

__all__ = ["FORMAT", "RUN_ONLY_OPTIONS", "JobLog", "open_for_command", "partial_path"]

logger = logging.getLogger(__name__)

FORMAT = 1
Key = tuple


def partial_path(out: str | Path) -> Path:
    """Where the finished jobs of a benchmark writing ``out`` are kept until it completes."""
    out = Path(out)
    return out.with_name(out.name + ".partial.jsonl")


def _canonical(options: dict[str, Any]) -> dict[str, Any]:
    # Compared after a JSON round trip, as they were saved (tuples become lists, keys strings).
    return json.loads(json.dumps(options, sort_keys=True))


class JobLog:
    """The finished jobs of one benchmark command; ``done`` maps job keys to their results."""

    def __init__(self, path: Path | None, benchmark: str, options: dict[str, Any]) -> None:
        self.path = path
        self.benchmark = benchmark
        self.options = _canonical(options)
        self.done: dict[Key, Any] = {}
        self.saved: dict[str, Any] = {}
        self.resumed = 0  # jobs read back from an earlier, interrupted run

    @classmethod
    def open(cls, out: str | Path | None, benchmark: str, options: dict[str, Any]) -> JobLog:
        """The log of the benchmark writing ``out`` (``None``: kept in memory only), with the jobs
        an interrupted run of the same options left; a log of other options is refused."""
        log = cls(partial_path(out) if out else None, benchmark, options)
        if log.path is None:
            return log
        if log.path.exists():
            log._read()
        # A new log is written from its first record on (header first), not here: a command refused
        # after opening its log, before any job, leaves nothing behind.
        return log

    def _read(self) -> None:
        assert self.path is not None
        data = self.path.read_bytes()
        # A kill mid-append leaves a last line without its newline: drop it, the job reruns.
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) < len(data):
            logger.info("dropping a torn last line of %s (%d bytes)", self.path, len(data) - len(complete))
            with open(self.path, "r+b") as handle:
                handle.truncate(len(complete))
        lines = complete.decode().splitlines()
        fix = f"delete {self.path} to start the benchmark afresh"
        records = []
        for number, line in enumerate(lines, 1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise RunStoreError(f"{self.path} must hold one JSON object per line, but line {number} does "
                                    f"not ({error.msg}); {fix}") from None
        if not records:  # killed before the header was written: the first record writes it
            return
        header = records[0]
        if header.get("benchmark") != self.benchmark or header.get("format") != FORMAT:
            raise IncompatibleRunError(f"{self.path} holds jobs of benchmark {header.get('benchmark')!r} format "
                                       f"{header.get('format')}, not of {self.benchmark!r} format {FORMAT}; {fix}")
        saved_options = header.get("options")
        if saved_options != self.options and not any("job" in record for record in records[1:]):
            # Nothing finished under the old options (a run that failed early): nothing to keep.
            logger.info("%s held no finished job; starting afresh with the new options", self.path)
            atomic_write_bytes(self.path, (json.dumps(self._header()) + "\n").encode())
            return
        if saved_options != self.options:
            differ = sorted(k for k in set(saved_options or {}) | set(self.options)
                            if (saved_options or {}).get(k) != self.options.get(k))
            shown = ", ".join(f"{k}: {(saved_options or {}).get(k)!r} there, {self.options.get(k)!r} here"
                              for k in differ)
            raise IncompatibleRunError(f"{self.path} holds finished jobs of the same --out with other options "
                                       f"({shown}); rerun with the saved options to resume, or {fix}")
        for record in records[1:]:
            if "job" in record:
                self.done[tuple(record["job"])] = record["run"]
            elif "saved" in record:
                self.saved[record["saved"]] = record["value"]
        self.resumed = len(self.done)
        if self.resumed:
            logger.info("resuming from %s: %d finished jobs", self.path, self.resumed)

    def _header(self) -> dict[str, Any]:
        return {"benchmark": self.benchmark, "format": FORMAT, "options": self.options}

    def _append(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        line = (json.dumps(record) + "\n").encode()
        new = not self.path.exists() or self.path.stat().st_size == 0
        if new:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = (json.dumps(self._header()) + "\n").encode() + line
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            write_all(fd, line)
            os.fsync(fd)  # a job counts as done only once it is on disk
        finally:
            os.close(fd)
        if new:
            fsync_dir(self.path.parent)

    def record(self, key: Key, run: Any) -> None:
        """Keep the result of job ``key`` (written before this returns)."""
        self._append({"job": list(key), "run": run})
        self.done[tuple(key)] = run

    def save(self, name: str, value: Any) -> Any:
        """Keep a value later jobs depend on (kept once: a saved value is never replaced)."""
        if name not in self.saved:
            self._append({"saved": name, "value": value})
            self.saved[name] = value
        return self.saved[name]

    def close(self) -> None:
        """The benchmark's output is written: the sidecar is no longer needed."""
        if self.path is not None and self.path.exists():
            self.path.unlink()


#: Options that change how a benchmark runs or prints, never its numbers: a resumed run may differ in them.
RUN_ONLY_OPTIONS: tuple[str, ...] = ("out", "quiet", "workers")


def open_for_command(out: str | Path | None, benchmark: str, params: dict[str, Any]) -> JobLog:
    """The ``JobLog`` of a CLI benchmark writing ``out``, keyed by its options (``RUN_ONLY_OPTIONS``
    left out; the table as an absolute path, so a run resumed from elsewhere still matches)."""
    options = {k: v for k, v in params.items() if k not in RUN_ONLY_OPTIONS}
    if options.get("table"):
        options["table"] = os.path.abspath(options["table"])
    return JobLog.open(out, benchmark, options)
