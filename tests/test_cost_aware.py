"""The multi-fidelity strategy (bo-mf): initial design, cost-aware choices, determinism, resume."""

from __future__ import annotations

import numpy as np
import pytest

from infonas.evaluators.base import Fidelity
from infonas.evaluators.tabular import TabularBenchmark, TabularEvaluator
from infonas.exceptions import InvalidArgumentError, UnsupportedError
from infonas.strategies import make_strategy
from infonas.strategies.base import Suggestion
from infonas.strategies.cost_aware import MultiFidelityStrategy
from infonas.trials import EvaluationResult, Trial

OPTIONS = {"n_init": 6, "n_init_target": 2, "maxiter": 15, "h_values": (1,), "num_max_samples": 16, "cheap_batch": 1,
           "cheap_random_share": 0.0}


@pytest.fixture(scope="module")
def evaluator(synthetic_table_file):
    from search_spaces import NB201Space

    table = TabularBenchmark.from_csv(synthetic_table_file, NB201Space())
    return TabularEvaluator(table, "acc", cheap={"acc_cheap": 0.1})


def strategy_for(evaluator, seed=0, **options):
    return make_strategy("bo-mf", evaluator.table.space, "acc", seed=seed,
                         fidelities=list(evaluator.fidelities.values()), **{**OPTIONS, **options})


def test_needs_two_fidelities(space):
    with pytest.raises(UnsupportedError, match="two or more fidelities"):
        MultiFidelityStrategy(space, "acc", fidelities=[Fidelity("acc", 1.0, 0)])
    with pytest.raises(ValueError, match="n_init_target"):
        MultiFidelityStrategy(space, "acc", fidelities=[Fidelity("c", 0.1, 0), Fidelity("acc", 1.0, 1)],
                              n_init_target=0)


def test_initial_design_then_cost_aware_choices(evaluator, run_study):
    study = run_study(evaluator.table.space, evaluator, "bo-mf", cost=6.0, seed=1, **OPTIONS)
    strategy, trials = study.strategy, study.finished_trials()
    fidelities = [t.fidelity for t in trials]
    assert fidelities[:6] == ["acc_cheap"] * 6
    # Then the two best cheap results are evaluated at the target.
    cheap_best = sorted(trials[:6], key=lambda t: -t.metrics["acc"])[:2]
    assert [t.arch for t in trials[6:8]] == [t.arch for t in cheap_best]
    assert fidelities[6:8] == ["acc", "acc"]
    # No (architecture, fidelity) pair twice, and no cheap look after the real thing.
    pairs = [(t.arch.key, t.fidelity) for t in trials]
    assert len(pairs) == len(set(pairs))
    for i, trial in enumerate(trials):
        if trial.fidelity == "acc_cheap":
            assert all(not (t.arch.key == trial.arch.key and t.fidelity == "acc") for t in trials[:i])
    # Cheap evaluations cost a tenth: the strategy buys both kinds.
    assert 0 < fidelities.count("acc") < fidelities.count("acc_cheap")
    assert strategy.surrogate is not None and strategy.surrogate.fidelity_correlation()[0, 1] > 0.5


def test_the_cheap_initial_design_is_balanced(evaluator):
    # Every op on every edge equally often (``balanced_design``), as bo-mes's design: random cells
    # can leave an op on an edge with bad witnesses only, which the additive kernel never revisits.
    strategy = strategy_for(evaluator, seed=3, n_init=10)
    design = []
    for number in range(10):
        (suggestion,) = strategy.suggest([number])
        assert suggestion.fidelity == "acc_cheap"
        design.append(suggestion.arch)
        result = EvaluationResult({"acc": float(number)}, 0.1)
        strategy.observe([Trial(number, suggestion.arch, "acc_cheap").finished(result)])
    for position, choices in enumerate(evaluator.table.space.choices):
        counts = [sum(arch.ops[position] == op for arch in design) for op in choices]
        assert counts == [2] * len(choices), (position, counts)


