"""Ground-truth tables built as resumable studies (infonas.bench.table, ``infonas bench table``).

Only the training phases ("train", "repeat") are exercised, on the digits with 2-channel
networks trained for one epoch: a few seconds per build.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from infonas.bench.table import PHASES, TableSettings, build_table, read_table_rows, table_cells, write_table
from infonas.exceptions import IncompatibleRunError, InvalidArgumentError
from infonas.testing.processes import sigkill_when
from search_spaces import NB201Space

SPACE = NB201Space()
TINY = TableSettings(dataset="digits", cells=4, repeat=2, epochs=1, channels=2)
TRAINING = ("train", "repeat")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("table") / "run"
    build_table(run_dir, TINY, phases=TRAINING)
    return run_dir


def _journal(run_dir: Path, study: str) -> list[dict]:
    path = run_dir / study / "journal.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_table_cells_are_distinct_canonical_and_seeded() -> None:
    cells = table_cells(SPACE, 20, seed=0)
    assert len({cell.key for cell in cells}) == 20
    assert table_cells(SPACE, 20, seed=0) == cells
    assert table_cells(SPACE, 5, seed=0) == cells[:5]  # a longer table extends a shorter one
    assert table_cells(SPACE, 20, seed=1) != cells
    with pytest.raises(InvalidArgumentError, match=r"--cells must lie in 1\.\.\d+.*got 0"):
        table_cells(SPACE, 0, seed=0)


def test_written_table_has_one_row_per_cell(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "table.csv"
    assert write_table(built, out) == 4
    rows = _read_csv(out)
    assert list(rows[0]) == [
        "arch", "test_acc", "valid_acc", "valid_acc_ep1", "test_acc_seed1", "test_acc_mean2", "params", "flops",
        "train_seconds",
        *(f"supernet_{mode}_{variant}" for mode in ("spos", "mixed") for variant in ("recal", "norecal", "batchstats")),
    ]
    assert [row["arch"] for row in rows] == [SPACE.format(cell) for cell in table_cells(SPACE, 4, seed=0)]
    # The second seed covers the first `repeat` cells only; supernet columns stay empty without their phases.
    assert [row["test_acc_seed1"] != "" for row in rows] == [True, True, False, False]
    assert [row["test_acc_mean2"] != "" for row in rows] == [True, True, False, False]
    assert all(row[name] == "" for row in rows for name in row if name.startswith("supernet_"))
    for row in rows:
        assert int(row["params"]) > 0 and int(row["flops"]) > 0
        assert row["params"] == str(int(row["params"])) and row["flops"] == str(int(row["flops"]))
        assert 0.0 <= float(row["test_acc"]) <= 100.0 and float(row["train_seconds"]) > 0.0
        assert row["valid_acc"] == row["valid_acc_ep1"]  # one epoch: the curve's only point is the result


def test_table_values_are_what_the_evaluator_measures(built: Path) -> None:
    from infonas.evaluators.training import TrainingEvaluator
    from search_spaces.metrics import ArchitectureMetrics
    from search_spaces.nb201.network import NetworkConfig

    rows, settings = read_table_rows(built)
    assert settings == dataclasses.asdict(TINY)
    first = SPACE.parse(rows[0]["arch"])
    options = {"epochs": 1, "channels": 2, "num_cells": 1, "split_seed": 0, "curve": True}
    seed0 = TrainingEvaluator("digits", seed=0, **options).evaluate(first).metrics
    seed1 = TrainingEvaluator("digits", seed=1, **options).evaluate(first).metrics
    assert (rows[0]["test_acc"], rows[0]["valid_acc_ep1"]) == (seed0["test_accuracy"], seed0["valid_accuracy_ep1"])
    assert rows[0]["test_acc_seed1"] == seed1["test_accuracy"]
    counter = ArchitectureMetrics(SPACE, NetworkConfig.for_input((1, 8, 8), num_cells=1, channels=2))
    assert (rows[0]["params"], rows[0]["flops"]) == (counter.params(first), counter.flops(first))


def test_resuming_with_the_same_settings_trains_nothing(built: Path) -> None:
    before = {study: (built / study / "journal.jsonl").read_bytes() for study in ("train-seed0", "train-seed1")}
    assert [e["event"] for e in _journal(built, "train-seed1")].count("finished") == 2
    build_table(built, TINY, phases=TRAINING)
    assert {study: (built / study / "journal.jsonl").read_bytes() for study in before} == before


def test_resuming_with_other_settings_is_refused(built: Path) -> None:
    before = (built / "table.json").read_text()
    with pytest.raises(IncompatibleRunError, match=r"other settings.*'epochs': \(1, 2\).*new --run-dir"):
        build_table(built, dataclasses.replace(TINY, epochs=2), phases=TRAINING)
    assert (built / "table.json").read_text() == before


def test_bad_phases_and_empty_runs_are_clear_errors(tmp_path: Path) -> None:
    assert PHASES == ("train", "repeat", "supernet", "scores")
    with pytest.raises(InvalidArgumentError, match=r"unknown table phases \['fit'\]"):
        build_table(tmp_path / "run", TINY, phases=("train", "fit"))
    with pytest.raises(InvalidArgumentError, match="no table.json"):
        write_table(tmp_path / "missing", tmp_path / "out.csv")
    with pytest.raises(InvalidArgumentError, match="repeat"):
        build_table(tmp_path / "run", dataclasses.replace(TINY, repeat=-1), phases=TRAINING)
    with pytest.raises(InvalidArgumentError, match="epochs must be at least 1"):
        build_table(tmp_path / "run", dataclasses.replace(TINY, epochs=0), phases=TRAINING)


def _finished(run_dir: Path) -> dict[int, dict]:
    """Complete trials of the seed-0 training study by number: arch and metrics (none yet: {})."""
    path = run_dir / "train-seed0" / "journal.jsonl"
    if not path.exists():
        return {}
    events, asked = [], {}
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:  # a line being written right now
            continue
    for event in events:
        if event["event"] == "asked":
            asked[event["trial"]] = event["arch"]
    return {e["trial"]: {"arch": asked[e["trial"]], "metrics": e["metrics"]}
            for e in events if e["event"] == "finished" and e["status"] == "complete"}


def test_kill_nine_during_training_then_resume_loses_nothing(tmp_path: Path) -> None:
    run_dir, out = tmp_path / "run", tmp_path / "table.csv"
    cells = 8
    command = [sys.executable, "-m", "infonas.cli", "bench", "table", "--data", "digits", "--cells", str(cells),
               "--repeat", "0", "--epochs", "1", "--channels", "2", "--phases", "train", "--run-dir", str(run_dir),
               "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sigkill_when(process, lambda: len(_finished(run_dir)) >= 2, poll_seconds=0.01)
    assert process.returncode == -signal.SIGKILL
    before = _finished(run_dir)
    assert 2 <= len(before) < cells

    done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    after = _finished(run_dir)
    expected = [SPACE.format(cell) for cell in table_cells(SPACE, cells, seed=0)]
    assert sorted(entry["arch"] for entry in after.values()) == sorted(expected)  # each cell once, complete
    assert {number: after[number] for number in before} == before  # finished results kept as they were
    assert [row["arch"] for row in _read_csv(out)] == expected


def test_more_repeat_seeds_extend_a_build_without_retraining(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    settings = TableSettings(dataset="digits", cells=3, repeat=2, epochs=1, channels=2)
    build_table(run_dir, settings, phases=TRAINING)
    first = _journal(run_dir, "train-seed0")
    extended = dataclasses.replace(settings, repeat_seeds=3)
    build_table(run_dir, extended, phases=("repeat",))
    assert _journal(run_dir, "train-seed0") == first  # nothing measured is measured again
    assert json.loads((run_dir / "table.json").read_text())["repeat_seeds"] == 3
    rows, saved = read_table_rows(run_dir)
    assert saved["repeat_seeds"] == 3
    columns = list(rows[0])
    assert [c for c in columns if c.startswith("test_acc")] == [
        "test_acc", "test_acc_seed1", "test_acc_seed2", "test_acc_seed3", "test_acc_mean2", "test_acc_mean2b",
        "test_acc_mean4"]
    row = rows[0]
    assert row["test_acc_mean2b"] == pytest.approx((row["test_acc_seed2"] + row["test_acc_seed3"]) / 2)
    assert row["test_acc_mean4"] == pytest.approx(
        (row["test_acc"] + row["test_acc_seed1"] + row["test_acc_seed2"] + row["test_acc_seed3"]) / 4)
    assert all(row["test_acc_seed3"] != row["test_acc_seed3"] for row in rows[2:])  # NaN beyond `repeat`
    # Other settings still may not change.
    with pytest.raises(IncompatibleRunError, match="epochs"):
        build_table(run_dir, dataclasses.replace(extended, epochs=2), phases=("repeat",))
