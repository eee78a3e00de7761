"""The strategy conformance suite (infonas.testing.strategies) run over every entry of STRATEGIES,
and over a strategy registered by a test, as a new strategy would be."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from infonas.strategies import STRATEGIES, Strategy, Suggestion, register_strategy
from infonas.study import Study
from infonas.testing.strategies import (
    MULTI_FIDELITY,
    MULTI_OBJECTIVE,
    SINGLE_OBJECTIVE,
    Problem,
    StrategyCase,
    StrategyConformance,
)
from search_spaces import NB201Space
from search_spaces.base import Architecture

# The problem each built-in strategy is made for (the rest optimise one objective at the target).
PROBLEMS = {"bo-mf": MULTI_FIDELITY, "bo-ehvi": MULTI_OBJECTIVE, "bo-mesmo": MULTI_OBJECTIVE, "nsga2": MULTI_OBJECTIVE}
# Small designs and short fits: a dozen trials must reach the model-based (or evolutionary) phase.
GP = {"n_init": 4, "maxiter": 10, "h_values": [1]}
OPTIONS = {
    "bo-mes": GP, "bo-ei": GP, "bo-ts": GP, "gp-onehot": GP,
    "bo-mf": {**GP, "n_init_target": 2, "num_max_samples": 16},
    "bo-ehvi": {**GP, "num_samples": 16}, "bo-mesmo": {**GP, "num_samples": 16},
    "nsga2": {"population_size": 4},
}


def _distinct_cells(n: int) -> list[str]:
    """The first ``n`` cells of NB201's enumeration with distinct canonical keys, as strings."""
    space = NB201Space()
    cells: dict[str, str] = {}
    for arch in space.enumerate():
        cells.setdefault(arch.key, space.format(arch))
        if len(cells) == n:
            return list(cells.values())
    raise AssertionError(f"NB201 has fewer than {n} canonical cells")


# "list" proposes a fixed list (a designed experiment): enough distinct cells for every check,
# which asks up to budget + 3 trials. Its seed is declared irrelevant, and checked to be.
OPTIONS["list"] = {"cells": _distinct_cells(16)}
SEED_FREE = {"list"}


class TestEveryStrategy(StrategyConformance):
    # Ax's strategies (an optional extra) run the suite in tests/test_ax_strategy.py, skipped without Ax.
    @pytest.fixture(scope="class", params=sorted(set(STRATEGIES) - {"ax", "ax-infonas"}))
    @classmethod
    def case(cls, request: pytest.FixtureRequest) -> StrategyCase:
        name = request.param
        return StrategyCase(name, PROBLEMS.get(name, SINGLE_OBJECTIVE), OPTIONS.get(name, {}),
                            seeded=name not in SEED_FREE)


class FirstUnseen(Strategy):
    """The smallest new strategy: a random unseen cell per trial, drawn from the trial's generator."""

    name = "first-unseen"

    def suggest(self, trial_numbers: Sequence[int], pending: Sequence[Architecture] = ()) -> list[Suggestion]:
        exclude = self.seen_keys | {a.key for a in pending}
        chosen = []
        for number in trial_numbers:
            arch = self.sample_unseen(self.rng_for(number), exclude)
            exclude.add(arch.key)
            chosen.append(Suggestion(arch))
        return chosen


class TestRegisteredStrategy(StrategyConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def case(cls):
        register_strategy("test-first-unseen", FirstUnseen)
        yield StrategyCase("test-first-unseen")
        del STRATEGIES["test-first-unseen"]  # the registry is the library's; leave it as found


def test_register_strategy_refuses_a_taken_name():
    with pytest.raises(ValueError, match="already registered"):
        register_strategy("rs", FirstUnseen)
    with pytest.raises(ValueError, match="name"):
        register_strategy("", FirstUnseen)


# bo-mf-pareto: a Pareto search over fidelities. TestEveryStrategy runs it on the multi-fidelity
# problem (one objective, no computed ones: every point covers every other, so its front is the
# optimum); TestMultiFidelityPareto on the problem it is made for, both at once.
PROBLEMS["bo-mf-pareto"] = MULTI_FIDELITY
# Batches of cheap pairs are cut by the suite's evaluation-count stops (cost_aware.py: a cut round is
# planned afresh after a resume), so the suite runs single steps; tests/test_mf_pareto.py resumes batches.
OPTIONS["bo-mf-pareto"] = {**GP, "n_init_target": 2, "num_samples": 16, "cheap_batch": 1}


class _CheapParetoProblem(Problem):
    """The fake's metric at two fidelities (cheap costs 0.1) against the cell's exact FLOPs."""

    def __init__(self, case: StrategyCase) -> None:
        super().__init__(case)
        from search_spaces.nb201.cost_tables import ArchitectureCosts
        from search_spaces.nb201.network import NetworkConfig

        costs = ArchitectureCosts.measure(self.space, NetworkConfig.for_dataset("cifar10"), latency=False)
        self.arguments = {"objectives": "acc:max,flops:min", "computed": costs, "reference_point": {"acc": 0.0}}


class TestMultiFidelityPareto(StrategyConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def case(cls) -> StrategyCase:
        return StrategyCase("bo-mf-pareto", MULTI_FIDELITY, OPTIONS["bo-mf-pareto"])

    @pytest.fixture(scope="class")
    @classmethod
    def problem(cls, case: StrategyCase) -> Problem:
        return _CheapParetoProblem(case)

    def test_it_is_the_problem_meant(self, reference: Study) -> None:
        assert reference.is_multi_objective and len(reference.evaluator.fidelities) == 2
        assert {t.fidelity for t in reference.finished_trials()} == {"acc", "acc_cheap"}
