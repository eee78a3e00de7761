"""Searching the macro space: Bayesian strategies over its sampled candidate pools, evolution, and
the training evaluator on its networks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from infonas.acquisition import candidates
from infonas.evaluators.registry import build_evaluator, training_spec
from infonas.evaluators.training import TrainingEvaluator
from infonas.strategies import bayesian
from infonas.study import Study
from infonas.testing.fakes import FakeEvaluator
from infonas.trials import TrialStatus
from search_spaces.macro import MacroSpace
from search_spaces.macro.network import MacroNetworkConfig
from search_spaces.nb201.network import NetworkConfig

SPACE = MacroSpace()
TRIALS = 7


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the candidate pools the Bayesian strategy scores; enumerating the space fails."""
    sizes: list[int] = []
    real = candidates.candidate_pool

    def recorded(space, exclude, rng, incumbents=(), **options):
        pool = real(space, exclude, rng, incumbents=incumbents, **options)
        assert not exclude & {arch.key for arch in pool}
        sizes.append(len(pool))
        return pool

    def refuse(space):
        raise AssertionError(f"the {space.name} space ({space.size} choice vectors) must not be enumerated")

    monkeypatch.setattr(bayesian, "candidate_pool", recorded)
    monkeypatch.setattr(candidates, "canonical_representatives", refuse)
    return sizes


def run(strategy: str, seed: int, trials: int = TRIALS, **options) -> list[tuple[str, float]]:
    evaluator = FakeEvaluator(SPACE, seed=3)
    study = Study.create(None, SPACE, evaluator, "acc", strategy=strategy, seed=seed, strategy_options=options)
    study.optimize(trials, progress=False)
    finished = study.finished_trials()
    assert len(finished) == trials and all(t.status is TrialStatus.COMPLETE for t in finished)
    assert len({t.arch.key for t in finished}) == trials  # no canonical key twice
    for trial in finished:
        assert SPACE.validate(trial.arch) is trial.arch
        assert trial.metrics["acc"] == evaluator.value(trial.arch)
    return [(SPACE.format(t.arch), t.metrics["acc"]) for t in finished]


def test_bayesian_search_uses_sampled_pools_and_is_seeded(pools: list[int]) -> None:
    # The default kernel: WL on the chain of blocks plus Hamming on the categorical encoding.
    options = {"n_init": 4}
    assert SPACE.size > candidates.ENUMERATION_LIMIT
    first = run("bo-ei", seed=1, **options)
    steps = TRIALS - options["n_init"]
    assert len(pools) == steps
    # 2000 samples plus the neighbours (30) and 50 mutations of up to 5 incumbents, less repeats
    # and evaluated keys; an enumerated pool would hold 1.6M.
    assert all(1900 <= size <= 2000 + 5 * (30 + 50) for size in pools), pools
    assert run("bo-ei", seed=1, **options) == first
    # Another seed, another initial design (no model step needed to see it).
    assert run("bo-ei", seed=2, trials=options["n_init"], **options) != first[:options["n_init"]]


def test_evolution_searches_the_macro_space_seeded() -> None:
    first = run("rea", seed=4)
    assert run("rea", seed=4) == first
    assert run("rea", seed=5) != first


def test_training_evaluator_trains_a_macro_network_on_digits() -> None:
    evaluator = TrainingEvaluator("digits", epochs={"one": 1}, channels=4, seed=0)
    config = evaluator.network_config_for("macro")
    assert config == MacroNetworkConfig.for_dataset("digits", channels=4)
    # NB201 cells still train in the network they always did.
    assert evaluator.network_config == NetworkConfig.for_input((1, 8, 8), 1, 4, 10)
    arch = SPACE.parse("|d2,x1,k3,k5,k7|d1,x1,k3,k3,k3|d1,x0.5,k3,k3,k3|")
    result = evaluator.evaluate(arch)
    assert result.status is TrialStatus.COMPLETE, result.error
    metrics = result.metrics
    assert set(metrics) == {"valid_accuracy", "test_accuracy", "train_loss"}
    assert 0.0 <= metrics["valid_accuracy"] <= 100.0 and 0.0 <= metrics["test_accuracy"] <= 100.0
    assert math.isfinite(metrics["train_loss"]) and metrics["train_loss"] < math.log(10) + 0.5
    # Seeded by the canonical key: a gated-off kernel changes nothing.
    same = SPACE.parse("|d2,x1,k3,k5,k3|d1,x1,k3,k7,k7|d1,x0.5,k3,k5,k5|")
    assert evaluator.evaluate(same).metrics == metrics


def test_a_training_study_runs_on_the_macro_space() -> None:
    spec = training_spec(epochs=1, channels=4)
    evaluator = build_evaluator(spec, SPACE)
    study = Study.create(None, SPACE, evaluator, "valid_accuracy", strategy="rs", seed=0, evaluator_spec=spec)
    study.optimize(2, progress=False)
    trials = study.finished_trials()
    assert [t.status for t in trials] == [TrialStatus.COMPLETE] * 2
    assert all(np.isfinite(t.metrics["valid_accuracy"]) for t in trials)


def test_the_cli_searches_accuracy_against_exact_flops_and_a_resumed_run_reads_the_costs_back(tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from infonas.cli import main
    from search_spaces.macro.cost_tables import MacroCosts

    run = tmp_path / "run"
    words = ["search", "--space", "macro", "--data", "digits", "--objectives", "valid_accuracy:max,flops:min",
             "--reference-point", "valid_accuracy=0,flops=2000000", "--strategy", "bo-ehvi", "--epochs", "1",
             "--channels", "4", "--run-dir", str(run), "--quiet"]
    done = CliRunner().invoke(main, [*words, "--budget", "2"])
    assert done.exit_code == 0, done.output
    resumed = CliRunner().invoke(main, ["resume", str(run), "--budget", "3", "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    study = Study.load(run)
    costs = MacroCosts.measure(MacroNetworkConfig.for_dataset("digits", channels=4))
    trials = study.finished_trials()
    assert len(trials) == 3 and isinstance(study.computed, MacroCosts)
    assert [t.metrics["flops"] for t in trials] == [costs.value(t.arch, "flops") for t in trials]
    assert json.loads((run / "config.json").read_text())["computed_metrics"]["config"]["channels"] == 4
