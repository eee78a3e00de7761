"""Asynchronous search on a process pool: conditioning on running trials, resume of pending trials,
retries, the failure-rate stop, and the CLI's executor options (Ray's are in test_execution_ray)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from infonas.cli import main
from infonas.evaluators import build_evaluator, faulty_spec, sleep_spec
from infonas.evaluators.tabular import TabularBenchmark, TabularEvaluator
from infonas.execution import FailureRateExceededError, PoolExecutor, RetryPolicy
from infonas.storage.events import TrialAsked
from infonas.study import Study
from infonas.trials import TrialStatus
from search_spaces.nb201.cost_tables import ArchitectureCosts
from search_spaces.nb201.network import NetworkConfig


@pytest.fixture
def tiny(space):
    """60 NB201 cells with a target and a cheap column (a custom evaluator: sent to workers pickled)."""
    rng = np.random.default_rng(0)
    archs = sorted({space.sample(rng) for _ in range(80)}, key=space.format)[:60]
    convs = np.array([sum(op.startswith("nor_conv") for op in arch.ops) for arch in archs], dtype=float)
    acc = 50 + 7 * convs + rng.normal(0, 3, len(archs))
    table = TabularBenchmark(space, archs, {"acc": acc, "acc_cheap": acc - 5 + rng.normal(0, 2, len(archs))})
    return TabularEvaluator(table, "acc", cheap={"acc_cheap": 0.1})


def _costs(space):
    increments = {"none": 0, "skip_connect": 0, "avg_pool_3x3": 1_000, "nor_conv_1x1": 20_000, "nor_conv_3x3": 70_000}
    return ArchitectureCosts(space, NetworkConfig.for_dataset("cifar10"), 8_000, increments, 70_000,
                             {op: value // 10 for op, value in increments.items()})


SMALL = {"maxiter": 10}
CASES = {
    "bo-ei": {"strategy_options": {"n_init": 3, **SMALL}},
    "bo-mf": {"strategy_options": {"n_init": 4, "n_init_target": 2, **SMALL}},
    "bo-ehvi": {"strategy_options": {"n_init": 3, **SMALL}, "objectives": "acc:max,flops:min", "costs": True},
    "bo-mf-pareto": {"strategy_options": {"n_init": 4, "n_init_target": 2, "h_values": [1], "num_samples": 8,
                                          **SMALL}, "objectives": "acc:max,flops:min", "costs": True},
}


@pytest.mark.parametrize("strategy", list(CASES))
def test_every_bayesian_strategy_suggests_while_trials_run_conditioned_on_them(tiny, space, strategy):
    case = CASES[strategy]
    study = Study.create(None, space, tiny, None if "objectives" in case else "acc", strategy=strategy, seed=1,
                         strategy_options=case["strategy_options"], objectives=case.get("objectives"),
                         computed=_costs(space) if case.get("costs") else None)
    seen_pending, suggest = [], study.strategy.suggest

    def spy(numbers, pending=()):
        # Told exactly the trials asked and not finished: those running on the pool.
        running = study.pending
        assert len(pending) == len(running) <= 6
        assert [getattr(p, "arch", p) for p in pending] == [t.arch for t in running]
        seen_pending.append(len(pending))
        return suggest(numbers, pending=pending)

    study.strategy.suggest = spy
    study.optimize(12, executor=PoolExecutor(3))
    trials = study.finished_trials()
    assert len(trials) == 12 and all(t.is_complete for t in trials)
    assert len({(t.arch.key, t.fidelity) for t in trials}) == 12
    # Suggestions were made with trials still running (the first round fills the free workers).
    assert max(seen_pending) >= 1


def test_trials_pending_at_a_crash_are_evaluated_once_on_resume_and_nothing_is_asked_twice(tiny, space, tmp_path):
    run = tmp_path / "run"
    study = Study.create(run, space, tiny, "acc", strategy="rs", seed=3)
    study.optimize(4)
    pending = study.ask(3)  # then the process dies: asked and journalled, never told
    resumed = Study.load(run, tiny)
    assert [t.number for t in resumed.pending] == [t.number for t in pending]
    resumed.optimize(10, executor=PoolExecutor(2))
    events = resumed.store.events()
    finished = [e["trial"] for e in events if e["event"] == "finished"]
    asked = [e["trial"] for e in events if e["event"] == "asked"]
    assert sorted(finished) == sorted(set(finished)) == list(range(10)) == sorted(asked)
    assert {t.number: t.arch for t in resumed.finished_trials()}[pending[0].number] == pending[0].arch


def test_a_lost_worker_is_retried_and_a_mostly_failing_search_stops_with_the_reason(space, tmp_path):
    spec = faulty_spec(sleep_spec(0.0), {"exit": 0.3}, seed=5, once_dir=tmp_path / "once")
    study = Study.create(tmp_path / "run", space, build_evaluator(spec, space), "score", strategy="rs", seed=2,
                         evaluator_spec=spec)
    study.optimize(10, executor=PoolExecutor(2), retries=RetryPolicy({"worker_lost": 1}))
    trials = study.finished_trials()
    lost = [t for t in trials if t.status is TrialStatus.FAILED]
    assert lost and all(t.failure == "worker_lost" and "worker process died" in t.error for t in lost)
    retries = {t.retry_of: t for t in trials if t.retry_of is not None}
    assert retries and set(retries) <= {t.number for t in lost}
    assert all(retries[n].arch == trial.arch and retries[n].is_complete for n, trial in
               ((t.number, t) for t in lost if t.number in retries))
    # A lost trial goes without its retry only when the budget had no evaluation left for it: it
    # finished among the last (workers + queue = 4) of the budget's 10.
    order = [t.number for t in trials]
    assert all(order.index(t.number) >= 10 - 4 for t in lost if t.number not in retries)
    records = json.loads(CliRunner().invoke(main, ["report", str(tmp_path / "run"), "--json", "--no-plots"]).output)
    assert {r["failure"] for r in records if r["status"] == "failed"} == {"worker_lost"}
    text = CliRunner().invoke(main, ["report", str(tmp_path / "run"), "--no-plots"]).output
    assert f"failures   {len(lost)} (worker_lost {len(lost)}), {len(retries)} retried; last: trial" in text
    assert "worker process died" in text

    bad = faulty_spec(sleep_spec(0.0), {"error": 0.8}, seed=1)
    failing = Study.create(tmp_path / "bad", space, build_evaluator(bad, space), "score", strategy="rs", seed=0,
                           evaluator_spec=bad)
    with pytest.raises(FailureRateExceededError, match=r"trials failed, more than the tolerated rate 0.5.*injected"):
        failing.optimize(30, executor=PoolExecutor(2))
    reloaded = Study.load(tmp_path / "bad")
    failed = [t for t in reloaded.finished_trials() if t.status is TrialStatus.FAILED]
    assert len(failed) >= 5 and all(t.failure == "error" and "injected fault" in t.error for t in failed)
    assert len(reloaded.finished_trials()) < 30


def test_a_failure_journalled_before_its_retry_was_asked_is_retried_on_resume(space, tmp_path):
    spec = sleep_spec(0.0)
    study = Study.create(tmp_path / "run", space, build_evaluator(spec, space), "score", strategy="rs", seed=0,
                         evaluator_spec=spec)
    trial = study.ask(1)[0]
    from infonas.trials import EvaluationResult

    study.tell(trial, EvaluationResult.failed("the worker died", failure="worker_lost"))  # then the driver died
    resumed = Study.load(tmp_path / "run")
    resumed.optimize(3)
    retry = [t for t in resumed.finished_trials() if t.retry_of == trial.number]
    assert len(retry) == 1 and retry[0].arch == trial.arch and retry[0].is_complete
    assert TrialAsked(retry[0].number, space.format(trial.arch), trial.fidelity).retry_of is None  # the default


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_search_and_resume_take_the_executor_options(tmp_path, tiny_table_file):
    run = tmp_path / "run"
    result = invoke("search", "--table", tiny_table_file, "--objective", "acc", "--strategy", "bo-ei", "--budget", 8,
                    "--executor", "pool", "--workers", 2, "--trial-timeout", 60, "--retries", "timeout=1",
                    "--run-dir", run, "--quiet")
    assert result.exit_code == 0, result.output
    assert len(json.loads(invoke("report", run, "--json", "--no-plots").output)) == 8
    result = invoke("resume", run, "--budget", 10, "--executor", "pool", "--workers", 2, "--quiet")
    assert result.exit_code == 0, result.output
    assert len(json.loads(invoke("report", run, "--json", "--no-plots").output)) == 10
    for options, says in [(["--executor", "serial", "--workers", 2], "one trial at a time"),
                          (["--executor", "serial", "--trial-timeout", 5], "cannot stop a trial"),
                          (["--executor", "pool", "--ray-address", "auto"], "ray executor only"),
                          (["--retries", "oom=2"], "failure kinds")]:
        result = invoke("search", "--table", tiny_table_file, "--objective", "acc", "--budget", 2, *options,
                        "--run-dir", tmp_path / "refused", "--quiet")
        assert result.exit_code != 0 and says in result.output and "Traceback" not in result.output, result.output
        assert not (tmp_path / "refused").exists()


def test_kill_9_of_an_async_search_then_resume_loses_and_duplicates_nothing(tmp_path, tiny_table_file):
    from infonas.testing.processes import sigkill_when

    run = tmp_path / "run"

    def finished_lines():
        path = run / "journal.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line) for line in lines if '"finished"' in line]

    command = [sys.executable, "-m", "infonas.cli", "search", "--table", str(tiny_table_file), "--objective", "acc",
               "--strategy", "bo-ei", "--budget", "24", "--executor", "pool", "--workers", "2", "--run-dir", str(run),
               "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sigkill_when(process, lambda: len(finished_lines()) >= 4)
    before = {e["trial"]: e["metrics"] for e in finished_lines()}
    result = invoke("resume", run, "--executor", "pool", "--workers", 2, "--quiet")
    assert result.exit_code == 0, result.output
    after = finished_lines()
    numbers = [e["trial"] for e in after]
    assert len(numbers) == len(set(numbers)) and len(numbers) >= 24
    assert all({e["trial"]: e["metrics"] for e in after}[n] == metrics for n, metrics in before.items())
    keys = [r["arch"] for r in json.loads(invoke("report", run, "--json", "--no-plots").output)]
    assert len(keys) == len(set(keys))


def test_one_pool_worker_asks_what_a_serial_run_asks_for_every_bayesian_strategy(tiny, space):
    for strategy, case in CASES.items():
        asked = []
        for executor in [None, PoolExecutor(1)]:
            study = Study.create(None, space, tiny, None if "objectives" in case else "acc", strategy=strategy,
                                 seed=7, strategy_options=case["strategy_options"], objectives=case.get("objectives"),
                                 computed=_costs(space) if case.get("costs") else None)
            study.optimize(8, executor=executor)
            asked.append([(t.arch.key, t.fidelity) for t in study.finished_trials()])
        assert asked[0] == asked[1], strategy
