"""The multi-fidelity Pareto strategy (bo-mf-pareto): validation, and a Study on a tiny table end to end."""

from __future__ import annotations

import numpy as np
import pytest

from infonas.evaluators.base import Fidelity
from infonas.evaluators.tabular import TabularBenchmark, TabularEvaluator
from infonas.exceptions import InvalidArgumentError, UnsupportedError
from infonas.objectives import parse_objectives
from infonas.strategies import make_strategy
from infonas.strategies.base import Suggestion
from infonas.strategies.mf_pareto import MultiFidelityParetoStrategy
from infonas.study import Study
from search_spaces.nb201.cost_tables import ArchitectureCosts
from search_spaces.nb201.network import NetworkConfig

OPTIONS = {"n_init": 6, "n_init_target": 2, "maxiter": 15, "h_values": [1], "num_samples": 16}
FIDELITIES = [Fidelity("acc_cheap", 0.1, 0), Fidelity("acc", 1.0, 1)]


@pytest.fixture(scope="module")
def costs():
    """Exact-form cost tables (base + per-edge increments) with made-up increments: no network is built."""
    from search_spaces import NB201Space

    increments = {"none": 0, "skip_connect": 0, "avg_pool_3x3": 1_000, "nor_conv_1x1": 20_000, "nor_conv_3x3": 70_000}
    return ArchitectureCosts(NB201Space(), NetworkConfig.for_dataset("cifar10"), 8_000, increments, 70_000,
                             {op: value // 10 for op, value in increments.items()})


@pytest.fixture
def tiny(space):
    """60 NB201 cells: accuracy rises with the conv count (as FLOPs do), plus noise; the cheap column
    is a noisier, biased copy of it (correlated, different optimum)."""
    rng = np.random.default_rng(0)
    archs = sorted({space.sample(rng) for _ in range(80)}, key=space.format)[:60]
    convs = np.array([sum(op.startswith("nor_conv") for op in arch.ops) for arch in archs], dtype=float)
    acc = 50 + 7 * convs + rng.normal(0, 3, len(archs))
    table = TabularBenchmark(space, archs, {"acc": acc, "acc_cheap": acc - 5 + rng.normal(0, 2, len(archs))})
    return TabularEvaluator(table, "acc", cheap={"acc_cheap": 0.1})


def test_rejects_problems_it_cannot_solve(space, costs):
    objectives = parse_objectives("acc:max,flops:min")
    with pytest.raises(UnsupportedError, match=r"two or more fidelities.*\['acc'\].*cheap fidelity"):
        MultiFidelityParetoStrategy(space, "acc", objectives=objectives, computed=costs,
                                    fidelities=[Fidelity("acc", 1.0, 0)])
    with pytest.raises(UnsupportedError, match=r"exactly one measured.*\['acc', 'loss'\].*computed"):
        MultiFidelityParetoStrategy(space, "acc", objectives=parse_objectives("acc:max,loss:min"),
                                    fidelities=FIDELITIES)
    with pytest.raises(InvalidArgumentError, match="n_init_target must be at least 1.*got 0: use 1 or more"):
        MultiFidelityParetoStrategy(space, "acc", fidelities=FIDELITIES, n_init_target=0)


def test_registered_with_its_problem_kind(space, costs):
    strategy = make_strategy("bo-mf-pareto", space, "acc", objectives=parse_objectives("acc:max,flops:min"),
                             computed=costs, fidelities=FIDELITIES)
    assert isinstance(strategy, MultiFidelityParetoStrategy)
    assert strategy.multi_objective and strategy.multi_fidelity and strategy.name == "bo-mf-pareto"
    assert [o.name for o in strategy.modelled] == ["acc"] and [o.name for o in strategy.known] == ["flops"]
    with pytest.raises(InvalidArgumentError, match="fidelity 'nope'"):
        strategy.suggest([0], pending=[Suggestion(space.make(["none"] * 6), "nope")])


def test_study_on_a_tiny_table_buys_both_fidelities_and_finds_a_front(tiny, costs):
    study = Study.create(None, tiny.table.space, tiny, strategy="bo-mf-pareto", seed=0, strategy_options=OPTIONS,
                         objectives="acc:max,flops:min", computed=costs)
    trials = study.optimize(30).finished_trials()
    assert len(trials) == 30 and all(t.is_complete for t in trials)
    fidelities = [t.fidelity for t in trials]
    # bo-mf's initial design: cheap looks, then the two best of them at the target.
    assert fidelities[:6] == ["acc_cheap"] * 6
    best_cheap = sorted(trials[:6], key=lambda t: -t.metrics["acc"])[:2]
    assert [t.arch for t in trials[6:8]] == [t.arch for t in best_cheap] and fidelities[6:8] == ["acc", "acc"]
    # Then the acquisition buys both kinds, each pair once, never a cheap look after the real one.
    assert "acc" in fidelities[8:] and "acc_cheap" in fidelities[8:]
    pairs = [(t.arch.key, t.fidelity) for t in trials]
    assert len(pairs) == len(set(pairs))
    for i, trial in enumerate(trials):
        if trial.fidelity == "acc_cheap":
            assert all(not (t.arch.key == trial.arch.key and t.fidelity == "acc") for t in trials[:i])
    assert study.strategy.surrogate.fidelity_correlation()[0, 1] > 0.5
    # The front is of the target-fidelity trials, non-dominated, and dominates every other one.
    at_target = [t for t in trials if t.fidelity == "acc"]
    front = study.pareto_front()
    assert front and {t.number for t in front} <= {t.number for t in at_target}

    def dominates(a, b):
        return (a.metrics["acc"] >= b.metrics["acc"] and a.metrics["flops"] <= b.metrics["flops"]
                and (a.metrics["acc"], a.metrics["flops"]) != (b.metrics["acc"], b.metrics["flops"]))

    assert not any(dominates(a, b) for a in front for b in front)
    assert all(any(dominates(a, t) for a in front) for t in at_target if t.number not in {f.number for f in front})
    assert all(t.metrics["flops"] == costs.value(t.arch, "flops") for t in at_target)
    assert study.hypervolume() > study.hypervolume(at_target[:2])
