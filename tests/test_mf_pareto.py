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
    # Batches of sixteen cheap looks (the default) at a tenth of a target's cost: 40 trials buy some targets.
    study = Study.create(None, tiny.table.space, tiny, strategy="bo-mf-pareto", seed=2, strategy_options=OPTIONS,
                         objectives="acc:max,flops:min", computed=costs)
    trials = study.optimize(40).finished_trials()
    assert len(trials) == 40 and all(t.is_complete for t in trials)
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


def _study(tiny, costs, run_dir=None, **options):
    return Study.create(run_dir, tiny.table.space, tiny, strategy="bo-mf-pareto", seed=2,
                        strategy_options={**OPTIONS, **options}, objectives="acc:max,flops:min", computed=costs)


def _rounds(study) -> list[list[str]]:
    """The fidelities of each model step's round (one suggest call: its trials share their seconds)."""
    rounds: dict = {}
    for event in [e for e in study.store.events() if e["event"] == "asked"][8:]:  # after the initial design
        rounds.setdefault(event["suggest_seconds"], []).append(event["fidelity"])
    return list(rounds.values())


def test_one_model_step_proposes_a_joint_batch_of_cheap_pairs(tiny, costs):
    study = _study(tiny, costs, cheap_batch=4).optimize(26)
    sizes = [len(r) for r in _rounds(study)]
    assert max(sizes) > 1 and max(sizes) <= 4
    # A round is either cheap pairs or one target pair.
    assert all(r == ["acc"] or set(r) == {"acc_cheap"} for r in _rounds(study))
    strategy = study.strategy
    number = max(t.number for t in study.finished_trials()) + 1
    size = strategy.round_size(1, number)
    batch = strategy.suggest(list(range(number, number + size)))
    assert len({s.arch.key for s in batch}) == size
    # Its first pick is the pick of one step; a strategy of single steps asks rounds of one.
    single = _study(tiny, costs, cheap_batch=1).strategy
    single.observe(study.finished_trials())
    assert single.round_size(1, number) == 1 and single.suggest([number]) == batch[:1]


def test_a_batch_conditions_each_pick_on_the_earlier_ones(tiny, costs, monkeypatch):
    """Without the believed picks' rank-one updates the same step proposes another batch: the
    picks are chosen jointly, not read off the top of one ranking."""
    from infonas.surrogates.incremental import PoolBelief

    history = _study(tiny, costs, cheap_batch=4).optimize(24).finished_trials()

    def batch(trials):
        number = max(t.number for t in trials) + 1
        strategy = _study(tiny, costs, cheap_batch=4).strategy
        strategy.observe(trials)
        return strategy.suggest(list(range(number, number + strategy.round_size(1, number))))

    # The first model step (after the 8 trials of the initial design) that proposes a full batch.
    trials = next(history[:n] for n in range(9, 24) if len(batch(history[:n])) == 4)
    joint = batch(trials)
    assert {s.fidelity for s in joint} == {"acc_cheap"}
    monkeypatch.setattr(PoolBelief, "believe", lambda self, index, fidelity: None)
    ranked = batch(trials)
    assert ranked[0] == joint[0] and ranked != joint


class Crash(Exception):
    """Stands for a kill -9: the process ends between two evaluations."""


def test_a_crash_in_the_middle_of_a_round_then_resume_equals_an_uninterrupted_run(tiny, costs, tmp_path):
    def trajectory(study):
        return [(t.number, t.arch.key, t.fidelity, t.metrics) for t in study.finished_trials()]

    whole = _study(tiny, costs, tmp_path / "whole", cheap_batch=4).optimize(30)

    def crash_mid_round(study, trial):
        if len(study.finished_trials()) >= 17 and study.pending:
            raise Crash

    part = _study(tiny, costs, tmp_path / "part", cheap_batch=4)
    with pytest.raises(Crash):
        part.optimize(30, callbacks=[crash_mid_round])
    resumed = Study.load(part.store.path, tiny)
    assert resumed.pending, "the crash left a round's trials asked and not evaluated"
    assert trajectory(resumed.optimize(30)) == trajectory(whole)
    assert max(len(r) for r in _rounds(whole)) > 1
