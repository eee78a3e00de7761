"""The gradient search loop: every method runs, resumes exactly, honours its remedies and budget."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import TensorDataset

from infonas.datasets import load_splits
from infonas.exceptions import IncompatibleRunError, InvalidArgumentError
from infonas.gradient import search as search_module
from infonas.gradient.search import GradientSearch
from infonas.gradient.settings import METHODS, GradientSettings, settings_for
from search_spaces.nb201 import NB201Space

TINY = {"channels": 2, "batch_size": 64}


@pytest.fixture(scope="module")
def splits():
    """256 training and 128 validation samples of mnist1d: a few steps per epoch."""
    train, valid, test = load_splits("mnist1d", seed=0)
    return (TensorDataset(*(t[:256] for t in train.tensors)), TensorDataset(*(t[:128] for t in valid.tensors)),
            test)


def run(splits, method="darts-1", checkpoint_dir=None, **overrides):
    settings = settings_for(method, **{**TINY, "epochs": 2, **overrides})
    return GradientSearch(settings, splits, checkpoint_dir=checkpoint_dir)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_searches_and_reports_its_collapse(splits, method):
    search = run(splits, method, epochs=3)
    initial = search.alpha.detach().clone()
    result = search.search()
    assert result.epochs_done == 3 and result.stopped_early is None
    assert len(result.arch.ops) == 6 and NB201Space().make(list(result.arch.ops)) == result.arch
    assert not torch.equal(search.alpha.detach(), initial)
    assert torch.isfinite(search.alpha).all()
    for epoch, record in enumerate(result.history, start=1):
        assert record["epoch"] == epoch
        assert 0.0 <= record["skip_share"] <= 1.0 and 0.0 <= record["none_share"] <= 1.0
        assert 0.0 <= record["supernet_valid_acc"] <= 100.0
    assert result.history[-1]["arch"] == NB201Space().format(result.arch)
    assert result.search_seconds > 0


def test_pdarts_prunes_the_candidate_operations_in_stages(splits):
    search = run(splits, "pdarts", epochs=3)
    assert search.settings.prune_at == (1, 2) and search.settings.prune_keep == (3, 2)
    search.search()
    assert search.mask.sum(-1).tolist() == [2] * 6
    chosen = NB201Space().to_categorical(search.derived())
    assert all(bool(search.mask[e, op]) for e, op in enumerate(chosen))


def test_second_order_steps_go_through_the_unrolled_hypergradient(splits, monkeypatch):
    calls = []
    real = search_module.unrolled_hypergradient

    def counting(*args, **kwargs):
        calls.append(kwargs["xi"])
        return real(*args, **kwargs)

    monkeypatch.setattr(search_module, "unrolled_hypergradient", counting)
    search = run(splits, "darts-2", epochs=1)
    search.search()
    assert len(calls) == len(search._starts)
    # xi is the weight learning rate of the step, following the cosine schedule downwards.
    assert calls[0] == pytest.approx(search.settings.weight_lr) and calls[-1] < calls[0]


def test_a_resumed_search_continues_as_the_uninterrupted_one(splits, tmp_path):
    whole = run(splits, "gdas", epochs=3).search()
    interrupted = run(splits, "gdas", tmp_path, epochs=3).search(max_epochs=1)
    assert interrupted.epochs_done == 1
    resumed = run(splits, "gdas", tmp_path, epochs=3)
    assert resumed.epochs_done == 1
    result = resumed.search()
    assert result.arch == whole.arch and result.alpha == whole.alpha
    assert [r["arch"] for r in result.history] == [r["arch"] for r in whole.history]
    state = json.loads((tmp_path / "gradient.json").read_text())
    assert state["epochs_done"] == 3 and state["arch"] == NB201Space().format(whole.arch)


def test_a_checkpoint_of_other_settings_is_refused(splits, tmp_path):
    run(splits, "darts-1", tmp_path, epochs=1).search()
    with pytest.raises(IncompatibleRunError, match=r"other settings \(arch_lr: 0.0003 -> 0.01\): use the same settings"):
        run(splits, "darts-1", tmp_path, epochs=1, arch_lr=1e-2)


def test_early_stopping_on_skips_records_why(splits):
    result = run(splits, "darts-1", epochs=3, stop_at_skips=0).search()
    assert result.epochs_done == 1 and "stop_at_skips=0" in result.stopped_early


def test_skip_cap_limits_skips_in_the_derived_cell(splits):
    search = run(splits, "darts-1", epochs=1, max_skips=0)
    with torch.no_grad():
        search.alpha[:, 1] = 5.0  # skip_connect dominates every edge
    assert "skip_connect" not in search.derived().ops
    uncapped = run(splits, "darts-1", epochs=1)
    with torch.no_grad():
        uncapped.alpha[:, 1] = 5.0
    assert uncapped.derived().ops.count("skip_connect") == 6


def test_a_flops_budget_pulls_the_expected_flops_under_it(splits):
    from search_spaces.nb201.cost_tables import ArchitectureCosts
    from search_spaces.nb201.network import NetworkConfig

    space = NB201Space()
    costs = ArchitectureCosts.measure(space, NetworkConfig.for_input((1, 40), num_cells=1, channels=2), latency=False)
    smallest, largest = costs.value(space.make(["none"] * 6), "flops"), costs.value(space.make(["nor_conv_3x3"] * 6),
                                                                                      "flops")
    budget = smallest + 0.2 * (largest - smallest)
    free = GradientSearch(settings_for("darts-1", **TINY, epochs=2, arch_lr=0.05), splits, costs=costs).search()
    held = GradientSearch(settings_for("darts-1", **TINY, epochs=2, arch_lr=0.05, flops_budget=budget,
                                       flops_weight=50.0), splits, costs=costs).search()
    assert held.history[-1]["expected_flops"] < free.history[-1]["expected_flops"]
    assert costs.value(held.arch, "flops") <= budget


def test_pcgrad_reports_the_share_of_conflicting_steps(splits):
    from search_spaces.nb201.cost_tables import ArchitectureCosts
    from search_spaces.nb201.network import NetworkConfig

    costs = ArchitectureCosts.measure(NB201Space(), NetworkConfig.for_input((1, 40), num_cells=1, channels=2),
                                      latency=False)
    result = GradientSearch(settings_for("darts-1", **TINY, epochs=1, flops_budget=1.0, flops_weight=1.0, pcgrad=True),
                            splits, costs=costs).search()
    assert 0.0 <= result.history[-1]["conflict_fraction"] <= 1.0


def test_settings_are_checked(splits):
    with pytest.raises(InvalidArgumentError, match="order must be 1"):
        GradientSettings(order=3)
    with pytest.raises(InvalidArgumentError, match="needs a positive flops_budget"):
        GradientSettings(flops_weight=1.0)
    with pytest.raises(InvalidArgumentError, match="unknown gradient method"):
        settings_for("enas")
    with pytest.raises(InvalidArgumentError, match="unknown gradient search settings"):
        settings_for("darts-1", epoch=3)
    with pytest.raises(InvalidArgumentError, match="needs the network's cost tables"):
        GradientSearch(settings_for("darts-1", **TINY, flops_budget=1e6, flops_weight=1.0), splits)


def test_a_seconds_budget_ends_the_search_after_the_epoch_that_spends_it(splits):
    result = run(splits, "darts-1", epochs=5).search(max_seconds=1e-9)
    assert result.epochs_done == 1 and result.stopped_early is None


def test_excluding_none_when_discretising(splits):
    search = run(splits, "darts-1", epochs=1, exclude_none=True)
    with torch.no_grad():
        search.alpha[:, 0] = 5.0  # none dominates every edge
        search.alpha[:, 3] = 1.0  # then the 3x3 convolution
    assert search.derived().ops == ("nor_conv_3x3",) * 6
    assert run(splits, "darts-1", epochs=1).derived().ops != ("nor_conv_3x3",) * 6


def test_a_checkpoint_older_than_a_setting_resumes_with_its_default(splits, tmp_path):
    run(splits, "darts-1", tmp_path, epochs=1).search()
    state_path = tmp_path / "gradient.json"
    state = json.loads(state_path.read_text())
    del state["settings"]["exclude_none"]  # as written before the setting existed
    state_path.write_text(json.dumps(state))
    assert run(splits, "darts-1", tmp_path, epochs=1).epochs_done == 1
    with pytest.raises(IncompatibleRunError, match="exclude_none: False -> True"):
        run(splits, "darts-1", tmp_path, epochs=1, exclude_none=True)
