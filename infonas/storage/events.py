"""The journal's vocabulary: typed events, their JSON form, and replay into trials.

A run's journal is a sequence of events, one JSON object per line, each naming its ``event``
kind. Format version 1 (the only one so far) has two kinds:

=============  ==========================================================================
``asked``      ``trial`` (int), ``arch`` (the space's string), ``fidelity`` (str)
               [``time``: seconds since the epoch; ``suggest_seconds``: wall-clock seconds of
               the ``suggest`` call that proposed it (a whole batch); both written since the
               typed schema] [``retry_of``: the failed trial this one evaluates again]
``finished``   ``trial``, ``status`` (``TrialStatus`` value), ``metrics`` ({name: float}),
               ``cost`` (float), ``error`` (str or null) [``time``] [``failure``: the kind of a
               failed trial, one of ``infonas.trials.FAILURE_KINDS``]
=============  ==========================================================================

Readers accept events without ``time`` (journals written before it existed) and ignore fields
they do not know, so a newer writer's additions never lock an older reader out; a kind they do
not know is an error, as is a missing field.

Example:
    >>> event = TrialAsked(trial=0, arch="|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", fidelity="full")
    >>> parse_event(event.to_json()) == event
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

from infonas.exceptions import RunStoreError
from infonas.trials import TrialStatus

__all__ = ["FORMAT_VERSION", "Event", "Replay", "TrialAsked", "TrialFinished", "parse_event", "replay"]

#: Version of the run format (config and journal) this code writes and reads.
FORMAT_VERSION = 1


@dataclass(frozen=True)
class TrialAsked:
    """Trial ``trial`` was proposed: ``arch`` (formatted by its space) at ``fidelity``."""

    kind: ClassVar[str] = "asked"
    trial: int
    arch: str
    fidelity: str
    time: float | None = None
    suggest_seconds: float | None = None
    retry_of: int | None = None

    def to_json(self) -> dict[str, Any]:
        data = {"event": self.kind, "trial": self.trial, "arch": self.arch, "fidelity": self.fidelity}
        if self.suggest_seconds is not None:
            data["suggest_seconds"] = self.suggest_seconds
        if self.retry_of is not None:
            data["retry_of"] = self.retry_of
        return _with_time(data, self.time)


@dataclass(frozen=True)
class TrialFinished:
    """Trial ``trial`` ended with ``status``; ``metrics`` are empty unless it completed."""

    kind: ClassVar[str] = "finished"
    trial: int
    status: TrialStatus
    metrics: dict[str, float] = field(default_factory=dict)
    cost: float = 0.0
    error: str | None = None
    time: float | None = None
    failure: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = {"event": self.kind, "trial": self.trial, "status": self.status.value, "metrics": dict(self.metrics),
                "cost": self.cost, "error": self.error}
        if self.failure is not None:
            data["failure"] = self.failure
        return _with_time(data, self.time)


Event = Union[TrialAsked, TrialFinished]


def _with_time(data: dict[str, Any], time: float | None) -> dict[str, Any]:
    if time is not None:
        data["time"] = time
    return data


def _optional_float(data: Mapping[str, Any], name: str) -> float | None:
    # Checked here so that a hand-edited timestamp fails at load, naming the event, rather than
    # later in whatever formats the trial.
    value = data.get(name)
    return None if value is None else float(value)


def parse_event(data: Mapping[str, Any]) -> Event:
    """The typed event of one journal object; ``RunStoreError`` naming what is wrong otherwise."""
    kind = data.get("event")
    try:
        if kind == TrialAsked.kind:
            retry_of = data.get("retry_of")
            return TrialAsked(int(data["trial"]), str(data["arch"]), str(data["fidelity"]),
                              _optional_float(data, "time"), _optional_float(data, "suggest_seconds"),
                              None if retry_of is None else int(retry_of))
        if kind == TrialFinished.kind:
            metrics = {str(k): float(v) for k, v in dict(data["metrics"]).items()}
            failure = data.get("failure")
            return TrialFinished(int(data["trial"]), TrialStatus(data["status"]), metrics, float(data["cost"]),
                                 data.get("error"), _optional_float(data, "time"),
                                 None if failure is None else str(failure))
    except (KeyError, TypeError, ValueError, OverflowError) as error:  # OverflowError: int() of an Infinity
        raise RunStoreError(f"journal event {dict(data)!r} is malformed ({type(error).__name__}: {error}); "
                            "repair the run with `infonas repair RUN_DIR` (infonas.storage.repair(run_dir)), "
                            "which drops such events and keeps the rest") from None
    raise RunStoreError(f"unknown journal event kind {kind!r} in {dict(data)!r}; this version of infonas reads "
                        f"{[TrialAsked.kind, TrialFinished.kind]} (format version {FORMAT_VERSION}): read a run "
                        "written by a newer infonas with that version; otherwise the line was edited or damaged, "
                        "so delete it from the run's journal.jsonl (`infonas repair` keeps events it does not know)")


@dataclass
class Replay:
    """What a journal says happened: asked trials by number, finished ones in finishing order."""

    asked: dict[int, TrialAsked] = field(default_factory=dict)
    finished: list[TrialFinished] = field(default_factory=list)


def replay(events: Iterable[Mapping[str, Any]]) -> Replay:
    """Fold journal objects into a ``Replay``.

    A trial finished twice keeps its first result (a second line can only come from a hand-edited
    journal); a result for a trial never asked is an error.
    """
    state = Replay()
    done: set[int] = set()
    for data in events:
        event = parse_event(data)
        if isinstance(event, TrialAsked):
            state.asked[event.trial] = event
        elif event.trial not in state.asked:
            raise RunStoreError(f"the journal finishes trial {event.trial}, which was never asked (its asked line "
                                f"was lost); repair the run with `infonas repair RUN_DIR`, which drops that result")
        elif event.trial not in done:
            done.add(event.trial)
            state.finished.append(event)
    return state
