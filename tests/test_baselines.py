import numpy as np
import pytest

from infonas.evaluators.base import Evaluator, Fidelity
from infonas.exceptions import InvalidArchitectureError, InvalidArgumentError, SpaceExhaustedError
from infonas.strategies import (
    GivenOrder,
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


# GivenOrder ("list"): a fixed list of cells in order, for tables built as resumable studies.

CELLS = [
    "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|none~0|skip_connect~1|nor_conv_3x3~2|",
    "|skip_connect~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|none~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
]


def _strings(space, suggestions):
    return [space.format(s.arch) for s in suggestions]


def test_given_order_proposes_the_list_in_order(space):
    strategy = make_strategy("list", space, "acc", cells=CELLS)
    assert isinstance(strategy, GivenOrder)
    assert _strings(space, strategy.suggest([0, 1, 2])) == CELLS[:3]
    # Suggesting is no commitment: without pending or finished trials the list starts over.
    assert _strings(space, strategy.suggest([0])) == CELLS[:1]
    # The seed changes nothing: the order is the list's.
    assert _strings(space, GivenOrder(space, "acc", seed=5, cells=CELLS).suggest(range(6))) == CELLS


def test_given_order_skips_pending_and_finished_cells(space):
    strategy = GivenOrder(space, "acc", cells=CELLS)
    arch = [space.parse(text) for text in CELLS]
    assert _strings(space, strategy.suggest([0, 1], pending=[arch[0], arch[2]])) == [CELLS[1], CELLS[3]]
    strategy.observe([Trial(0, arch[1], "full").finished(EvaluationResult({"acc": 1.0}, 1.0)),
                      Trial(1, arch[3], "full").finished(EvaluationResult.failed("boom"))])
    # Failed cells count as asked: a table records the failure and moves on.
    assert _strings(space, strategy.suggest([2, 3])) == [CELLS[0], CELLS[2]]
    assert _strings(space, strategy.suggest([2], pending=[arch[0], arch[2], arch[4]])) == [CELLS[5]]


def test_given_order_is_exhausted_at_the_end_of_the_list(space):
    strategy = GivenOrder(space, "acc", cells=CELLS[:2])
    first = space.parse(CELLS[0])
    strategy.observe([Trial(0, first, "full").finished(EvaluationResult({"acc": 1.0}, 1.0))])
    with pytest.raises(SpaceExhaustedError, match="all 2 cells"):
        strategy.suggest([1], pending=[space.parse(CELLS[1])])
    with pytest.raises(SpaceExhaustedError, match="all 2 cells"):
        strategy.suggest([1, 2])  # one cell left, two asked


@pytest.mark.parametrize("cells", [(), [], CELLS[0]])
def test_given_order_needs_a_list_of_cells(space, cells):
    with pytest.raises(InvalidArgumentError, match="non-empty list of architecture strings in cells"):
        GivenOrder(space, "acc", cells=cells)


def test_given_order_rejects_a_malformed_cell(space):
    with pytest.raises(InvalidArchitectureError, match="malformed NB201 arch string"):
        make_strategy("list", space, "acc", cells=[CELLS[0], "|conv~0|"])


def _list_study(space, run_dir):
    from infonas.study import Study
    from infonas.testing.fakes import FakeEvaluator

    return Study.create(run_dir, space, FakeEvaluator(space), "acc", strategy="list",
                        strategy_options={"cells": CELLS})


def _trajectory(study):
    return [(t.number, study.space.format(t.arch), t.metrics) for t in study.finished_trials()]


def test_given_order_study_resumes_where_it_stopped(space, tmp_path):
    from infonas.study import Study
    from infonas.testing.fakes import FakeEvaluator

    fake = FakeEvaluator(space)
    whole = _list_study(space, None).optimize(20)
    assert [arch for _, arch, _ in _trajectory(whole)] == CELLS
    assert "all 6 cells" in (whole.stop_reason or "")

    _list_study(space, tmp_path / "run").optimize(2)
    resumed = Study.load(tmp_path / "run", fake)
    resumed.optimize(4)
    (crashed,) = resumed.ask()  # journalled, never told: the process "dies" here
    assert space.format(crashed.arch) == CELLS[4]
    loaded = Study.load(tmp_path / "run", fake)
    assert [t.number for t in loaded.pending] == [4]
    loaded.optimize(20)
    assert _trajectory(loaded) == _trajectory(whole)
    assert "all 6 cells" in (loaded.stop_reason or "")
    # A finished list stays finished: resuming asks nothing.
    again = Study.load(tmp_path / "run", fake).optimize(20)
    assert len(again.finished_trials()) == 6 and not again.pending
