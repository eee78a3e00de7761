"""The main job, `infonas search` with no options, at tiny sizes: a supernet on mnist1d and full
trainings as two fidelities, its report, and kill -9 + `infonas resume` ending with the trials of
an uninterrupted run (killed once while the supernet trains and once during the search)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from infonas.bench.main_job import cli_command, journal_events
from infonas.cli import main
from infonas.cli_search import MAIN_OBJECTIVES, PARETO_STRATEGY, SINGLE_STRATEGY
from infonas.testing.processes import sigkill_when

PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: Tiny settings: a 4-channel network, 1-epoch trainings, a 3-epoch supernet (so a kill can land
#: between its checkpoints); bo-mf's initial design is 10 supernet scores and 2 trainings.
TINY = ["--epochs", "1", "--channels", "4", "--supernet-epochs", "3"]
SINGLE = ["--objective", "valid_acc", "--budget", "14", *TINY]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _trials(run: Path) -> list[tuple]:
    """Every finished trial as it must repeat: number, arch, fidelity, status, cost, metrics but the seconds."""
    trials = json.loads(invoke("report", run, "--json").output)
    return [(t["number"], t["arch"], t["fidelity"], t["status"], t["cost"],
             {k: v for k, v in t["values"].items() if k != "seconds"}) for t in trials]


@pytest.fixture(scope="module")
def single_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("main") / "single"
    result = invoke("search", *SINGLE, "--run-dir", run, "--quiet")
    assert result.exit_code == 0, result.output
    return run


def test_the_single_objective_job_searches_both_fidelities(single_run) -> None:
    config = json.loads((single_run / "config.json").read_text())
    assert config["strategy"] == SINGLE_STRATEGY and config["objective"] == "valid_acc"
    spec = config["evaluator"]
    assert spec["kind"] == "chain" and spec["cheap"]["checkpoint_dir"] == str((single_run / "supernet").resolve())
    assert spec["target"]["dataset"] == "mnist1d" and spec["target"]["channels"] == 4
    trials = _trials(single_run)
    by_fidelity = {name: [t for t in trials if t[2] == name] for name in ("supernet", "train")}
    assert len(trials) == 14 and len(by_fidelity["supernet"]) >= 10 and len(by_fidelity["train"]) >= 2
    assert {t[4] for t in by_fidelity["train"]} == {1.0}
    assert {t[4] for t in by_fidelity["supernet"]} == {spec["costs"]["supernet"]}
    assert all(set(t[5]) >= {"valid_acc", "test_acc"} for t in by_fidelity["train"])
    assert json.loads((single_run / "supernet" / "supernet.json").read_text())["done"] is True


def test_the_report_shows_fidelities_correlation_setup_and_suggest_share(single_run) -> None:
    summary = json.loads(invoke("report", single_run, "--summary-json").output)
    rows = {row["name"]: row for row in summary["fidelities"]}
    assert rows["supernet"]["evaluations"] + rows["train"]["evaluations"] == 14
    assert rows["train"]["cost"] == rows["train"]["evaluations"] and rows["train"]["seconds"] > 0
    config = json.loads((single_run / "config.json").read_text())
    assert summary["setup"]["cost"] == pytest.approx(config["evaluator"]["setup_cost"])
    assert summary["setup"]["seconds"] > 0
    assert summary["cost"] == pytest.approx(summary["setup"]["cost"] + rows["supernet"]["cost"] + rows["train"]["cost"])
    assert summary["correlation"] is None or len(summary["correlation"]) == 2
    share = summary["suggest"]
    assert 0 < share["share"] < 1 and share["suggest_seconds"] > 0 and share["evaluate_seconds"] > 0
    text = invoke("report", single_run)
    assert text.exit_code == 0, text.output
    assert "fidelity   supernet: " in text.output and "fidelity   train: " in text.output
    assert "inter-fidelity correlation" in text.output and "of the run's working time" in text.output
    assert "charged once (training the supernet, " in text.output and " s measured)" in text.output
    for name in ("incumbent.png", "fidelities.png"):
        assert (single_run / "plots" / name).stat().st_size > 0


def _supernet_epochs_done(run: Path) -> int:
    try:
        state = json.loads((run / "supernet" / "supernet.json").read_text())
    except (OSError, json.JSONDecodeError):
        return 0
    return int(state["epochs_done"]) if not state["done"] else 99


def test_kill_9_during_the_supernet_and_the_search_then_resume_equals_uninterrupted(tmp_path, single_run) -> None:
    run = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    process = subprocess.Popen(cli_command("search", *SINGLE, "--run-dir", str(run), "--quiet"), cwd=PROJECT_ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sigkill_when(process, lambda: 1 <= _supernet_epochs_done(run) < 99)
    assert 1 <= _supernet_epochs_done(run) < 3 and not journal_events(run), "killed while the supernet trained"
    process = subprocess.Popen(cli_command("resume", str(run), "--quiet"), cwd=PROJECT_ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sigkill_when(process, lambda: sum(e["event"] == "finished" for e in journal_events(run)) >= 12)
    finished = sum(e["event"] == "finished" for e in journal_events(run))
    assert 12 <= finished < 14 and _supernet_epochs_done(run) == 99
    resumed = invoke("resume", run, "--quiet")
    assert resumed.exit_code == 0, resumed.output
    assert _trials(run) == _trials(single_run)


def test_the_default_job_is_the_pareto_search_of_accuracy_and_flops(tmp_path) -> None:
    from search_spaces import NB201Space
    from search_spaces.nb201.cost_tables import ArchitectureCosts
    from search_spaces.nb201.network import NetworkConfig

    run = tmp_path / "pareto"
    result = invoke("search", "--budget", 11, *TINY, "--run-dir", run, "--quiet")
    assert result.exit_code == 0, result.output
    assert "Pareto front:" in result.output
    config = json.loads((run / "config.json").read_text())
    assert config["strategy"] == PARETO_STRATEGY and config["reference_point"]["valid_acc"] == 0.0
    assert [f"{o['name']}:{'max' if o['maximize'] else 'min'}" for o in config["objectives"]] == \
        MAIN_OBJECTIVES.split(",")
    # FLOPs of the network the cells are trained in (mnist1d's, 4 channels, one cell per stage).
    space = NB201Space()
    costs = ArchitectureCosts.measure(space, NetworkConfig.for_input((1, 40), 1, 4, 10), latency=False)
    trials = json.loads(invoke("report", run, "--json").output)
    trained = [t for t in trials if t["fidelity"] == "train"]
    assert trained and all(t["values"]["flops"] == costs.value(space.parse(t["arch"]), "flops") for t in trained)
    summary = json.loads(invoke("report", run, "--summary-json").output)
    assert summary["pareto_front"] and summary["hypervolume_ratio"] > 0
    assert invoke("report", run).exit_code == 0 and (run / "plots" / "pareto.png").stat().st_size > 0
    study_uses_supernet = any(t["fidelity"] == "supernet" for t in trials)
    assert study_uses_supernet == (run / "supernet").exists()


def test_a_single_fidelity_strategy_only_trains_and_pays_no_supernet(tmp_path) -> None:
    run = tmp_path / "rs"
    result = invoke("search", "--strategy", "rs", "--budget", 3, *TINY, "--run-dir", run, "--quiet")
    assert result.exit_code == 0, result.output
    summary = json.loads(invoke("report", run, "--summary-json").output)
    assert summary["objectives"] == ["valid_acc:max"] and summary["cost"] == 3.0 and summary["setup_cost"] == 0.0
    assert {t["fidelity"] for t in json.loads(invoke("report", run, "--json").output)} == {"train"}
    assert not (run / "supernet").exists()


def test_the_digits_search_still_trains_one_fidelity(tmp_path) -> None:
    run = tmp_path / "digits"
    result = invoke("search", "--data", "digits", "--epochs", 1, "--channels", 4, "--strategy", "rs", "--budget", 2,
                    "--run-dir", run, "--quiet")
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    assert config["evaluator"]["kind"] == "training" and config["evaluator"]["dataset"] == "digits"
    assert config["objective"] == "valid_accuracy" and "by fidelity" not in result.output
