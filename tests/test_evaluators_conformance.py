"""The evaluator conformance suite (infonas.testing.evaluators) run over every evaluator: a table,
training from scratch (one epoch on a small slice of the digits), a weight-sharing supernet (one
epoch on a smaller slice) and the fake."""

from __future__ import annotations

import pytest
from torch.utils.data import TensorDataset

from infonas.evaluators.supernet import SupernetEvaluator
from infonas.evaluators.tabular import TabularBenchmark, TabularEvaluator
from infonas.evaluators.training import TrainingEvaluator, load_digits_splits
from infonas.testing.evaluators import EvaluatorConformance
from infonas.testing.fakes import FakeEvaluator
from search_spaces import NB201Space


class TestTabularEvaluator(EvaluatorConformance):
    @pytest.fixture
    def evaluator(self, tiny_table_file, space):
        table = TabularBenchmark.from_csv(tiny_table_file, space)
        return TabularEvaluator(table, "acc", cheap={"acc_cheap": 0.1})

    @pytest.fixture
    def archs(self, evaluator):
        return list(evaluator.table.archs[:3])


def _head(dataset: TensorDataset, n: int) -> TensorDataset:
    return TensorDataset(*(tensor[:n] for tensor in dataset.tensors))


class TestTrainingEvaluator(EvaluatorConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def evaluator(cls):
        train, valid, test = load_digits_splits(seed=0)
        # A few hundred images and four channels: an epoch takes a fraction of a second.
        data = (_head(train, 256), _head(valid, 64), _head(test, 64))
        return TrainingEvaluator(data, epochs={"one": 1, "two": 2}, num_cells=1, channels=4, batch_size=64)

    @pytest.fixture
    def archs(self):
        return [NB201Space().parse("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|"
                                   "nor_conv_3x3~2|")]


class TestSupernetEvaluator(EvaluatorConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def evaluator(cls):
        train, valid, test = load_digits_splits(seed=0)
        # Two channels, one epoch on 128 images; the ablations make every metric of every mode count.
        data = (_head(train, 128), _head(valid, 64), _head(test, 64))
        return SupernetEvaluator(data, epochs=1, channels=2, batch_size=32, recalibration_batches=2, ablations=True)

    @pytest.fixture
    def archs(self):
        return [NB201Space().parse("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|"
                                   "nor_conv_3x3~2|"), NB201Space().make(["none"] * 6)]


class TestFakeEvaluator(EvaluatorConformance):
    @pytest.fixture(params=[None, 0.1], ids=["one-fidelity", "two-fidelities"])
    def evaluator(self, request, space):
        return FakeEvaluator(space, cheap_cost=request.param)

    @pytest.fixture
    def archs(self, space):
        return [space.make(["nor_conv_3x3"] * 6), space.make(["none"] * 6)]

    def test_deterministic_with_interactions(self, space):
        evaluator, again = FakeEvaluator(space, cheap_cost=0.1), FakeEvaluator(space, cheap_cost=0.1)
        base = space.make(["nor_conv_3x3"] * 6)
        assert evaluator.value(base) == again.value(base)
        assert evaluator.value(base, "acc_cheap") != evaluator.value(base)
        # Interactions: the effect of editing edge 0 depends on the op on edge 5.
        def edited(ops, position, op):
            ops = list(ops)
            ops[position] = op
            return space.make(ops)

        other = edited(base.ops, 5, "skip_connect")
        gain_here = evaluator.value(edited(base.ops, 0, "avg_pool_3x3")) - evaluator.value(base)
        gain_there = evaluator.value(edited(other.ops, 0, "avg_pool_3x3")) - evaluator.value(other)
        assert gain_here != pytest.approx(gain_there)
        with pytest.raises(ValueError, match="cheap_cost"):
            FakeEvaluator(space, cheap_cost=1.5)


class TestMnasNetReward(EvaluatorConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def costs(cls):
        from conftest import costs_with_latency

        return costs_with_latency()

    @pytest.fixture
    def evaluator(self, tiny_table_file, space, costs):
        from infonas.evaluators.derived import MnasNetReward

        base = TabularEvaluator(TabularBenchmark.from_csv(tiny_table_file, space), "acc", cheap={"acc_cheap": 0.1})
        return MnasNetReward(base, costs, accuracy="acc", target_ms=5.0)

    @pytest.fixture
    def archs(self, evaluator):
        return list(evaluator.base.table.archs[:3])
