import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from infonas.evaluators import Evaluator, Fidelity
from infonas.evaluators.registry import build_evaluator, table_spec
from infonas.exceptions import RunStoreError
from infonas.study import Study, StudyError
from infonas.trials import EvaluationResult, TrialStatus


def make_study(tmp_path, synthetic_table_file, space, name="run", strategy="rea", seed=0, **kwargs):
    spec = table_spec(synthetic_table_file, "acc")
    return Study.create(tmp_path / name, space, build_evaluator(spec, space), "acc", strategy=strategy,
                        seed=seed, evaluator_spec=spec, **kwargs)


def trajectory(study):
    return [(t.number, study.space.format(t.arch), t.status.value, t.metrics) for t in study.finished_trials()]


def test_optimize_and_results(tmp_path, synthetic_table_file, space):
    study = make_study(tmp_path, synthetic_table_file, space).optimize(30, progress=False)
    assert len(study.finished_trials()) == 30
    rows = study.trials()
    assert [r["number"] for r in rows] == list(range(30))
    complete = [t for t in study.finished_trials() if t.is_complete]
    assert study.best()[0].metrics["acc"] == max(t.metrics["acc"] for t in complete)
    history = study.history()
    incumbents = [h["incumbent"] for h in history if h["incumbent"] is not None]
    assert incumbents == sorted(incumbents) and history[-1]["cost"] == pytest.approx(study.spent_cost())


def test_cost_budget(tmp_path, synthetic_table_file, space):
    study = make_study(tmp_path, synthetic_table_file, space).optimize(cost=5.0, progress=False)
    assert study.spent_cost() == pytest.approx(5.0)


def test_stop_and_resume_equals_uninterrupted(tmp_path, synthetic_table_file, space):
    whole = make_study(tmp_path, synthetic_table_file, space, name="whole", seed=7).optimize(40, progress=False)
    part = make_study(tmp_path, synthetic_table_file, space, name="part", seed=7).optimize(17, progress=False)
    resumed = Study.load(part.store.path).optimize(40, progress=False)
    assert trajectory(resumed) == trajectory(whole)


def test_ask_tell(tmp_path, synthetic_table_file, space):
    study = make_study(tmp_path, synthetic_table_file, space, strategy="rs")
    first, second = study.ask(2)
    assert first.arch.key != second.arch.key
    study.tell(second, {"acc": 3.0})
    study.tell(first, EvaluationResult.failed("out of memory"))
    assert [t.status for t in study.finished_trials()] == [TrialStatus.COMPLETE, TrialStatus.FAILED]
    with pytest.raises(StudyError, match="already finished"):
        study.tell(first, {"acc": 1.0})
    with pytest.raises(StudyError, match="never asked"):
        study.tell(99, {"acc": 1.0})
    with pytest.raises(StudyError, match="lacks the objective"):
        study.tell(study.ask()[0], {"loss": 1.0})
    nan = study.tell(study.ask()[0], {"acc": float("nan")})
    assert nan.status is TrialStatus.FAILED
    # Pending trials survive a reload and are evaluated first.
    pending = study.ask()[0]
    reloaded = Study.load(study.store.path)
    assert [t.number for t in reloaded.pending] == [2, pending.number]  # trial 2 was never told
    reloaded.optimize(evaluations=len(reloaded.finished_trials()) + 2, progress=False)
    assert reloaded.finished_trials()[-1].number == pending.number


def test_changed_config_and_missing_dir_are_clear_errors(tmp_path, synthetic_table_file, space):
    make_study(tmp_path, synthetic_table_file, space, seed=1)
    with pytest.raises(RunStoreError, match="seed"):
        make_study(tmp_path, synthetic_table_file, space, seed=2, resume=True)
    with pytest.raises(RunStoreError, match="does not exist"):
        Study.load(tmp_path / "missing")


def test_custom_evaluator_needs_to_be_passed_on_load(tmp_path, synthetic_table_file, space):
    evaluator = build_evaluator(table_spec(synthetic_table_file, "acc"), space)
    study = Study.create(tmp_path / "c", space, evaluator, "acc", strategy="rs").optimize(3, progress=False)
    with pytest.raises(StudyError, match="custom evaluator"):
        Study.load(study.store.path)
    assert len(Study.load(study.store.path, evaluator).finished_trials()) == 3


def test_bad_arguments(tmp_path, synthetic_table_file, space):
    with pytest.raises(ValueError, match="objective 'loss'"):
        Study.create(tmp_path / "x", space, build_evaluator(table_spec(synthetic_table_file, "acc"), space), "loss")
    with pytest.raises(ValueError, match="unknown strategy"):
        make_study(tmp_path, synthetic_table_file, space, strategy="nope")


