"""The strategy conformance suite (infonas.testing.strategies) run over every entry of STRATEGIES,
and over a strategy registered by a test, as a new strategy would be."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from infonas.strategies import STRATEGIES, Strategy, Suggestion, register_strategy
from infonas.testing.strategies import (
    MULTI_FIDELITY,
    MULTI_OBJECTIVE,
    SINGLE_OBJECTIVE,
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
    @pytest.fixture(scope="class", params=sorted(STRATEGIES))
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
