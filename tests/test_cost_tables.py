"""Cost tables: exact FLOPs/parameters by edge decomposition, and the latency lookup table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from infonas.objectives import ComputedMetrics
from search_spaces import NB201Space
from search_spaces.base import Architecture, InvalidArchitectureError
from search_spaces.metrics import ArchitectureMetrics
from search_spaces.nb201.cost_tables import ArchitectureCosts, OperationLatencyTable, lookup_vs_measured, stage_shapes
from search_spaces.nb201.network import NB201Cell, NetworkConfig

SPACE = NB201Space()
CIFAR10 = NetworkConfig.for_dataset("cifar10")
DIGITS = NetworkConfig.for_dataset("digits")  # small inputs keep latency measurements fast
MIXED = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
# Pinned in tests/test_metrics.py: NAS-Bench-201's published CIFAR-10 min and max (millions).
PINNED = [(["none"] * 6, 7.78305, 0.073306), (["nor_conv_3x3"] * 6, 220.11969, 1.531546)]
FAST = {"repeats": 3, "warmup": 1, "rounds": 1}


@pytest.fixture(scope="module")
def cifar10_costs() -> ArchitectureCosts:
    return ArchitectureCosts.measure(SPACE, CIFAR10, latency=False)


@pytest.fixture(scope="module")
def digits_costs() -> ArchitectureCosts:
    return ArchitectureCosts.measure(SPACE, DIGITS, **FAST)


def _random_archs(count: int, seed: int) -> list[Architecture]:
    rng = np.random.default_rng(seed)
    return [SPACE.sample(rng) for _ in range(count)]


def test_flops_and_params_exact_against_network_counts(cifar10_costs: ArchitectureCosts) -> None:
    reference = ArchitectureMetrics(SPACE, CIFAR10)
    archs = _random_archs(15, seed=1) + [SPACE.parse(MIXED)] + [SPACE.make(ops) for ops, _, _ in PINNED]
    # A dead conv (node 1 is zero) is still built and counted, so it must still add its cost.
    archs.append(SPACE.make(["none", "skip_connect", "nor_conv_3x3", "skip_connect", "none", "skip_connect"]))
    flops = cifar10_costs.values(archs, "flops")
    params = cifar10_costs.values(archs, "params")
    assert flops.dtype == params.dtype == np.float64
    assert flops.tolist() == [float(reference.flops(a)) for a in archs]
    assert params.tolist() == [float(reference.params(a)) for a in archs]


@pytest.mark.parametrize(("ops", "mflops", "mparams"), PINNED)
def test_pinned_published_values(cifar10_costs: ArchitectureCosts, ops: list[str], mflops: float,
                                 mparams: float) -> None:
    arch = SPACE.make(ops)
    assert cifar10_costs.value(arch, "flops") == round(mflops * 1e6)
    assert cifar10_costs.value(arch, "params") == round(mparams * 1e6)


def test_values_over_whole_space_match_value(cifar10_costs: ArchitectureCosts) -> None:
    archs = list(SPACE.enumerate())
    for name in cifar10_costs.names:
        values = cifar10_costs.values(archs, name)
        assert values.shape == (SPACE.size,)
        for i in range(0, SPACE.size, 997):
            assert values[i] == cifar10_costs.value(archs[i], name)
    flops = cifar10_costs.values(archs, "flops")
    assert flops.min() == 7_783_050 and flops.max() == 220_119_690
    assert cifar10_costs.values([], "flops").shape == (0,)


def test_protocol_names_and_errors(cifar10_costs: ArchitectureCosts, digits_costs: ArchitectureCosts) -> None:
    assert isinstance(cifar10_costs, ComputedMetrics)
    assert cifar10_costs.names == ("flops", "params")
    assert digits_costs.names == ("flops", "params", "latency_ms")
    arch = SPACE.parse(MIXED)
    with pytest.raises(ValueError, match="latency table"):
        cifar10_costs.values([arch], "latency_ms")
    with pytest.raises(ValueError, match="flops"):
        cifar10_costs.values([arch], "accuracy")
    foreign = Architecture("other", arch.ops, arch.key)
    with pytest.raises(InvalidArchitectureError, match="other"):
        cifar10_costs.values([arch, foreign], "flops")


def test_json_round_trip(digits_costs: ArchitectureCosts, cifar10_costs: ArchitectureCosts) -> None:
    archs = _random_archs(40, seed=2)
    for costs in (digits_costs, cifar10_costs):
        data = json.loads(json.dumps(costs.to_json()))
        restored = ArchitectureCosts.from_json(data)
        assert restored.names == costs.names
        assert restored.to_json() == costs.to_json()
        for name in costs.names:
            assert np.array_equal(restored.values(archs, name), costs.values(archs, name))
    table = digits_costs.latency_table
    assert table is not None
    assert OperationLatencyTable.from_json(json.loads(json.dumps(table.to_json()))) == table
    for key in ("device", "batch_size", "torch_version", "machine", "num_threads"):
        assert key in table.to_json()


def test_stage_shapes_follow_network() -> None:
    assert stage_shapes(CIFAR10) == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]
    network = CIFAR10.build(SPACE.make(["none"] * 6))
    assert sum(isinstance(m, NB201Cell) for m in network.cells) == 3 * CIFAR10.num_cells


def test_latency_lookup(digits_costs: ArchitectureCosts) -> None:
    table = digits_costs.latency_table
    assert table is not None and table.batch_size == 1 and table.device == "cpu"
    assert table.base_ms > 0 and all(ms > 0 for row in table.op_ms for ms in row)
    archs = _random_archs(30, seed=3)
    latency = digits_costs.values(archs, "latency_ms")
    assert np.all(latency > 0)
    none = digits_costs.value(SPACE.make(["none"] * 6), "latency_ms")
    assert none == table.base_ms
    assert digits_costs.value(SPACE.make(["nor_conv_3x3"] * 6), "latency_ms") > none


def test_latency_table_must_match_config(digits_costs: ArchitectureCosts) -> None:
    with pytest.raises(ValueError, match="measured for network"):
        ArchitectureCosts(SPACE, CIFAR10, 0, digits_costs.flops_increments, 0, digits_costs.params_increments,
                          digits_costs.latency_table)


def test_lookup_vs_measured(digits_costs: ArchitectureCosts) -> None:
    result = lookup_vs_measured(digits_costs, SPACE, DIGITS, num_cells=6, seed=0, **FAST)
    assert set(result) == {"spearman_rho", "num_cells", "archs", "lookup_ms", "measured_ms", "seconds"}
    assert result["num_cells"] == 6
    assert len(result["archs"]) == len(set(result["archs"])) == 6
    assert len(result["lookup_ms"]) == len(result["measured_ms"]) == 6
    assert all(ms > 0 for ms in result["measured_ms"])
    assert -1.0 <= result["spearman_rho"] <= 1.0
    json.dumps(result)


def test_latency_names_stay_importable_from_cost_tables() -> None:
    from search_spaces.nb201 import latency

    assert (OperationLatencyTable, lookup_vs_measured, stage_shapes) == (
        latency.OperationLatencyTable, latency.lookup_vs_measured, latency.stage_shapes)


def test_broken_additivity_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    import search_spaces.nb201.cost_tables as cost_tables

    class Squared(ArchitectureMetrics):
        """FLOPs that grow with the square of the conv count: not additive over edges."""

        def flops(self, arch: Architecture) -> int:
            return sum(op == "nor_conv_3x3" for op in arch.ops) ** 2

    monkeypatch.setattr(cost_tables, "ArchitectureMetrics", Squared)
    with pytest.raises(RuntimeError, match=r"must add up over edges.*'nor_conv_3x3'.*\(36, .*\(6, .*fix the network"):
        ArchitectureCosts.measure(SPACE, DIGITS, latency=False)
