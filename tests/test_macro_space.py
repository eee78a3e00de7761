"""The macro space: strings, canonical keys (gated-off kernels), graphs and the networks built."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
import torch

from infonas.exceptions import InvalidArchitectureError, InvalidArgumentError
from search_spaces import get_space
from search_spaces.macro import MacroSpace
from search_spaces.macro.network import MacroNetworkConfig
from search_spaces.metrics import ArchitectureMetrics

SPACE = MacroSpace()
EXAMPLE = "|d2,x0.75,k3,k5,k7|d1,x1,k5,k3,k3|d3,x0.5,k7,k7,k7|"


def signature(network: torch.nn.Module) -> tuple:
    """What a network's structure fixes: its parameter and buffer names and shapes."""
    return tuple((name, tuple(tensor.shape)) for name, tensor in network.state_dict().items())


def test_registered_and_sized() -> None:
    assert isinstance(get_space("macro"), MacroSpace)
    assert SPACE.size == 3**15 and len(SPACE.choices) == 15


def test_parse_format_round_trip() -> None:
    arch = SPACE.parse(EXAMPLE)
    assert SPACE.format(arch) == EXAMPLE and SPACE.parse(f"  {EXAMPLE} ") == arch
    assert arch.ops[:5] == ("d2", "x0.75", "k3", "k5", "k7")
    assert SPACE.stages(arch) == [(2, 0.75, (3, 5)), (1, 1.0, (5,)), (3, 0.5, (7, 7, 7))]
    for arch in (SPACE.sample(np.random.default_rng(seed)) for seed in range(20)):
        assert SPACE.parse(SPACE.format(arch)) == arch


def test_canonical_key_blanks_gated_off_kernels() -> None:
    arch = SPACE.parse(EXAMPLE)
    assert arch.key == "|d2,x0.75,k3,k5,*|d1,x1,k5,*,*|d3,x0.5,k7,k7,k7|"
    assert SPACE.parse("|d2,x0.75,k3,k5,k3|d1,x1,k5,k7,k5|d3,x0.5,k7,k7,k7|").key == arch.key
    assert SPACE.parse("|d3,x0.75,k3,k5,k7|d1,x1,k5,k3,k3|d3,x0.5,k7,k7,k7|").key != arch.key
    # One stage has 3 widths x (3 + 9 + 27) live-kernel settings: 117 distinct stage keys.
    stage_keys = {SPACE.make(list(ops) * 3).key.split("|")[1] for ops in itertools.product(*SPACE.choices[:5])}
    assert len(stage_keys) == 117


@pytest.mark.parametrize("dataset", ["mnist1d", "digits"])
def test_equal_keys_if_and_only_if_equal_networks(dataset: str) -> None:
    config = MacroNetworkConfig.for_dataset(dataset, channels=4)
    metrics = ArchitectureMetrics(SPACE, config)
    rng = np.random.default_rng(0)
    archs = []
    for _ in range(12):
        arch = SPACE.sample(rng)
        archs.append(arch)
        # Redraw every gated-off kernel: same key; and one live kernel changed: another key.
        ops = list(arch.ops)
        for start in range(0, 15, 5):
            for block in range(int(ops[start][1:]), 3):
                ops[start + 2 + block] = SPACE.choices[start + 2 + block][rng.integers(3)]
        archs.append(SPACE.make(ops))
        ops[2] = "k7" if ops[2] != "k7" else "k3"
        archs.append(SPACE.make(ops))
    signatures = {arch: signature(config.build(arch)) for arch in archs}
    for a, b in itertools.combinations(archs, 2):
        assert (a.key == b.key) == (signatures[a] == signatures[b]), (SPACE.format(a), SPACE.format(b))
        if a.key == b.key:
            assert (metrics.params(a), metrics.flops(a)) == (metrics.params(b), metrics.flops(b))
    assert len({a.key for a in archs}) < len(set(archs))  # some pairs really share a key


@pytest.mark.parametrize(("text", "message"), [
    ("d2,x0.75,k3,k5,k7|d1,x1,k5,k3,k3|d3,x0.5,k7,k7,k7|", "must start and end with '|'"),
    ("|d2,x0.75,k3,k5,k7|d1,x1,k5,k3,k3|", "expected 3 stages between '|', found 2"),
    ("|d2,x0.75,k3,k5,k7|d1,x1,k5,k3,k3|d3,x0.5,k7,k7,k7|d1,x1,k3,k3,k3|", "expected 3 stages between '|', found 4"),
    ("|d2,x0.75,k3,k5|d1,x1,k5,k3,k3|d3,x0.5,k7,k7,k7|", r"stage 1 'd2,x0.75,k3,k5' needs 5 comma-separated.*found 4"),
    ("|d2,x0.75,k3,k5,k7|d1,x1,k5,k3,k3|d3,x0.5,k7,k7,k7,k7|", "stage 3 .* found 6"),
    ("|d2,x0.75,k3,k5,k7|d1,x2,k5,k3,k3|d3,x0.5,k7,k7,k7|", r"unknown operation 'x2' at position 6; expected one of"),
    ("|d2,x0.75,k3,k5,k9|d1,x1,k5,k3,k3|d3,x0.5,k7,k7,k7|", "unknown operation 'k9'"),
    ("|x0.75,d2,k3,k5,k7|d1,x1,k5,k3,k3|d3,x0.5,k7,k7,k7|", "unknown operation 'x0.75' at position 0"),
])
def test_malformed_strings_are_rejected_clearly(text: str, message: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=message):
        SPACE.parse(text)


