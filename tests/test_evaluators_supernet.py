"""The supernet evaluator: metrics, BN handling per cell, setup cost, the registry and a Study over it.

Tiny: 256 digits to train on, 64 to validate, 2-4 channels, 1-2 epochs. Training seconds are read
from a fake clock where a test checks them, so no assertion depends on the machine's speed.
"""

from __future__ import annotations

import itertools
import types

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

import infonas.evaluators.supernet as supernet_module
import infonas.supernet.training as training_module
from infonas.datasets import load_splits
from infonas.evaluators import build_evaluator
from infonas.evaluators.supernet import BATCH_NORM_MODES, SupernetEvaluator
from infonas.exceptions import InvalidArgumentError
from infonas.study import Study
from infonas.supernet import SupernetTrainer, batch_norm_state
from infonas.trials import TrialStatus
from search_spaces import NB201Space

SPACE = NB201Space()
TINY = {"epochs": 2, "channels": 4, "batch_size": 32, "recalibration_batches": 2}
CELLS = [SPACE.parse(text) for text in (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|",
    "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|nor_conv_1x1~1|nor_conv_3x3~2|",
    "|skip_connect~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|nor_conv_3x3~0|skip_connect~1|nor_conv_1x1~2|",
)]
#: Seconds the fake clock advances per reading: every training epoch then lasts exactly this long.
TICK = 50.0


def _head(dataset: TensorDataset, n: int) -> TensorDataset:
    return TensorDataset(*(tensor[:n] for tensor in dataset.tensors))


@pytest.fixture(scope="module")
def data() -> tuple[TensorDataset, TensorDataset, TensorDataset]:
    train, valid, test = load_splits("digits", 0)
    return _head(train, 256), _head(valid, 64), _head(test, 64)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, data):
    """A directory holding the supernet of ``TINY`` settings, trained once for the module."""
    directory = tmp_path_factory.mktemp("supernet")
    SupernetEvaluator(data, checkpoint_dir=directory, **TINY).prepare()
    return directory


@pytest.fixture
def fake_clock(monkeypatch):
    """The trainer's clock advances ``TICK`` seconds per reading (two readings per epoch)."""
    ticks = itertools.count()
    monkeypatch.setattr(training_module, "time", types.SimpleNamespace(perf_counter=lambda: TICK * next(ticks)))


def test_metrics_and_ablations(data, checkpoint) -> None:
    plain = SupernetEvaluator(data, checkpoint_dir=checkpoint, **TINY)
    assert plain.metric_names == ("valid_accuracy",)
    assert list(plain.fidelities) == ["supernet"] and plain.target_fidelity == "supernet"
    result = plain.evaluate(CELLS[0])
    assert result.status is TrialStatus.COMPLETE and set(result.metrics) == {"valid_accuracy"}
    assert 0.0 <= result.metrics["valid_accuracy"] <= 100.0
    correct = result.metrics["valid_accuracy"] * 64 / 100  # a share of the 64 validation digits
    assert correct == pytest.approx(round(correct))
    ablations = SupernetEvaluator(data, checkpoint_dir=checkpoint, ablations=True, **TINY)
    names = ("valid_accuracy", "valid_accuracy_recal", "valid_accuracy_norecal", "valid_accuracy_batchstats")
    assert ablations.metric_names == names
    metrics = ablations.evaluate(CELLS[0]).metrics
    assert set(metrics) == set(names)
    assert metrics["valid_accuracy"] == metrics["valid_accuracy_recal"] == result.metrics["valid_accuracy"]


def test_each_mode_matches_its_ablation(data, checkpoint) -> None:
    # Scoring three modes in a row gives what each mode alone gives: every score starts from the
    # supernet's own statistics, whatever the one before it left behind.
    ablations = SupernetEvaluator(data, checkpoint_dir=checkpoint, ablations=True, **TINY)
    singles = {mode: SupernetEvaluator(data, checkpoint_dir=checkpoint, batch_norm=mode, **TINY)
               for mode in BATCH_NORM_MODES}
    for arch in CELLS[:3]:
        metrics = ablations.evaluate(arch).metrics
        for mode, suffix in BATCH_NORM_MODES.items():
            assert singles[mode].evaluate(arch).metrics["valid_accuracy"] == metrics[f"valid_accuracy_{suffix}"]
    chosen = SupernetEvaluator(data, checkpoint_dir=checkpoint, ablations=True, batch_norm="running", **TINY)
    metrics = chosen.evaluate(CELLS[0]).metrics
    assert metrics["valid_accuracy"] == metrics["valid_accuracy_norecal"]


def test_batch_norm_modes_differ(data, checkpoint) -> None:
    evaluator = SupernetEvaluator(data, checkpoint_dir=checkpoint, ablations=True, **TINY)
    scores = [evaluator.evaluate(arch).metrics for arch in CELLS]
    for a, b in itertools.combinations(BATCH_NORM_MODES.values(), 2):
        assert any(s[f"valid_accuracy_{a}"] != s[f"valid_accuracy_{b}"] for s in scores), (a, b, scores)


def test_evaluation_is_repeatable_and_leaves_statistics_alone(data, checkpoint) -> None:
    evaluator = SupernetEvaluator(data, checkpoint_dir=checkpoint, ablations=True, **TINY)
    supernet = evaluator.prepare().supernet
    before = batch_norm_state(supernet)
    weights = {k: v.clone() for k, v in supernet.state_dict().items()}
    first = evaluator.evaluate(CELLS[0]).metrics
    assert all(torch.equal(x, y) for a, b in zip(batch_norm_state(supernet), before) for x, y in zip(a, b))
    evaluator.evaluate(CELLS[1])
    assert evaluator.evaluate(CELLS[0]).metrics == first
    assert all(torch.equal(x, y) for a, b in zip(batch_norm_state(supernet), before) for x, y in zip(a, b))
    assert all(torch.equal(v, supernet.state_dict()[k]) for k, v in weights.items())
    assert not supernet.training
    # The statistics the evaluator keeps are those of the checkpoint.
    loaded = SupernetTrainer(evaluator.settings, data[0].tensors[0], data[0].tensors[1], checkpoint, num_classes=10)
    assert all(torch.equal(x, y) for a, b in zip(batch_norm_state(loaded.supernet), before) for x, y in zip(a, b))


