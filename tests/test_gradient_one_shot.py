"""One-shot baselines over a trained SPOS supernet: RSPS, evolution under a cost target, shared targets.

Tiny: an mnist1d supernet of 2 channels trained for 1 epoch (under a second), 2 recalibration
batches; each sub-network is scored in ~15 ms. Costs are the exact FLOPs of that 1-D network.
"""

from __future__ import annotations

import logging

import pytest

from infonas.evaluators.supernet import SupernetEvaluator
from infonas.exceptions import InfonasError, InvalidArgumentError
from infonas.gradient import one_shot
from infonas.gradient.one_shot import (
    evolution_for_targets,
    evolution_with_weight_sharing,
    random_search_with_weight_sharing,
)
from infonas.supernet.training import CanonicalSampler
from infonas.trials import EvaluationResult
from search_spaces import NB201Space
from search_spaces.nb201.cost_tables import ArchitectureCosts

SPACE = NB201Space()
EVOLUTION = {"population": 8, "sample_size": 3, "cycles": 16}


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory) -> SupernetEvaluator:
    evaluator = SupernetEvaluator("mnist1d", epochs=1, channels=2, recalibration_batches=2,
                                  checkpoint_dir=tmp_path_factory.mktemp("one_shot_supernet"))
    evaluator.prepare()
    return evaluator


@pytest.fixture(scope="module")
def costs(evaluator) -> ArchitectureCosts:
    return ArchitectureCosts.measure(SPACE, evaluator.prepare().config, latency=False)


@pytest.fixture(scope="module")
def classes() -> dict:
    """Class key -> canonical representative, built independently of the module under test."""
    return {arch.key: arch for arch in CanonicalSampler().cells}


@pytest.fixture(scope="module")
def tight(costs) -> float:
    """FLOPs of at most one 1x1 convolution: one string in seven meets it, and one mutation in
    four on a free edge (to a 3x3 convolution) breaks it, so the re-drawing is exercised."""
    return float(costs.flops_base + costs.flops_increments["nor_conv_1x1"])


def _score(evaluator, arch) -> float:
    return evaluator.evaluate(arch).metrics["valid_accuracy"]


def test_the_supernet_scores_a_cell_the_same_whatever_was_scored_before(evaluator, classes):
    a, b, c = list(classes.values())[100:103]
    first = _score(evaluator, a)
    _score(evaluator, b), _score(evaluator, c)
    assert _score(evaluator, a) == first


def test_rsps_returns_the_best_of_its_own_history(evaluator, classes, caplog, capsys):
    with caplog.at_level(logging.INFO, logger="infonas.gradient.one_shot"):
        result = random_search_with_weight_sharing(evaluator, samples=25, seed=0)
    keys = [key for key, _ in result.history]
    assert result.evaluated == len(result.history) == len(set(keys)) == 25
    assert set(keys) <= set(classes)
    scores = [score for _, score in result.history]
    assert result.score == max(scores) and result.arch.key == keys[scores.index(max(scores))]
    assert len(set(scores)) > 1  # the supernet tells cells apart, so "best" means something
    assert result.score == _score(evaluator, result.arch)
    assert result.supernet_seconds == evaluator.setup_cost() > 0 and result.search_seconds >= 0
    assert any("RSPS" in record.getMessage() for record in caplog.records)
    assert capsys.readouterr().out == ""


def test_rsps_stops_scoring_at_its_seconds_budget(evaluator):
    cut = random_search_with_weight_sharing(evaluator, samples=10, seed=3, max_seconds=1e-9)
    whole = random_search_with_weight_sharing(evaluator, samples=10, seed=3)
    assert cut.evaluated == 1 and cut.history == whole.history[:1]


def test_rsps_is_reproducible_and_depends_on_the_seed(evaluator):
    first = random_search_with_weight_sharing(evaluator, samples=10, seed=3)
    again = random_search_with_weight_sharing(evaluator, samples=10, seed=3)
    other = random_search_with_weight_sharing(evaluator, samples=10, seed=4)
    assert (again.arch, again.score, again.history) == (first.arch, first.score, first.history)
    assert other.history != first.history


