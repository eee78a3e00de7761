"""The main-job benchmark's pieces: trials read back from a journal, and its summary text."""

from __future__ import annotations

import json

from infonas.bench.main_job import format_main_job, journal_events, trial_records


def _journal(path, lines) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "journal.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n{\"torn")


def test_trial_records_leave_out_measured_seconds_and_a_torn_last_line(tmp_path) -> None:
    asked = {"event": "asked", "trial": 0, "arch": "A", "fidelity": "supernet"}
    finished = {"event": "finished", "trial": 0, "status": "complete", "cost": 0.05,
                "metrics": {"valid_acc": 90.0, "seconds": 0.07}}
    _journal(tmp_path / "one", [asked, finished, {**asked, "trial": 1, "arch": "B"}])
    _journal(tmp_path / "two", [asked, {**finished, "metrics": {"valid_acc": 90.0, "seconds": 0.5}}])
    assert len(journal_events(tmp_path / "one")) == 3  # the torn line is skipped
    # Trial 1 is pending: only finished trials count; the measured seconds never do.
    assert trial_records(tmp_path / "one") == trial_records(tmp_path / "two") == [
        (0, "A", "supernet", "complete", 0.05, (("valid_acc", 90.0),))]
    _journal(tmp_path / "three", [asked, {**finished, "metrics": {"valid_acc": 91.0}}])
    assert trial_records(tmp_path / "three") != trial_records(tmp_path / "one")


def test_format_main_job_says_whether_the_killed_run_matched() -> None:
    summary = {"finished": 3, "cost": 2.5, "setup_cost": 1.0,
               "fidelities": [{"name": "supernet", "evaluations": 2, "cost": 0.5, "seconds": 0.1}],
               "suggest": {"suggest_seconds": 2.0, "share": 0.25}, "hypervolume_ratio": 0.9, "pareto_front": [1, 2]}
    results = {"search_args": [], "wall_seconds": 12.0, "summary": summary, "kills": ["after 1 finished trials"],
               "same_trials": True, "first_difference": None}
    text = format_main_job(results)
    assert "wall-clock 12.0 s; 3 trials" in text and "supernet: 2 evaluations" in text
    assert "25.0% of the working time" in text and "the same trials as the uninterrupted run" in text
    assert "DIFFERENT trials from trial 4" in format_main_job({**results, "same_trials": False,
                                                                "first_difference": 4})
