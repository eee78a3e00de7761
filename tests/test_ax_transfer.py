"""Runs moved to Ax and back (infonas.ax.transfer, ``infonas ax export/import``): a round trip keeps
every finished trial field by field, Ax reads and summarises the file, the imported run resumes."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import require_ax

from infonas.cli import main
from infonas.evaluators.registry import build_evaluator, table_spec
from infonas.study import Study
from infonas.trials import EvaluationResult, TrialStatus
from search_spaces import NB201Space


@pytest.fixture(scope="module", autouse=True)
def _ax() -> None:
    require_ax()


@pytest.fixture
def run(tmp_path, tiny_table_file):
    """12 finished trials of rs on a tiny table (trial 4 failed, trial 7 infeasible), and one pending."""
    space = NB201Space()
    spec = table_spec(tiny_table_file, "acc", extra_metrics=["acc_cheap"])
    evaluator = build_evaluator(spec, space)
    study = Study.create(tmp_path / "run", space, evaluator, "acc", strategy="rs", seed=0, evaluator_spec=spec)
    for trial in study.ask(13)[:12]:
        if trial.number == 4:
            result = EvaluationResult.failed("out of memory", cost=0.5)
        elif trial.number == 7:
            result = EvaluationResult({}, 0.0, TrialStatus.INFEASIBLE, "too large")
        else:
            result = evaluator.evaluate(trial.arch, trial.fidelity)
        study.tell(trial, result)
    study.store.close()
    return tmp_path / "run", evaluator, spec


def test_round_trip_keeps_every_trial(run, tmp_path):
    from ax.api import Client

    from infonas.ax.transfer import export_run, import_experiment

    run_dir, evaluator, spec = run
    original = Study.load(run_dir, evaluator)
    path = export_run(run_dir, tmp_path / "experiment.json")
    summary = Client.load_from_json_file(str(path)).summarize()
    assert len(summary) == 13 and summary["trial_status"].tolist().count("FAILED") == 2
    assert summary["acc"].notna().sum() == 10  # Ax's analyses see the complete trials' objective
    imported = import_experiment(path, tmp_path / "imported", evaluator, evaluator_spec=spec)
    before, after = original.finished_trials(), imported.finished_trials()
    assert len(after) == 12 and imported.pending == []  # the pending trial stays behind
    for old, new in zip(before, after):
        assert (new.number, new.arch, new.fidelity, new.status, new.metrics, new.cost, new.error, new.failure) == (
            old.number, old.arch, old.fidelity, old.status, old.metrics, old.cost, old.error, old.failure)
        assert (new.asked_at, new.finished_at) == (old.asked_at, old.finished_at)
    assert [t.status for t in after].count(TrialStatus.INFEASIBLE) == 1


def test_an_imported_run_resumes(run, tmp_path):
    from infonas.ax.transfer import export_run, import_experiment

    run_dir, evaluator, spec = run
    path = export_run(run_dir, tmp_path / "experiment.json")
    import_experiment(path, tmp_path / "imported", evaluator, evaluator_spec=spec).store.close()
    resumed = Study.load(tmp_path / "imported").optimize(14)  # the evaluator rebuilt from its spec
    numbers = [t.number for t in resumed.finished_trials()]
    assert numbers == list(range(12)) + [12, 13]
    keys = [t.arch.key for t in resumed.finished_trials()]
    assert len(set(keys)) == len(keys)  # the warm-start trials are never asked again


def test_a_foreign_experiment_is_imported_from_its_parameters(tmp_path, tiny_table_file):
    from infonas.ax.parameters import to_parameterization
    from infonas.ax.strategy import ax_client
    from infonas.ax.transfer import import_experiment

    space = NB201Space()
    spec = table_spec(tiny_table_file, "acc")
    evaluator = build_evaluator(spec, space)
    client = ax_client(space, "acc", True, seed=0)
    archs = [space.parse(line.split(",")[0]) for line in tiny_table_file.read_text().splitlines()[1:4]]
    for i, arch in enumerate(archs):
        index = client.attach_trial(parameters=to_parameterization(space, arch))
        if i == 1:
            client.mark_trial_failed(index, failed_reason="crashed")
        else:
            client.complete_trial(index, raw_data={"acc": 60.0 + i})
    client.save_to_json_file(str(tmp_path / "foreign.json"))
    study = import_experiment(tmp_path / "foreign.json", tmp_path / "run", evaluator, space="nb201")
    trials = study.finished_trials()
    assert [(t.number, t.arch, t.status, t.metrics) for t in trials] == [
        (0, archs[0], TrialStatus.COMPLETE, {"acc": 60.0}), (1, archs[1], TrialStatus.FAILED, {}),
        (2, archs[2], TrialStatus.COMPLETE, {"acc": 62.0})]
    assert trials[1].error == "crashed"


def test_cli_export_then_import(run, tmp_path, tiny_table_file):
    run_dir, _, _ = run
    runner = CliRunner()
    out = tmp_path / "experiment.json"
    result = runner.invoke(main, ["ax", "export", str(run_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["ax", "import", str(out), "--run-dir", str(tmp_path / "new"),
                                  "--table", str(tiny_table_file), "--strategy", "rs"])
    assert result.exit_code == 0, result.output
    assert "imported 12 trials" in result.output
    assert len(Study.load(tmp_path / "new").finished_trials()) == 12


@pytest.mark.parametrize("case", ["bad-json", "missing", "wrong-space"])
def test_cli_bad_input_is_one_line_and_exit_2(case, run, tmp_path, tiny_table_file):
    from infonas.ax.transfer import export_run

    run_dir, _, _ = run
    path = tmp_path / "experiment.json"
    extra: list[str] = []
    if case == "bad-json":
        path.write_text("{not json")
    elif case == "wrong-space":
        export_run(run_dir, path)
        extra = ["--space", "darts"]
    result = CliRunner().invoke(main, ["ax", "import", str(path), "--run-dir", str(tmp_path / "new"),
                                       "--table", str(tiny_table_file), *extra])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert not (tmp_path / "new").exists()
