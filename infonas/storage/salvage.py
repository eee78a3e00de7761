"""Salvage of a damaged journal: keep every event a replay can use, before and after bad lines.

A bad line in the middle of ``journal.jsonl`` (an edit, a damaged disk) makes the strict reader
refuse the run. :func:`repair` keeps every line that still makes sense and drops the rest:

* a line that is not a JSON object, or the torn last line of a crash, is dropped;
* an ``asked`` or ``finished`` event that does not parse (a field missing or mistyped) is dropped;
* in a study's run (its ``config.json`` has this infonas' ``format_version`` and a known
  ``space``), an object without a string ``"event"`` field (``{}``, ``{"event": 3}``) is no
  event of any writer, and an ``asked`` event whose architecture is not one of the space's is
  none ``Study.load`` can replay: both are dropped;
* a trial asked twice keeps its first ``asked`` line; asked twice with *different*
  architectures (two processes wrote the run at once), none of its events can be trusted, so
  all are dropped;
* a ``finished`` event is kept only if its trial's ``asked`` line was kept before it, and only
  the first one of a trial (as replay reads it);
* any other JSON object (a kind a newer infonas may write, or in a plain ``RunStore``, an event
  of its caller's) is kept unchanged.

Kept lines are written back byte for byte; the original moves to ``journal.jsonl.corrupt-<n>``.

Example::

    report = repair("runs/a")
    print("\\n".join(report.lines()))
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infonas.exceptions import InfonasError, InvalidArchitectureError, RunStoreError
from infonas.storage.config import CONFIG_NAME, FROZEN_NAME, load_config
from infonas.storage.events import FORMAT_VERSION, TrialAsked, TrialFinished, parse_event
from infonas.storage.files import atomic_write_bytes, fsync_dir
from infonas.storage.journal import CORRUPT_SUFFIX, CREATED_NAME, JOURNAL_NAME, excerpt, parse_line
from infonas.storage.lock import RunLock
from search_spaces import SearchSpace, get_space

__all__ = ["DroppedLine", "RepairReport", "Salvage", "SalvagedStore", "line_ranges", "lost_journal_error", "repair",
           "repair_journal", "salvage"]

_TORN = "torn last line (a crash during an append that never returned)"
_SHOWN_IN_WARNINGS = 5


@dataclass(frozen=True)
class DroppedLine:
    """Line ``line`` (1-based) of the journal was dropped because of ``reason``; ``start`` is
    the beginning of its bytes."""

    line: int
    reason: str
    start: bytes = b""

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" + (f" (starts with {self.start!r})" if self.start else "")


@dataclass
class Salvage:
    """What a journal still holds: the usable events (with their line numbers and bytes) and the
    lines that were dropped."""

    events: list[dict[str, Any]] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)
    dropped: list[DroppedLine] = field(default_factory=list)
    data: bytes = b""  # the kept lines, byte for byte

    @property
    def damaged(self) -> bool:
        """Whether something other than a crash's torn last line was dropped."""
        return any(d.reason != _TORN for d in self.dropped)


@dataclass(frozen=True)
class RepairReport:
    """What :func:`repair` did: ``kept_events`` events stay in the journal, ``dropped_lines`` lines
    were removed (``dropped`` says which and why, ``kept`` lists the line numbers kept), and the
    original journal was moved to ``backup`` (``None`` when nothing needed repair)."""

    kept_events: int
    dropped_lines: int
    backup: Path | None
    kept: tuple[int, ...] = ()
    dropped: tuple[DroppedLine, ...] = ()
    journal: Path | None = None

    def lines(self) -> list[str]:
        """The report as text lines, for people (the CLI prints them)."""
        where = self.journal or JOURNAL_NAME
        if self.backup is None:
            return [f"{where} is intact ({self.kept_events} events); nothing to repair"]
        total = self.kept_events + self.dropped_lines
        out = [f"{where}: kept {self.kept_events} of {total} lines ({line_ranges(self.kept) or 'none'})"]
        out.extend(f"dropped {d}" for d in self.dropped)
        out.append(f"original saved as {self.backup}")
        return out


def line_ranges(numbers: Iterable[int]) -> str:
    """``[1, 2, 3, 5, 7, 8]`` as ``"1-3, 5, 7-8"``."""
    spans: list[list[int]] = []
    for n in sorted(numbers):
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def _split(data: bytes) -> list[tuple[int, bytes, bool]]:
    """``(line number, line with its newline, complete)`` for each line of ``data``."""
    out = []
    pos = 0
    while pos < len(data):
        newline = data.find(b"\n", pos)
        end = len(data) if newline == -1 else newline + 1
        out.append((len(out) + 1, data[pos:end], newline != -1))
        pos = end
    return out


def _study_space(config: dict[str, Any]) -> SearchSpace | None:
    """The search space of a study's run whose ``config`` this infonas replays; ``None`` for any
    other run (a plain ``RunStore``'s events are its caller's, so only trial events are checked)."""
    if config.get("format_version") != FORMAT_VERSION:
        return None
    try:
        return get_space(config["space"])
    except (InfonasError, KeyError, TypeError):
        return None