def test_measured_costs_are_learned(space):
    fidelities = [Fidelity("short", None, 0), Fidelity("long", None, 1)]
    strategy = MultiFidelityStrategy(space, "acc", fidelities=fidelities, **OPTIONS)
    assert strategy.costs().tolist() == [1.0, 1.0]
    rng = np.random.default_rng(0)
    for number, (fidelity, cost) in enumerate([("short", 2.0), ("short", 4.0), ("long", 30.0)]):
        trial = Trial(number, space.sample(rng), fidelity).finished(EvaluationResult({"acc": 50.0 + number}, cost))
        strategy.observe([trial])
    assert strategy.costs().tolist() == [3.0, 30.0]
    with pytest.raises(ValueError, match="which this strategy does not know"):
        strategy.observe([Trial(9, space.sample(rng), "other").finished(EvaluationResult({"acc": 1.0}, 1.0))])


def test_batch_suggestions_are_distinct(evaluator, run_study):
    study = run_study(evaluator.table.space, evaluator, "bo-mf", 10, seed=5, **OPTIONS)
    strategy, trials = study.strategy, study.finished_trials()
    batch = strategy.suggest([10, 11, 12], pending=[trials[-1].arch])
    keys = [s.arch.key for s in batch]
    assert len(set(keys)) == 3 and trials[-1].arch.key not in keys


@pytest.fixture(scope="module")
def after_ten(evaluator, run_study):
    """bo-mf after ten trials of seed 0 (six cheap, two at the target, two chosen by the model)."""
    return run_study(evaluator.table.space, evaluator, "bo-mf", 10, seed=0, **OPTIONS).strategy


def test_a_pending_pair_conditions_the_next_pick(after_ten):
    strategy = after_ten
    (peak,) = strategy.suggest([10])
    j = strategy._index[peak.fidelity]
    before = strategy.surrogate.predict([peak.arch], fidelity=j)
    (pick,) = strategy.suggest([10], pending=[peak])
    # The model of the pick believes the pending pair at its posterior mean: the mean there
    # stays, its uncertainty is (nearly) gone.
    after = strategy.surrogate.predict([peak.arch], fidelity=j)
    assert abs(float(after.mean - before.mean)) < 0.05 * float(before.variance.sqrt())
    assert float(after.variance) < 0.1 * float(before.variance)
    # So the pick is not simply the runner-up of the unconditioned ranking (what a batch took
    # before), which here is a near twin of the pending cell.
    (unconditioned,) = strategy._acquire_pairs(10, {peak.arch.key}, [])
    assert pick.arch != peak.arch
    assert (pick.arch, pick.fidelity) != (unconditioned[0], strategy.fidelities[unconditioned[1]].name)


def test_batch_picks_equal_sequential_picks_with_the_earlier_ones_pending(after_ten):
    strategy = after_ten
    batch = strategy.suggest([10, 11, 12])
    assert len({s.arch.key for s in batch}) == 3
    sequential: list = []
    for number in (10, 11, 12):
        sequential += strategy.suggest([number], pending=sequential)
    assert sequential == batch
    # Believed where they will run: cheap picks at the cheap fidelity, so the last model holds
    # the first two picks at theirs.
    observed, fidelity = strategy.surrogate.standardised_targets()
    assert len(observed) == 10 + 2
    assert fidelity[-2:].tolist() == [strategy._index[s.fidelity] for s in batch[:2]]


def test_pending_architectures_without_a_fidelity_are_at_the_target(after_ten):
    strategy = after_ten
    (peak,) = strategy.suggest([10])
    strategy.suggest([10], pending=[peak.arch])
    assert strategy.surrogate.standardised_targets()[1][-1].item() == strategy.target_index
    with pytest.raises(InvalidArgumentError, match="does not know"):
        strategy.suggest([10], pending=[Suggestion(peak.arch, "acc_other")])


