"""Hardware-aware terms of gradient NAS: expected cell cost, budget/latency terms, PCGrad, MnasNet reward."""

from __future__ import annotations

import math
import types

import numpy as np
import pytest
import torch
from conftest import HAND_MADE_OP_MS, costs_with_latency

from infonas.exceptions import InvalidArgumentError
from infonas.gradient.hardware import (
    ConflictCounter,
    ExpectedCost,
    hinge_squared_penalty,
    mnasnet_reward,
    pcgrad,
    weighted_cost_term,
)
from search_spaces import NB201Space
from search_spaces.base import Architecture
from search_spaces.nb201 import NB201_OPS
from search_spaces.nb201.cost_tables import ArchitectureCosts
from search_spaces.nb201.network import NetworkConfig

SPACE = NB201Space()
CIFAR10 = NetworkConfig.for_dataset("cifar10")
OP_MS = HAND_MADE_OP_MS


@pytest.fixture(scope="module")
def costs() -> ArchitectureCosts:
    return costs_with_latency()


def _cells(count: int, seed: int) -> list[Architecture]:
    rng = np.random.default_rng(seed)
    return [SPACE.sample(rng) for _ in range(count)]


def _one_hot(archs: list[Architecture]) -> torch.Tensor:
    weights = torch.zeros(len(archs), 6, 5, dtype=torch.float64)
    for i, arch in enumerate(archs):
        for e, op in enumerate(arch.ops):
            weights[i, e, NB201_OPS.index(op)] = 1.0
    return weights


@pytest.mark.parametrize("metric", ["flops", "params", "latency"])
def test_one_hot_weights_give_the_exact_cost_of_the_cell(costs: ArchitectureCosts, metric: str) -> None:
    archs = _cells(300, seed=0)
    name = "latency_ms" if metric == "latency" else metric
    expected = ExpectedCost(costs, metric)(_one_hot(archs))
    assert expected.shape == (300,)
    np.testing.assert_allclose(expected.numpy(), costs.values(archs, name), rtol=1e-12, atol=1e-12)
    # Integer counts are exact in float64, so flops and params must match bit for bit.
    if metric != "latency":
        assert expected.tolist() == costs.values(archs, name).tolist()
        assert costs.values(archs, name).min() < costs.values(archs, name).max()  # the test sees varied cells


def test_latency_of_soft_weights_follows_the_per_stage_formula(costs: ArchitectureCosts) -> None:
    weights = torch.softmax(torch.randn(7, 6, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64), -1)
    lat = torch.tensor(OP_MS, dtype=torch.float64)
    by_hand = 1.5 + CIFAR10.num_cells * torch.einsum("beo,so->b", weights, lat - lat[:, :1])
    torch.testing.assert_close(ExpectedCost(costs, "latency_ms")(weights), by_hand, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("metric", ["flops", "params"])
def test_gradient_of_the_expected_cost_is_the_increment_of_each_op(costs: ArchitectureCosts, metric: str) -> None:
    weights = torch.softmax(torch.randn(6, 5, generator=torch.Generator().manual_seed(2)), -1).double()
    weights.requires_grad_(True)
    ExpectedCost(costs, metric)(weights).backward()
    table = costs.flops_increments if metric == "flops" else costs.params_increments
    increments = torch.tensor([float(table[op]) for op in NB201_OPS], dtype=torch.float64)
    assert increments.abs().sum() > 0
    torch.testing.assert_close(weights.grad, increments.expand(6, 5), rtol=0, atol=0)


def test_batched_weights_match_one_call_per_cell_and_keep_float32(costs: ArchitectureCosts) -> None:
    cost = ExpectedCost(costs, "params")
    weights = torch.softmax(torch.randn(2, 3, 6, 5, generator=torch.Generator().manual_seed(3)), -1)
    batched = cost(weights)
    assert batched.shape == (2, 3) and batched.dtype == torch.float32
    for i in range(2):
        for j in range(3):
            torch.testing.assert_close(batched[i, j], cost(weights[i, j]))
    assert "params" in repr(cost)


def test_hinge_is_zero_with_zero_gradient_under_budget_and_quadratic_over() -> None:
    expected = torch.tensor([50.0, 100.0, 130.0], requires_grad=True)
    penalty = hinge_squared_penalty(expected, budget=100.0, weight=3.0)
    torch.testing.assert_close(penalty.detach(), torch.tensor([0.0, 0.0, 3.0 * 0.3**2]))
    penalty.sum().backward()
    # d/dx of w (x/B - 1)^2 is 2 w (x/B - 1) / B
    torch.testing.assert_close(expected.grad, torch.tensor([0.0, 0.0, 2 * 3.0 * 0.3 / 100.0]))
    assert float(hinge_squared_penalty(torch.tensor(260.0), 100.0, 1.0)) == pytest.approx(1.6**2)


def test_weighted_cost_term_value_and_gradient() -> None:
    expected = torch.tensor(6.0, requires_grad=True)
    term = weighted_cost_term(expected, reference=4.0, weight=0.2)
    assert term.item() == pytest.approx(0.3)
    term.backward()
    assert float(expected.grad) == pytest.approx(0.05)
    assert weighted_cost_term(expected, 4.0, 0.0).item() == 0.0


def test_pcgrad_projects_a_conflicting_pair_by_hand() -> None:
    task, cost = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])
    combined, conflict = pcgrad(task, cost)
    # dot = -2: task' = [2, 0] + [-1, 1] = [1, 1]; cost' = [-1, 1] + 0.5 [2, 0] = [0, 1]
    assert conflict
    torch.testing.assert_close(combined, torch.tensor([1.0, 2.0]))


