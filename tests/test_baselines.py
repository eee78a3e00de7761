import pytest

from infonas.bench.search import drive
from infonas.strategies import LocalSearch, RandomSearch, RegularizedEvolution, make_strategy
from infonas.evaluators.tabular import TabularBenchmark, TabularEvaluator
from infonas.trials import Trial


@pytest.fixture
def evaluator(tiny_table_file, space):
    return TabularEvaluator(TabularBenchmark.from_csv(tiny_table_file, space), "acc")


class SyntheticEvaluator:
    """Accuracy = number of conv edges; any architecture of the space is valid."""

    def __init__(self):
        from infonas.evaluators.base import Fidelity

        self.fidelities = {"full": Fidelity("full", 1.0)}
        self.target_fidelity = "full"

    def evaluate(self, arch, fidelity=None):
        from infonas.trials import EvaluationResult

        return EvaluationResult({"acc": float(sum(op == "nor_conv_3x3" for op in arch.ops))}, 1.0)


@pytest.mark.parametrize("name", ["rs", "rea", "ls"])
def test_strategies_never_repeat_a_key_and_are_seeded(space, name):
    runs = []
    for _ in range(2):
        strategy = make_strategy(name, space, "acc", seed=3)
        trials, _ = drive(strategy, SyntheticEvaluator(), 40)
        keys = [t.arch.key for t in trials]
        assert len(set(keys)) == len(keys)
        runs.append([t.arch for t in trials])
    assert runs[0] == runs[1]
    other = [t.arch for t in drive(make_strategy(name, space, "acc", seed=4), SyntheticEvaluator(), 40)[0]]
    assert other != runs[0]


def test_replaying_observations_reproduces_suggestions(space):
    strategy = RegularizedEvolution(space, "acc", seed=1)
    trials, _ = drive(strategy, SyntheticEvaluator(), 25)
    fresh = RegularizedEvolution(space, "acc", seed=1)
    fresh.observe(trials)
    assert fresh.suggest([25]) == strategy.suggest([25])


def test_local_search_climbs(space):
    strategy = LocalSearch(space, "acc", seed=0)
    trials, _ = drive(strategy, SyntheticEvaluator(), 200, stop=lambda t: t.metrics["acc"] == 6)
    assert trials[-1].metrics["acc"] == 6  # the all-3x3 cell is the unique optimum


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
    arch = space.sample(__import__("numpy").random.default_rng(0))
    strategy.observe([Trial(0, arch, "full").finished(
        __import__("infonas.trials", fromlist=["EvaluationResult"]).EvaluationResult.failed("boom"))])
    assert strategy.current is None and arch.key in strategy.seen_keys