def _typed(obj: dict[str, Any], space: SearchSpace | None) -> tuple[Any, str | None]:
    """``(typed event or None, None)`` for an object to keep (a trial event, or one that is not),
    ``(None, reason)`` for one replay never can use; ``space``: the run is a study's (see above)."""
    kind = obj.get("event")
    if not isinstance(kind, str) and space is not None:
        # A newer writer's events still name their kind; an object that names none is damage.
        shown = "missing" if "event" not in obj else f"{excerpt(kind)}, not a string"
        return None, f"not a journal event (its \"event\" field is {shown})"
    if kind not in (TrialAsked.kind, TrialFinished.kind):
        return None, None
    try:
        typed = parse_event(obj)
    except RunStoreError as err:
        return None, f"unusable {kind} event ({excerpt(str(err).split(';')[0])})"
    if isinstance(typed, TrialAsked) and space is not None:
        try:
            space.parse(typed.arch)
        except InvalidArchitectureError as err:
            return None, (f"asks trial {typed.trial} with a string that is not a {space.name} architecture "
                          f"({excerpt(str(err))})")
    return typed, None


def salvage(data: bytes, space: SearchSpace | None = None) -> Salvage:
    """The usable part of the journal bytes ``data`` (see the module docstring for the rules);
    ``space``: the journal is a study's, whose asked architectures are of that space."""
    lines = _split(data)
    parsed: list[tuple[int, bytes, dict[str, Any] | None, Any, str | None]] = []
    for number, raw, complete in lines:
        obj, reason = parse_line(raw.rstrip(b"\n"))
        if reason is not None and number == len(lines) or not complete:
            reason = _TORN  # what readers ignore after a crash: not damage
            obj = None
        typed = None
        if obj is not None:
            typed, reason = _typed(obj, space)
            if reason is not None:
                obj = None
        parsed.append((number, raw, obj, typed, reason))

    asks: dict[int, list[int]] = {}
    designs: dict[int, set[tuple[str, str]]] = {}
    for number, _, _, typed, _ in parsed:
        if isinstance(typed, TrialAsked):
            asks.setdefault(typed.trial, []).append(number)
            designs.setdefault(typed.trial, set()).add((typed.arch, typed.fidelity))
    conflicting = {trial for trial, seen in designs.items() if len(seen) > 1}

    result = Salvage()
    asked_on: dict[int, int] = {}
    finished_on: dict[int, int] = {}
    kept_bytes = []
    for number, raw, obj, typed, reason in parsed:
        if obj is not None:
            reason = _event_problem(typed, conflicting, asks, asked_on, finished_on)
        if reason is not None:
            result.dropped.append(DroppedLine(number, reason, raw.rstrip(b"\n")[:60] if obj is None else b""))
            continue
        if isinstance(typed, TrialAsked):
            asked_on[typed.trial] = number
        elif isinstance(typed, TrialFinished):
            finished_on[typed.trial] = number
        result.events.append(obj)  # type: ignore[arg-type]
        result.kept.append(number)
        kept_bytes.append(raw)
    result.data = b"".join(kept_bytes)
    return result


def _event_problem(typed: Any, conflicting: set[int], asks: dict[int, list[int]], asked_on: dict[int, int],
                   finished_on: dict[int, int]) -> str | None:
    """Why replay cannot use this intact event, or ``None`` if it can."""
    if typed is None:
        return None  # not a trial event: kept as it is
    trial = typed.trial
    if trial in conflicting:
        return (f"trial {trial} was asked with different architectures (lines {line_ranges(asks[trial])}): "
                f"two processes wrote the run at once, and no result can be attributed to it")
    if isinstance(typed, TrialAsked):
        return None if trial not in asked_on else f"trial {trial} asked again (first asked on line {asked_on[trial]})"
    if trial not in asked_on:
        return f"finishes trial {trial}, whose asked line was lost"
    if trial in finished_on:
        return f"trial {trial} finished again (its first result, line {finished_on[trial]}, is kept)"
    return None


def damage_warning(run_dir: Path, result: Salvage) -> str:
    """One line for a reader of a damaged run: what is unusable, and the command that repairs it."""
    shown = "; ".join(str(d) for d in result.dropped[:_SHOWN_IN_WARNINGS])
    more = f"; and {len(result.dropped) - _SHOWN_IN_WARNINGS} more" if len(result.dropped) > _SHOWN_IN_WARNINGS else ""
    return (f"{run_dir / JOURNAL_NAME} is damaged, {len(result.dropped)} line(s) cannot be used ({shown}{more}); "
            f"showing the {len(result.events)} intact events. Run `infonas repair {run_dir}` to keep them and "
            f"continue the run (the original is backed up)")


