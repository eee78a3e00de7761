"""MacroCosts: exact params and FLOPs of every macro network, and their exact expectation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from infonas.exceptions import InvalidArgumentError
from search_spaces.macro import MacroSpace
from search_spaces.macro.cost_tables import MacroCosts
from search_spaces.macro.network import MacroNetworkConfig
from search_spaces.metrics import ArchitectureMetrics

SPACE = MacroSpace()


@pytest.fixture(scope="module", params=["mnist1d", "digits"])
def costs(request: pytest.FixtureRequest) -> MacroCosts:
    return MacroCosts.measure(MacroNetworkConfig.for_dataset(request.param))


def one_hot(arch) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(SPACE.to_categorical(arch)), 3).to(torch.float64)


def random_rows(rng: np.random.Generator, *batch: int) -> torch.Tensor:
    return torch.from_numpy(rng.dirichlet(np.ones(3), size=(*batch, 15)))


def test_values_equal_the_counted_network_exactly(costs: MacroCosts) -> None:
    metrics = ArchitectureMetrics(SPACE, costs.config)
    rng = np.random.default_rng(0)
    archs = [SPACE.sample(rng) for _ in range(40)]
    archs.append(SPACE.parse("|d1,x0.5,k3,k3,k3|d1,x0.5,k3,k3,k3|d1,x0.5,k3,k3,k3|"))
    archs.append(SPACE.parse("|d3,x1,k7,k7,k7|d3,x1,k7,k7,k7|d3,x1,k7,k7,k7|"))
    flops = costs.values(archs, "flops")
    params = costs.values(np.array([SPACE.to_categorical(a) for a in archs]), "params")
    for i, arch in enumerate(archs):
        assert costs.value(arch, "flops") == flops[i] == metrics.flops(arch), SPACE.format(arch)
        assert costs.value(arch, "params") == params[i] == metrics.params(arch), SPACE.format(arch)
    assert len(set(flops.tolist())) > 30  # the archs really differ in cost


def test_gated_off_kernels_cost_nothing(costs: MacroCosts) -> None:
    short = SPACE.parse("|d1,x1,k5,k3,k3|d2,x0.5,k3,k7,k3|d1,x0.75,k7,k3,k3|")
    same = SPACE.parse("|d1,x1,k5,k7,k5|d2,x0.5,k3,k7,k7|d1,x0.75,k7,k5,k7|")
    deeper = SPACE.parse("|d2,x1,k5,k7,k5|d2,x0.5,k3,k7,k7|d1,x0.75,k7,k5,k7|")
    for metric in costs.metrics:
        assert costs.value(short, metric) == costs.value(same, metric) < costs.value(deeper, metric)


def test_expected_at_one_hot_rows_is_the_value(costs: MacroCosts) -> None:
    rng = np.random.default_rng(1)
    archs = [SPACE.sample(rng) for _ in range(12)]
    rows = torch.stack([one_hot(a) for a in archs]).reshape(3, 4, 15, 3)  # leading batch dims
    for metric in costs.metrics:
        expected = costs.expected(rows, metric)
        assert expected.shape == (3, 4) and expected.dtype == torch.float64
        assert expected.flatten().tolist() == costs.values(archs, metric).tolist()
        assert float(costs.expected(one_hot(archs[0]).float(), metric)) == costs.value(archs[0], metric)


def test_expected_is_linear_in_every_row(costs: MacroCosts) -> None:
    rng = np.random.default_rng(2)
    for position in range(15):
        rows = random_rows(rng)
        a, b = rng.dirichlet(np.ones(3)), rng.dirichlet(np.ones(3))
        lam = float(rng.uniform())
        with_a, with_b, mixed = rows.clone(), rows.clone(), rows.clone()
        with_a[position], with_b[position] = torch.from_numpy(a), torch.from_numpy(b)
        mixed[position] = torch.from_numpy(lam * a + (1 - lam) * b)
        for metric in costs.metrics:
            combined = lam * costs.expected(with_a, metric) + (1 - lam) * costs.expected(with_b, metric)
            torch.testing.assert_close(costs.expected(mixed, metric), combined, rtol=1e-12, atol=0.0)


def test_expected_is_the_mean_over_a_stage_by_brute_force(costs: MacroCosts) -> None:
    """Stage 3's five positions random, the rest fixed: average the 3^5 exact values by hand."""
    rng = np.random.default_rng(3)
    base = np.array(SPACE.to_categorical(SPACE.sample(rng)))
    rows = torch.nn.functional.one_hot(torch.from_numpy(base), 3).to(torch.float64)
    stage3 = list(range(10, 15))
    rows[stage3] = random_rows(rng)[stage3]
    grid = np.array(np.meshgrid(*[range(3)] * 5, indexing="ij")).reshape(5, -1).T
    indices = np.repeat(base[None], len(grid), axis=0)
    indices[:, stage3] = grid
    probabilities = np.prod([rows[p].numpy()[grid[:, i]] for i, p in enumerate(stage3)], axis=0)
    for metric in costs.metrics:
        mean = float(np.sum(probabilities * costs.values(indices, metric)))
        assert float(costs.expected(rows, metric)) == pytest.approx(mean, rel=1e-12)


