import numpy as np
import pytest

from infonas.evaluators.base import Evaluator, Fidelity
from infonas.strategies import (
    LocalSearch,
    RandomSearch,
    RegularizedEvolution,
    make_strategy,
)
from infonas.trials import EvaluationResult, Trial


class SyntheticEvaluator(Evaluator):
    """Accuracy = number of 3x3 conv edges; any architecture of the space is valid."""

    def __init__(self):
        self.fidelities = {"full": Fidelity("full", 1.0)}
        self.metric_names = ("acc",)

    def _evaluate(self, arch, fidelity):
        return EvaluationResult({"acc": float(sum(op == "nor_conv_3x3" for op in arch.ops))}, 1.0)


@pytest.mark.parametrize("name", ["rs", "rea", "ls"])
def test_strategies_never_repeat_a_key_and_are_seeded(space, run_study, name):
    runs = []
    for _ in range(2):
        trials = run_study(space, SyntheticEvaluator(), name, 40, seed=3).finished_trials()
        keys = [t.arch.key for t in trials]
        assert len(set(keys)) == len(keys)
        runs.append([t.arch for t in trials])
    assert runs[0] == runs[1]
    other = [t.arch for t in run_study(space, SyntheticEvaluator(), name, 40, seed=4).finished_trials()]
    assert other != runs[0]


def test_replaying_observations_reproduces_suggestions(space, run_study):
    study = run_study(space, SyntheticEvaluator(), "rea", 25, seed=1)
    assert isinstance(study.strategy, RegularizedEvolution)
    fresh = RegularizedEvolution(space, "acc", seed=1, fidelities=list(SyntheticEvaluator().fidelities.values()))
    fresh.observe(study.finished_trials())
    assert fresh.suggest([25]) == study.strategy.suggest([25])


def test_local_search_climbs(space, run_study):
    study = run_study(space, SyntheticEvaluator(), "ls", 200, stop=lambda t: t.metrics["acc"] == 6)
    assert isinstance(study.strategy, LocalSearch)
    assert study.stop_reason is not None
    assert study.finished_trials()[-1].metrics["acc"] == 6  # the all-3x3 cell is the unique optimum


def test_regularized_evolution_options_checked(space):
    with pytest.raises(ValueError, match="sample_size"):
        RegularizedEvolution(space, "acc", population_size=3, sample_size=5)
    with pytest.raises(ValueError, match="unknown strategy 'bo-x'"):
        make_strategy("bo-x", space, "acc")


def test_pending_architectures_are_not_proposed(space):
    strategy = RandomSearch(space, "acc", seed=0)
    first = strategy.suggest([0, 1, 2])
    again = strategy.suggest([0, 1, 2], pending=[s.arch for s in first])
    assert not {s.arch.key for s in first} & {s.arch.key for s in again}


def test_failed_trials_are_observed_without_scores(space):
    strategy = LocalSearch(space, "acc", seed=0)
    arch = space.sample(np.random.default_rng(0))
    strategy.observe([Trial(0, arch, "full").finished(EvaluationResult.failed("boom"))])
    assert strategy.current is None and arch.key in strategy.seen_keys
