import json

import pytest
from click.testing import CliRunner

from infonas.cli import main

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_search_resume_report_on_a_table(tmp_path, synthetic_table_file):
    run = tmp_path / "run"
    result = invoke("search", "--table", synthetic_table_file, "--objective", "acc", "--strategy", "ls",
                    "--budget", 12, "--run-dir", run, "--quiet")
    assert result.exit_code == 0, result.output
    assert "best 5 architectures by acc" in result.output
    again = invoke("search", "--table", synthetic_table_file, "--objective", "acc", "--run-dir", run, "--quiet")
    assert again.exit_code != 0 and "infonas resume" in again.output
    assert invoke("resume", run, "--budget", 15, "--quiet").exit_code == 0
    report = invoke("report", run, "--json")
    trials = json.loads(report.output)
    assert [t["number"] for t in trials] == list(range(15))
    assert set(trials[0]) >= {"arch", "fidelity", "values", "cost"} and "acc" in trials[0]["values"]
    summary = invoke("report", run)
    assert summary.exit_code == 0 and "regret" in summary.output
    assert (run / "plots" / "incumbent.png").stat().st_size > 0 and (run / "plots" / "regret.png").exists()


def test_resume_without_budget_uses_the_saved_one(tmp_path, synthetic_table_file):
    run = tmp_path / "run"
    invoke("search", "--table", synthetic_table_file, "--objective", "acc", "--strategy", "rs", "--budget", 6,
           "--run-dir", run, "--quiet")
    journal = run / "journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:-3]) + lines[-3][:10])  # a crash mid-write, two trials lost
    assert invoke("resume", run, "--quiet").exit_code == 0
    finished = [json.loads(x) for x in journal.read_text().splitlines() if '"finished"' in x]
    assert sorted(e["trial"] for e in finished) == list(range(6))


def test_clear_errors(tmp_path, synthetic_table_file):
    assert "does not exist" in invoke("resume", tmp_path / "none").output
    assert "--objective" in invoke("search", "--table", synthetic_table_file).output
    assert "no metric column" in invoke("search", "--table", synthetic_table_file, "--objective", "x").output
    assert "malformed" in invoke("metrics", "--arch", "|none~0|").output
    assert "unknown method" in invoke("bench", "search", "--table", synthetic_table_file, "--objective", "acc",
                                      "--methods", "rs,magic").output


def test_metrics_json():
    result = invoke("metrics", "--arch", BEST, "--dataset", "cifar10")
    payload = json.loads(result.output)
    assert payload["params"] == 1073466 and abs(payload["flops"] / 153.3e6 - 1) < 1e-3
    assert payload["latency_ms"] > 0


