"""Resumable benchmarks: finished jobs kept in ``OUT.partial.jsonl``, a killed run resumed to the
numbers of an uninterrupted one, other options refused; and the ``meta`` block of every result."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import infonas.bench.search as bench_search
import infonas.bench.surrogate as bench_surrogate
from infonas.bench.pareto import pareto_costs
from infonas.bench.resume import JobLog, open_for_command, partial_path
from infonas.bench.search import run_search_benchmark
from infonas.bench.surrogate import run_surrogate_benchmark
from infonas.cli import main
from infonas.evaluators.tabular import TabularBenchmark
from infonas.exceptions import IncompatibleRunError, RunStoreError

#: Fields that hold wall-clock timings or provenance: everything else must match exactly.
TIMINGS = {"seconds_per_suggestion", "model_step_seconds", "suggest_seconds", "total_seconds", "meta",
           "fit_predict_seconds"}


def without_timings(value):
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


class Interrupt(BaseException):
    """Stands in for a kill between two jobs (nothing catches it on the way out)."""


def interrupt_after(monkeypatch, module, name: str, calls: int) -> None:
    """Make ``module.name`` raise ``Interrupt`` on its call number ``calls + 1``."""
    original = getattr(module, name)
    count = {"n": 0}

    def wrapped(*args, **kwargs):
        count["n"] += 1
        if count["n"] > calls:
            raise Interrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)


def test_an_interrupted_search_benchmark_resumes_to_the_same_numbers(tmp_path, tiny_table_file, space, monkeypatch):
    table = TabularBenchmark.from_csv(tiny_table_file, space)
    options = {"methods": "rs,ls,bo-ei", "seeds": 2}
    args = (table, "acc", ["rs", "ls", "bo-ei"], 2, 12)
    whole = run_search_benchmark(*args, progress=False)
    out = tmp_path / "search.json"
    with monkeypatch.context() as patch:
        interrupt_after(patch, bench_search, "run_one_search", 3)
        with pytest.raises(Interrupt):
            run_search_benchmark(*args, progress=False, log=JobLog.open(out, "search", options))
    lines = partial_path(out).read_text().splitlines()
    assert len(lines) == 1 + 3 and json.loads(lines[0])["options"] == options
    log = JobLog.open(out, "search", options)
    assert log.resumed == 3 and set(log.done) == {("rs", 0), ("rs", 1), ("ls", 0)}
    resumed = run_search_benchmark(*args, progress=False, log=log)
    assert without_timings(resumed) == without_timings(whole)
    assert len(log.done) == 6 and len(partial_path(out).read_text().splitlines()) == 1 + 6
    # Model-based steps are the same ones in both runs: bo-ei's first n_init=5 picks fit no model.
    assert resumed["methods"]["bo-ei"]["model_based_steps"][0][:6] == [0, 0, 0, 0, 0, 1]
    log.close()
    assert not partial_path(out).exists()


def test_a_torn_last_line_is_dropped_and_that_job_reruns(tmp_path):
    out = tmp_path / "bench.json"
    log = JobLog.open(out, "search", {"seeds": 2})
    log.record(("rs", 0), {"queries_to_optimum": 3, "regret_curve": [1.5, 0.0]})
    with open(partial_path(out), "ab") as handle:
        handle.write(b'{"job": ["rs", 1], "run": {"queries_to')  # killed mid-append
    again = JobLog.open(out, "search", {"seeds": 2})
    assert again.done == {("rs", 0): {"queries_to_optimum": 3, "regret_curve": [1.5, 0.0]}}
    again.record(("rs", 1), {"queries_to_optimum": None})
    assert [json.loads(line) for line in partial_path(out).read_text().splitlines()][-1]["job"] == ["rs", 1]
    assert set(JobLog.open(out, "search", {"seeds": 2}).done) == {("rs", 0), ("rs", 1)}


def test_a_log_of_other_options_or_another_benchmark_is_refused(tmp_path):
    out = tmp_path / "bench.json"
    JobLog.open(out, "search", {"seeds": 2, "budget": 10.0}).record(("rs", 0), {})
    with pytest.raises(IncompatibleRunError, match=r"seeds: 2 there, 3 here.*rerun with the saved options"):
        JobLog.open(out, "search", {"seeds": 3, "budget": 10.0})
    with pytest.raises(IncompatibleRunError, match="benchmark 'search'"):
        JobLog.open(out, "pareto", {"seeds": 2, "budget": 10.0})
    # A log without a finished job (a run that failed early) is replaced: there is nothing to keep.
    early = tmp_path / "early.json"
    JobLog.open(early, "search", {"seeds": 2}).save("costs", {"flops": 1})
    assert JobLog.open(early, "search", {"seeds": 3}).saved == {}
    assert json.loads(partial_path(early).read_text())["options"] == {"seeds": 3}
    partial_path(out).write_text('{"benchmark": "search", "format": 1, "options": {}}\nnot json\n{}\n')
    with pytest.raises(RunStoreError, match="line 2"):
        JobLog.open(out, "search", {})


def test_run_only_options_may_change_and_the_table_is_matched_by_its_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    params = {"table": "t.csv", "seeds": 2, "workers": 1, "quiet": False, "out": "r.json"}
    open_for_command("r.json", "search", params).record(("rs", 0), {"x": 1})
    monkeypatch.chdir(tmp_path / "sub")
    moved = {**params, "table": "../t.csv", "workers": 2, "quiet": True, "out": "../r.json"}
    assert open_for_command("../r.json", "search", moved).resumed == 1


def test_pareto_resumes_with_the_costs_its_finished_jobs_saw(tmp_path, monkeypatch, space):
    from search_spaces.nb201.cost_tables import ArchitectureCosts
    from search_spaces.nb201.network import NetworkConfig

    config = NetworkConfig.for_dataset("cifar10")
    log = JobLog.open(tmp_path / "p.json", "pareto", {})
    measured = pareto_costs(space, config, False, log)
    monkeypatch.setattr(ArchitectureCosts, "measure", lambda *a, **k: pytest.fail("a resumed run measured again"))
    reused = pareto_costs(space, config, False, JobLog.open(tmp_path / "p.json", "pareto", {}))
    assert reused.to_json() == measured.to_json()


def test_an_interrupted_surrogate_benchmark_resumes_to_the_same_numbers(tmp_path, tiny_table_file, space,
                                                                        monkeypatch):
    table = TabularBenchmark.from_csv(tiny_table_file, space)
    kwargs = {"cheap": table.column("acc_cheap"), "train_sizes": [6, 9], "seeds": 2, "models": ["hamming"],
              "space": space, "progress": False}
    whole = run_surrogate_benchmark(table.archs, table.column("acc"), "acc", **kwargs)
    out = tmp_path / "surrogate.json"
    with monkeypatch.context() as patch:
        interrupt_after(patch, bench_surrogate, "_one_round", 2)
        with pytest.raises(Interrupt):
            run_surrogate_benchmark(table.archs, table.column("acc"), "acc", log=JobLog.open(out, "surrogate", {}),
                                    **kwargs)
    log = JobLog.open(out, "surrogate", {})
    assert set(log.done) == {(6, 0), (6, 1)}
    resumed = run_surrogate_benchmark(table.archs, table.column("acc"), "acc", log=log, **kwargs)
    assert without_timings(resumed) == without_timings(whole)


def test_meta_records_the_command_commit_date_and_cores(tmp_path, tiny_table_file):
    out = tmp_path / "search.json"
    result = invoke("bench", "search", "--table", tiny_table_file, "--objective", "acc", "--methods", "rs,ls",
                    "--seeds", 2, "--budget", 10, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    meta = payload["meta"]
    assert next(iter(payload)) == "meta" and not partial_path(out).exists()
    assert meta["command"] == shlex.join(["infonas", "bench", "search", "--table", str(tiny_table_file),
                                          "--objective", "acc", "--methods", "rs,ls", "--seeds", "2", "--budget",
                                          "10", "--workers", "1", "--space", "nb201", "--out", str(out), "--quiet"])
    assert meta["commit"] is None or len(meta["commit"]) == 40
    assert meta["dirty"] in (True, False, None) and (meta["commit"] is None) == (meta["dirty"] is None)
    assert meta["date"].endswith("Z") and meta["cpu_count"] == os.cpu_count()
    assert 1 <= meta["cores_used"] <= meta["cpu_count"] and meta["workers"] == 1
    assert meta["python"] and meta["torch"] and meta["botorch"] and meta["wall_seconds"] >= 0
    assert meta["resumed_jobs"] == 0 and meta["total_jobs"] == 4
    # The recorded command is complete: run again, it gives the same numbers.
    first = without_timings(payload)
    assert invoke(*shlex.split(meta["command"])[1:]).exit_code == 0
    assert without_timings(json.loads(out.read_text())) == first


def test_a_killed_benchmark_command_resumes_where_it_stopped(tmp_path, tiny_table_file):
    """SIGKILL at an arbitrary moment (once a job is on disk), then the same command again."""
    out = tmp_path / "killed.json"
    args = ["bench", "search", "--table", str(tiny_table_file), "--objective", "acc", "--methods", "bo-ei,rs",
            "--seeds", 3, "--budget", 10, "--quiet"]
    script = "import sys; from infonas.cli import main; sys.exit(main())"
    process = subprocess.Popen([sys.executable, "-c", script, *map(str, args), "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while process.poll() is None and time.monotonic() < deadline:
            if partial_path(out).exists() and len(partial_path(out).read_bytes().splitlines()) >= 2:
                break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert not out.exists(), "the benchmark finished before it could be killed"
    resumed = invoke(*args, "--out", out)
    assert resumed.exit_code == 0, resumed.output
    again = json.loads(out.read_text())
    assert again["meta"]["resumed_jobs"] >= 1 and again["meta"]["total_jobs"] == 6
    whole = invoke(*args, "--out", tmp_path / "whole.json")
    assert whole.exit_code == 0, whole.output
    assert without_timings(again) == without_timings(json.loads((tmp_path / "whole.json").read_text()))


def test_a_rerun_with_other_options_fails_in_one_line(tmp_path, tiny_table_file):
    out = tmp_path / "bench.json"
    JobLog.open(out, "search", {}).record(("rs", 0), {})
    result = invoke("bench", "search", "--table", tiny_table_file, "--objective", "acc", "--methods", "rs",
                    "--seeds", 2, "--budget", 5, "--out", out, "--quiet")
    assert result.exit_code != 0
    message = result.output.strip()
    assert "\n" not in message and "other options" in message and str(partial_path(out)) in message
    assert Path(partial_path(out)).exists()  # nothing is thrown away


def test_a_benchmark_of_method_specs_resumes_by_spec(tmp_path, tiny_table_file, monkeypatch):
    """Jobs are keyed by the canonical spec: a rerun that spells the specs differently resumes them,
    and options are part of the key (``rea`` and ``rea[population_size=4]`` are different jobs)."""
    args = ["bench", "search", "--table", tiny_table_file, "--objective", "acc", "--seeds", 2, "--budget", 8,
            "--quiet"]
    out = tmp_path / "specs.json"
    with monkeypatch.context() as patch:
        interrupt_after(patch, bench_search, "run_one_search", 3)
        with pytest.raises(Interrupt):
            invoke(*args, "--methods", "rea,rea[population_size=4;sample_size=2]", "--out", out)
    lines = [json.loads(line) for line in partial_path(out).read_text().splitlines()]
    assert lines[0]["options"]["methods"] == "rea,rea[population_size=4;sample_size=2]"
    assert [line["job"] for line in lines[1:]] == [["rea", 0], ["rea", 1], ["rea[population_size=4;sample_size=2]", 0]]
    resumed = invoke(*args, "--methods", " rea , rea[ population_size=4 ; sample_size=2 ]", "--out", out)
    assert resumed.exit_code == 0, resumed.output
    payload = json.loads(out.read_text())
    assert payload["meta"]["resumed_jobs"] == 3 and payload["meta"]["total_jobs"] == 4
    assert list(payload["methods"]) == ["rea", "rea[population_size=4;sample_size=2]"]
    whole = invoke(*args, "--methods", "rea,rea[population_size=4;sample_size=2]", "--out", tmp_path / "whole.json")
    assert whole.exit_code == 0, whole.output
    assert without_timings(payload) == without_timings(json.loads((tmp_path / "whole.json").read_text()))
    # Other options for a spec are other jobs: the log of this --out is refused, not mixed in.
    with monkeypatch.context() as patch:
        interrupt_after(patch, bench_search, "run_one_search", 1)
        with pytest.raises(Interrupt):
            invoke(*args, "--methods", "rea[population_size=4]", "--out", out)
    refused = invoke(*args, "--methods", "rea[population_size=5]", "--out", out)
    assert refused.exit_code != 0 and "other options" in refused.output


def _sometimes_failing(method: str, seed: int) -> dict:
    if method == "broken":
        raise ValueError("this job fails")
    return {"method": method, "seed": seed}


def test_a_failing_job_in_the_pool_keeps_the_other_jobs_results(tmp_path, tiny_table_file, space):
    from infonas.bench.common import run_jobs
    from infonas.bench.resume import JobLog
    from infonas.evaluators.tabular import TabularBenchmark

    table = TabularBenchmark.from_csv(tiny_table_file, space)
    log = JobLog.open(tmp_path / "out.json", "demo", {})
    jobs = [("broken", 0), ("fine", 0), ("fine", 1)]
    with pytest.raises(ValueError, match="this job fails"):
        run_jobs(jobs, _sometimes_failing, _sometimes_failing, (), table, workers=2, progress=False, desc="demo",
                 log=log)
    assert sorted(log.done) == [("fine", 0), ("fine", 1)]
    assert sorted(JobLog.open(tmp_path / "out.json", "demo", {}).done) == [("fine", 0), ("fine", 1)]


def test_a_new_log_is_written_from_its_first_record_so_a_refused_command_leaves_nothing(tmp_path):
    from infonas.bench.resume import JobLog, partial_path

    out = tmp_path / "deep" / "out.json"
    log = JobLog.open(out, "search", {"seeds": 2})
    assert not partial_path(out).exists() and not (tmp_path / "deep").exists()
    log.record(("rs", 0), {"queries": 3})
    again = JobLog.open(out, "search", {"seeds": 2})
    assert again.done == {("rs", 0): {"queries": 3}} and again.resumed == 1
