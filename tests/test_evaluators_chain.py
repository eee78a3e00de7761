"""FidelityChain: a supernet's score and a training as two fidelities of one evaluator, at fixed
prices derived from the mnist1d table's measured seconds; the main job's network agrees with the table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from torch.utils.data import TensorDataset

from infonas.evaluators import build_evaluator, chain_spec, mnist1d_chain_spec, supernet_spec, training_spec
from infonas.evaluators.chain import PROVENANCE, FidelityChain, measured_costs
from infonas.evaluators.supernet import SupernetEvaluator
from infonas.evaluators.training import TrainingEvaluator, load_digits_splits
from infonas.exceptions import InvalidArgumentError
from infonas.study import Study
from infonas.testing.evaluators import EvaluatorConformance
from infonas.testing.fakes import FakeEvaluator
from infonas.trials import TrialStatus
from search_spaces import NB201Space

TABLE = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "nb201_mnist1d.csv"
CELL = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|"
PRICES = {"supernet": 0.05, "train": 1.0}


def _head(dataset: TensorDataset, n: int) -> TensorDataset:
    return TensorDataset(*(tensor[:n] for tensor in dataset.tensors))


def _tiny_chain(checkpoint_dir: Path | None = None, setup_cost: float = 3.0) -> FidelityChain:
    train, valid, test = load_digits_splits(seed=0)
    data = (_head(train, 128), _head(valid, 64), _head(test, 64))
    cheap = SupernetEvaluator(data, epochs=1, channels=2, batch_size=32, recalibration_batches=2,
                              checkpoint_dir=checkpoint_dir)
    target = TrainingEvaluator(data, epochs=1, channels=2, batch_size=32)
    return FidelityChain(cheap, target, costs=PRICES, setup_cost=setup_cost)


class TestFidelityChain(EvaluatorConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def evaluator(cls):
        return _tiny_chain()

    @pytest.fixture
    def archs(self):
        return [NB201Space().parse(CELL), NB201Space().make(["none"] * 6)]


def test_fidelities_renamed_metrics_and_fixed_costs(space) -> None:
    chain = _tiny_chain()
    assert [(f.name, f.cost, f.level) for f in chain.fidelities.values()] == [("supernet", 0.05, 0), ("train", 1.0, 1)]
    assert chain.target_fidelity == "train" and chain.metric_names == ("valid_acc",)
    cheap, full = chain.evaluate(space.parse(CELL), "supernet"), chain.evaluate(space.parse(CELL))
    assert set(cheap.metrics) == {"valid_acc", "seconds"}
    assert set(full.metrics) == {"valid_acc", "test_acc", "train_loss", "seconds"}
    # The price, never the measured seconds: two runs with one seed decide alike.
    assert (cheap.cost, full.cost) == (0.05, 1.0) and cheap.metrics["seconds"] > 0 and full.metrics["seconds"] > 0
    # The target's own numbers, only renamed.
    direct = chain.target.evaluate(space.parse(CELL))
    assert full.metrics["valid_acc"] == direct.metrics["valid_accuracy"]
    assert full.metrics["test_acc"] == direct.metrics["test_accuracy"]


def test_a_failed_inner_evaluation_costs_its_price(space, monkeypatch) -> None:
    chain = _tiny_chain()

    def broken(arch, fidelity):
        raise RuntimeError("no memory")

    monkeypatch.setattr(chain.target, "_evaluate", broken)
    result = chain.evaluate(space.parse(CELL), "train")
    assert result.status is TrialStatus.FAILED and "no memory" in result.error and result.cost == 1.0


def test_curve_metrics_are_renamed_by_prefix(space) -> None:
    chain = FidelityChain(FakeEvaluator(space, "valid_accuracy"), TrainingEvaluator(
        (_head(load_digits_splits(0)[0], 64),) * 3, epochs=2, channels=2, curve=True), costs=PRICES)
    assert {"valid_acc_ep1", "valid_acc_ep2"} <= set(chain.evaluate(space.parse(CELL)).metrics)


def test_bad_prices_are_refused(space) -> None:
    fake = FakeEvaluator(space)
    for costs in ({"supernet": 0.1}, {"supernet": 0.0, "train": 1.0}, {"cheap": 0.1, "train": 1.0}):
        with pytest.raises(InvalidArgumentError, match="positive price"):
            FidelityChain(fake, fake, costs=costs)
    with pytest.raises(InvalidArgumentError, match="setup_cost"):
        FidelityChain(fake, fake, costs=PRICES, setup_cost=-1.0)
    with pytest.raises(InvalidArgumentError, match="share none"):
        FidelityChain(FakeEvaluator(space, "x"), FakeEvaluator(space, "y"), costs=PRICES)


def test_setup_cost_is_charged_once_after_the_supernet_starts(tmp_path, space) -> None:
    chain = _tiny_chain(tmp_path / "supernet")
    assert chain.setup_cost() == 0.0  # nothing trained: a search that never asks the supernet pays nothing
    study = Study.create(None, space, chain, "valid_acc", strategy="rs", seed=0)
    study.optimize(3)
    assert study.spent_cost() == pytest.approx(3.0) and not (tmp_path / "supernet").exists()
    chain.prepare()
    assert chain.setup_cost() == 3.0 and chain.setup_seconds() > 0
    trial = study.ask()[0]
    study.tell(trial, chain.evaluate(trial.arch, "supernet"))
    assert study.spent_cost() == pytest.approx(3.0 + 0.05 + 3.0)
    # A fresh process sees the trained supernet in its checkpoint: the same charge, no training.
    again = _tiny_chain(tmp_path / "supernet")
    assert again.setup_cost() == 3.0 and again.setup_seconds() == chain.setup_seconds()


def test_spec_round_trip_rebuilds_the_same_chain(tmp_path, space) -> None:
    spec = chain_spec(supernet_spec(tmp_path / "supernet", dataset="digits", epochs=1, channels=2,
                                    recalibration_batches=2),
                      training_spec(epochs=1, channels=2), PRICES, 2.5, cost_source="test")
    spec = json.loads(json.dumps(spec))  # as config.json stores it
    chain = build_evaluator(spec, space)
    assert isinstance(chain, FidelityChain) and chain.fixed_setup_cost == 2.5
    assert {n: f.cost for n, f in chain.fidelities.items()} == PRICES
    assert chain.cheap.checkpoint_dir == tmp_path / "supernet" and chain.target.epochs == {"full": 1}
    first = chain.evaluate(space.parse(CELL), "supernet")
    second = build_evaluator(spec, space).evaluate(space.parse(CELL), "supernet")
    assert first.metrics["valid_acc"] == second.metrics["valid_acc"]  # trained once, then read from the checkpoint


def test_prices_come_from_the_table_provenance(tmp_path) -> None:
    data = json.loads(PROVENANCE.read_text())
    phases = data["phases"]
    training = phases["train-seed0"]["seconds"] / phases["train-seed0"]["finished"]  # 3 epochs each
    prices = measured_costs(epochs=3, supernet_epochs=100)
    assert prices["cost_source"] == str(PROVENANCE) and prices["costs"]["train"] == 1.0
    # One of the three BN modes the table timed: recalibration (10 x 64 signals) and one pass over 800.
    share = (640 + 800) / (640 + 3 * 800)
    assert prices["costs"]["supernet"] == pytest.approx(phases["scores-spos"]["seconds"] / 2000 * share / training)
    assert measured_costs(3, 100, recalibration_batches=20)["costs"]["supernet"] > prices["costs"]["supernet"]
    assert prices["setup_cost"] == pytest.approx(phases["supernet-spos"]["seconds"] / training)
    # Twice the epochs: a training costs twice as many seconds, the supernet's prices halve.
    assert measured_costs(6, 100)["setup_cost"] == pytest.approx(prices["setup_cost"] / 2)
    # Without the measurements there are no prices: the error says where they were looked for.
    with pytest.raises(InvalidArgumentError, match="missing.json, which could not be read"):
        measured_costs(3, 100, provenance=tmp_path / "missing.json")
    with pytest.raises(InvalidArgumentError, match="epochs"):
        measured_costs(0, 10)


def test_the_main_job_network_agrees_with_the_table(tmp_path, space) -> None:
    """FLOPs from ArchitectureCosts over the job's network equal the table's column, and a cell
    trained by the job's target reproduces its table row."""
    from search_spaces.nb201.cost_tables import ArchitectureCosts

    spec = mnist1d_chain_spec(tmp_path / "supernet", epochs=3, supernet_epochs=100)
    assert spec["cheap"]["epochs"] == 100 and spec["target"]["epochs"] == 3 and spec["target"]["channels"] == 8
    target = build_evaluator(spec["target"], space)
    with TABLE.open() as handle:
        rows = [row for _, row in zip(range(20), csv.DictReader(handle))]
    costs = ArchitectureCosts.measure(space, target.network_config, latency=False)
    archs = [space.parse(row["arch"]) for row in rows]
    assert costs.values(archs, "flops").tolist() == [float(row["flops"]) for row in rows]
    assert costs.values(archs, "params").tolist() == [float(row["params"]) for row in rows]
    result = target.evaluate(archs[0])
    # The same seed, data split and settings as the table's build (a last-digit difference in a
    # library's kernels could flip a sample or two: 1 point is 8 of 800 validation signals).
    assert abs(result.metrics["valid_accuracy"] - float(rows[0]["valid_acc"])) <= 1.0


def test_bench_prices_prints_the_measured_prices_as_search_options() -> None:
    from click.testing import CliRunner

    from infonas.cli import main

    result = CliRunner().invoke(main, ["bench", "prices", "--epochs", "3", "--supernet-epochs", "100"])
    assert result.exit_code == 0, result.output
    prices = measured_costs(3, 100)
    assert result.output.split() == ["--cheap-cost", f"{prices['costs']['supernet']:.4g}", "--cheap-setup-cost",
                                     f"{prices['setup_cost']:.4g}", "--unit-seconds",
                                     f"{prices['training_seconds']:.4g}"]