def test_evolution_scores_only_cells_within_the_target(evaluator, costs, classes, tight):
    result = evolution_with_weight_sharing(evaluator, costs=costs, metric="flops", target=tight, seed=0,
                                           **EVOLUTION)
    assert len(result.history) == EVOLUTION["population"] + EVOLUTION["cycles"]
    assert all(costs.value(classes[key], "flops") <= tight for key, _ in result.history)
    assert costs.value(result.arch, "flops") <= tight
    assert result.score == max(score for _, score in result.history)
    assert result.evaluated == len({key for key, _ in result.history})
    unconstrained = evolution_with_weight_sharing(evaluator, seed=0, **EVOLUTION)
    assert any(costs.value(classes[key], "flops") > tight for key, _ in unconstrained.history)


def test_evolution_is_reproducible_and_depends_on_the_seed(evaluator, costs, tight):
    runs = [evolution_with_weight_sharing(evaluator, costs=costs, target=tight, seed=seed, **EVOLUTION)
            for seed in (1, 1, 2)]
    assert (runs[1].arch, runs[1].history) == (runs[0].arch, runs[0].history)
    assert runs[2].history != runs[0].history


def test_evolution_for_targets_shares_scores_and_never_worsens_as_the_target_loosens(evaluator, costs, classes,
                                                                                     tight):
    loose = tight * 2
    found = evolution_for_targets(evaluator, costs, "flops", [tight, loose, tight], seed=5, **EVOLUTION)
    assert list(found) == [tight, loose]
    for target, result in found.items():
        alone = evolution_with_weight_sharing(evaluator, costs=costs, target=target, seed=5, **EVOLUTION)
        assert result.history == alone.history  # sharing the cache changes no run
        assert result.score >= alone.score and costs.value(result.arch, "flops") <= target
    assert found[loose].score >= found[tight].score
    every_key = {key for result in found.values() for key, _ in result.history}
    assert sum(result.evaluated for result in found.values()) == len(every_key)  # each class scored once


@pytest.mark.parametrize("call, words", [
    (lambda e, c: random_search_with_weight_sharing(e, samples=0), "samples"),
    (lambda e, c: random_search_with_weight_sharing(e, samples=6467), "samples"),
    (lambda e, c: evolution_with_weight_sharing(e, population=3, sample_size=4), "population >= sample_size"),
    (lambda e, c: evolution_with_weight_sharing(e, sample_size=0), "sample_size"),
    (lambda e, c: evolution_with_weight_sharing(e, cycles=-1), "cycles"),
    (lambda e, c: evolution_with_weight_sharing(e, costs=c, metric="watts"), "watts"),
    (lambda e, c: evolution_with_weight_sharing(e, costs=c, metric="latency_ms", target=1e9), "latency"),
    (lambda e, c: evolution_with_weight_sharing(e, target=1e9), "needs costs"),
    (lambda e, c: evolution_with_weight_sharing(e, costs=c, target=c.flops_base - 1), "cheapest"),
    (lambda e, c: evolution_with_weight_sharing(e, costs=c, target=float("nan")), "cheapest"),
    (lambda e, c: evolution_for_targets(e, c, "flops", []), "at least one target"),
    (lambda e, c: evolution_for_targets(e, c, "flops", [1e9, c.flops_base - 1]), "cheapest"),
])
def test_bad_arguments_raise_before_any_scoring(evaluator, costs, monkeypatch, call, words):
    monkeypatch.setattr(evaluator, "evaluate", lambda *args, **kwargs: pytest.fail("scored a cell"))
    with pytest.raises(InvalidArgumentError, match=words):
        call(evaluator, costs)


def test_a_target_no_canonical_cell_meets_is_refused(evaluator, costs, classes, monkeypatch):
    # With non-negative increments a class's representative is its cheapest string, so this needs
    # negative ones (noisy latency tables); dropping the cheapest classes reaches the same state.
    pricey = tuple(arch for arch in classes.values() if costs.value(arch, "flops") > costs.flops_base)
    monkeypatch.setattr(one_shot, "_classes", lambda: (pricey, {arch.key: arch for arch in pricey}))
    with pytest.raises(InvalidArgumentError, match="no canonical cell"):
        evolution_with_weight_sharing(evaluator, costs=costs, target=costs.flops_base)


def test_a_sub_network_the_supernet_cannot_score_stops_the_search(evaluator, monkeypatch):
    monkeypatch.setattr(evaluator, "evaluate", lambda *args, **kwargs: EvaluationResult.failed("boom"))
    with pytest.raises(InfonasError, match="boom"):
        random_search_with_weight_sharing(evaluator, samples=2)