def test_expected_is_differentiable(costs: MacroCosts) -> None:
    logits = torch.randn(2, 15, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4), requires_grad=True)
    costs.expected(torch.softmax(logits, -1), "flops").sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    rows = random_rows(np.random.default_rng(5)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda w: costs.expected(w, "params"), (rows,))


@pytest.mark.parametrize("weights", [torch.ones(15, 4), torch.ones(3), torch.ones(2, 14, 3), np.ones((15, 3))])
def test_bad_weights_are_rejected(costs: MacroCosts, weights) -> None:
    with pytest.raises(InvalidArgumentError, match=r"must be a tensor of shape \(\.\.\., 15, 3\).*got.*pass"):
        costs.expected(weights, "flops")


def test_bad_metric_and_indices_are_rejected(costs: MacroCosts) -> None:
    arch = SPACE.sample(np.random.default_rng(6))
    for call in (lambda: costs.value(arch, "latency_ms"), lambda: costs.values([arch], "FLOPs"),
                 lambda: costs.expected(one_hot(arch), "macs")):
        with pytest.raises(InvalidArgumentError, match="must be one of .*got '.*'; pass"):
            call()
    with pytest.raises(InvalidArgumentError, match=r"\(n, 15\) array whose column p lies in 0..len\(choices\[p\]\) - 1, got shape \(1, 15\)"):
        costs.values(np.full((1, 15), 3), "flops")
    with pytest.raises(InvalidArgumentError, match="got shape"):
        costs.values(np.zeros((2, 14), dtype=int), "flops")


def test_json_round_trip(costs: MacroCosts) -> None:
    again = MacroCosts.from_json(json.loads(json.dumps(costs.to_json())))
    assert again.config == costs.config and again.metrics == ("flops", "params")
    rng = np.random.default_rng(7)
    archs = [SPACE.sample(rng) for _ in range(20)]
    rows = random_rows(rng, 3)
    for metric in costs.metrics:
        assert again.values(archs, metric).tolist() == costs.values(archs, metric).tolist()
        assert torch.equal(again.expected(rows, metric), costs.expected(rows, metric))
    broken = costs.to_json()
    del broken["terms"][0]["flops"]
    with pytest.raises(InvalidArgumentError, match="needs 'config', 'base' and 'terms'.*pass the dict"):
        MacroCosts.from_json(broken)
    reshaped = costs.to_json()
    reshaped["terms"][1]["params"] = [0.0, 1.0]
    with pytest.raises(InvalidArgumentError, match="one axis per position"):
        MacroCosts.from_json(reshaped)


def test_a_wider_config_costs_more() -> None:
    arch = SPACE.parse("|d2,x0.75,k3,k5,k7|d1,x1,k5,k3,k3|d3,x0.5,k7,k7,k7|")
    small = MacroCosts.measure(MacroNetworkConfig.for_dataset("mnist1d", channels=4))
    assert small.config.channels == 4
    assert small.value(arch, "params") == ArchitectureMetrics(SPACE, small.config).params(arch)
    assert small.value(arch, "flops") == ArchitectureMetrics(SPACE, small.config).flops(arch)
