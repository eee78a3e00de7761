"""The DARTS network (1-D and 2-D), its exact cost tables, and what equal canonical keys mean for it."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from infonas.exceptions import InvalidArgumentError
from search_spaces import get_space
from search_spaces.darts import DARTS_V1, DARTS_V2, PRIMITIVES, DartsSpace, Genotype
from search_spaces.darts.cost_tables import DartsCosts
from search_spaces.darts.network import DartsNetworkConfig, FactorizedReduce, make_op
from search_spaces.metrics import ArchitectureMetrics, count_flops, count_parameters
from search_spaces.networks import costs_from_json, measure_costs, network_config

SPACE = DartsSpace()
DATASETS = {"mnist1d": (1, 40), "digits": (1, 8, 8)}


@pytest.fixture(scope="module", params=sorted(DATASETS))
def costs(request: pytest.FixtureRequest) -> DartsCosts:
    return DartsCosts.measure(DartsNetworkConfig.for_dataset(request.param, channels=4))


def fixed_parameters(network: torch.nn.Module) -> torch.nn.Module:
    """Every parameter drawn from a generator seeded by its shape: two networks whose equal
    operations sit in different slots still get equal weights for them."""
    with torch.no_grad():
        for parameter in network.parameters():
            seed = zlib.crc32(str(tuple(parameter.shape)).encode())
            parameter.copy_(torch.randn(parameter.shape, generator=torch.Generator().manual_seed(seed)))
    return network


def outputs(config: DartsNetworkConfig, arch, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return fixed_parameters(config.build(arch)).train()(x)  # BatchNorm on batch statistics


@pytest.mark.parametrize(("dataset", "resolutions"), [("mnist1d", [(40,), (20,), (10,)]),
                                                      ("digits", [(8, 8), (4, 4), (2, 2)])])
def test_network_layout_and_shapes(dataset, resolutions):
    config = DartsNetworkConfig.for_dataset(dataset)
    assert config.input_shape == DATASETS[dataset] and (config.num_cells, config.channels) == (1, 8)
    assert config.cell_types() == ("normal", "reduce", "normal", "reduce", "normal")
    network = config.build(SPACE.parse(DARTS_V2))
    seen = []
    handles = [cell.register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape[1:])))
               for cell in network.cells]
    assert network(torch.randn(3, *config.input_shape)).shape == (3, 10)
    for handle in handles:
        handle.remove()
    stage = [0, 1, 1, 2, 2]
    assert seen == [(4 * 8 * 2 ** s, *resolutions[s]) for s in stage]
    assert type(network.cells[2].preprocess0) is FactorizedReduce  # the cell after a reduction
    deeper = DartsNetworkConfig.for_input(DATASETS[dataset], num_cells=2, channels=4)
    assert deeper.cell_types() == ("normal",) * 2 + ("reduce",) + ("normal",) * 2 + ("reduce",) + ("normal",) * 2


@pytest.mark.parametrize("spatial_dims", [1, 2])
def test_operations_match_the_reference_definitions(spatial_dims):
    c, size = 4, (8,) * spatial_dims
    area = {3: 3 ** spatial_dims, 5: 5 ** spatial_dims}  # a "3x3" kernel has 3 weights in 1-D, 9 in 2-D
    # sep_conv: two (depthwise k, pointwise, BN) blocks; dil_conv: one; FactorizedReduce: two 1x1 halves and BN.
    expected = {"none": 0, "max_pool_3x3": 0, "avg_pool_3x3": 0, "skip_connect": 0,
                "sep_conv_3x3": 2 * (c * area[3] + c * c + 2 * c), "sep_conv_5x5": 2 * (c * area[5] + c * c + 2 * c),
                "dil_conv_3x3": c * area[3] + c * c + 2 * c, "dil_conv_5x5": c * area[5] + c * c + 2 * c}
    for op in PRIMITIVES:
        for stride in (1, 2):
            module = make_op(op, c, stride, spatial_dims)
            out = module(torch.randn(2, c, *size))
            assert out.shape == (2, c, *(s // stride for s in size)), (op, stride)
            params = expected[op] if not (op == "skip_connect" and stride == 2) else 2 * (c * c // 2) + 2 * c
            assert count_parameters(module) == params, (op, stride)
    assert torch.equal(make_op("none", c, 2, spatial_dims)(torch.full((1, c, *size), float("nan"))),
                       torch.zeros(1, c, *(s // 2 for s in size)))
    with pytest.raises(ValueError, match="output channels must be even, got 3"):
        FactorizedReduce(4, 3)


def test_network_registry_and_config_json():
    for dataset, shape in DATASETS.items():
        config = network_config("darts", shape, num_cells=2, channels=6, num_classes=7)
        assert config == DartsNetworkConfig.for_input(shape, 2, 6, 7)
        assert DartsNetworkConfig.for_dataset(dataset, num_cells=2, channels=6).input_shape == shape
        assert DartsNetworkConfig.from_json(json.loads(json.dumps(config.to_json()))) == config
        assert config.build(SPACE.parse(DARTS_V1))(torch.zeros(2, *shape)).shape == (2, 7)
    with pytest.raises(ValueError, match=r"multiple of 4; got \(10,\): crop or pad"):
        DartsNetworkConfig.for_input((1, 10))
    with pytest.raises(ValueError, match="unknown dataset 'cifar10' for the DARTS space"):
        DartsNetworkConfig.for_dataset("cifar10")
    with pytest.raises(ValueError, match="num_cells, channels, in_channels and num_classes >= 1, got 0"):
        DartsNetworkConfig.for_input((1, 40), num_cells=0)


def test_equal_keys_compute_the_same_function():
    """Architectures the canonical key merges give the same outputs (and params, FLOPs); one
    position changed elsewhere changes the outputs, so the check can fail."""
    config = DartsNetworkConfig.for_dataset("mnist1d", channels=2)
    metrics = ArchitectureMetrics(SPACE, config)
    x = torch.randn(4, *config.input_shape, generator=torch.Generator().manual_seed(0))
    rng = np.random.default_rng(1)
    merged = distinct = 0
    for _ in range(8):
        arch = SPACE.sample(rng)
        reference = outputs(config, arch, x)
        neighbours = SPACE.neighbours(arch)
        others = [n for n in neighbours if n.key == arch.key][:3] + [neighbours[int(rng.integers(len(neighbours)))]]
        for other in others:
            same = torch.equal(outputs(config, other, x), reference)
            if other.key == arch.key:
                merged += 1
                assert same, (SPACE.format(arch), SPACE.format(other))
                assert (metrics.params(other), metrics.flops(other)) == (metrics.params(arch), metrics.flops(arch))
            else:
                distinct += not same
    assert merged >= 8 and distinct >= 7, (merged, distinct)


def genotype_arch(normal, reduce):
    return SPACE.from_genotype(Genotype(tuple(normal), (2, 3, 4, 5), tuple(reduce), (2, 3, 4, 5)))


def test_merged_copies_and_zero_reads_compute_the_same_function():
    config = DartsNetworkConfig.for_dataset("digits", channels=2)
    x = torch.randn(4, *config.input_shape, generator=torch.Generator().manual_seed(0))
    sep, dil = "sep_conv_3x3", "dil_conv_5x5"
    plain = [(sep, 0), (sep, 1), (sep, 0), (sep, 2), (sep, 1), (sep, 3), (sep, 2), (sep, 4)]
    copy = [(sep, 0), (sep, 1), ("skip_connect", 0), ("none", 1)]  # state 3 is state 0 (normal cell)
    pools = [("max_pool_3x3", 0), ("avg_pool_3x3", 1)] * 2  # states 2 and 3 are one tensor
    zeros = [("none", 0), ("none", 1), ("none", 0), ("none", 1)]  # states 2 and 3 are zero
    tail = plain[6:]
    pairs = [(genotype_arch(copy + [(dil, 1), (sep, 3)] + plain[6:], plain),
              genotype_arch(copy + [(dil, 1), (sep, 0)] + plain[6:], plain)),
             (genotype_arch(plain, pools + [(dil, 1), (sep, 3)] + plain[6:]),
              genotype_arch(plain, pools + [(dil, 1), (sep, 2)] + plain[6:])),
             (genotype_arch(zeros + [(sep, 1), (dil, 2)] + tail, zeros + [(dil, 0), ("avg_pool_3x3", 3)] + tail),
              genotype_arch(zeros + [(sep, 1), (dil, 3)] + tail, zeros + [(dil, 0), ("none", 2)] + tail))]
    for a, b in pairs:
        assert a.key == b.key and a != b
        assert torch.equal(outputs(config, a, x), outputs(config, b, x)), SPACE.format(a)
    # The same rewrites where they change the function: skip_connect on a reduction input is strided.
    a, b = (genotype_arch(plain, copy + [(dil, 1), (sep, j)] + plain[6:]) for j in (3, 0))
    assert a.key != b.key and not torch.equal(outputs(config, a, x), outputs(config, b, x))


def test_cost_tables_equal_the_counted_network(costs):
    metrics = ArchitectureMetrics(SPACE, costs.config)
    rng = np.random.default_rng(0)
    archs = [SPACE.sample(rng) for _ in range(8)] + [SPACE.parse(DARTS_V1), SPACE.parse(DARTS_V2)]
    archs += [SPACE.make([op if len(c) == 8 else c[-1] for c in SPACE.choices]) for op in ("none", "sep_conv_5x5")]
    flops = costs.values(archs, "flops")
    params = costs.values(np.array([SPACE.to_categorical(a) for a in archs]), "params")
    for i, arch in enumerate(archs):
        assert costs.value(arch, "flops") == flops[i] == metrics.flops(arch), SPACE.format(arch)
        assert costs.value(arch, "params") == params[i] == metrics.params(arch), SPACE.format(arch)
    assert len(set(flops.tolist())) == len(archs)  # they really differ in cost
    assert costs.value(archs[-2], "params") == costs.base["params"]  # an all-none network is its fixed pieces


def test_only_skip_costs_depend_on_the_input_read(costs):
    # Side b of reduce node 1 reads c_{k-1} (stride 2) with the pair 0+1, node 0 (stride 1) with 0+2.
    term = next(t for t in costs.terms if t.name == "reduce.node1.b")
    assert term.positions == (13, 15)
    for i, op in enumerate(PRIMITIVES):
        on_input, on_node = (term.tables[metric][:2, i] for metric in ("flops", "params"))
        if op == "skip_connect":  # a FactorizedReduce on an input, the identity on a node
            assert on_input[0] > 0 == on_input[1] and on_node[0] > 0 == on_node[1]
        else:  # a strided op lands on the nodes' resolution: the same count as at stride 1 there
            assert on_input[0] == on_input[1] and on_node[0] == on_node[1] and (on_input[0] > 0) == ("conv" in op)
    normal = next(t for t in costs.terms if t.name == "normal.node3.a")
    assert (normal.tables["flops"] == normal.tables["flops"][0]).all()  # a normal cell's inputs are all alike


def test_cost_json_and_registry(costs):
    again = costs_from_json(json.loads(json.dumps(costs.to_json())), SPACE)
    assert isinstance(again, DartsCosts) and again.config == costs.config and again.names == ("flops", "params")
    archs = [SPACE.sample(np.random.default_rng(seed)) for seed in range(10)]
    for metric in costs.metrics:
        assert again.values(archs, metric).tolist() == costs.values(archs, metric).tolist()
    assert measure_costs(get_space("darts"), costs.config).values(archs, "params").tolist() == \
        costs.values(archs, "params").tolist()
    with pytest.raises(InvalidArgumentError, match="computed costs are flops and params, and latency_ms"):
        measure_costs(SPACE, costs.config, latency=True)
    broken = costs.to_json()
    del broken["terms"][0]["flops"]
    with pytest.raises(InvalidArgumentError, match="needs 'config', 'base' and 'terms'.*pass the dict"):
        DartsCosts.from_json(broken)
    reshaped = costs.to_json()
    reshaped["terms"][2]["params"] = [[0.0] * 8] * 2
    with pytest.raises(InvalidArgumentError, match=r"option counts \(3, 8\); got shape \(2, 8\)"):
        DartsCosts.from_json(reshaped)


def test_bad_metric_and_indices_are_rejected(costs):
    arch = SPACE.sample(np.random.default_rng(6))
    for call in (lambda: costs.value(arch, "latency_ms"), lambda: costs.values([arch], "FLOPs")):
        with pytest.raises(InvalidArgumentError, match="must be one of .*got '.*'; pass"):
            call()
    indices = np.zeros((1, 22), dtype=int)
    indices[0, 2] = 3  # node 1 has 3 pairs: 0..2
    with pytest.raises(InvalidArgumentError, match=r"\(n, 22\) array .* got shape \(1, 22\)"):
        costs.values(indices, "flops")
    with pytest.raises(InvalidArgumentError, match="got shape"):
        costs.values(np.zeros((2, 21), dtype=int), "flops")


def test_metrics_command_measures_a_genotype():
    from infonas.cli import main

    config = DartsNetworkConfig.for_dataset("digits")
    result = CliRunner().invoke(main, ["metrics", "--space", "darts", "--arch", DARTS_V2, "--dataset", "digits"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    arch = SPACE.parse(DARTS_V2)
    net = config.build(arch)
    assert (payload["params"], payload["flops"]) == (count_parameters(net), count_flops(net, config.input_shape))
    bad = CliRunner().invoke(main, ["metrics", "--space", "darts", "--arch", DARTS_V2.replace("'dil_conv_3x3', 2",
                                                                                              "'dil_conv_3x3', 5")])
    assert bad.exit_code == 1 and bad.output.startswith("Error: node 3 of the normal cell reads input 5")