def lost_journal_error(run_dir: Path) -> RunStoreError | None:
    """The error for a run whose journal is missing although the run had started (``None`` if
    nothing shows it had): continuing would silently restart the search from trial 0."""
    signs = [p.name for p in (run_dir / CREATED_NAME, *sorted(run_dir.glob(f"{JOURNAL_NAME}{CORRUPT_SUFFIX}*")))
             if p.exists()]
    if not (run_dir / FROZEN_NAME).exists():
        # Runs made before the marker existed: snapshots (budget.json) are written by started runs.
        signs += [p.name for p in sorted(run_dir.glob("*.json")) if p.name not in (CONFIG_NAME, FROZEN_NAME)]
    if not signs:
        return None
    return RunStoreError(
        f"{run_dir} has no {JOURNAL_NAME}, but {', '.join(signs)} show(s) the run had started: the journal was "
        f"deleted or moved, and continuing would silently restart the search from trial 0. Restore "
        f"{JOURNAL_NAME} (from a backup, or a {JOURNAL_NAME}{CORRUPT_SUFFIX}<n> left by a repair); to restart "
        f"from trial 0 deliberately, start a new run in another directory (or delete {run_dir} first)")


def _backup(run_dir: Path, journal: Path, data: bytes) -> Path:
    # A hard link first (instant, and atomic with respect to crashes), a copy where the file
    # system has none; "x" never overwrites an older backup.
    n = 0
    while True:
        backup = run_dir / f"{JOURNAL_NAME}{CORRUPT_SUFFIX}{n}"
        try:
            os.link(journal, backup)
            break
        except FileExistsError:
            n += 1
        except OSError:
            try:
                with open(backup, "xb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                break
            except FileExistsError:
                n += 1
    fsync_dir(run_dir)
    return backup


def repair_journal(run_dir: Path) -> RepairReport:
    """Salvage ``<run_dir>/journal.jsonl`` in place (the caller holds the writer lock)."""
    journal = run_dir / JOURNAL_NAME
    try:
        data = journal.read_bytes()
    except FileNotFoundError:
        return RepairReport(0, 0, None, journal=journal)
    except OSError as err:
        raise RunStoreError(f"cannot read journal {journal}: {err}; check its permissions") from err
    try:
        space = _study_space(load_config(run_dir))
    except RunStoreError:  # an unreadable config: salvage what needs no config
        space = None
    result = salvage(data, space)
    if not result.dropped:
        return RepairReport(len(result.events), 0, None, tuple(result.kept), journal=journal)
    # The original is kept under a new name first, and only then is the salvaged journal
    # swapped in: at no moment is there no journal, and the damaged data always survives.
    backup = _backup(run_dir, journal, data)
    atomic_write_bytes(journal, result.data)
    return RepairReport(len(result.events), len(result.dropped), backup, tuple(result.kept),
                        tuple(result.dropped), journal)


def repair(path: str | os.PathLike[str]) -> RepairReport:
    """Repair the journal of the run at ``path`` after :class:`RunStoreError` reported damage.

    Keeps every event a replay can use, before and after the bad lines (rules in the module
    docstring), moves the original to ``journal.jsonl.corrupt-<n>`` (the first free ``n``) and
    atomically writes the salvaged journal. Takes the run's writer lock, so it refuses to run
    while a search writes the run. The config need not be readable. An intact journal is left
    untouched. The CLI's ``infonas repair DIR`` calls this.

    Example::

        report = repair("runs/nb201-seed0")
        print(report.kept_events, "events kept; original saved as", report.backup)
    """
    run_dir = Path(path)
    if not run_dir.is_dir():
        raise RunStoreError(f"run directory {run_dir} does not exist; nothing to repair")
    lock = RunLock(run_dir)
    lock.acquire()
    try:
        return repair_journal(run_dir)
    finally:
        lock.release()


class SalvagedStore:
    """A read-only view of a damaged run: its config and snapshots, and the events a repair would
    keep. Reports read a damaged run through it without changing a byte of it.

    Example::

        view = SalvagedStore.of(RunStore.open("runs/a"))
        if view is not None:
            print(view.warning)
    """

    def __init__(self, store: Any, result: Salvage) -> None:
        self._store = store
        self._result = result
        self.path: Path = store.path
        #: One line naming the unusable lines and the repair command.
        self.warning = damage_warning(store.path, result)

    @classmethod
    def of(cls, store: Any) -> SalvagedStore | None:
        """The view of ``store``'s run if its journal is damaged (beyond a crash's torn last line
        that readers skip anyway), else ``None``."""
        try:
            data = (store.path / JOURNAL_NAME).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise RunStoreError(f"cannot read journal {store.path / JOURNAL_NAME}: {err}") from err
        result = salvage(data, _study_space(store.config))
        return cls(store, result) if result.damaged else None

    @property
    def config(self) -> dict[str, Any]:
        return self._store.config

    def events(self) -> list[dict[str, Any]]:
        """The usable events, as a repair would keep them."""
        return [dict(e) for e in self._result.events]

    def read_snapshot(self, name: str, default: Any = None) -> Any:
        return self._store.read_snapshot(name, default)

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise RunStoreError(f"{self.path} is opened read-only because its journal is damaged; run "
                            f"`infonas repair {self.path}` before writing to it")

    append = write_snapshot = write_bytes_atomic = _refuse

    def __repr__(self) -> str:
        return f"SalvagedStore({str(self.path)!r}, {len(self._result.events)} usable events)"
