"""`infonas compare --space darts`: methods trained live on one wall clock, final genotypes retrained;
the DARTS chain's prices measured (`infonas bench prices --measure`) and read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from torch.utils.data import TensorDataset

from infonas.bench.compare_live import (
    RETRAIN_SEED,
    LiveSettings,
    check_live_compare,
    format_live_table,
    retrain,
    run_live_compare,
)
from infonas.bench.prices import measure_prices
from infonas.cli import main
from infonas.datasets import load_splits
from infonas.evaluators.chain import CHEAP, PRICE_FILES, measured_costs
from infonas.evaluators.registry import build_evaluator, mnist1d_chain_spec
from infonas.exceptions import InvalidArgumentError
from search_spaces import get_space
from search_spaces.darts.cost_tables import DartsCosts

#: A narrow network, one epoch everywhere: the contract, not the accuracy.
TINY = LiveSettings(epochs=1, supernet_epochs=1, retrain_epochs=1, retrain_seeds=2, channels=2)


@pytest.fixture(scope="module")
def small_splits() -> tuple[TensorDataset, ...]:
    """The first signals of each MNIST-1D split, as the tensors every method takes."""
    train, valid, test = load_splits("mnist1d", 0)
    return tuple(TensorDataset(*(t[:n] for t in split.tensors)) for split, n in ((train, 192), (valid, 96), (test, 96)))


@pytest.fixture(scope="module")
def compared(small_splits: tuple) -> dict:
    return run_live_compare("darts", methods=["bo-mf", "gdas"], seeds=1, budget_seconds=3, settings=TINY,
                            splits=small_splits)


def test_every_method_returns_a_retrained_genotype_with_its_exact_costs(compared: dict, small_splits: tuple) -> None:
    space = get_space("darts")
    assert (compared["space"], compared["table"], compared["settings"]["retrain_seeds"]) == ("darts", None, 2)
    assert compared["prices"]["cost_source"] == str(PRICE_FILES["darts"])
    from infonas.evaluators.training import TrainingEvaluator

    config = TrainingEvaluator(small_splits, epochs=1, **TINY.network).network_config_for("darts")
    costs = DartsCosts.measure(config)
    for method, record in compared["methods"].items():
        assert record["clock"] == "measured"
        arch = space.parse(record["arch"][0])
        assert record["flops"][0] == costs.value(arch, "flops") and record["params"][0] == costs.value(arch, "params")
        assert len(record["test_acc_seeds"][0]) == 2
        assert record["test_acc"][0] == pytest.approx(sum(record["test_acc_seeds"][0]) / 2)
        assert record["search_seconds"][0] > 0, method
    # How many trainings fit in 3 s depends on the machine's load; at least one evaluation always does.
    assert compared["methods"]["bo-mf"]["evaluations"][0] >= 1
    assert compared["methods"]["bo-mf"]["selected_at"][0] in ("supernet", "train")
    bo = {key: compared["methods"]["bo-mf"][key][0] for key in ("evaluation_seconds", "setup_seconds",
                                                                 "thinking_seconds", "search_seconds")}
    assert bo["evaluation_seconds"] > 0 and bo["setup_seconds"] >= 0 and bo["thinking_seconds"] >= 0
    assert bo["evaluation_seconds"] + bo["setup_seconds"] <= bo["search_seconds"] + 1e-6
    assert compared["methods"]["gdas"]["epochs_done"][0] >= 1
    assert "gdas" in format_live_table(compared)


def test_retraining_uses_its_own_seeds_and_is_reproducible(small_splits: tuple) -> None:
    arch = get_space("darts").sample(__import__("numpy").random.default_rng(3))
    first, again = retrain(arch, small_splits, TINY), retrain(arch, small_splits, TINY)
    assert first == again and len(first) == 2 and RETRAIN_SEED > 100


@pytest.mark.parametrize("change, words", [
    ({"space": "nb201"}, "give --table"),
    ({"methods": ["rsps"]}, "rsps"),
    ({"methods": ["gdas", "gdas"]}, "drop the repeats"),
    ({"methods": ["nope"]}, "unknown method"),
    ({"budget_seconds": 0}, "budget_seconds"),
    ({"seeds": 0}, "seeds"),
    ({"data": "cifar10"}, "embedded data set"),
    ({"methods": ["bo-mf"], "budget_seconds": 1}, "supernet"),
])
def test_bad_arguments_fail_before_any_search(small_splits: tuple, change: dict, words: str) -> None:
    arguments = {"space": "darts", "methods": ["gdas"], "seeds": 1, "budget_seconds": 10, "data": "mnist1d", **change}
    settings = LiveSettings(supernet_epochs=30)
    with pytest.raises(InvalidArgumentError, match=words):
        check_live_compare(arguments["space"], arguments["methods"], arguments["seeds"], arguments["budget_seconds"],
                           settings, arguments["data"], small_splits)


@pytest.mark.parametrize("arguments, words", [
    (["--space", "darts", "--table", "x.csv"], "no table covers the darts space"),
    (["--space", "nb201"], "give --table"),
    (["--space", "darts", "--methods", "rsps"], "rsps"),
    (["--space", "darts", "--retrain-seeds", "0"], "retrain-seeds"),
])
def test_the_cli_reports_bad_inputs_in_one_line_with_status_2(arguments: list, words: str) -> None:
    result = CliRunner().invoke(main, ["compare", "--budget-seconds", "10", *arguments])
    assert result.exit_code == 2 and words in result.output and "Traceback" not in result.output


def test_darts_prices_come_from_the_measured_file(tmp_path: Path) -> None:
    """cost(supernet) = s_cell (64 K + V) / (64 K0 + m V) / (e s_epoch); setup = E s_sn / (e s_epoch)."""
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"settings": {"epochs": 2, "recalibration_batches": 5},
                                "phases": {"train-seed0": {"finished": 4, "seconds": 16.0},
                                           "supernet-spos": {"epochs_done": 2, "seconds": 6.0},
                                           "scores-spos": {"finished": 4, "seconds": 2.0, "batch_norm_modes": 1}}}))
    prices = measured_costs(epochs=3, supernet_epochs=10, recalibration_batches=10, provenance=path)
    training = 2.0 * 3  # 16 s / 4 cells / 2 epochs, times 3 epochs
    assert prices["training_seconds"] == pytest.approx(training)
    assert prices["costs"][CHEAP] == pytest.approx(0.5 * (640 + 800) / (320 + 800) / training)
    assert prices["setup_cost"] == pytest.approx(3.0 * 10 / training)


def test_measured_prices_are_written_in_the_schema_the_chain_reads(small_splits: tuple, tmp_path: Path) -> None:
    record = measure_prices("darts", cells=2, epochs=1, supernet_epochs=1, channels=2, splits=small_splits)
    assert record["phases"]["train-seed0"]["finished"] == 2 and record["phases"]["scores-spos"]["batch_norm_modes"] == 1
    path = tmp_path / "darts.json"
    path.write_text(json.dumps(record))
    prices = measured_costs(1, 10, 10, provenance=path)
    assert 0 < prices["costs"][CHEAP] and prices["setup_cost"] > 0
    with pytest.raises(InvalidArgumentError, match="spaces with a supernet"):
        measure_prices("macro", splits=small_splits)


def test_the_darts_chain_spec_builds_the_darts_supernet_and_trainer(tmp_path: Path) -> None:
    spec = mnist1d_chain_spec(tmp_path / "supernet", space="darts", channels=2)
    assert spec["cheap"]["space"] == "darts" and spec["cost_source"] == str(PRICE_FILES["darts"])
    assert "space" not in mnist1d_chain_spec(tmp_path / "nb201")["cheap"]  # NB201's spec as it was
    chain = build_evaluator(spec, get_space("darts"))
    assert chain.fidelities[CHEAP].cost == pytest.approx(spec["costs"][CHEAP])


def test_bad_settings_and_unpriced_spaces_are_refused_with_the_rule() -> None:
    from infonas.evaluators.chain import price_file

    with pytest.raises(InvalidArgumentError, match="must be positive"):
        LiveSettings(retrain_seeds=0)
    with pytest.raises(InvalidArgumentError, match="must be positive"):
        LiveSettings(learning_rate=0.0)
    assert price_file("darts") == PRICE_FILES["darts"]
    with pytest.raises(InvalidArgumentError, match="pass costs and setup_cost explicitly"):
        price_file("macro")
    with pytest.raises(InvalidArgumentError, match="pass costs and setup_cost explicitly"):
        measured_costs(3, 30, space="macro")
