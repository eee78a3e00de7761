"""`infonas compare` and `run_compare`: Bayesian and gradient NAS on one table and one wall-clock budget."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from infonas.bench.compare import (
    SecondsTabularEvaluator,
    _prices,
    _table_study,
    check_compare,
    run_compare,
    table_settings,
)
from infonas.bench.ground_truth import GroundTruth
from infonas.cli import main
from infonas.evaluators.tabular import TabularBenchmark
from infonas.exceptions import InvalidArgumentError
from search_spaces import NB201Space

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["arch", "test_acc", "valid_acc", "train_seconds", "supernet_spos_recal", "flops", "params"]
#: A small network and one epoch for the gradient methods and retraining: the contract, not the accuracy.
TINY_SETTINGS = {"epochs": 1, "channels": 2}
TINY_GRADIENT = {"channels": 2, "batch_size": 256, "epochs": 1}
FAKE_ACC = 42.0


def _tiny_csv(directory: Path, columns: list[str] = COLUMNS) -> Path:
    frame = pd.read_csv(ROOT / "benchmarks" / "data" / "nb201_mnist1d.csv", nrows=60)
    path = directory / "tiny.csv"
    frame[columns].to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_csv(tmp_path_factory.mktemp("compare"))


@pytest.fixture(scope="module")
def tiny(tiny_path: Path) -> TabularBenchmark:
    return TabularBenchmark.from_csv(tiny_path, NB201Space())


@pytest.fixture(scope="module")
def compared(tiny: TabularBenchmark) -> tuple[dict, list]:
    """One comparison of rs, bo-mes and darts-1 with two seeds; retraining is faked (and counted)."""
    trained: list = []

    def fake_training(truth, arch):
        trained.append((arch.key, dataclasses.asdict(truth.table_settings())))
        return FAKE_ACC

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(GroundTruth, "train", fake_training)
        results = run_compare(tiny, methods=["rs", "bo-mes[n_init=3]", "darts-1"], seeds=2, budget_seconds=10,
                              settings=TINY_SETTINGS, gradient_overrides=TINY_GRADIENT)
    return results, trained


def test_the_results_follow_the_contract(compared: tuple[dict, list], tiny: TabularBenchmark) -> None:
    results, _ = compared
    assert (results["space"], results["data"], results["budget_seconds"]) == ("nb201", "mnist1d", 10)
    assert results["best_in_table"] == pytest.approx(float(np.nanmax(tiny.column("test_acc"))))
    assert list(results["methods"]) == ["rs", "bo-mes[n_init=3]", "darts-1"]
    for name, record in results["methods"].items():
        for key in ("test_acc", "regret", "search_seconds", "flops", "arch", "skip_share", "looked_up"):
            assert len(record[key]) == 2, (name, key)
        assert record["clock"] == ("measured" if name == "darts-1" else "recorded")
        for acc, regret, arch, share in zip(record["test_acc"], record["regret"], record["arch"],
                                            record["skip_share"]):
            assert regret == pytest.approx(results["best_in_table"] - acc)
            assert share == pytest.approx(NB201Space().parse(arch).ops.count("skip_connect") / 6)
    json.dumps(results)  # JSON-ready


def test_table_methods_pick_the_best_valid_cell_within_the_budget(compared: tuple[dict, list],
                                                                   tiny: TabularBenchmark) -> None:
    results, _ = compared
    for name in ("rs", "bo-mes[n_init=3]"):
        record = results["methods"][name]
        assert record["looked_up"] == [True, True]
        for arch, acc, seconds, thinking in zip(record["arch"], record["test_acc"], record["search_seconds"],
                                                record["thinking_seconds"]):
            assert acc == tiny.value(NB201Space().parse(arch), "test_acc")
            # Charged recorded seconds and its own thinking: the budget, overshot by at most the last training
            # and the thinking before it.
            assert thinking > 0
            assert 10 <= seconds <= 10 + float(np.max(tiny.column("train_seconds"))) + thinking


def test_a_gradient_cell_absent_from_the_table_is_retrained_with_the_table_settings(
        compared: tuple[dict, list], tiny: TabularBenchmark) -> None:
    results, trained = compared
    record = results["methods"]["darts-1"]
    keys = {arch.key for arch in tiny.archs}
    for arch, acc, looked_up in zip(record["arch"], record["test_acc"], record["looked_up"]):
        absent = NB201Space().parse(arch).key not in keys
        assert looked_up is not absent
        assert (acc == FAKE_ACC) is absent
    assert sum(not flag for flag in record["looked_up"]) >= 1  # the 60-row table lacks the searched cells
    assert trained and all(settings["epochs"] == 1 and settings["channels"] == 2 for _, settings in trained)
    assert len({key for key, _ in trained}) == len(trained)  # each cell trained once


def test_random_search_is_reproducible_by_seed_and_its_flops_are_the_table_networks(tiny: TabularBenchmark) -> None:
    # Without the thinking seconds, which vary with the machine's load, the recorded clock is deterministic.
    first = run_compare(tiny, methods=["rs"], seeds=2, budget_seconds=8, charge_thinking=False)["methods"]["rs"]
    again = run_compare(tiny, methods=["rs"], seeds=2, budget_seconds=8, charge_thinking=False)["methods"]["rs"]
    assert first["arch"] == again["arch"] and first["test_acc"] == again["test_acc"]
    for arch, flops in zip(first["arch"], first["flops"]):  # the table was built on the default network
        assert flops == tiny.value(NB201Space().parse(arch), "flops")


def test_target_lookups_cost_recorded_seconds_and_only_multi_fidelity_pays_the_setup(tiny: TabularBenchmark) -> None:
    evaluator = SecondsTabularEvaluator(tiny, "valid_acc", "train_seconds", ("supernet_spos_recal", 0.5), 100.0)
    arch = tiny.archs[3]
    target = evaluator.evaluate(arch)
    assert target.cost == tiny.value(arch, "train_seconds")
    assert target.metrics == {"valid_acc": tiny.value(arch, "valid_acc")}
    cheap = evaluator.evaluate(arch, "supernet_spos_recal")
    assert cheap.cost == 0.5 and cheap.metrics == {"valid_acc": tiny.value(arch, "supernet_spos_recal")}
    thinking = SecondsTabularEvaluator(tiny, "valid_acc", "train_seconds", charge_thinking=True)
    time.sleep(0.05)  # the search's own work before it asks for an evaluation
    charged = thinking.evaluate(arch).cost - tiny.value(arch, "train_seconds")
    assert charged >= 0.05 and thinking.thinking_seconds == pytest.approx(charged)
    prices = _prices(table_settings(tiny))
    assert _table_study(tiny, "bo-mf", {}, 0, prices).spent_cost() == pytest.approx(prices["setup_seconds"])
    assert _table_study(tiny, "rs", {}, 0, prices).spent_cost() == 0.0


def test_training_from_scratch_reports_the_test_accuracy(tiny: TabularBenchmark) -> None:
    truth = GroundTruth(tiny, settings={"dataset": "digits", "epochs": 3, "channels": 4, "num_cells": 1,
                                        "batch_size": 64, "learning_rate": 0.1, "seed": 0})
    conv = truth.train(NB201Space().make(["nor_conv_3x3"] * 6))
    empty = truth.train(NB201Space().make(["none"] * 6))
    assert empty < 20.0 and 80.0 < conv <= 100.0  # chance is 10 %: the convolutions learned, the empty cell cannot


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"methods": ["rs", "nope"]}, "unknown method 'nope'"),
    ({"budget_seconds": 0}, "budget_seconds"),
    ({"budget_seconds": float("nan")}, "budget_seconds"),
    ({"seeds": 0}, "seeds"),
    ({"data": "cifar"}, "data must be"),
    ({"methods": ["bo-mf"], "budget_seconds": 100}, "supernet training up front"),
    ({"methods": ["bo-mes[n_init=nope]"]}, "n_init"),
])
def test_bad_arguments_fail_before_any_work(tiny: TabularBenchmark, kwargs: dict, words: str) -> None:
    arguments = {"methods": ["rs"], "seeds": 1, "budget_seconds": 10, "data": "mnist1d", **kwargs}
    with pytest.raises(InvalidArgumentError, match=words.replace("[", r"\[")):
        check_compare(tiny, arguments["methods"], arguments["seeds"], arguments["budget_seconds"],
                      data=arguments["data"])


def test_a_table_without_recorded_seconds_is_refused(tmp_path: Path) -> None:
    table = TabularBenchmark.from_csv(_tiny_csv(tmp_path, ["arch", "test_acc", "valid_acc"]), NB201Space())
    with pytest.raises(InvalidArgumentError, match="train_seconds"):
        run_compare(table, methods=["rs"], seeds=1, budget_seconds=10)


def test_the_cli_writes_the_results_and_the_meta(tiny_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    done = CliRunner().invoke(main, ["compare", "--space", "nb201", "--data", "mnist1d", "--table", str(tiny_path),
                                     "--methods", "rs", "--seeds", "2", "--budget-seconds", "8", "--out", str(out),
                                     "--quiet"])
    assert done.exit_code == 0, done.output
    results = json.loads(out.read_text())
    assert results["budget_seconds"] == 8 and len(results["methods"]["rs"]["regret"]) == 2
    assert {"command", "commit", "date", "cpu_count", "cores_used"} <= set(results["meta"])
    assert results["meta"]["command"].startswith("infonas compare --space nb201")
    assert "rs" in done.output and "recorded" in done.output


@pytest.mark.parametrize(("change", "words"), [
    (["--methods", "rs,nope"], "unknown method 'nope'"),
    (["--space", "darts"], "no table covers the darts space"),
    (["--space", "macro"], "'macro' is not one of"),
    (["--budget-seconds", "0"], "--budget-seconds"),
    (["--seeds", "0"], "--seeds"),
    (["--objective", "acc"], "'acc'"),
])
def test_the_cli_reports_bad_inputs_in_one_line_with_status_2(tiny_path: Path, change: list, words: str) -> None:
    arguments = {"--table": str(tiny_path), "--methods": "rs", "--seeds": "1", "--budget-seconds": "8"}
    arguments.update(dict(zip(change[::2], change[1::2])))
    done = CliRunner().invoke(main, ["compare", "--quiet", *[w for pair in arguments.items() for w in pair]])
    assert done.exit_code == 2, done.output
    assert words in done.output and "Traceback" not in done.output
    assert [line for line in done.output.splitlines() if line.startswith("Error")] != []


def test_a_killed_comparison_resumes_its_finished_jobs_from_the_partial_log(tiny_path: Path, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import infonas.bench.compare as compare_module
    from infonas.bench.resume import partial_path

    out = tmp_path / "c.json"
    words = ["compare", "--table", str(tiny_path), "--methods", "rs", "--seeds", "2", "--budget-seconds", "8",
             "--out", str(out), "--quiet"]
    first = CliRunner().invoke(main, words)
    assert first.exit_code == 0, first.output
    finished = json.loads(out.read_text())["methods"]["rs"]
    assert not partial_path(out).exists()  # a finished run drops its log
    out.unlink()
    ran: list[tuple[str, int]] = []
    real_job = compare_module._job

    def counting_job(ctx: dict, method: str, seed: int) -> dict:
        ran.append((method, seed))
        if seed == 1:
            raise KeyboardInterrupt  # the kill, during the second job
        return real_job(ctx, method, seed)

    monkeypatch.setattr(compare_module, "_job", counting_job)
    CliRunner().invoke(main, words)
    assert ran == [("rs", 0), ("rs", 1)] and partial_path(out).exists() and not out.exists()
    ran.clear()
    monkeypatch.setattr(compare_module, "_job", lambda ctx, method, seed: (ran.append((method, seed)),
                                                                           real_job(ctx, method, seed))[1])
    resumed = CliRunner().invoke(main, words)
    assert resumed.exit_code == 0, resumed.output
    assert ran == [("rs", 1)]
    results = json.loads(out.read_text())
    assert results["methods"]["rs"]["arch"] == finished["arch"] and results["meta"]["resumed_jobs"] == 1