def test_bench_search_writes_contract_json(tmp_path, synthetic_table_file):
    out = tmp_path / "bench.json"
    result = invoke("bench", "search", "--table", synthetic_table_file, "--objective", "acc", "--methods", "rs,ls",
                    "--seeds", 2, "--budget", 20, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["objective"] == "acc" and isinstance(payload["optimum"], float)
    for record in payload["methods"].values():
        assert set(record) >= {"queries_to_optimum", "final_regret", "regret_curves", "seconds_per_suggestion"}
        assert len(record["regret_curves"]) == 2 and len(record["regret_curves"][0]) == 20


def test_bench_surrogate_writes_contract_json(tmp_path, synthetic_table_file):
    out = tmp_path / "surrogate.json"
    result = invoke("bench", "surrogate", "--table", synthetic_table_file, "--objective", "acc", "--cheap",
                    "acc_cheap", "--train-sizes", "8,16", "--seeds", 1, "--models", "onehot-rbf,wl+hamming",
                    "--out", out)  # with progress lines: that path must work too
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    rows = payload["results"]
    assert payload["objective"] == "acc" and {r["train_size"] for r in rows} == {8, 16}
    assert {"onehot-rbf", "wl+hamming"} <= {r["model"] for r in rows}
    assert any(r["model"].startswith("multifidelity") for r in rows)
    for row in rows:
        assert set(row) >= {"kendall_tau", "spearman", "nlpd", "coverage_90", "fit_predict_seconds"}


def test_multi_objective_search_and_report_draw_the_front(tmp_path, synthetic_table_file):
    run = tmp_path / "run"
    result = invoke("search", "--table", synthetic_table_file, "--objectives", "acc:max,flops:min", "--strategy",
                    "nsga2", "--budget", 30, "--run-dir", run, "--quiet")
    assert result.exit_code == 0, result.output
    assert "Pareto front:" in result.output and "hypervolume" in result.output
    summary = invoke("report", run)
    assert summary.exit_code == 0 and "objectives acc:max, flops:min" in summary.output
    # The hypervolume as a ratio of the table's true front, its bounds in natural units.
    assert "hypervolume ratio 0." in summary.output and "of the true front" in summary.output
    assert "reference point (0)" in summary.output and "MFLOPs" in summary.output
    for name in ("pareto.png", "hypervolume.png", "incumbent.png"):
        assert (run / "plots" / name).stat().st_size > 0
    assert invoke("resume", run, "--budget", 35, "--quiet").exit_code == 0
    assert len(json.loads(invoke("report", run, "--json").output)) == 35
    summary = json.loads(invoke("report", run, "--summary-json").output)
    assert summary["finished"] == 35 and 0 < summary["hypervolume_ratio"] <= 1
    assert summary["reference_point_natural"]["flops"]["unit"] == "MFLOPs"
    bad = invoke("search", "--table", synthetic_table_file, "--objectives", "acc:max,flops:sideways",
                 "--run-dir", tmp_path / "bad", "--quiet")
    assert bad.exit_code != 0 and "direction" in bad.output


def test_bench_search_with_a_cheap_fidelity_reports_cost_to_optimum(tmp_path, synthetic_table_file):
    out = tmp_path / "mf.json"
    result = invoke("bench", "search", "--table", synthetic_table_file, "--objective", "acc", "--cheap", "acc_cheap",
                    "--cheap-cost", 0.1, "--methods", "rs", "--seeds", 2, "--budget", 3, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())["methods"]["rs"]
    assert len(record["cost_to_optimum"]) == 2 and all(c is None or c <= 3 for c in record["cost_to_optimum"])
    assert all(curve[-1] <= 3 + 1 for curve in record["cost_curves"])
    assert invoke("bench", "search", "--table", synthetic_table_file, "--objective", "acc", "--cheap", "acc_cheap",
                  "--quiet").exit_code != 0  # --cheap needs --cheap-cost


def test_bench_pareto_writes_contract_json(tmp_path, synthetic_table_file):
    out = tmp_path / "pareto.json"
    result = invoke("bench", "pareto", "--table", synthetic_table_file, "--objectives", "acc:max,params:min",
                    "--methods", "rs,nsga2", "--seeds", 2, "--budget", 12, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["objectives"] == ["acc:max", "params:min"] and data["reference_point"] == [-0.01, -0.01]
    for record in data["methods"].values():
        assert len(record["hv_ratio"]) == 2 and all(len(c) == 12 for c in record["hv_curves"])


def test_a_search_stopped_early_says_why_in_one_line(tmp_path, synthetic_table_file, monkeypatch):
    from infonas.study import Study

    optimize = Study.optimize

    def stopping(self, *args, **kwargs):
        optimize(self, *args, **kwargs)
        self.stop("the space ran out\nof cells")  # what a SpaceExhaustedError or a callback leaves
        return self

    monkeypatch.setattr(Study, "optimize", stopping)
    result = invoke("search", "--table", synthetic_table_file, "--objective", "acc", "--strategy", "rs",
                    "--budget", 3, "--run-dir", tmp_path / "run", "--quiet")
    assert result.exit_code == 0, result.output
    assert "note: the search stopped before its budget: the space ran out of cells\n" in result.output


def test_expected_errors_are_one_line_without_a_traceback(tmp_path, synthetic_table_file, monkeypatch):
    from infonas.exceptions import StudyError
    from infonas.study import Study

    unknown = invoke("search", "--space", "nb999", "--table", synthetic_table_file, "--objective", "acc",
                     "--run-dir", tmp_path / "a", "--quiet")
    assert unknown.exit_code == 1 and "Error: unknown search space 'nb999'" in unknown.output
    assert "Traceback" not in unknown.output

    def broken(self, *args, **kwargs):
        raise StudyError("a rule was broken; the fix is named here")

    monkeypatch.setattr(Study, "optimize", broken)
    result = invoke("search", "--table", synthetic_table_file, "--objective", "acc", "--strategy", "rs",
                    "--budget", 2, "--run-dir", tmp_path / "b", "--quiet")  # catch_exceptions=False: must not raise
    assert result.exit_code == 1 and result.output.splitlines()[-1] == "Error: a rule was broken; the fix is named here"


def test_library_warnings_reach_stderr_as_bare_lines(tmp_path, synthetic_table_file, monkeypatch):
    import logging

    from infonas.study import Study

    def warn(self, *args, **kwargs):
        logging.getLogger("infonas.study").warning("a warning from the library")
        return self

    monkeypatch.setattr(Study, "optimize", warn)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers.clear()  # as in a fresh process: pytest's own handlers would make basicConfig a no-op
    try:
        result = CliRunner().invoke(main, ["search", "--table", str(synthetic_table_file), "--objective", "acc",
                                           "--strategy", "rs", "--budget", "2", "--run-dir", str(tmp_path / "run"),
                                           "--quiet"], catch_exceptions=False)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    assert result.exit_code == 0, result.output
    assert "a warning from the library\n" in result.stderr and "a warning" not in result.stdout


def test_search_defaults_are_the_study_defaults(tmp_path, tiny_table_file):
    from infonas.cli import search
    from infonas.study import DEFAULT_BATCH_SIZE, DEFAULT_SEED, DEFAULT_STRATEGY

    defaults = {p.name: p.default for p in search.params}
    assert (defaults["seed"], defaults["batch_size"]) == (DEFAULT_SEED, DEFAULT_BATCH_SIZE)
    # The strategy depends on the job (the main job's are tested in test_main_job): a table's is the Study's.
    run = tmp_path / "run"
    assert invoke("search", "--table", tiny_table_file, "--objective", "acc", "--budget", 2, "--run-dir", run,
                  "--quiet").exit_code == 0
    assert json.loads((run / "config.json").read_text())["strategy"] == DEFAULT_STRATEGY


def test_progress_follows_quiet(tmp_path, synthetic_table_file, monkeypatch):
    from infonas.study import Study

    seen = []
    optimize = Study.optimize

    def record(self, *args, **kwargs):
        seen.append(kwargs.get("progress"))
        return optimize(self, *args, **kwargs)

    monkeypatch.setattr(Study, "optimize", record)
    run = tmp_path / "run"
    invoke("search", "--table", synthetic_table_file, "--objective", "acc", "--strategy", "rs", "--budget", 2,
           "--run-dir", run)
    invoke("resume", run, "--budget", 3, "--quiet")
    assert seen == [True, False]


def _damaged_run(tmp_path, synthetic_table_file, budget=10, line=7):
    """A finished rs run whose journal line ``line`` (trial 3's asked line for line 7) is garbage."""
    run = tmp_path / "run"
    assert invoke("search", "--table", synthetic_table_file, "--objective", "acc", "--strategy", "rs",
                  "--budget", budget, "--run-dir", run, "--quiet").exit_code == 0
    journal = run / "journal.jsonl"
    lines = journal.read_bytes().split(b"\n")
    lines[line - 1] = b'{"event":"asked","trial":3,GARBAGE'
    journal.write_bytes(b"\n".join(lines))
    return run


def test_report_shows_the_intact_trials_of_a_damaged_journal_and_repair_salvages_them(tmp_path,
                                                                                      synthetic_table_file):
    run = _damaged_run(tmp_path, synthetic_table_file)
    damaged = (run / "journal.jsonl").read_bytes()
    files = sorted(p.name for p in run.iterdir())

    report = invoke("report", run)
    assert report.exit_code == 0, report.output
    warning = [line for line in report.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "line 7: not valid JSON" in warning[0] and "line 8: finishes trial 3" in warning[0]
    assert f"infonas repair {run}" in warning[0]
    assert "trials     9 finished" in report.stdout and "plots not written" in report.stdout
    trials = json.loads(invoke("report", run, "--json").stdout)
    assert [t["number"] for t in trials] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert (run / "journal.jsonl").read_bytes() == damaged and sorted(p.name for p in run.iterdir()) == files

    resume = invoke("resume", run, "--budget", 12, "--quiet")
    assert resume.exit_code == 1 and f"infonas repair {run}" in resume.output
    assert (run / "journal.jsonl").read_bytes() == damaged

    repaired = invoke("repair", run)
    assert repaired.exit_code == 0, repaired.output
    assert "kept 18 of 20 lines (1-6, 9-20)" in repaired.output
    assert "dropped line 7: not valid JSON" in repaired.output
    assert "dropped line 8: finishes trial 3, whose asked line was lost" in repaired.output
    assert (run / "journal.jsonl.corrupt-0").read_bytes() == damaged
    assert f"infonas resume {run}" in repaired.output
    assert "intact (18 events); nothing to repair" in invoke("repair", run).output
    again = invoke("report", run, "--no-plots")
    assert again.exit_code == 0 and "warning" not in again.output and "trials     9 finished" in again.output


def test_resume_after_a_repair_never_reuses_a_trial_number(tmp_path, synthetic_table_file):
    run = _damaged_run(tmp_path, synthetic_table_file)
    assert invoke("repair", run).exit_code == 0
    assert invoke("resume", run, "--budget", 12, "--quiet").exit_code == 0
    events = [json.loads(line) for line in (run / "journal.jsonl").read_text().splitlines()]
    asked = [e["trial"] for e in events if e["event"] == "asked"]
    assert len(asked) == len(set(asked)) and 3 not in asked
    assert len([e for e in events if e["event"] == "finished"]) == 12
    assert "nothing to repair" in invoke("repair", run).output


def test_resume_refuses_an_edited_config_and_a_deleted_journal(tmp_path, synthetic_table_file):
    run = tmp_path / "run"
    assert invoke("search", "--table", synthetic_table_file, "--objective", "acc", "--strategy", "rs",
                  "--budget", 3, "--run-dir", run, "--quiet").exit_code == 0
    config = (run / "config.json").read_text()
    (run / "config.json").write_text(config.replace('"seed": 0', '"seed": 1'))
    edited = invoke("resume", run, "--budget", 5, "--quiet")
    assert edited.exit_code == 1 and "edited after the run was created, in keys seed (seed: 0 -> 1)" in edited.output
    (run / "config.json").write_text(config)
    (run / "journal.jsonl").rename(tmp_path / "journal.jsonl")
    deleted = invoke("resume", run, "--budget", 5, "--quiet")
    assert deleted.exit_code == 1 and "has no journal.jsonl" in deleted.output
    assert "start a new run in another directory" in deleted.output and not (run / "journal.jsonl").exists()
    (tmp_path / "journal.jsonl").rename(run / "journal.jsonl")
    assert invoke("resume", run, "--budget", 5, "--quiet").exit_code == 0


# ----- every option is checked before anything is created -----

def _one_line_error(result, *codes):
    """Exit with one of ``codes``, exactly one ``Error:`` line, no traceback (a usage error adds its usage lines)."""
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert result.exit_code in codes and len(errors) == 1 and "Traceback" not in result.output, result.output
    return errors[0]


@pytest.mark.parametrize("options, code, says", [
    (["--budget", 0], 2, "'--budget': 0 is not in the range x>=1"),
    (["--budget", -5], 2, "'--budget'"),
    (["--max-cost", -1], 2, "'--max-cost'"),
    (["--max-cost", "nan"], 2, "not a finite number"),
    (["--max-seconds", 0], 2, "'--max-seconds'"),
    (["--seed", -1], 2, "'--seed': -1 is not in the range x>=0"),
    (["--batch-size", 0], 2, "'--batch-size'"),
    (["--strategy", "magic"], 2, "unknown strategy 'magic'"),
    (["--objective", "nope"], 1, "no metric column(s) ['nope']"),
    (["--cheap", "nope", "--cheap-cost", 0.1, "--strategy", "bo-mf"], 1, "no metric column(s) ['nope']"),
    (["--cheap", "acc_cheap", "--cheap-cost", 0, "--strategy", "bo-mf"], 2, "'--cheap-cost'"),
    (["--cheap", "acc_cheap"], 2, "go together"),
    (["--epochs", 0], 2, "'--epochs'"),
    (["--epochs", 3], 2, "trains nothing"),
    (["--channels", 4], 2, "trains nothing"),
    (["--reference-point", "acc=1"], 2, "several --objectives"),
    (["--strategy", "bo-mf"], 1, "two or more fidelities"),
    (["--objectives", "acc:max,flops:sideways", "--strategy", "nsga2"], 2, "direction"),
    (["--objectives", "acc:max,nope:min", "--strategy", "nsga2"], 2, "'nope' is neither measured"),
    (["--objectives", "acc:max,flops:min", "--strategy", "nsga2", "--minimize"], 2, "each direction"),
    (["--objectives", "acc:max,flops:min", "--strategy", "nsga2", "--reference-point", "acc"], 2, "NAME=VALUE"),
    (["--objectives", "acc:max,flops:min", "--strategy", "nsga2", "--reference-point", "acc=inf"], 2, "finite"),
    (["--objectives", "acc:max,flops:min", "--strategy", "nsga2", "--reference-point", "zzz=1"], 2,
     "'zzz' is not one of the objectives"),
])
def test_a_bad_search_option_is_one_line_and_leaves_no_run_directory(tmp_path, tiny_table_file, options, code, says):
    run = tmp_path / "run"
    objective = [] if {"--objective", "--objectives"} & set(options) else ["--objective", "acc"]
    result = invoke("search", "--table", tiny_table_file, *objective, "--strategy", "rs", *options,
                    "--run-dir", run, "--quiet")
    assert says in _one_line_error(result, code)
    assert not run.exists()


def test_the_corrected_command_runs_where_a_rejected_one_was_given(tmp_path, tiny_table_file):
    run = tmp_path / "run"
    common = ["search", "--table", tiny_table_file, "--objective", "acc", "--strategy", "rs", "--run-dir", run,
              "--quiet"]
    _one_line_error(invoke(*common, "--seed", -1, "--budget", 3), 2)
    assert invoke(*common, "--seed", 1, "--budget", 3).exit_code == 0
    assert invoke("resume", run, "--budget", 4, "--quiet").exit_code == 0


def test_a_bad_argument_of_study_create_leaves_no_run_directory(tmp_path, tiny_table_file, space):
    from infonas.evaluators.registry import build_evaluator, table_spec
    from infonas.exceptions import InvalidArgumentError
    from infonas.study import Study

    spec = table_spec(tiny_table_file, "acc")
    evaluator = build_evaluator(spec, space)
    bad = [{"seed": -1}, {"seed": 1.5}, {"seed": True}, {"batch_size": 0}, {"strategy": "magic"},
           {"reference_point": {"acc": 1.0}}, {"strategy_options": {"n_init": 0}}, {"maximize": "yes"}]
    for number, arguments in enumerate(bad):
        run = tmp_path / f"run{number}"
        with pytest.raises(ValueError) as error:
            Study.create(run, space, evaluator, "acc", **{"strategy": "bo-ei", **arguments})
        assert not run.exists(), (arguments, error.value)
        if "strategy_options" not in arguments:
            assert isinstance(error.value, InvalidArgumentError), arguments


def test_resume_options_are_checked(tmp_path, tiny_table_file):
    run = tmp_path / "run"
    assert invoke("search", "--table", tiny_table_file, "--objective", "acc", "--strategy", "rs", "--budget", 2,
                  "--run-dir", run, "--quiet").exit_code == 0
    journal = (run / "journal.jsonl").read_bytes()
    for options in (["--budget", 0], ["--max-cost", -1], ["--max-seconds", "inf"]):
        _one_line_error(invoke("resume", run, *options, "--quiet"), 2)
    assert (run / "journal.jsonl").read_bytes() == journal


@pytest.mark.parametrize("command, says", [
    (["search", "--objective", "acc", "--seeds", 0], "'--seeds'"),
    (["search", "--objective", "acc", "--budget", 0], "'--budget'"),
    (["search", "--objective", "acc", "--budget", 2.5], "whole number"),
    (["search", "--objective", "acc", "--workers", 0], "'--workers'"),
    (["search", "--objective", "acc", "--methods", "rs,magic"], "unknown method 'magic'"),
    (["search", "--objective", "acc", "--cheap", "acc_cheap", "--cheap-cost", -1], "'--cheap-cost'"),
    (["search", "--objective", "nope"], "missing metric column(s) ['nope']"),
    (["pareto", "--objectives", "acc:max"], "two or more objectives"),
    (["pareto", "--objectives", "acc:max,nope:min"], "'nope' is neither a table column"),
    (["pareto", "--objectives", "flops:min,acc:max"], "must be a table column"),
    (["pareto", "--objectives", "acc:max,flops:min", "--latency-cells", 1], "'--latency-cells'"),
    (["surrogate", "--objective", "acc", "--seeds", 0], "'--seeds'"),
    (["surrogate", "--objective", "acc", "--train-sizes", "0,5"], "'--train-sizes'"),
])
def test_bad_bench_options_are_one_line(tmp_path, tiny_table_file, command, says):
    out = tmp_path / "out.json"
    result = invoke("bench", command[0], "--table", tiny_table_file, *command[1:], "--out", out, "--quiet")
    assert says in _one_line_error(result, 1, 2)
    assert not out.exists()


def test_a_search_of_a_partial_table_asks_only_its_cells(tmp_path, tiny_table_file):
    run = tmp_path / "run"
    result = invoke("search", "--table", tiny_table_file, "--objective", "acc", "--strategy", "ls", "--budget", 70,
                    "--run-dir", run, "--quiet")
    assert result.exit_code == 0, result.output
    assert "note: the search stopped before its budget" in result.output
    trials = json.loads(invoke("report", run, "--json").output)
    cells = {line.split(",")[0] for line in tiny_table_file.read_text().splitlines()[1:]}
    assert trials and all(t["status"] == "complete" and t["arch"] in cells for t in trials)


MACRO = "|d2,x0.75,k3,k5,k7|d1,x1,k5,k3,k3|d3,x0.5,k7,k7,k7|"


def test_metrics_of_a_macro_architecture_on_both_datasets():
    from search_spaces.macro import MacroSpace
    from search_spaces.macro.network import MacroNetworkConfig
    from search_spaces.metrics import ArchitectureMetrics

    arch = MacroSpace().parse(MACRO)
    for dataset in ("mnist1d", "digits"):
        result = invoke("metrics", "--space", "macro", "--arch", MACRO, "--dataset", dataset)
        assert result.exit_code == 0, result.output
        payload = json.loads(result.output)
        counted = ArchitectureMetrics(MacroSpace(), MacroNetworkConfig.for_dataset(dataset))
        assert (payload["params"], payload["flops"]) == (counted.params(arch), counted.flops(arch))
        assert payload["latency_ms"] > 0
    default = json.loads(invoke("metrics", "--space", "macro", "--arch", MACRO).output)
    assert default["flops"] == 80250  # mnist1d's network, the macro space's default data set


def test_metrics_of_a_cell_on_mnist1d():
    payload = json.loads(invoke("metrics", "--arch", BEST, "--dataset", "mnist1d").output)
    assert (payload["params"], payload["flops"]) == (381882, 4968970)  # N=5, C=16 on (1, 40) signals


@pytest.mark.parametrize(("args", "message"), [
    (("--space", "macro", "--arch", MACRO, "--dataset", "cifar10"),
     "the macro space's networks are defined for the data sets ['mnist1d', 'digits'], got --dataset cifar10; pass"),
    (("--space", "macro", "--arch", "|d2,x0.75,k3,k5,k7|d1,x1,k5,k3|d3,x0.5,k7,k7,k7|"),
     "stage 2 'd1,x1,k5,k3' needs 5 comma-separated choices"),
    (("--space", "macro", "--arch", "|d4,x0.75,k3,k5,k7|d1,x1,k5,k3,k3|d3,x0.5,k7,k7,k7|"), "unknown operation 'd4'"),
    (("--space", "macro", "--arch", BEST), "malformed macro arch string"),
    (("--space", "nb999", "--arch", MACRO), "unknown search space 'nb999'"),
])
def test_metrics_rejects_bad_input_in_one_line(args, message):
    result = invoke("metrics", *args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]
    assert "Traceback" not in result.output
