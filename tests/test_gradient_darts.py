"""Gradient search on the DARTS cells: the reference discretisation, the adapter (exact costs at
one-hot weights), the methods end to end through ``infonas gradient``, resuming, and the refusals."""

from __future__ import annotations

import functools
import json
import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch.utils.data import TensorDataset

import infonas.datasets
from infonas.cli import main
from infonas.exceptions import InvalidArgumentError
from infonas.gradient.search import GradientSearch
from infonas.gradient.settings import GradientSettings, settings_for
from infonas.gradient.spaces import gradient_space
from infonas.supernet.darts import DartsSupernet, derive_genotype, edge_index
from search_spaces.darts import DARTS_V1, DARTS_V2, PRIMITIVES, DartsSpace, format_genotype, parse_genotype

SPACE = DartsSpace()
TINY = {"space": "darts", "channels": 2, "batch_size": 64}
REFUSAL = r"is refused on space 'darts': a FLOPs budget needs the derived network's expected FLOPs"


@functools.lru_cache(maxsize=2)
def small(data: str, seed: int = 0):
    """128 training and 128 validation samples of ``data``: two steps per epoch (loaded once)."""
    train, valid, test = _LOAD_SPLITS(data, seed)
    return (TensorDataset(*(t[:128] for t in train.tensors)), TensorDataset(*(t[:128] for t in valid.tensors)), test)


_LOAD_SPLITS = infonas.datasets.load_splits


