import numpy as np
import pytest

from infonas.evaluators.registry import build_evaluator, table_spec
from infonas.strategies import make_strategy
from infonas.strategies.bayesian import copula_warp, power_warp
from infonas.study import Study


@pytest.fixture(scope="module")
def evaluator(synthetic_table_file):
    from search_spaces import NB201Space

    return build_evaluator(table_spec(synthetic_table_file, "acc"), NB201Space())


def test_warps_are_monotone():
    values = np.array([10.0, 93.0, 94.0, 94.3, 80.0])
    for warp in (copula_warp, power_warp):
        warped = warp(values)
        assert np.array_equal(np.argsort(warped), np.argsort(values))


@pytest.mark.parametrize("name", ["bo-mes", "bo-ei"])
def test_bayesian_beats_random_on_a_smooth_table(space, evaluator, run_study, name):
    table = evaluator.table
    optimum = table.column("acc").max()
    bo = run_study(space, evaluator, name, 25, seed=0, n_init=5).finished_trials()
    rs = run_study(space, evaluator, "rs", 25, seed=0).finished_trials()
    best_bo = max(t.metrics["acc"] for t in bo)
    assert best_bo > max(t.metrics["acc"] for t in rs)
    assert optimum - best_bo < 2.0
    assert len({t.arch.key for t in bo}) == 25


def test_same_seed_same_trajectory(space, evaluator, run_study):
    runs = [[t.arch for t in run_study(space, evaluator, "bo-ei", 10, seed=3, n_init=4).finished_trials()]
            for _ in range(2)]
    assert runs[0] == runs[1]


def test_batch_suggestions_are_distinct(space, evaluator, run_study):
    study = run_study(space, evaluator, "bo-mes", 6, seed=0, n_init=4)
    strategy, trials = study.strategy, study.finished_trials()
    batch = strategy.suggest([6, 7, 8])
    keys = {s.arch.key for s in batch}
    assert len(keys) == 3 and not keys & {t.arch.key for t in trials}


def test_bayesian_study_resumes_exactly(tmp_path, space, evaluator):
    options = {"n_init": 4, "h_every": 3}
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