def test_pcgrad_leaves_an_agreeing_or_orthogonal_pair_alone() -> None:
    for task, cost in [([1.0, 2.0], [0.5, 0.1]), ([1.0, 0.0], [0.0, 3.0]), ([1.0, 1.0], [0.0, 0.0])]:
        combined, conflict = pcgrad(torch.tensor(task), torch.tensor(cost))
        assert not conflict
        torch.testing.assert_close(combined, torch.tensor(task) + torch.tensor(cost))


def test_pcgrad_result_never_opposes_either_gradient() -> None:
    generator = torch.Generator().manual_seed(4)
    conflicts = 0
    for _ in range(200):
        task, cost = torch.randn(6, 5, generator=generator, dtype=torch.float64), torch.randn(6, 5, generator=generator,
                                                                                                dtype=torch.float64)
        combined, conflict = pcgrad(task, cost)
        assert combined.shape == (6, 5)
        assert conflict == bool((task * cost).sum() < 0)
        conflicts += conflict
        if conflict:
            assert (combined * task).sum() >= -1e-12 and (combined * cost).sum() >= -1e-12
    assert 50 < conflicts < 150  # both branches were exercised


def test_conflict_counter_reports_the_fraction() -> None:
    counter = ConflictCounter()
    assert counter.fraction == 0.0
    for flag in (True, False, True, True):
        counter.record(flag)
    assert (counter.steps, counter.conflicts, counter.fraction) == (4, 3, 0.75)
    assert counter.to_json() == {"steps": 4, "conflicts": 3, "fraction": 0.75}


def test_mnasnet_reward_by_hand_on_arrays_and_tensors() -> None:
    reward = mnasnet_reward(np.array([0.9, 0.8, 0.7]), np.array([10.0, 20.0, 5.0]), 10.0)
    np.testing.assert_allclose(reward, [0.9, 0.8 * 2**-0.07, 0.7 * 0.5**-0.07])
    tensor = mnasnet_reward(torch.tensor([0.9, 0.8]), torch.tensor([10.0, 40.0]), 20.0, exponent=-1.0)
    assert isinstance(tensor, torch.Tensor)
    torch.testing.assert_close(tensor, torch.tensor([1.8, 0.4]))
    assert mnasnet_reward(0.5, 3.0, 3.0) == pytest.approx(0.5)