def test_non_string_is_rejected() -> None:
    with pytest.raises(InvalidArchitectureError, match="must be a str, got tuple"):
        SPACE.parse(("d1",) * 15)  # type: ignore[arg-type]


def test_graph_is_a_labelled_chain() -> None:
    arch = SPACE.parse(EXAMPLE)
    graph = SPACE.to_graph(arch)
    assert nx.is_isomorphic(graph, nx.path_graph(8, create_using=nx.DiGraph))
    chain = [graph.nodes[n]["op"] for n in nx.topological_sort(graph)]
    assert chain == ["input", "k3/x0.75", "k5/x0.75", "k5/x1/down", "k7/x0.5/down", "k7/x0.5", "k7/x0.5", "output"]
    full = SPACE.to_graph(arch, prune=False)
    labels = [full.nodes[n]["op"] for n in nx.topological_sort(full)]
    assert len(labels) == 11 and labels.count("off") == 3 and labels[3] == "off"


def test_enumeration_prefix_is_lexicographic_and_valid() -> None:
    # The whole space (14M) is too large to enumerate in a test; its first 500 must still be right.
    archs = list(itertools.islice(SPACE.enumerate(), 500))
    codes = [SPACE.to_categorical(a) for a in archs]
    assert codes == sorted(codes) and len(set(codes)) == 500 and codes[0] == (0,) * 15
    assert all(SPACE.validate(a) is a for a in archs)


@pytest.mark.parametrize(("dataset", "shape", "resolutions"), [
    ("mnist1d", (1, 40), [(40,), (20,), (10,)]),
    ("digits", (1, 8, 8), [(8, 8), (4, 4), (2, 2)]),
])
def test_network_shapes(dataset: str, shape: tuple, resolutions: list) -> None:
    config = MacroNetworkConfig.for_dataset(dataset)
    assert config.input_shape == shape and config.spatial_dims == len(shape) - 1
    arch = SPACE.parse(EXAMPLE)
    widths = config.stage_widths(arch)
    assert widths == (6, 16, 16)
    network = config.build(arch)
    assert len(network.blocks) == 2 + 1 + 3
    seen = []
    handles = [block.register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape[1:])))
               for block in network.blocks]
    out = network(torch.zeros(3, *shape))
    for handle in handles:
        handle.remove()
    assert out.shape == (3, 10)
    stage_of_block = [0, 0, 1, 2, 2, 2]
    assert seen == [(widths[s], *resolutions[s]) for s in stage_of_block]


def test_config_json_round_trip() -> None:
    for dataset in ("mnist1d", "digits"):
        config = MacroNetworkConfig.for_dataset(dataset, channels=12)
        assert MacroNetworkConfig.from_json(config.to_json()) == config
        assert MacroNetworkConfig.for_input(config.input_shape, 12, 10) == config
    with pytest.raises(ValueError, match="unknown dataset 'cifar10' for the macro space"):
        MacroNetworkConfig.for_dataset("cifar10")


def test_network_registry_builds_each_spaces_network() -> None:
    from search_spaces.nb201.network import NetworkConfig
    from search_spaces.networks import NETWORKS, network_config, register_network

    macro = network_config("macro", (1, 8, 8), num_cells=3, channels=6, num_classes=7)
    assert macro == MacroNetworkConfig(6, 1, 8, 8, 7)  # num_cells has no say in a macro network
    assert network_config("nb201", [1, 40], num_cells=2, channels=4, num_classes=10) == \
        NetworkConfig.for_input((1, 40), 2, 4, 10)
    with pytest.raises(InvalidArgumentError, match=r"none for 'nb101'; the spaces with one are \['darts', 'macro', 'nb201'"):
        network_config("nb101", (1, 8, 8), num_cells=1, channels=4, num_classes=10)
    register_network("macro", NETWORKS["macro"])  # the same factory again: allowed
    with pytest.raises(InvalidArgumentError, match="already has"):
        register_network("macro", NETWORKS["nb201"])
    with pytest.raises(InvalidArgumentError, match="must be callable"):
        register_network("other", "not a factory")  # type: ignore[arg-type]
    assert "other" not in NETWORKS
