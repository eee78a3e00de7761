"""Gradient search on the macro space: the adapters, the methods, the FLOPs hinge, resuming, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from infonas.datasets import load_splits
from infonas.exceptions import IncompatibleRunError, InvalidArgumentError
from infonas.gradient.relaxation import derive_choices
from infonas.gradient.search import GradientSearch
from infonas.gradient.settings import NB201_ONLY, SPACE_OPTIONS, GradientSettings, settings_for
from infonas.gradient.spaces import GRADIENT_SPACES, gradient_space
from search_spaces.macro import MacroSpace
from search_spaces.nb201 import NB201Space

TINY = {"space": "macro", "channels": 2, "batch_size": 64}


@pytest.fixture(scope="module")
def splits():
    """256 training and 128 validation digits: four steps per epoch."""
    train, valid, test = load_splits("digits", seed=0)
    return (TensorDataset(*(t[:256] for t in train.tensors)), TensorDataset(*(t[:128] for t in valid.tensors)),
            test)


@pytest.fixture(scope="module")
def costs():
    return gradient_space("macro").costs("digits", settings_for("darts-1", **TINY))


def run(splits, method="darts-1", checkpoint_dir=None, costs=None, **overrides):
    return GradientSearch(settings_for(method, **{**TINY, "epochs": 2, **overrides}), splits,
                          checkpoint_dir=checkpoint_dir, costs=costs)


def test_the_adapters_cover_the_settings_spaces():
    assert set(GRADIENT_SPACES) == set(SPACE_OPTIONS)
    for name, adapter in GRADIENT_SPACES.items():
        assert adapter.name == name and adapter.alpha_shape[1] == SPACE_OPTIONS[name]
    assert gradient_space("nb201").alpha_shape == (6, 5) and gradient_space("macro").alpha_shape == (15, 3)
    with pytest.raises(InvalidArgumentError, match=r"space must be one of \['darts', 'macro', 'nb201'\], got 'nb301'"):
        gradient_space("nb301")
    with pytest.raises(InvalidArgumentError, match=r"space must be one of \['darts', 'macro', 'nb201'\], got 'cell'"):
        GradientSettings(space="cell")


def test_the_nb201_adapter_discretises_as_derive_choices():
    adapter, space = gradient_space("nb201"), NB201Space()
    for seed in range(5):
        weights = torch.softmax(torch.randn(6, 5, generator=torch.Generator().manual_seed(seed)), -1)
        for options in ({}, {"max_skips": 0}, {"exclude_none": True}):
            settings = GradientSettings(**options)
            choices = derive_choices(weights, max_skips=settings.max_skips, skip_index=1,
                                     exclude_none=settings.exclude_none)
            assert adapter.discretise(weights, settings) == space.from_categorical(list(choices))
    cell = space.parse("|skip_connect~0|+|none~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_3x3~2|")
    assert adapter.figures(cell) == {"skip_share": 0.5, "none_share": 2 / 6}


def test_the_macro_adapter_takes_each_positions_argmax_and_its_costs(costs):
    adapter, space = gradient_space("macro"), MacroSpace()
    arch = space.sample(np.random.default_rng(0))
    weights = torch.full((15, 3), 0.2)
    weights[torch.arange(15), torch.tensor(space.to_categorical(arch))] = 0.6
    assert adapter.discretise(weights, GradientSettings(space="macro")) == arch
    stages = space.stages(arch)
    assert adapter.figures(arch) == {"depths": [d for d, _, _ in stages], "widths": [w for _, w, _ in stages]}
    one_hot = torch.nn.functional.one_hot(torch.tensor(space.to_categorical(arch)), 3).double()
    assert float(adapter.expected_cost(costs, "flops")(one_hot)) == costs.value(arch, "flops")
    with pytest.raises(InvalidArgumentError, match="the macro space's costs are 'flops' and 'params', got 'latency'"):
        adapter.expected_cost(costs, "latency")
    with pytest.raises(InvalidArgumentError, match=r"expected weights must have shape \(15, 3\), got \(6, 5\)"):
        adapter.discretise(torch.zeros(6, 5), GradientSettings(space="macro"))


@pytest.mark.parametrize("method", ["darts-1", "darts-2", "gdas", "snas", "drnas", "pdarts"])
def test_every_method_searches_the_macro_space(splits, costs, method):
    search = run(splits, method, costs=costs, epochs=2)
    assert search.alpha.shape == (15, 3)
    initial = search.alpha.detach().clone()
    result = search.search()
    assert result.epochs_done == 2 and not torch.equal(search.alpha.detach(), initial)
    assert MacroSpace().make(list(result.arch.ops)) == result.arch
    for epoch, record in enumerate(result.history, start=1):
        assert record["epoch"] == epoch and "skip_share" not in record
        assert all(d in (1, 2, 3) for d in record["depths"]) and all(w in (0.5, 0.75, 1.0) for w in record["widths"])
        assert 0.0 <= record["supernet_valid_acc"] <= 100.0
    assert result.history[-1]["arch"] == MacroSpace().format(result.arch)
    expected = search.relaxation.expected_weights(search.alpha, search.mask).detach()
    assert result.history[-1]["expected_flops"] == pytest.approx(float(costs.expected(expected, "flops")))


def test_a_flops_budget_pulls_the_macro_network_under_it(splits, costs):
    archs = [MacroSpace().sample(np.random.default_rng(seed)) for seed in range(300)]
    budget = float(np.percentile(costs.values(archs, "flops"), 25))
    free = run(splits, costs=costs, arch_lr=0.05).search()
    held = run(splits, costs=costs, arch_lr=0.05, flops_budget=budget, flops_weight=50.0).search()
    assert held.history[-1]["expected_flops"] < free.history[-1]["expected_flops"]
    assert costs.value(free.arch, "flops") > budget >= costs.value(held.arch, "flops")


@pytest.mark.parametrize("name", sorted(NB201_ONLY))
def test_settings_that_name_nb201_operations_are_refused_on_the_macro_space(name):
    value = {"skip_drop_path": 0.3, "max_skips": 2, "stop_at_skips": 3, "exclude_none": True, "latency_weight": 1.0,
             "num_cells": 2}[name]
    with pytest.raises(InvalidArgumentError, match=rf"{name}={value!r} is refused on space 'macro': it .*; leave it "
                                                   r"at \S+ \(or search space 'nb201'\)"):
        settings_for("darts-1", space="macro", **{name: value})
    assert getattr(settings_for("darts-1", **{name: value}), name) == value  # NB201 keeps them


def test_pruning_keeps_at_most_the_macro_spaces_three_options():
    with pytest.raises(InvalidArgumentError, match=r"decreasing counts in 1\.\.3\) must pair up"):
        GradientSettings(space="macro", prune_at=(1,), prune_keep=(4,))
    assert GradientSettings(prune_at=(1,), prune_keep=(4,)).prune_keep == (4,)


def test_a_flops_term_without_cost_tables_says_how_to_build_them(splits):
    with pytest.raises(InvalidArgumentError, match=r"pass costs=MacroCosts\.measure\(config\) to GradientSearch"):
        run(splits, flops_budget=1e4, flops_weight=1.0)


def test_a_resumed_macro_search_continues_as_the_uninterrupted_one(splits, tmp_path):
    whole = run(splits, "gdas", epochs=3).search()
    assert run(splits, "gdas", tmp_path, epochs=3).search(max_epochs=1).epochs_done == 1
    resumed = run(splits, "gdas", tmp_path, epochs=3)
    assert resumed.epochs_done == 1
    result = resumed.search()
    assert result.arch == whole.arch and result.alpha == whole.alpha
    assert [r["train_loss"] for r in result.history] == [r["train_loss"] for r in whole.history]
    state = json.loads((tmp_path / "gradient.json").read_text())
    assert state["settings"]["space"] == "macro" and state["arch"] == MacroSpace().format(whole.arch)
    with pytest.raises(IncompatibleRunError, match=r"space: 'macro' -> 'nb201'"):
        GradientSearch(settings_for("gdas", channels=2, batch_size=64, epochs=3), splits, checkpoint_dir=tmp_path)


def test_a_checkpoint_written_before_the_space_setting_resumes_as_nb201(splits, tmp_path):
    GradientSearch(settings_for("darts-1", channels=2, batch_size=64, epochs=2), splits,
                   checkpoint_dir=tmp_path).search(max_epochs=1)
    state_path = tmp_path / "gradient.json"
    state = json.loads(state_path.read_text())
    del state["settings"]["space"]
    state_path.write_text(json.dumps(state))
    resumed = GradientSearch(settings_for("darts-1", channels=2, batch_size=64, epochs=2), splits,
                             checkpoint_dir=tmp_path)
    assert resumed.epochs_done == 1 and resumed.alpha.shape == (6, 5)
    with pytest.raises(IncompatibleRunError, match=r"space: 'nb201' -> 'macro'"):
        run(splits, "darts-1", tmp_path)


def _best_single_switch(adapter, weights, costs, arch, settings):
    """Brute force: the one switch of least log-probability lost per FLOP saved (ties: larger saving, lower index)."""
    choices, flops, best = list(adapter.space.to_categorical(arch)), costs.value(arch, "flops"), None
    log_w = torch.log(weights.double())
    for p in range(len(choices)):
        for o in range(weights.shape[1]):
            other = choices[:p] + [o] + choices[p + 1:]
            saved = flops - costs.value(adapter.space.from_categorical(other), "flops")
            if o != choices[p] and saved > 0 and adapter.may_switch(choices, p, o, settings):
                key = (float(log_w[p, choices[p]] - log_w[p, o]) / saved, -saved, p, o)
                best = key if best is None or key < best else best
    return adapter.space.from_categorical(choices[:best[2]] + [best[3]] + choices[best[2] + 1:])


def test_fitting_the_budget_switches_least_log_probability_per_flop_and_stops_within_it(costs, caplog):
    adapter, settings = gradient_space("macro"), GradientSettings(space="macro")
    smallest = costs.value(MacroSpace().from_categorical([0] * 15), "flops")
    for seed in range(4):
        weights = torch.softmax(torch.randn(15, 3, generator=torch.Generator().manual_seed(seed)), -1)
        argmax = adapter.discretise(weights, settings)
        flops = costs.value(argmax, "flops")
        assert adapter.fit_budget(argmax, weights, costs, flops, settings) == argmax  # within: unchanged
        # One FLOP under the argmax: any saving switch fits, so exactly the best one is made.
        assert adapter.fit_budget(argmax, weights, costs, flops - 1, settings) == \
            _best_single_switch(adapter, weights, costs, argmax, settings)
        for budget in (0.75 * flops, 0.3 * flops, smallest):
            assert costs.value(adapter.fit_budget(argmax, weights, costs, budget, settings), "flops") <= budget
        # Under the smallest network nothing fits: it ends at the smallest and says why.
        caplog.clear()
        below = adapter.fit_budget(argmax, weights, costs, smallest - 1, settings)
        assert costs.value(below, "flops") == smallest and "the smallest architecture exceeds it" in caplog.text


def test_fitting_an_nb201_cell_keeps_exclude_none_and_max_skips():
    from infonas.gradient.hardware import network_costs

    adapter, space = gradient_space("nb201"), NB201Space()
    cells = network_costs("digits", num_cells=1, channels=2)
    conv = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|"
                       "nor_conv_3x3~2|")
    weights = torch.full((6, 5), 0.1)
    weights[:, 3] = 0.6  # nor_conv_3x3 everywhere; none, skip, pool and conv 1x1 equally likely after it
    every = list(space.enumerate())
    for options in ({"exclude_none": True}, {"max_skips": 1}, {"exclude_none": True, "max_skips": 0}, {}):
        settings = GradientSettings(**options)
        fitted = adapter.fit_budget(conv, weights, cells, 0.0, settings)  # as small as the rules allow
        ops = fitted.ops
        assert ("none" not in ops) if options.get("exclude_none") else ops.count("none") >= 1
        assert ops.count("skip_connect") <= options.get("max_skips", 6)
        allowed = [cell for cell in every if not (options.get("exclude_none") and "none" in cell.ops)
                   and cell.ops.count("skip_connect") <= options.get("max_skips", 6)]
        assert cells.value(fitted, "flops") == cells.values(allowed, "flops").min()  # the smallest allowed cell


def test_a_search_within_budget_reports_the_fitted_architecture_and_both_flops(splits, costs, tmp_path):
    archs = [MacroSpace().sample(np.random.default_rng(seed)) for seed in range(300)]
    budget = float(np.percentile(costs.values(archs, "flops"), 10))
    plain = run(splits, costs=costs, flops_budget=budget).search()
    fitted_search = run(splits, "darts-1", tmp_path, costs=costs, flops_budget=budget, discretise_within_budget=True)
    fitted = fitted_search.search()
    assert fitted.alpha == plain.alpha  # the switch changes the discretisation only, never the search
    assert costs.value(plain.arch, "flops") > budget >= costs.value(fitted.arch, "flops")
    expected = fitted_search.relaxation.expected_weights(fitted_search.alpha, fitted_search.mask).detach()
    assert fitted.arch == gradient_space("macro").fit_budget(plain.arch, expected, costs, budget,
                                                             fitted_search.settings)
    for free, held in zip(plain.history, fitted.history):
        assert "argmax_flops" not in free and free["derived_flops"] == costs.value(MacroSpace().parse(free["arch"]),
                                                                                   "flops")
        assert held["argmax_flops"] == free["derived_flops"] and held["expected_flops"] == free["expected_flops"]
        assert held["derived_flops"] == costs.value(MacroSpace().parse(held["arch"]), "flops") <= budget
    assert json.loads((tmp_path / "gradient.json").read_text())["arch"] == MacroSpace().format(fitted.arch)


def test_discretising_within_budget_needs_a_budget_and_the_cost_tables(splits):
    with pytest.raises(InvalidArgumentError, match="discretise_within_budget needs a positive flops_budget, got None"):
        GradientSettings(space="macro", discretise_within_budget=True)
    with pytest.raises(InvalidArgumentError, match=r"needs the network's cost tables: pass costs=MacroCosts"):
        run(splits, flops_budget=1e4, discretise_within_budget=True)
    settings = GradientSettings(space="macro", flops_budget=1e4, discretise_within_budget=True)
    with pytest.raises(InvalidArgumentError, match=r"discretise_within_budget needs the network's exact cost tables, "
                                                   r"got costs=None: pass costs=MacroCosts"):
        gradient_space("macro").derive(torch.full((15, 3), 1 / 3), settings)


def test_a_checkpoint_written_before_discretise_within_budget_resumes_without_it(splits, costs, tmp_path):
    run(splits, "darts-1", tmp_path, costs=costs).search(max_epochs=1)
    state_path = tmp_path / "gradient.json"
    state = json.loads(state_path.read_text())
    del state["settings"]["discretise_within_budget"]
    state_path.write_text(json.dumps(state))
    resumed = run(splits, "darts-1", tmp_path, costs=costs)
    assert resumed.epochs_done == 1 and resumed.search().epochs_done == 2
    with pytest.raises(IncompatibleRunError, match=r"discretise_within_budget: False -> True"):
        run(splits, "darts-1", tmp_path, costs=costs, flops_budget=1e4, discretise_within_budget=True)


def test_nb201_records_gain_the_derived_cells_exact_flops(splits):
    from infonas.gradient.hardware import network_costs

    cells = network_costs("digits", num_cells=1, channels=2)
    result = GradientSearch(settings_for("darts-1", channels=2, batch_size=64, epochs=1), splits, costs=cells).search()
    (record,) = result.history
    assert record["derived_flops"] == cells.value(result.arch, "flops") and "argmax_flops" not in record
