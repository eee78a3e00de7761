"""Tests for infonas.storage.events (typed journal events, replay) and for loading a run written
by the code before the restructure (tests/assets/legacy_run_v1)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from infonas.exceptions import RunStoreError
from infonas.storage.events import (
    FORMAT_VERSION,
    TrialAsked,
    TrialFinished,
    parse_event,
    replay,
)
from infonas.trials import TrialStatus

LEGACY_RUN = Path(__file__).resolve().parent / "assets" / "legacy_run_v1"

ARCH = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"


def asked(trial: int, **extra) -> dict:
    return {"event": "asked", "trial": trial, "arch": ARCH, "fidelity": "acc", **extra}


def finished(trial: int, **extra) -> dict:
    return {"event": "finished", "trial": trial, "status": "complete", "metrics": {"acc": 70.0 + trial},
            "cost": 1.0, "error": None, **extra}


# --------------------------------------------------------------------------------------------
# events
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event", [
    TrialAsked(0, ARCH, "acc"),
    TrialAsked(7, ARCH, "acc_cheap", time=1.7e9 + 0.125, suggest_seconds=0.03125),
    TrialFinished(0, TrialStatus.COMPLETE, {"acc": 71.5, "flops": 12.0}, 1.0, None, 1.7e9),
    TrialFinished(3, TrialStatus.FAILED, {}, 0.5, "RuntimeError: out of memory"),
    TrialFinished(4, TrialStatus.INFEASIBLE),
])
def test_events_round_trip_through_json(event) -> None:
    data = event.to_json()
    assert data["event"] == event.kind
    assert parse_event(json.loads(json.dumps(data))) == event


def test_optional_fields_are_written_only_when_known() -> None:
    assert TrialAsked(0, ARCH, "acc").to_json() == asked(0)
    assert "time" not in TrialFinished(0, TrialStatus.COMPLETE).to_json()
    assert TrialAsked(0, ARCH, "acc", 2.0, 0.5).to_json() == asked(0, time=2.0, suggest_seconds=0.5)


def test_unknown_kind_is_an_error_naming_it() -> None:
    with pytest.raises(RunStoreError, match=r"unknown journal event kind 'told'.*format version 1"):
        parse_event({"event": "told", "trial": 0})
    with pytest.raises(RunStoreError, match="unknown journal event kind None"):
        parse_event({"trial": 0})
    assert FORMAT_VERSION == 1


@pytest.mark.parametrize("event, field", [
    *[(asked(0), name) for name in ("trial", "arch", "fidelity")],
    *[(finished(0), name) for name in ("trial", "status", "metrics", "cost")],
])
def test_missing_field_is_an_error_naming_it(event, field) -> None:
    del event[field]
    with pytest.raises(RunStoreError, match=f"malformed .*KeyError: '{field}'") as info:
        parse_event(event)
    assert "repair" in str(info.value)


@pytest.mark.parametrize("event", [
    finished(0, status="exploded"), finished(0, metrics={"acc": "high"}), finished(0, cost=None),
    asked("zero"), asked(0, time="yesterday"), asked(0, suggest_seconds=[1]), finished(0, time="now"),
])
def test_malformed_values_are_errors(event) -> None:
    with pytest.raises(RunStoreError, match="malformed"):
        parse_event(event)


def test_old_events_without_time_load_and_unknown_fields_are_ignored() -> None:
    # The format-1 writer before the typed schema wrote neither time nor suggest_seconds, and
    # a later writer may add fields this reader does not know.
    event = parse_event(asked(2, added_by_a_newer_writer=[1, 2]))
    assert event == TrialAsked(2, ARCH, "acc") and event.time is None and event.suggest_seconds is None
    result = parse_event({k: v for k, v in finished(2).items() if k != "error"})
    assert result == TrialFinished(2, TrialStatus.COMPLETE, {"acc": 72.0}, 1.0) and result.time is None


def test_replay_orders_and_keeps_the_first_of_duplicate_results() -> None:
    state = replay([asked(0), asked(1), finished(1), finished(0, time=5.0), finished(1, metrics={"acc": 0.0})])
    assert sorted(state.asked) == [0, 1]
    assert [e.trial for e in state.finished] == [1, 0]  # finishing order, not asking order
    assert state.finished[0].metrics == {"acc": 71.0}  # the duplicate line is ignored
    assert state.finished[1].time == 5.0


def test_replay_refuses_a_result_before_its_trial_was_asked() -> None:
    with pytest.raises(RunStoreError, match="finishes trial 1, which was never asked"):
        replay([asked(0), finished(1), asked(1)])
    assert replay([]).asked == {} and replay([]).finished == []


# --------------------------------------------------------------------------------------------
# a run written by the code before the restructure
# --------------------------------------------------------------------------------------------


@pytest.fixture
def legacy_study(tmp_path):
    from infonas.evaluators.tabular import TabularBenchmark, TabularEvaluator
    from infonas.study import Study
    from search_spaces import NB201Space

    run = tmp_path / "legacy"
    shutil.copytree(LEGACY_RUN, run)  # the committed asset itself is never written to
    # The run was made with a custom evaluator (config "evaluator": {"kind": "custom"}): rebuild it.
    table = TabularBenchmark.from_csv(run / "table.csv", NB201Space())
    evaluator = TabularEvaluator(table, "acc", cheap={"acc_cheap": 0.1})
    return Study.load(run, evaluator)


def test_legacy_run_loads(legacy_study) -> None:
    trials = legacy_study.finished_trials()
    assert [t.number for t in trials] == list(range(11))
    failed = [t for t in trials if t.status is not TrialStatus.COMPLETE]
    assert [(t.number, t.status, t.error, t.cost, t.metrics) for t in failed] == [
        (10, TrialStatus.FAILED, "RuntimeError: out of memory", 0.5, {})]
    assert all(t.asked_at is None and t.finished_at is None for t in trials)  # written before timestamps
    assert legacy_study.spent_cost() == pytest.approx(10.5)
    assert legacy_study.best()[0].metrics["acc"] == max(t.metrics["acc"] for t in trials[:10])
    assert [t.number for t in legacy_study.pending] == [11]
    assert legacy_study.saved_budget().evaluations == 10


def test_legacy_run_resumes_with_its_pending_trial_first(legacy_study) -> None:
    from infonas.study import Study

    pending = legacy_study.pending[0]
    legacy_study.optimize(13)
    trials = legacy_study.finished_trials()
    assert [t.number for t in trials] == list(range(13))
    assert trials[11].arch == pending.arch and trials[11].is_complete
    assert trials[12].asked_at is not None  # new events carry timestamps
    reloaded = Study.load(legacy_study.store.path, legacy_study.evaluator)
    assert [(t.number, t.metrics) for t in reloaded.finished_trials()] == [(t.number, t.metrics) for t in trials]
    assert reloaded.pending == []