def weights_for(genotype_text: str) -> torch.Tensor:
    """Mixing weights whose reference rule gives ``genotype_text`` back, its pairs' order included: a
    node's first pair strongest, its second next, and every other edge led by ``none``, stronger
    than both (the rule must leave ``none`` out)."""
    genotype = parse_genotype(genotype_text)
    weights = torch.full((28, 8), 0.02)
    weights[:, PRIMITIVES.index("none")] = 0.9
    for kind, pairs in enumerate((genotype.normal, genotype.reduce)):
        for position, (op, source) in enumerate(pairs):
            row = 14 * kind + edge_index(position // 2, source)
            weights[row] = 0.05
            weights[row, PRIMITIVES.index(op)] = 0.6 if position % 2 == 0 else 0.4
    return weights


@pytest.mark.parametrize("published", [DARTS_V1, DARTS_V2])
def test_the_published_genotypes_come_back_from_weights_that_favour_them(published):
    assert format_genotype(derive_genotype(weights_for(published))) == published


def test_the_rule_ranks_edges_by_their_best_operation_other_than_none():
    weights = DartsSupernet.uniform_weights()
    assert derive_genotype(weights).normal == (("max_pool_3x3", 0), ("max_pool_3x3", 1)) * 4  # ties: low input, op
    weights[edge_index(2, 3)] = torch.tensor([0.93, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01])  # none: no strength
    weights[edge_index(2, 2), PRIMITIVES.index("sep_conv_5x5")] = 0.3
    weights[14 + edge_index(1, 2), PRIMITIVES.index("skip_connect")] = 0.2
    genotype = derive_genotype(weights)
    assert genotype.normal[4:6] == (("sep_conv_5x5", 2), ("max_pool_3x3", 0))
    assert genotype.reduce[2:4] == (("skip_connect", 2), ("max_pool_3x3", 0))
    with pytest.raises(InvalidArgumentError, match=r"must be a finite \(28, 8\) tensor .* got \(6, 5\)"):
        derive_genotype(torch.zeros(6, 5))


@pytest.fixture(scope="module")
def costs():
    return gradient_space("darts").costs("mnist1d", settings_for("darts-1", **TINY))


def test_the_adapter_discretises_by_the_reference_rule_and_prices_one_hot_weights_exactly(costs):
    adapter, settings = gradient_space("darts"), GradientSettings(space="darts")
    assert adapter.alpha_shape == (28, 8)
    assert adapter.discretise(weights_for(DARTS_V2), settings) == SPACE.parse(DARTS_V2)
    for arch in [SPACE.parse(DARTS_V2)] + [SPACE.sample(np.random.default_rng(seed)) for seed in range(3)]:
        one_hot = DartsSupernet.one_hot_weights(arch)
        for metric in ("flops", "params"):
            assert float(adapter.expected_cost(costs, metric)(one_hot.double())) == costs.value(arch, metric)
        assert adapter.cost_figures(one_hot, arch, costs, settings) == {
            "derived_flops": costs.value(arch, "flops"), "derived_params": costs.value(arch, "params")}
    assert adapter.figures(SPACE.parse(DARTS_V2)) == {"normal_skips": 2, "normal_convs": 6, "reduce_skips": 3}
    with pytest.raises(InvalidArgumentError, match="the darts space's costs are 'flops' and 'params', got 'latency'"):
        adapter.expected_cost(costs, "latency")


def test_the_flops_terms_are_refused_in_one_line():
    settings = GradientSettings(space="darts", flops_budget=1e4, flops_weight=1.0)
    samples = TensorDataset(torch.zeros(4, 1, 40), torch.arange(4))
    with pytest.raises(InvalidArgumentError, match="flops_weight=1.0 " + REFUSAL) as info:
        GradientSearch(settings, (samples, samples, samples))
    assert "\n" not in str(info.value) and "leave flops_weight at its default" in str(info.value)
    fitted = GradientSettings(space="darts", flops_budget=1e4, discretise_within_budget=True)
    with pytest.raises(InvalidArgumentError, match="discretise_within_budget=True " + REFUSAL):
        gradient_space("darts").derive(torch.full((28, 8), 1 / 8), fitted)
    with pytest.raises(InvalidArgumentError, match="max_skips=2 is refused on space 'darts': it caps skip"):
        settings_for("darts-1", space="darts", max_skips=2)


def test_a_resumed_darts_search_continues_as_the_uninterrupted_one(tmp_path):
    def run(checkpoint_dir=None):
        return GradientSearch(settings_for("gdas", **TINY, epochs=2), small("digits"), checkpoint_dir=checkpoint_dir)

    whole = run().search()
    assert run(tmp_path).search(max_epochs=1).epochs_done == 1
    result = run(tmp_path).search()
    assert result.arch == whole.arch and result.alpha == whole.alpha
    assert [r["train_loss"] for r in result.history] == [r["train_loss"] for r in whole.history]
    assert json.loads((tmp_path / "gradient.json").read_text())["arch"] == SPACE.format(whole.arch)


def invoke(*args):
    return CliRunner().invoke(main, ["gradient", "--space", "darts", *map(str, args)], catch_exceptions=False)


@pytest.mark.parametrize("method", ["darts-1", "gdas"])
def test_the_command_line_searches_the_darts_cells_and_prints_the_genotype(method, costs, tmp_path, monkeypatch):
    monkeypatch.setattr(infonas.datasets, "load_splits", small)  # two steps per epoch on mnist1d
    out, run = tmp_path / "out.json", tmp_path / "run"
    result = invoke("--method", method, "--epochs", 1, "--channels", 2, "--run-dir", run, "--json", out, "--quiet")
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    printed = re.search(r"^derived genotype: (Genotype\(.*\))$", result.stdout, re.MULTILINE).group(1)
    arch = SPACE.parse(printed)  # a valid genotype of the space: checked by parse
    assert payload["genotype"] == printed and payload["arch"] == SPACE.format(arch) == payload["history"][-1]["arch"]
    assert parse_genotype(printed).normal_concat == (2, 3, 4, 5) and payload["settings"]["space"] == "darts"
    assert payload["flops"] == costs.value(arch, "flops") and f"exact params: {payload['params']:.0f}" in result.stdout
    (record,) = payload["history"]
    assert record["derived_params"] == payload["params"] and 0 <= record["normal_skips"] <= 8
    lines = result.stdout.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("epoch  normal skips")))
    assert lines[header + 1].split()[:4] == ["1", str(record["normal_skips"]), str(record["normal_convs"]),
                                             str(record["reduce_skips"])]
    if method == "gdas":  # the same command again resumes the run: nothing left to do
        again = invoke("--method", method, "--epochs", 1, "--channels", 2, "--run-dir", run, "--quiet")
        assert f"resuming {run}: 1/1 epochs done, nothing left to do" in again.output
        assert f"derived genotype: {printed}" in again.stdout


@pytest.mark.parametrize("options, field", [(("--flops-budget", 2e4, "--flops-weight", 5), "flops_weight=5.0"),
                                            (("--flops-budget", 2e4, "--fit-budget"), "discretise_within_budget=True"),
                                            (("--max-skips", 2), "max_skips=2")])
def test_the_command_line_refuses_the_flops_terms_and_skip_remedies_in_one_line(options, field, tmp_path):
    result = invoke(*options, "--run-dir", tmp_path / "run", "--data", "digits", "--quiet")
    assert result.exit_code == 2 and len(result.output.splitlines()) == 1, result.output
    assert re.match(rf"Error: (invalid gradient search settings: )?{field} is refused on space 'darts'", result.output)
    assert not any(tmp_path.iterdir())
