"""The MnasNet reward as a derived objective: any single-objective strategy searches it, runs resume."""

from __future__ import annotations

import pytest
from conftest import costs_with_latency

from infonas.evaluators.derived import MnasNetReward, mnasnet_spec
from infonas.evaluators.registry import build_evaluator, table_spec
from infonas.evaluators.tabular import TabularBenchmark, TabularEvaluator
from infonas.exceptions import InvalidArgumentError
from infonas.study import Study
from search_spaces import NB201Space
from search_spaces.nb201.cost_tables import ArchitectureCosts
from search_spaces.nb201.network import NetworkConfig

SPACE = NB201Space()
CIFAR10 = NetworkConfig.for_dataset("cifar10")


@pytest.fixture(scope="module")
def costs() -> ArchitectureCosts:
    return costs_with_latency()


def test_the_reward_is_accuracy_times_relative_latency_to_the_exponent(synthetic_table_file, costs):
    base = TabularEvaluator(TabularBenchmark.from_csv(synthetic_table_file, SPACE), "acc", cheap={"acc_cheap": 0.1})
    target = float(costs.value(SPACE.make(["nor_conv_3x3"] * 6), "latency_ms"))
    evaluator = MnasNetReward(base, costs, accuracy="acc", target_ms=target, exponent=-0.5)
    for ops in (["nor_conv_3x3"] * 6, ["skip_connect"] * 6):
        arch = SPACE.make(ops)
        for fidelity in ("acc", "acc_cheap"):
            result = evaluator.evaluate(arch, fidelity)
            accuracy = base.evaluate(arch, fidelity).metrics["acc"]
            expected = accuracy * (costs.value(arch, "latency_ms") / target) ** -0.5
            assert result.metrics["mnasnet_reward"] == pytest.approx(expected)
    # At the target latency the reward is the accuracy; a faster cell earns more per point.
    conv = SPACE.make(["nor_conv_3x3"] * 6)
    assert evaluator.evaluate(conv).metrics["mnasnet_reward"] == pytest.approx(base.evaluate(conv).metrics["acc"])
    assert evaluator.fidelities == base.fidelities and evaluator.metric_names[-1] == "mnasnet_reward"


def test_a_single_objective_strategy_searches_the_reward_and_the_run_resumes(synthetic_table_file, costs, tmp_path):
    spec = mnasnet_spec(table_spec(str(synthetic_table_file), "acc"), costs, accuracy="acc", target_ms=5.0)
    run = tmp_path / "mnasnet"
    study = Study.create(run, SPACE, build_evaluator(spec, SPACE), "mnasnet_reward", strategy="rea", seed=0,
                         evaluator_spec=spec)
    study.optimize(12)
    rewards = [t.metrics["mnasnet_reward"] for t in study.finished_trials()]
    assert len(rewards) == 12 and study.best()[0].metrics["mnasnet_reward"] == max(rewards)
    resumed = Study.load(run)
    resumed.optimize(16)
    again = [t.metrics["mnasnet_reward"] for t in resumed.finished_trials()]
    assert again[:12] == rewards and len(again) == 16


def test_bad_inputs_are_refused(synthetic_table_file, costs):
    base = TabularEvaluator(TabularBenchmark.from_csv(synthetic_table_file, SPACE), "acc")
    no_latency = ArchitectureCosts.measure(SPACE, CIFAR10, latency=False)
    with pytest.raises(InvalidArgumentError, match="latency=True"):
        MnasNetReward(base, no_latency, accuracy="acc", target_ms=5.0)
    with pytest.raises(InvalidArgumentError, match="not the accuracy 'top1'"):
        MnasNetReward(base, costs, accuracy="top1", target_ms=5.0)
    with pytest.raises(InvalidArgumentError, match="positive latency"):
        MnasNetReward(base, costs, accuracy="acc", target_ms=0.0)