def _without_latency(costs: ArchitectureCosts) -> ArchitectureCosts:
    return ArchitectureCosts(SPACE, CIFAR10, costs.flops_base, costs.flops_increments, costs.params_base,
                             costs.params_increments)


def test_bad_cost_setups_raise(costs: ArchitectureCosts) -> None:
    with pytest.raises(InvalidArgumentError, match=r"metric must be one of .* got 'energy'"):
        ExpectedCost(costs, "energy")
    with pytest.raises(InvalidArgumentError, match="latency=True"):
        ExpectedCost(_without_latency(costs), "latency")
    partial = types.SimpleNamespace(ops=("none", "skip_connect", "nor_conv_3x3"))
    with pytest.raises(InvalidArgumentError, match=r"missing \['nor_conv_1x1', 'avg_pool_3x3'\]"):
        ExpectedCost(partial, "flops")  # type: ignore[arg-type]
    cost = ExpectedCost(costs, "flops")
    for bad, pattern in [(torch.zeros(5, 6), r"got \(5, 6\)"), (torch.zeros(30), r"got \(30,\)"),
                         (torch.zeros(6, 5, dtype=torch.int64), "floating point"), (np.zeros((6, 5)), "ndarray")]:
        with pytest.raises(InvalidArgumentError, match=pattern):
            cost(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf])
def test_bad_budget_reference_and_weight_raise(value: float) -> None:
    x = torch.tensor(1.0)
    with pytest.raises(InvalidArgumentError, match=f"budget must be .* got {value}"):
        hinge_squared_penalty(x, value, 1.0)
    with pytest.raises(InvalidArgumentError, match=f"reference must be .* got {value}"):
        weighted_cost_term(x, value, 1.0)
    with pytest.raises(InvalidArgumentError, match=r"target must be > 0"):
        mnasnet_reward(0.9, 1.0, value if value <= 0 else -value)
    if value != 0.0:
        with pytest.raises(InvalidArgumentError, match=f"weight must be .* got {value}"):
            hinge_squared_penalty(x, 1.0, value)
        with pytest.raises(InvalidArgumentError, match=f"weight must be .* got {value}"):
            weighted_cost_term(x, 1.0, value)


def test_bad_pcgrad_and_reward_inputs_raise() -> None:
    with pytest.raises(InvalidArgumentError, match=r"got \(6, 5\) and \(30,\)"):
        pcgrad(torch.zeros(6, 5), torch.zeros(30))
    with pytest.raises(InvalidArgumentError, match="list"):
        pcgrad([1.0], torch.zeros(1))  # type: ignore[arg-type]
    for latency in (np.array([1.0, 0.0]), np.array([2.0, -3.0]), np.array([math.nan]), torch.tensor([0.0])):
        with pytest.raises(InvalidArgumentError, match="latency must be > 0"):
            mnasnet_reward(0.9, latency, 1.0)
    with pytest.raises(InvalidArgumentError, match="exponent must be finite"):
        mnasnet_reward(0.9, 1.0, 1.0, exponent=math.nan)


def test_costs_fixture_is_the_measured_network(costs: ArchitectureCosts) -> None:
    # Guards the hand-built fixture: its FLOPs are NAS-Bench-201's published CIFAR-10 range.
    values = costs.values([SPACE.make(["none"] * 6), SPACE.make(["nor_conv_3x3"] * 6)], "flops")
    np.testing.assert_allclose(values / 1e6, [7.78305, 220.11969])


def test_network_costs_are_those_of_the_mnist1d_tables_network():
    from pathlib import Path

    from infonas.evaluators.tabular import TabularBenchmark
    from infonas.gradient.hardware import network_costs

    table = TabularBenchmark.from_csv(Path(__file__).resolve().parents[1] / "benchmarks/data/nb201_mnist1d.csv", SPACE)
    costs = network_costs("mnist1d", num_cells=1, channels=8)  # the table's network (its build JSON)
    for arch in table.archs[:50]:
        assert costs.value(arch, "flops") == table.value(arch, "flops")
        assert costs.value(arch, "params") == table.value(arch, "params")