def test_corrupted_journal_is_reported_with_repair(tmp_path, synthetic_table_file, space):
    study = make_study(tmp_path, synthetic_table_file, space).optimize(5, progress=False)
    journal = study.store.path / "journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    lines[3] = '{"event": "fini\n'
    journal.write_text("".join(lines))
    with pytest.raises(RunStoreError, match="line 4"):
        Study.load(study.store.path)
    study.store.repair()
    repaired = Study.load(study.store.path)
    # Only trial 1's result (the bad line) is lost: the trials after it are salvaged, 1 is pending again.
    assert [t.number for t in repaired.finished_trials()] == [0, 2, 3, 4]
    assert [t.number for t in repaired.pending] == [1]


WORKER = """
import os, sys, time
from infonas.evaluators.registry import build_evaluator, table_spec
from infonas.study import Study
from search_spaces import NB201Space
run_dir, table = sys.argv[1], sys.argv[2]
space = NB201Space()
evaluator = build_evaluator(table_spec(table, "acc"), space)
slow_evaluate = evaluator.evaluate
def evaluate(arch, fidelity=None):
    time.sleep(0.02)  # slow enough that the kills land mid-search
    return slow_evaluate(arch, fidelity)
evaluator.evaluate = evaluate
if os.path.exists(os.path.join(run_dir, "config.json")):
    study = Study.load(run_dir, evaluator)
else:
    study = Study.create(run_dir, space, evaluator, "acc", strategy="ls", seed=11)
study.optimize(120, progress=False)
"""


def test_kill_nine_at_random_moments_then_resume(tmp_path, synthetic_table_file, space):
    evaluator = build_evaluator(table_spec(synthetic_table_file, "acc"), space)
    reference = Study.create(tmp_path / "ref", space, evaluator, "acc", strategy="ls", seed=11)
    reference.optimize(120, progress=False)
    run_dir = tmp_path / "killed"
    journal = run_dir / "journal.jsonl"
    rng = np.random.default_rng(0)

    def finished_count():
        return journal.read_text().count('"finished"') if journal.exists() else 0

    kills = 0
    for _ in range(5):
        # Kill once the run has moved a random number of trials further, at a random instant.
        target = finished_count() + int(rng.integers(3, 20))
        process = subprocess.Popen([sys.executable, "-c", WORKER, str(run_dir), str(synthetic_table_file)])
        while process.poll() is None and finished_count() < target:
            time.sleep(0.005)
        time.sleep(float(rng.uniform(0.0, 0.03)))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            kills += 1
        process.wait()
    subprocess.run([sys.executable, "-c", WORKER, str(run_dir), str(synthetic_table_file)], check=True)
    assert kills >= 3
    events = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    finished = [e["trial"] for e in events if e["event"] == "finished"]
    assert sorted(finished) == list(range(120))  # none lost, none twice
    assert trajectory(Study.load(run_dir, evaluator)) == trajectory(reference)


# ----- multi-fidelity and multi-objective studies -----


@pytest.fixture(scope="module")
def flops_costs():
    from search_spaces import NB201Space
    from search_spaces.nb201.cost_tables import ArchitectureCosts
    from search_spaces.nb201.network import NetworkConfig

    return ArchitectureCosts.measure(NB201Space(), NetworkConfig.for_dataset("cifar10"), latency=False)


def make_mf_study(tmp_path, synthetic_table_file, space, name, seed=0):
    spec = table_spec(synthetic_table_file, "acc", cheap={"acc_cheap": 0.1})
    options = {"n_init": 4, "n_init_target": 2, "maxiter": 10, "h_values": [1], "num_max_samples": 8}
    return Study.create(tmp_path / name, space, build_evaluator(spec, space), "acc", strategy="bo-mf", seed=seed,
                        evaluator_spec=spec, strategy_options=options)


