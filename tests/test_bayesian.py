import numpy as np
import pytest

from infonas.evaluators.registry import build_evaluator, table_spec
from infonas.evaluators.tabular import TabularEvaluator
from infonas.strategies import make_strategy
from infonas.strategies.bayesian import copula_warp, power_warp
from infonas.study import Study
from infonas.testing.fakes import fake_table


@pytest.fixture(scope="module")
def evaluator(synthetic_table_file):
    from search_spaces import NB201Space

    return build_evaluator(table_spec(synthetic_table_file, "acc"), NB201Space())


@pytest.fixture(scope="module")
def interacting():
    """Every NB201 cell scored with per-edge *and pairwise* effects (``fake_table``)."""
    from search_spaces import NB201Space

    table = fake_table(NB201Space())
    return table, TabularEvaluator(table, "acc")


def top_fraction(trials, table) -> float:
    """The fraction of the table better than the best trial (floored at one cell: 0 is the optimum)."""
    acc = table.column("acc")
    return max(float(np.mean(acc > max(t.metrics["acc"] for t in trials))), 1.0 / len(acc))


def geometric_mean(values) -> float:
    return float(np.exp(np.mean(np.log(values))))


def test_warps_are_monotone():
    values = np.array([10.0, 93.0, 94.0, 94.3, 80.0])
    for warp in (copula_warp, power_warp):
        warped = warp(values)
        assert np.array_equal(np.argsort(warped), np.argsort(values))


@pytest.mark.parametrize("name", ["bo-mes", "bo-ei"])
def test_bayesian_beats_random_with_interacting_edges(space, interacting, run_study, name):
    # 20 evaluations (5 of a balanced initial design) per seed: on every seed (0-5) BO's best is in
    # the table's top 10% (seen: 0.03%-8%; bo-mes's seed 5 is the 8%, with a fit at every step too),
    # and the geometric mean over seeds of that fraction is below 1% (seen: 0.4%-0.75%), where random
    # search's is 4% (and a GP fitted to shuffled targets gets 5%-7%). One seed's fraction swings by
    # two orders of magnitude, so six seeds decide.
    table, evaluator = interacting
    seeds = range(6)
    bo, rs = [], []
    for seed in seeds:
        trials = run_study(space, evaluator, name, 20, seed=seed, n_init=5).finished_trials()
        assert len({t.arch.key for t in trials}) == 20
        bo.append(top_fraction(trials, table))
        rs.append(top_fraction(run_study(space, evaluator, "rs", 20, seed=seed).finished_trials(), table))
    assert max(bo) < 0.1 and geometric_mean(bo) < 0.01, bo
    assert geometric_mean(rs) > 0.02, rs  # the bar is one random search does not clear


def test_bayesian_study_resumes_exactly(tmp_path, space, evaluator):
    options = {"n_init": 4, "h_every": 2, "refit_growth": 0.3}
    whole = Study.create(tmp_path / "whole", space, evaluator, "acc", strategy="bo-mes", seed=5,
                         strategy_options=options).optimize(12, progress=False)
    part = Study.create(tmp_path / "part", space, evaluator, "acc", strategy="bo-mes", seed=5,
                        strategy_options=options).optimize(8, progress=False)
    resumed = Study.load(part.store.path, evaluator).optimize(12, progress=False)
    assert [t.arch for t in resumed.finished_trials()] == [t.arch for t in whole.finished_trials()]


def test_bad_options(space):
    with pytest.raises(ValueError, match="n_init"):
        make_strategy("bo-mes", space, "acc", n_init=0)
    with pytest.raises(ValueError, match="unknown warp"):
        make_strategy("bo-mes", space, "acc", warp="log")


def test_initial_design_is_balanced_and_seeded(space, evaluator):
    # Every op appears exactly once on every edge of the 5 initial cells; the design is a function
    # of the seed alone, and another seed gives another design.
    def initial(seed):
        strategy = make_strategy("bo-ei", space, "acc", seed=seed, n_init=5)
        return [s.arch for s in strategy.suggest(list(range(5)))]

    design = initial(3)
    assert all(len({arch.ops[i] for arch in design}) == 5 for i in range(len(space.choices)))
    assert initial(3) == design and initial(4) != design
