"""AxStrategy ("ax"): Ax's default generation strategy as an infonas strategy, seeded, resumable,
never asking a known canonical cell again; and the strategy conformance suite run on it."""

from __future__ import annotations

import pytest
from conftest import require_ax

from infonas.study import Study
from infonas.testing.fakes import FakeEvaluator
from infonas.testing.strategies import SINGLE_OBJECTIVE, StrategyCase, StrategyConformance
from search_spaces import NB201Space

pytestmark = pytest.mark.usefixtures("ax_module")


def _run(seed: int, budget: int, recorder=None) -> Study:
    space = NB201Space()
    study = Study.create(None, space, FakeEvaluator(space), "acc", strategy="ax", seed=seed)
    return study.optimize(budget, callbacks=[recorder] if recorder else [])


def _asked(study: Study) -> list[str]:
    return [study.space.format(t.arch) for t in study.finished_trials()]


@pytest.fixture(scope="module")
def eight():
    from infonas.bench.stats import StepRecorder

    recorder = StepRecorder()
    return _run(0, 8, recorder), recorder


def test_same_seed_same_trajectory_and_model_steps(eight):
    study, recorder = eight
    assert _asked(_run(0, 8)) == _asked(study)
    keys = [t.arch.key for t in study.finished_trials()]
    assert len(keys) == len(set(keys)) == 8
    # Ax's design: its centre point, then Sobol points; its model (or its fallback) afterwards.
    assert recorder.model_based[:5] == [False] * 5


def test_model_steps_are_those_of_a_fitted_model(eight):
    study, recorder = eight
    strategy = study.strategy
    # The last suggestion's generator decides whether it counted: a fitted model, or not.
    assert recorder.model_based[-1] == (strategy.last_generators[-1] not in {"Sobol", "Fallback_Sobol",
                                                                            "CenterOfSearchSpace", None})


def test_another_seed_differs():
    assert _asked(_run(1, 4)) != _asked(_run(0, 4))


def test_minimising_tells_ax_to_minimise():
    from infonas.ax.strategy import quiet_ax
    from infonas.strategies import make_strategy

    strategy = make_strategy("ax", NB201Space(), "loss", seed=0, maximize=False)
    with quiet_ax():
        client, _ = strategy._client([])
    assert client._experiment.optimization_config.objective.minimize


def test_twins_of_known_cells_are_never_asked():
    """Every pending cell's canonical twins (isomorphic cells with other choice vectors) stay unasked."""
    from infonas.strategies import make_strategy

    space = NB201Space()
    strategy = make_strategy("ax", space, "acc", seed=0)
    (first,) = strategy.suggest([0])
    # The centre point comes first: make it and its every twin pending, and ask for more.
    twins = [a for a in space.enumerate() if a.key == first.arch.key]
    batch = strategy.suggest([1, 2, 3], pending=twins)
    keys = [s.arch.key for s in batch]
    assert first.arch.key not in keys and len(set(keys)) == 3


def test_ax_info_logs_stay_quiet(capfd):
    from ax.utils.common.logger import ROOT_STREAM_HANDLER

    level = ROOT_STREAM_HANDLER.level
    _run(0, 2)
    assert "ax.api.client" not in capfd.readouterr().err
    assert ROOT_STREAM_HANDLER.level == level  # restored after each step


def test_several_objectives_need_a_measured_one():
    """A Pareto search (tests/test_ax_pareto.py) learns measured objectives; computed ones only is refused."""
    from infonas.exceptions import UnsupportedError
    from infonas.objectives import Objective
    from infonas.strategies import make_strategy

    class Costs:  # a ComputedMetrics provider: nothing here is evaluated
        names = ("flops", "params")

    objectives = (Objective("flops", False), Objective("params", False))
    with pytest.raises(UnsupportedError, match="nothing to learn"):
        make_strategy("ax", NB201Space(), "flops", maximize=False, objectives=objectives, computed=Costs())
    # One computed objective beside a measured one is a Pareto search; the class stays single-objective.
    pareto = make_strategy("ax", NB201Space(), "acc", objectives=(Objective("acc"), objectives[0]), computed=Costs())
    assert pareto.multi_objective and not type(pareto).multi_objective
    assert not make_strategy("ax", NB201Space(), "flops", maximize=False, computed=Costs()).multi_objective


def test_unknown_generation_strategy_is_refused():
    from infonas.exceptions import InvalidArgumentError
    from infonas.strategies import make_strategy

    with pytest.raises(InvalidArgumentError, match="generation_strategy"):
        make_strategy("ax", NB201Space(), "acc", generation_strategy="botorch")


def test_ax_infonas_proposes_from_the_infonas_gp_after_its_design():
    from infonas.bench.stats import StepRecorder

    space, recorder = NB201Space(), StepRecorder()
    study = Study.create(None, space, FakeEvaluator(space), "acc", strategy="ax-infonas", seed=0,
                         strategy_options={"n_init": 3})
    study.optimize(5, callbacks=[recorder])
    trials = study.finished_trials()
    assert len({t.arch.key for t in trials}) == 5
    # Three Sobol points, then two proposals of the node that runs the infonas GP inside Ax.
    assert recorder.model_based == [False] * 3 + [True] * 2
    assert study.strategy.surrogate._generation_node_name == "infonas:wl+hamming+additive"


class TestAxConformance(StrategyConformance):
    """The full contract, resume after a stop and after a crash included: every step replays the
    journal into a new Ax client, so a resumed run is the uninterrupted one (the stop at 4 is inside
    Ax's design, the crash at 6 inside its model phase)."""

    @pytest.fixture(scope="class")
    @classmethod
    def case(cls) -> StrategyCase:
        require_ax()
        return StrategyCase("ax", SINGLE_OBJECTIVE, budget=8, stop_at=4, crash_at=6)