def test_multi_fidelity_study_stop_resume_and_crash(tmp_path, synthetic_table_file, space):
    whole = make_mf_study(tmp_path, synthetic_table_file, space, "whole", seed=2).optimize(cost=2.5, progress=False)
    fidelities = [t.fidelity for t in whole.finished_trials()]
    assert {"acc_cheap", "acc"} <= set(fidelities)
    assert whole.spent_cost() == pytest.approx(sum(0.1 if f == "acc_cheap" else 1.0 for f in fidelities))
    # The journal carries each trial's fidelity.
    events = [e for e in whole.store.events() if e["event"] == "asked"]
    # (A round cut by the cost budget leaves its last asked trials pending, for a later optimize.)
    assert [e["fidelity"] for e in events][: len(fidelities)] == fidelities
    part = make_mf_study(tmp_path, synthetic_table_file, space, "part", seed=2).optimize(cost=0.9, progress=False)
    # A crash after asking: the asked trial is evaluated first on resume.
    part.ask(1)
    resumed = Study.load(part.store.path).optimize(cost=2.5, progress=False)
    assert [(t.fidelity, *row[1:]) for t, row in zip(resumed.finished_trials(), trajectory(resumed))] == \
        [(t.fidelity, *row[1:]) for t, row in zip(whole.finished_trials(), trajectory(whole))]
    # Only target-fidelity results compete for the best architecture; the learned correlation is reported.
    assert all(t.fidelity == "acc" for t in resumed.best(3))
    from infonas.report import fidelity_correlation

    correlation = fidelity_correlation(resumed)
    assert correlation.shape == (2, 2) and correlation[0, 1] > 0.3
    from infonas.report import summary_text

    assert "learned inter-fidelity correlation" in summary_text(resumed)


@pytest.mark.parametrize("strategy", ["bo-mesmo", "bo-ehvi", "nsga2"])
def test_multi_objective_study_resume_front_and_hypervolume(tmp_path, synthetic_table_file, space, flops_costs,
                                                            strategy):
    spec = table_spec(synthetic_table_file, "acc")
    options = {"n_init": 5, "maxiter": 10, "h_values": [1], "num_samples": 8} if strategy.startswith("bo-") else {}

    def create(name):
        return Study.create(tmp_path / name, space, build_evaluator(spec, space), strategy=strategy, seed=1,
                            evaluator_spec=spec, objectives="acc:max,flops:min", computed=flops_costs,
                            strategy_options=options)

    whole = create("whole").optimize(14, progress=False)
    part = create("part").optimize(8, progress=False)
    resumed = Study.load(part.store.path).optimize(14, progress=False)
    assert trajectory(resumed) == trajectory(whole)
    # FLOPs are computed and journalled with each result; the front is the brute-force one.
    trials = resumed.finished_trials()
    assert all(t.metrics["flops"] == flops_costs.value(t.arch, "flops") for t in trials)
    front = {t.number for t in resumed.pareto_front()}
    brute = {a.number for a in trials
             if not any(b.metrics["acc"] >= a.metrics["acc"] and b.metrics["flops"] <= a.metrics["flops"]
                        and (b.metrics["acc"], b.metrics["flops"]) != (a.metrics["acc"], a.metrics["flops"])
                        for b in trials)}
    assert front == brute
    # The reference point defaults to the worst over the table / the space, and is saved.
    assert resumed.reference_point == {"acc": pytest.approx(float(np.min(resumed.evaluator.table.column("acc")))),
                                       "flops": pytest.approx(2.2011969e8)}
    volumes = [row["hypervolume"] for row in resumed.history()]
    assert volumes == sorted(volumes) and volumes[-1] == pytest.approx(resumed.hypervolume()) and volumes[-1] > 0


def test_multi_objective_study_validation(tmp_path, synthetic_table_file, space, flops_costs):
    spec = table_spec(synthetic_table_file, "acc")
    evaluator = build_evaluator(spec, space)
    with pytest.raises(ValueError, match="neither a metric"):
        Study.create(tmp_path / "a", space, evaluator, objectives="acc:max,latency_ms:min", computed=flops_costs,
                     strategy="rs")
    with pytest.raises(ValueError, match="optimises one objective"):
        Study.create(tmp_path / "b", space, evaluator, objectives="acc:max,flops:min", computed=flops_costs,
                     strategy="ls")
    with pytest.raises(ValueError, match="not objectives"):
        Study.create(tmp_path / "c", space, evaluator, objectives="acc:max,flops:min", computed=flops_costs,
                     strategy="rs", reference_point={"params": 1.0})
    single = Study.create(tmp_path / "d", space, evaluator, "acc", strategy="rs")
    with pytest.raises(StudyError, match="no reference point"):
        single.hypervolume()


class _ChainSpace:
    """A 3-position chain of operations: 27 architectures, small enough to run out of."""

    @staticmethod
    def build():
        import networkx as nx

        from search_spaces.base import SearchSpace

        class ChainSpace(SearchSpace):
            name = "chain"
            choices = (("conv", "pool", "skip"),) * 3

            def canonical_key(self, ops):
                return "-".join(ops)

            def parse(self, text):
                return self.make(text.split("-"))

            def format(self, arch):
                return "-".join(arch.ops)

            def to_graph(self, arch, prune=True):
                graph = nx.DiGraph()
                labels = ["input", *arch.ops, "output"]
                graph.add_nodes_from((i, {"op": op}) for i, op in enumerate(labels))
                graph.add_edges_from((i, i + 1) for i in range(len(labels) - 1))
                return graph

        return ChainSpace()


