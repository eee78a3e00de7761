"""AxStrategy with several objectives ("ax" and "ax-infonas" in ``bench pareto``): Ax optimises the
Pareto front of accuracy (measured) and FLOPs (computed from the cell), seeded, never asking a
known canonical cell again; and ``infonas bench pareto --methods ax,rs`` writes its JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from infonas.objectives import parse_objectives
from infonas.study import Study
from infonas.testing.fakes import FakeEvaluator
from infonas.trials import Trial, TrialStatus
from search_spaces import NB201Space
from search_spaces.nb201.cost_tables import ArchitectureCosts
from search_spaces.nb201.network import NetworkConfig

SPACE = NB201Space()
OBJECTIVES = parse_objectives("acc:max,flops:min")


pytestmark = pytest.mark.usefixtures("ax_module")


@pytest.fixture(scope="module")
def costs() -> ArchitectureCosts:
    return ArchitectureCosts.measure(SPACE, NetworkConfig.for_dataset("cifar10"), latency=False)


def _run(costs: ArchitectureCosts, seed: int, budget: int, strategy: str = "ax", recorder=None,
         options: dict | None = None) -> Study:
    # FakeEvaluator's accuracy has no table to take a worst value from: the study's reference
    # point (for its reports; Ax is not given it) names it.
    study = Study.create(None, SPACE, FakeEvaluator(SPACE), strategy=strategy, seed=seed, objectives=OBJECTIVES,
                         computed=costs, reference_point={"acc": 0.0}, strategy_options=options)
    return study.optimize(budget, callbacks=[recorder] if recorder else [])


def _asked(study: Study) -> list[str]:
    return [SPACE.format(t.arch) for t in study.finished_trials()]


@pytest.fixture(scope="module")
def eight(costs):
    from infonas.bench.stats import StepRecorder

    recorder = StepRecorder()
    return _run(costs, 0, 8, recorder=recorder), recorder


def test_same_seed_same_distinct_trials(eight, costs):
    study, recorder = eight
    assert study.strategy.multi_objective and not type(study.strategy).multi_objective
    keys = [t.arch.key for t in study.finished_trials()]
    assert len(keys) == len(set(keys)) == 8
    assert _asked(_run(costs, 0, 8)) == _asked(study)
    assert recorder.model_based[:5] == [False] * 5  # Ax's design: its centre point, then Sobol points
    # A step counts as model-based exactly when a fitted model proposed its cell, and only then
    # is that proposal the strategy's surrogate.
    assert recorder.model_based[-1] == (study.strategy.last_generators[-1] not in {"Sobol", "Fallback_Sobol",
                                                                                  "CenterOfSearchSpace", None})
    assert (study.strategy.surrogate is not None) == any(recorder.model_based)


def test_ax_optimises_both_objectives_with_their_signs(eight, costs):
    from ax.core.optimization_config import MultiObjectiveOptimizationConfig

    from infonas.ax.strategy import quiet_ax

    study, _ = eight
    with quiet_ax():
        client, known = study.strategy._client([])
    config = client._experiment.optimization_config
    assert isinstance(config, MultiObjectiveOptimizationConfig)
    assert config.objective.is_multi_objective
    assert dict(config.objective.metric_weights) == {"acc": 1.0, "flops": -1.0}  # FLOPs minimised
    assert config.objective_thresholds == []  # Ax infers them, as bo-ehvi infers its reference point
    # Every replayed trial is told both objectives: accuracy measured, FLOPs computed from the cell.
    data = client._experiment.lookup_data().df
    trials = study.finished_trials()
    for trial in trials:
        told = data[data["trial_index"] == trial.number].set_index("metric_name")["mean"]
        assert told["acc"] == trial.metrics["acc"]
        assert told["flops"] == pytest.approx(costs.value(trial.arch, "flops"), rel=1e-12)
    assert known[trials[0].arch.key] == {"acc": trials[0].metrics["acc"], "flops": costs.value(trials[0].arch, "flops")}


def test_computed_objectives_come_from_the_cell_not_the_metrics(costs):
    from infonas.strategies import make_strategy

    strategy = make_strategy("ax", SPACE, "acc", objectives=OBJECTIVES, computed=costs)
    arch = SPACE.sample(np.random.default_rng(0))
    complete = Trial(0, arch, "acc", TrialStatus.COMPLETE, {"acc": 60.0})
    assert strategy._values(complete) == {"acc": 60.0, "flops": costs.value(arch, "flops")}
    # A complete trial without its measured objective is no data: Ax is told it failed.
    assert strategy._values(Trial(1, arch, "acc", TrialStatus.COMPLETE, {"other": 1.0})) is None


def test_ax_infonas_fits_the_infonas_gp_per_objective(costs):
    from infonas.bench.stats import StepRecorder

    recorder = StepRecorder()
    study = _run(costs, 0, 4, "ax-infonas", recorder, options={"n_init": 3})
    assert len({t.arch.key for t in study.finished_trials()}) == 4
    assert recorder.model_based == [False] * 3 + [True]
    run = study.strategy.surrogate
    assert run._generation_node_name == "infonas:wl+hamming+additive"
    # One row per objective: Ax's multi-objective acquisition, accuracy maximised, FLOPs minimised.
    assert run.gen_metadata["objective_weights"].tolist() == [[1.0, 0.0], [0.0, -1.0]]
    assert set(run.model_predictions[0]) == {"acc", "flops"}


def test_bench_pareto_runs_ax_beside_random_search(tmp_path, synthetic_table_file):
    from infonas.cli import main

    out = tmp_path / "pareto.json"
    result = CliRunner().invoke(main, ["bench", "pareto", "--table", str(synthetic_table_file), "--objectives",
                                       "acc:max,flops:min", "--methods", "ax,rs", "--seeds", "1", "--budget", "6",
                                       "--out", str(out), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert list(data["methods"]) == ["ax", "rs"] and data["objectives"] == ["acc:max", "flops:min"]
    for record in data["methods"].values():
        assert len(record["hv_curves"]) == 1 and len(record["hv_curves"][0]) == 6
        assert 0.0 < record["hv_ratio"][0] <= 1.0 + 1e-9
    assert data["methods"]["ax"]["model_based_steps"][0][:5] == [0] * 5
