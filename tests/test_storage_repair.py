"""Salvage repair of a damaged journal: every event replay can use is kept, before and after the
bad lines; the original is backed up; the report says what was kept and dropped, and why."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from infonas.exceptions import InfonasError, RunStoreError
from infonas.storage import RunStore, repair
from infonas.storage.events import TrialAsked, TrialFinished, replay
from infonas.storage.salvage import SalvagedStore, line_ranges, salvage
from infonas.trials import TrialStatus

ARCHS = ["|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|",
         "|skip_connect~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"]


def _asked(trial: int, arch: str = ARCHS[0]) -> dict:
    return TrialAsked(trial, arch, "acc", 1.0 + trial).to_json()


def _finished(trial: int, acc: float | None = None) -> dict:
    return TrialFinished(trial, TrialStatus.COMPLETE, {"acc": 50.0 + trial if acc is None else acc}, 1.0).to_json()


def _run(tmp_path: Path, trials: int = 20) -> RunStore:
    """A run whose journal holds ``trials`` asked/finished pairs: line 2k+1 asks trial k, 2k+2 finishes it."""
    store = RunStore.create(tmp_path / "run", {"seed": 0})
    for trial in range(trials):
        store.append(_asked(trial))
        store.append(_finished(trial))
    store.close()
    return store


def _damage(store: RunStore, *line_numbers: int, text: bytes = b'{"event":"finis\x00\x00GARBAGE') -> bytes:
    lines = store.journal_path.read_bytes().split(b"\n")
    for number in line_numbers:
        lines[number - 1] = text
    data = b"\n".join(lines)
    store.journal_path.write_bytes(data)
    return data


def test_a_corrupted_middle_line_keeps_every_usable_event_after_it(tmp_path: Path) -> None:
    store = _run(tmp_path)
    original = _damage(store, 11)  # trial 5's asked line
    with pytest.raises(RunStoreError, match="infonas repair"):
        RunStore.open(store.path).events()

    report = repair(store.path)
    assert (report.kept_events, report.dropped_lines) == (38, 2)
    assert [(d.line, d.reason) for d in report.dropped] == [
        (11, report.dropped[0].reason), (12, "finishes trial 5, whose asked line was lost")]
    assert report.dropped[0].reason.startswith("not valid JSON") and report.dropped[0].start.startswith(b'{"event"')
    assert report.kept == tuple(n for n in range(1, 41) if n not in (11, 12))
    assert report.backup == store.path / "journal.jsonl.corrupt-0" and report.backup.read_bytes() == original

    state = replay(RunStore.open(store.path).events())
    assert sorted(state.asked) == [n for n in range(20) if n != 5]
    assert [e.trial for e in state.finished] == [n for n in range(20) if n != 5]
    text = "\n".join(report.lines())
    assert "kept 38 of 40 lines (1-10, 13-40)" in text
    assert "dropped line 11: not valid JSON" in text and "dropped line 12: finishes trial 5" in text
    assert f"original saved as {report.backup}" in text


def test_a_lost_result_leaves_its_trial_pending(tmp_path: Path) -> None:
    store = _run(tmp_path, 6)
    _damage(store, 4)  # trial 1's finished line
    report = repair(store.path)
    assert (report.kept_events, report.dropped_lines) == (11, 1)
    state = replay(RunStore.open(store.path).events())
    assert sorted(state.asked) == list(range(6)) and 1 not in {e.trial for e in state.finished}


def test_duplicates_and_two_writers(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "run", {"seed": 0})
    events = [
        _asked(0), _finished(0, 70.0),
        _asked(1), _asked(1),  # the same trial asked twice alike: the first is kept
        _finished(1, 71.0), _finished(1, 99.0),  # a trial keeps its first result
        _asked(2, ARCHS[0]), _asked(2, ARCHS[1]),  # two writers: different architectures under one number
        _finished(2, 72.0), _finished(2, 73.0),
        {"event": "asked", "trial": 3},  # an asked event without its architecture
        _finished(3),
        {"event": "note", "text": "not a trial event"},  # kept as it is
        _finished(7),  # never asked
    ]
    for event in events:
        store.append(event)
    store.close()
    report = repair(store.path)
    reasons = {d.line: d.reason for d in report.dropped}
    assert report.kept == (1, 2, 3, 5, 13)
    assert reasons[4] == "trial 1 asked again (first asked on line 3)"
    assert reasons[6] == "trial 1 finished again (its first result, line 5, is kept)"
    for line in (7, 8, 9, 10):
        assert reasons[line].startswith("trial 2 was asked with different architectures (lines 7-8)")
    assert reasons[11].startswith("unusable asked event (journal event") and "KeyError" in reasons[11]
    assert reasons[12] == "finishes trial 3, whose asked line was lost"
    assert reasons[14] == "finishes trial 7, whose asked line was lost"
    kept = RunStore.open(store.path).events()
    assert kept[-1] == {"event": "note", "text": "not a trial event"}
    state = replay([e for e in kept if e["event"] != "note"])
    assert [(e.trial, e.metrics["acc"]) for e in state.finished] == [(0, 70.0), (1, 71.0)]


def test_a_torn_tail_and_damage_are_both_dropped_and_an_intact_journal_is_left_alone(tmp_path: Path) -> None:
    store = _run(tmp_path, 3)
    intact = store.journal_path.read_bytes()
    report = repair(store.path)
    assert (report.kept_events, report.dropped_lines, report.backup) == (6, 0, None)
    assert report.lines() == [f"{store.journal_path} is intact (6 events); nothing to repair"]
    assert store.journal_path.read_bytes() == intact and not list(store.path.glob("*.corrupt-*"))

    _damage(store, 3, text=b"\x00\x00\x00")
    with open(store.journal_path, "ab") as f:
        f.write(b'{"event":"asked","tri')
    report = repair(store.path)
    assert [d.line for d in report.dropped] == [3, 4, 7]
    assert report.dropped[-1].reason.startswith("torn last line")
    assert RunStore.open(store.path).journal_path.read_bytes().endswith(b"\n")
    assert len(RunStore.open(store.path).events()) == 4


def test_salvage_is_pure_and_ranges_read_well() -> None:
    data = b"".join(json.dumps(e).encode() + b"\n" for e in [_asked(0), _finished(0)])
    result = salvage(data)
    assert result.data == data and result.kept == [1, 2] and not result.dropped and not result.damaged
    assert not salvage(data + b'{"torn').damaged  # what readers skip anyway is no damage
    assert line_ranges([7, 1, 2, 3, 5, 8]) == "1-3, 5, 7-8" and line_ranges([]) == ""


def test_a_damaged_run_reads_read_only_through_its_salvage(tmp_path: Path) -> None:
    store = _run(tmp_path, 4)
    assert SalvagedStore.of(RunStore.open(store.path)) is None  # intact: nothing to salvage
    original = _damage(store, 3)
    view = SalvagedStore.of(RunStore.open(store.path))
    assert view is not None and len(view.events()) == 6 and view.config == {"seed": 0}
    assert "line 3: not valid JSON" in view.warning and "line 4: finishes trial 1" in view.warning
    assert f"infonas repair {store.path}" in view.warning and "showing the 6 intact events" in view.warning
    for write in (lambda: view.append({}), lambda: view.write_snapshot("budget", {}),
                  lambda: view.write_bytes_atomic("plots/a.png", b"")):
        with pytest.raises(RunStoreError, match="read-only"):
            write()
    assert store.journal_path.read_bytes() == original and not (store.path / "plots").exists()


@pytest.fixture
def table_run(tmp_path: Path) -> Path:
    """A finished 3-trial local search over a 12-row NB201 table, made by the CLI."""
    from click.testing import CliRunner

    from infonas.cli import main
    from search_spaces import NB201Space

    space = NB201Space()
    cells = sorted({space.format(space.sample(np.random.default_rng(seed))) for seed in range(12)})
    table = tmp_path / "table.csv"
    table.write_text("arch,acc\n" + "".join(f"{cell},{50 + i}\n" for i, cell in enumerate(cells)))
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["search", "--table", str(table), "--objective", "acc", "--strategy", "ls",
                                       "--budget", "3", "--run-dir", str(run), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return run


def test_objects_that_name_no_event_kind_are_dropped_and_the_run_loads(table_run: Path) -> None:
    """Regression: ``{}`` or ``{"event": 3}`` were kept as 'events of a newer writer', and
    ``Study.load`` still refused the repaired run (``unknown journal event kind None``)."""
    from infonas.study import Study

    journal = table_run / "journal.jsonl"
    lines = journal.read_bytes().split(b"\n")
    journal.write_bytes(b"\n".join([lines[0], b"{}", b'{"event": 3}', b'{"event": "note"}', *lines[1:]]))
    report = repair(table_run)
    assert [(d.line, d.reason) for d in report.dropped] == [
        (2, 'not a journal event (its "event" field is missing)'),
        (3, 'not a journal event (its "event" field is 3, not a string)')]
    kinds = [e["event"] for e in RunStore.open(table_run).events()]
    assert kinds.count("note") == 1 and len(kinds) == 7  # a kind a newer infonas may write is kept
    journal.write_bytes(journal.read_bytes().replace(b'{"event": "note"}\n', b""))
    assert len(Study.load(table_run).finished_trials()) == 3


def test_an_asked_architecture_outside_the_space_is_dropped_with_its_result(table_run: Path) -> None:
    """Regression: repair kept an ``asked`` line whose architecture the run's space cannot parse,
    and ``Study.load`` refused the repaired run."""
    from infonas.study import Study

    journal = table_run / "journal.jsonl"
    events = [json.loads(line) for line in journal.read_bytes().splitlines()]
    assert [e["event"] for e in events[2:4]] == ["asked", "finished"] and events[2]["trial"] == 1
    events[2]["arch"] = events[2]["arch"].replace("~0|", "~7|", 1)
    journal.write_bytes(b"".join(json.dumps(e).encode() + b"\n" for e in events))
    with pytest.raises(InfonasError, match="not a nb201 architecture"):
        Study.load(table_run)
    view = SalvagedStore.of(RunStore.open(table_run))  # a report reads what a repair would keep
    assert view is not None and len(view.events()) == 4
    report = repair(table_run)
    assert [d.line for d in report.dropped] == [3, 4]
    assert report.dropped[0].reason.startswith("asks trial 1 with a string that is not a nb201 architecture (")
    assert report.dropped[1].reason == "finishes trial 1, whose asked line was lost"
    study = Study.load(table_run)
    assert sorted(t.number for t in study.finished_trials()) == [0, 2]


@pytest.mark.parametrize("config", [{"seed": 0}, {"format_version": 1, "space": ["not", "a", "name"]},
                                    {"format_version": 999, "space": "nb201"}])
def test_a_journal_of_no_study_this_infonas_reads_keeps_what_is_not_a_trial_event(tmp_path: Path, config) -> None:
    """A plain ``RunStore``'s events are its caller's; a study's run of an unknown space or a newer
    format cannot be checked against its space: only the trial-event rules apply."""
    store = RunStore.create(tmp_path / "run", config)
    for event in ({**_asked(0), "arch": "|x|"}, {}, {"event": 3}, {"event": "asked", "trial": 1}):
        store.append(event)
    store.close()
    report = repair(store.path)
    assert report.kept == (1, 2, 3) and [d.line for d in report.dropped] == [4]