class _ChainEvaluator(Evaluator):
    fidelities = {"full": Fidelity("full", 1.0)}
    metric_names = ("score",)

    def _evaluate(self, arch, fidelity):
        weights = {"conv": 3.0, "pool": 1.0, "skip": 0.0}
        return EvaluationResult({"score": sum(weights[op] for op in arch.ops) + 0.1 * (arch.ops[0] == "pool")}, 1.0)


@pytest.mark.parametrize("strategy", ["rs", "rea", "ls", "bo-ei"])
def test_an_exhausted_space_ends_optimize_cleanly(strategy, caplog):
    space = _ChainSpace.build()
    study = Study.create(None, space, _ChainEvaluator(), "score", strategy=strategy, seed=0)
    with caplog.at_level("INFO", logger="infonas.search_loop"):
        study.optimize(40)
    keys = [t.arch.key for t in study.finished_trials()]
    assert len(keys) == len(set(keys)) <= space.size
    assert study.stop_reason is not None and "stopped before its budget" in caplog.text
    assert study.best()[0].metrics["score"] == 9.0


def test_trials_best_and_report_share_one_record(tmp_path):
    from infonas.report import trials_json

    space = _ChainSpace.build()
    study = Study.create(tmp_path / "run", space, _ChainEvaluator(), "score", strategy="rs", seed=1)
    study.optimize(5)
    records = study.trials()
    assert records == trials_json(study) == [study.record(t) for t in study.finished_trials()]
    assert set(records[0]) == {"number", "arch", "fidelity", "status", "values", "cost", "error", "failure",
                               "retry_of", "asked_at", "finished_at", "suggest_seconds"}
    assert all(r["asked_at"] <= r["finished_at"] and r["suggest_seconds"] >= 0 for r in records)
    # The journal holds the same facts: a reloaded study gives the same records.
    from infonas.storage import RunStore

    assert Study(RunStore.open(tmp_path / "run"), space, _ChainEvaluator()).trials() == records
    best = study.best()[0]
    assert study.record(best) in records


def test_trials_dataframe_needs_pandas_and_says_so(monkeypatch):
    from infonas.exceptions import UnsupportedError

    study = Study.create(None, _ChainSpace.build(), _ChainEvaluator(), "score", strategy="rs", seed=0).optimize(3)
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if pandas were not installed
    with pytest.raises(UnsupportedError, match=r"infonas\[pandas\]"):
        study.trials_dataframe()


def test_a_callback_can_stop_the_loop():
    study = Study.create(None, _ChainSpace.build(), _ChainEvaluator(), "score", strategy="rs", seed=0)
    seen = []

    def stop_at_three(study, trial):
        seen.append(trial.number)
        if len(seen) == 3:
            study.stop("three is enough")

    study.optimize(10, callbacks=[stop_at_three])
    assert seen == [0, 1, 2] and len(study.finished_trials()) == 3 and study.stop_reason == "three is enough"
    study.optimize(5)  # a new call starts afresh
    assert study.stop_reason is None and len(study.finished_trials()) == 5


def test_trials_dataframe_has_a_column_per_metric():
    pd = pytest.importorskip("pandas")
    study = Study.create(None, _ChainSpace.build(), _ChainEvaluator(), "score", strategy="rs", seed=0).optimize(4)
    frame = study.trials_dataframe()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 4
    assert list(frame["score"]) == [r["values"]["score"] for r in study.trials()]
    assert "values" not in frame.columns and {"arch", "fidelity", "status", "cost"} <= set(frame.columns)


def test_optimize_asks_the_rounds_the_strategy_sizes(tmp_path, synthetic_table_file, space):
    study = make_study(tmp_path, synthetic_table_file, space, strategy="rs")
    asked: list[int] = []
    suggest = study.strategy.suggest
    study.strategy.round_size = lambda requested, next_number: 3 if next_number % 2 == 0 else requested
    study.strategy.suggest = lambda numbers, pending=(): asked.append(len(numbers)) or suggest(numbers, pending)
    study.optimize(9, progress=False)
    # Rounds of 3 from even trial numbers, of the batch size (1) from odd ones; the last cut by the budget.
    assert asked == [3, 1, 3, 1, 1] and len(study.finished_trials()) == 9
