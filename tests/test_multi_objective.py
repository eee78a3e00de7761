"""Multi-objective Bayesian search (bo-ehvi, bo-mesmo): validation, fronts, determinism, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infonas.evaluators.tabular import TabularEvaluator
from infonas.exceptions import UnsupportedError
from infonas.objectives import parse_objectives
from infonas.strategies import make_strategy
from infonas.strategies.multi_objective import ParetoStrategy
from infonas.testing.fakes import fake_table
from infonas.trials import EvaluationResult, Trial
from search_spaces.nb201.cost_tables import ArchitectureCosts
from search_spaces.nb201.network import NetworkConfig

OBJECTIVES = parse_objectives("acc:max,flops:min")
OPTIONS = {"n_init": 5, "maxiter": 15, "h_values": (1,), "num_samples": 16}


@pytest.fixture(scope="module")
def costs():
    from search_spaces import NB201Space

    return ArchitectureCosts.measure(NB201Space(), NetworkConfig.for_dataset("cifar10"), latency=False)


@pytest.fixture(scope="module")
def table():
    """Every NB201 cell scored with per-edge and pairwise effects, independent of FLOPs (``fake_table``)."""
    from search_spaces import NB201Space

    return fake_table(NB201Space())


def run(method, table, costs, seed, budget, trials=None, **options):
    """Drive a strategy on the table; computed objectives are added to each result, as Study does."""
    evaluator = TabularEvaluator(table, "acc")
    strategy = make_strategy(method, table.space, "acc", seed=seed, objectives=OBJECTIVES, computed=costs,
                             **({**OPTIONS, **options} if method.startswith("bo-") else options))
    done = list(trials or [])
    strategy.observe(done)
    for number in range(len(done), budget):
        (suggestion,) = strategy.suggest([number])
        result = evaluator.evaluate(suggestion.arch)
        metrics = {**result.metrics, "flops": costs.value(suggestion.arch, "flops")}
        trial = Trial(number, suggestion.arch, "acc").finished(EvaluationResult(metrics, result.cost))
        strategy.observe([trial])
        done.append(trial)
    return done


def dominated_fraction(trials, table, costs):
    """Median over trials of the fraction of the table that dominates the trial (0: on the front)."""
    acc, flops = table.column("acc"), costs.values(table.archs, "flops")
    return float(np.median([np.mean((acc >= t.metrics["acc"]) & (flops <= t.metrics["flops"])) for t in trials]))


def accuracy_rank(trials, table, costs):
    """Median over trials of the fraction of cells at most as costly (FLOPs) that are more accurate.

    Low only where the accuracy model is used: cheap cells alone are near the front by the other
    metric, whatever their accuracy.
    """
    acc, flops = table.column("acc"), costs.values(table.archs, "flops")
    return float(np.median([np.mean(acc[flops <= t.metrics["flops"]] > t.metrics["acc"]) for t in trials]))


def test_validation(space, costs):
    with pytest.raises(UnsupportedError, match=r"does not apply to multi-objective.*\['pfes', 'log-nehvi'\]"):
        ParetoStrategy(space, "acc", objectives=OBJECTIVES, computed=costs, acquisition="mes")
    with pytest.raises(UnsupportedError, match="is computed from the architecture"):
        ParetoStrategy(space, "flops", maximize=False, objectives=parse_objectives("flops:min,params:min"),
                       computed=costs)
    with pytest.raises(UnsupportedError, match="pfes models one measured objective"):
        ParetoStrategy(space, "acc", objectives=parse_objectives("acc:max,other:max"), computed=costs,
                       acquisition="pfes")
    with pytest.raises(ValueError, match="optimises one objective"):
        make_strategy("bo-ei", space, "acc", objectives=OBJECTIVES)


@pytest.mark.parametrize("method", ["bo-mesmo", "bo-ehvi"])
def test_search_beats_random_with_interacting_edges(method, table, costs):
    # After the 5 random architectures, the model proposes cells near the true front: on every
    # seed (0-5) under 12% of the table dominates the median proposal (seen: 0.4%-6.5%; random
    # search: 15%-50%), and the median over seeds is under 5%. Cheap cells of any accuracy would
    # do that too, so the proposals must also be accurate for their cost: the median over seeds of
    # ``accuracy_rank`` is under 30% (seen: 15%-16%; random search 47%). One seed's rank swings
    # between 6% and 49% (13 proposals), so six seeds, not three, decide.
    dominated, ranks, random_dominated = [], [], []
    for seed in range(6):
        found = run(method, table, costs, seed=seed, budget=18)
        assert len({t.arch.key for t in found}) == 18
        dominated.append(dominated_fraction(found[5:], table, costs))
        ranks.append(accuracy_rank(found[5:], table, costs))
        random_dominated.append(dominated_fraction(run("rs", table, costs, seed=seed, budget=18)[5:], table, costs))
    assert max(dominated) < 0.12 and np.median(dominated) < 0.05, dominated
    assert np.median(random_dominated) > 0.12, random_dominated
    assert np.median(ranks) < 0.30, ranks


@pytest.mark.parametrize("method", ["bo-mesmo", "bo-ehvi"])
def test_search_is_deterministic_and_resumes(method, table, costs):
    found = run(method, table, costs, seed=0, budget=12)
    again = run(method, table, costs, seed=0, budget=10)
    assert [t.arch for t in again] == [t.arch for t in found[:10]]
    # A fresh strategy that observes the journal proposes what the uninterrupted one did.
    resumed = run(method, table, costs, seed=0, budget=12, trials=found[:8])
    assert [t.arch for t in resumed] == [t.arch for t in found]


def observed_strategy(method, table, costs, budget):
    strategy = make_strategy(method, table.space, "acc", seed=0, objectives=OBJECTIVES, computed=costs, **OPTIONS)
    strategy.observe(run(method, table, costs, seed=0, budget=budget))
    return strategy


# Seed 0 after ``budget`` trials: the acquisition peaks at a cell with a near twin (the same
# edges but one, hence close in FLOPs and in the model), which an unconditioned runner-up picks.
@pytest.mark.parametrize(("method", "budget"), [("bo-mesmo", 7), ("bo-ehvi", 8)])
def test_a_pending_architecture_conditions_the_next_pick(method, budget, table, costs):
    strategy = observed_strategy(method, table, costs, budget)
    (peak,) = strategy.suggest([budget])
    before = strategy.surrogate.predict([peak.arch])
    scored = []
    acquisition = strategy.acquisition
    strategy.acquisition = lambda *args, **kwargs: scored.append(kwargs) or acquisition(*args, **kwargs)
    (pick,) = strategy.suggest([budget], pending=[peak.arch])
    after = strategy.surrogate.predict([peak.arch])
    if method == "bo-mesmo":
        # PFES's model believes the pending cell at its posterior mean: the mean stays, the
        # uncertainty is (nearly) gone.
        assert abs(float(after.mean - before.mean)) < 0.05 * float(before.variance.sqrt())
        assert float(after.variance) < 0.1 * float(before.variance)
    else:
        # qLogNEHVI samples the pending cell with each candidate (X_pending), the GP unchanged.
        assert scored == [{"num_pending": 1}]
        assert torch.equal(after.variance, before.variance)
    archs, values = strategy.modelled_data()
    unconditioned = strategy._acquire(strategy.rng_for(budget), archs, values, [], strategy.seen_keys | {peak.arch.key})
    assert pick.arch != peak.arch and pick.arch != unconditioned


@pytest.mark.parametrize("method", ["bo-mesmo", "bo-ehvi"])
def test_batch_picks_equal_sequential_picks_with_the_earlier_ones_pending(method, table, costs):
    strategy = observed_strategy(method, table, costs, 7)
    batch = [s.arch for s in strategy.suggest([7, 8, 9])]
    assert len({a.key for a in batch}) == 3 and not {a.key for a in batch} & strategy.seen_keys
    sequential: list = []
    for number in (7, 8, 9):
        sequential += [s.arch for s in strategy.suggest([number], pending=sequential)]
    assert sequential == batch
