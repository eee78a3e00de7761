import json

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
    for name in ("pareto.png", "hypervolume.png", "incumbent.png"):
        assert (run / "plots" / name).stat().st_size > 0
    assert invoke("resume", run, "--budget", 35, "--quiet").exit_code == 0
    assert len(json.loads(invoke("report", run, "--json").output)) == 35
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


def test_search_defaults_are_the_study_defaults():
    from infonas.cli import search
    from infonas.study import DEFAULT_BATCH_SIZE, DEFAULT_SEED, DEFAULT_STRATEGY

    defaults = {p.name: p.default for p in search.params}
    assert (defaults["strategy"], defaults["seed"], defaults["batch_size"]) == (
        DEFAULT_STRATEGY, DEFAULT_SEED, DEFAULT_BATCH_SIZE)


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
