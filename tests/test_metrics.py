"""Architecture metrics against NAS-Bench-201's published parameter and FLOP counts."""

from __future__ import annotations

import pytest
from torch import nn

from search_spaces import NB201Space
from search_spaces.metrics import ArchitectureMetrics, count_flops, count_parameters, measure_latency_ms
from search_spaces.nb201.network import NetworkConfig

SPACE = NB201Space()
MIXED = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"

# Published NAS-Bench-201 values (millions): the benchmark's min/max over the space are the
# all-none and all-nor_conv_3x3 cells.
PINNED = {
    "cifar10": [
        (["none"] * 6, 7.78305, 0.073306),
        (["nor_conv_3x3"] * 6, 220.11969, 1.531546),
        (list(SPACE.parse(MIXED).ops), 153.3, 1.0735),
    ],
    "cifar100": [
        (["none"] * 6, 7.78890, 0.079156),
        (["nor_conv_3x3"] * 6, 220.12554, 1.537396),
    ],
}


@pytest.fixture(scope="module")
def cifar10_metrics() -> ArchitectureMetrics:
    return ArchitectureMetrics(SPACE, NetworkConfig.for_dataset("cifar10"))


@pytest.mark.parametrize(
    ("dataset", "ops", "mflops", "mparams"),
    [(dataset, *row) for dataset, rows in PINNED.items() for row in rows],
)
def test_pinned_flops_and_params(dataset: str, ops: list[str], mflops: float, mparams: float) -> None:
    metrics = ArchitectureMetrics(SPACE, NetworkConfig.for_dataset(dataset))
    arch = SPACE.make(ops)
    assert metrics.flops(arch) == pytest.approx(mflops * 1e6, rel=1e-3)
    assert metrics.params(arch) == pytest.approx(mparams * 1e6, rel=1e-3)


def test_counts_are_integers(cifar10_metrics: ArchitectureMetrics) -> None:
    arch = SPACE.make(["none"] * 6)
    assert isinstance(cifar10_metrics.flops(arch), int)
    assert isinstance(cifar10_metrics.params(arch), int)


def test_count_flops_follows_nb201_convention() -> None:
    # Linear: in*out MACs plus one addition per bias; a bias-free 1x1 conv on 2x2: 4*in*out.
    assert count_flops(nn.Linear(4, 3), (4,)) == 4 * 3 + 3
    assert count_flops(nn.Conv2d(2, 5, 1, bias=False), (2, 2, 2)) == 4 * 2 * 5
    assert count_flops(nn.Conv2d(2, 5, 1, bias=True), (2, 2, 2)) == 4 * 2 * 5 + 4 * 5
    # Pooling and BatchNorm are free, as in the benchmark.
    assert count_flops(nn.Sequential(nn.AvgPool2d(2), nn.BatchNorm2d(2)), (2, 4, 4)) == 0
    assert count_parameters(nn.Linear(4, 3)) == 15


def test_count_flops_restores_training_mode() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)).train()
    count_flops(model, (4,))
    assert model.training


def test_cache_returns_same_values(cifar10_metrics: ArchitectureMetrics) -> None:
    arch = SPACE.parse(MIXED)
    first = cifar10_metrics.flops(arch), cifar10_metrics.params(arch)
    again = SPACE.parse(MIXED)  # an equal, separately built value hits the same entry
    assert (cifar10_metrics.flops(again), cifar10_metrics.params(again)) == first
    assert len(cifar10_metrics._counts) >= 1


def test_cache_separates_cells_sharing_a_canonical_key(cifar10_metrics: ArchitectureMetrics) -> None:
    # Node 1 is zero in both, so the conv on edge (1, 2) is dead: same function, same key, but
    # the network still holds (and NB201 counts) that conv.
    plain = SPACE.make(["none", "skip_connect", "none", "skip_connect", "none", "skip_connect"])
    dead_conv = SPACE.make(["none", "skip_connect", "nor_conv_3x3", "skip_connect", "none", "skip_connect"])
    assert plain.key == dead_conv.key
    assert cifar10_metrics.params(dead_conv) > cifar10_metrics.params(plain)
    assert cifar10_metrics.flops(dead_conv) > cifar10_metrics.flops(plain)


def test_latency_positive_and_cached() -> None:
    metrics = ArchitectureMetrics(SPACE, NetworkConfig.for_dataset("digits"), repeats=3, warmup=1)
    arch = SPACE.parse(MIXED)
    latency = metrics.latency_ms(arch)
    assert latency > 0
    assert metrics.latency_ms(arch) == latency
    values = metrics.compute(arch)
    assert values == {"params": metrics.params(arch), "flops": metrics.flops(arch), "latency_ms": latency}
    values["params"] = -1  # a caller's edit must not reach the cache
    assert metrics.compute(arch)["params"] == metrics.params(arch) > 0


def test_measure_latency_ms() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU()).train()
    assert measure_latency_ms(model, (8,), batch_size=4, repeats=3, warmup=1) > 0
    assert model.training
    with pytest.raises(ValueError):
        measure_latency_ms(model, (8,), repeats=0)