def test_same_numbers_after_a_reload(data, checkpoint) -> None:
    first = SupernetEvaluator(data, checkpoint_dir=checkpoint, ablations=True, **TINY)
    second = SupernetEvaluator(data, checkpoint_dir=checkpoint, ablations=True, **TINY)
    for arch in CELLS[:2]:
        assert first.evaluate(arch).metrics == second.evaluate(arch).metrics


def test_setup_cost_is_the_training_time(data, tmp_path, fake_clock) -> None:
    directory = tmp_path / "supernet"
    evaluator = SupernetEvaluator(data, checkpoint_dir=directory, **{**TINY, "channels": 2})
    assert evaluator.setup_cost() == 0.0
    trainer = evaluator.prepare()
    assert trainer.seconds == 2 * TICK  # two epochs on the fake clock
    assert evaluator.setup_cost() == trainer.seconds
    assert evaluator.prepare() is trainer, "prepared once"
    evaluator.evaluate(CELLS[0])
    assert evaluator.setup_cost() == 2 * TICK, "evaluations are not setup"
    fresh = SupernetEvaluator(data, checkpoint_dir=directory, **{**TINY, "channels": 2})
    assert fresh.setup_cost() == 2 * TICK  # read from the checkpoint, nothing trained
    fresh.prepare()
    assert fresh.setup_cost() == 2 * TICK, "a finished checkpoint costs nothing more"
    in_memory = SupernetEvaluator(data, **{**TINY, "channels": 2})
    assert in_memory.setup_cost() == 0.0
    in_memory.prepare()
    assert in_memory.setup_cost() == 2 * TICK


def test_study_charges_the_setup_once(data, fake_clock, monkeypatch) -> None:
    # The evaluator's own clock ticks 1 second a reading: every trial then costs exactly 1.
    ticks = itertools.count()
    monkeypatch.setattr(supernet_module, "time", types.SimpleNamespace(perf_counter=lambda: float(next(ticks))))
    evaluator = SupernetEvaluator(data, **{**TINY, "channels": 2})
    study = Study.create(None, SPACE, evaluator, "valid_accuracy", strategy="rs", seed=0)
    assert study.spent_cost() == 0.0
    study.optimize(evaluations=3)
    trials = study.finished_trials()
    assert len(trials) == 3 and all(t.is_complete for t in trials)
    assert evaluator.setup_cost() == 2 * TICK
    assert [t.cost for t in trials] == [1.0, 1.0, 1.0], "no trial pays for the training"
    assert study.spent_cost() == 3.0 + 2 * TICK
    from infonas.report import summary_text

    assert "setup" in summary_text(study)


def test_build_from_spec() -> None:
    evaluator = build_evaluator({"kind": "supernet", "dataset": "digits", "epochs": 1, "channels": 2,
                                 "recalibration_batches": 1, "batch_norm": "batch"}, SPACE)
    assert isinstance(evaluator, SupernetEvaluator)
    assert evaluator.settings.epochs == 1 and evaluator.settings.channels == 2
    assert evaluator.batch_norm == "batch" and evaluator.setup_cost() == 0.0
    with pytest.raises(InvalidArgumentError, match="cifar10"):
        build_evaluator({"kind": "supernet", "dataset": "cifar10"}, SPACE)
    with pytest.raises(TypeError):
        build_evaluator({"kind": "supernet", "dataset": "digits", "no_such_option": 1}, SPACE)


@pytest.mark.parametrize("bad", [{"batch_norm": "layer"}, {"recalibration_batches": 0}, {"eval_batch_size": 1},
                                 {"mode": "darts"}, {"path_dropout": 1.0}])
def test_bad_options_are_refused(data, bad) -> None:
    with pytest.raises(InvalidArgumentError, match=str(next(iter(bad.values())))):
        SupernetEvaluator(data, **{**TINY, **bad})


def test_bad_data_is_refused(data) -> None:
    with pytest.raises(InvalidArgumentError, match="triple"):
        SupernetEvaluator(data[:2], **TINY)


def test_recalibration_batches_are_fixed_per_seed(data) -> None:
    a = SupernetEvaluator(data, **TINY)
    b = SupernetEvaluator(data, **TINY)
    c = SupernetEvaluator(data, **{**TINY, "seed": 1})
    assert len(a._recalibration) == 2 and all(len(batch) == 32 for batch in a._recalibration)
    assert all(torch.equal(x, y) for x, y in zip(a._recalibration, b._recalibration))
    assert not all(torch.equal(x, y) for x, y in zip(a._recalibration, c._recalibration))


def test_signals_are_scored_in_one_dimension() -> None:
    generator = torch.Generator().manual_seed(0)

    def split(n: int) -> TensorDataset:
        return TensorDataset(torch.randn(n, 1, 40, generator=generator), torch.randint(0, 10, (n,), generator=generator))

    evaluator = SupernetEvaluator((split(96), split(32), split(32)), **{**TINY, "epochs": 1, "channels": 2})
    metrics = evaluator.evaluate(CELLS[1]).metrics
    assert evaluator.prepare().config.spatial_dims == 1
    assert np.isfinite(metrics["valid_accuracy"])