def test_a_resumed_strategy_proposes_what_the_running_one_proposes(evaluator, run_study):
    # Refits every ~20% of data: several schedule points, with conditioning-only steps between.
    options = {**OPTIONS, "cheap_batch": 3, "refit_growth": 0.2, "h_values": (0, 1), "cheap_random_share": 0.2}
    trials = run_study(evaluator.table.space, evaluator, "bo-mf", 22, seed=3, **options).finished_trials()
    running = strategy_for(evaluator, seed=3, **options)
    running.observe(trials[:8])
    for n in range(8, len(trials)):
        running.observe([trials[n]])
        fresh = strategy_for(evaluator, seed=3, **options)
        fresh.observe(trials[: n + 1])
        size = running.round_size(1, n + 1)
        assert fresh.round_size(1, n + 1) == size
        assert fresh.suggest(list(range(n + 1, n + 1 + size))) == running.suggest(list(range(n + 1, n + 1 + size)))
        if fresh._fits:  # a model step ran (not an interleaved random cell)
            rebuilt, kept = set(fresh._fits), set(running._fits)
    # The running object kept its fits (a warm cache); the fresh one rebuilt the same chain.
    assert rebuilt == kept and len(kept) >= 4


def test_one_model_step_proposes_a_joint_batch_of_cheap_pairs(evaluator, run_study):
    study = run_study(evaluator.table.space, evaluator, "bo-mf", cost=4.0, seed=1, **{**OPTIONS, "cheap_batch": 4})
    asked = [e for e in study.store.events() if e["event"] == "asked"]
    rounds: dict = {}
    for event in asked[8:]:  # after the initial design: one suggest call per round, its seconds shared
        rounds.setdefault(event["suggest_seconds"], []).append(event["fidelity"])
    sizes = [len(r) for r in rounds.values()]
    assert max(sizes) > 1 and max(sizes) <= 4
    # A round is either cheap pairs or one target pair.
    assert all(r == ["acc"] or set(r) == {"acc_cheap"} for r in rounds.values())
    strategy = study.strategy
    number = max(t.number for t in study.finished_trials()) + 1
    size = strategy.round_size(1, number)
    batch = strategy.suggest(list(range(number, number + size)))
    assert len({s.arch.key for s in batch}) == size
    # Its first pick is the pick of one step; a strategy of single steps asks rounds of one.
    assert batch[0] == strategy.suggest([number])[0]
    single = strategy_for(evaluator, seed=1)
    single.observe(study.finished_trials())
    assert single.round_size(1, number) == 1 and single.suggest([number])[0] == batch[0]


def test_a_share_of_trials_are_random_cells_at_the_cheap_fidelity(evaluator, run_study, monkeypatch):
    # SMAC-style interleaving: a seeded share of the trials after the initial design skip the
    # model and look at a random unseen cell cheaply; the others are the model step unchanged.
    trials = run_study(evaluator.table.space, evaluator, "bo-mf", 10, seed=0, **OPTIONS).finished_trials()
    plain = strategy_for(evaluator, seed=0)
    mixed = strategy_for(evaluator, seed=0, cheap_random_share=0.5)
    plain.observe(trials)
    mixed.observe(trials)
    drawn = [n for n in range(10, 210) if mixed._interleaved(n)]
    assert 60 < len(drawn) < 140
    assert drawn == [n for n in range(10, 210) if strategy_for(evaluator, seed=0, cheap_random_share=0.5)._interleaved(n)]
    assert not any(plain._interleaved(n) for n in range(10, 210))
    modelled = next(n for n in range(10, 210) if n not in drawn)
    assert mixed.suggest([modelled]) == plain.suggest([modelled])

    def no_model_step(*args):
        raise AssertionError("an interleaved trial ran a model step")

    monkeypatch.setattr(mixed, "_acquire_pairs", no_model_step)
    seen = {t.arch.key for t in trials}
    picks = [mixed.suggest([n])[0] for n in drawn[:5]]
    assert all(p.fidelity == "acc_cheap" and p.arch.key not in seen for p in picks)
    assert len({p.arch.key for p in picks}) > 1
    assert mixed.round_size(1, drawn[0]) == 1


@pytest.mark.parametrize("share", [-0.1, 1.0])
def test_the_random_share_is_a_probability_below_one(evaluator, share):
    with pytest.raises(InvalidArgumentError, match="cheap_random_share"):
        strategy_for(evaluator, cheap_random_share=share)
