"""The weight-sharing supernet's forward passes, the canonical-class sampler and BN recalibration.

Tiny and seeded: 2-4 channels, one cell per stage, random inputs of MNIST-1D's (1, 40) shape and
the digits' (1, 8, 8) shape.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from infonas.exceptions import InvalidArgumentError
from infonas.supernet import (
    CanonicalSampler,
    MixedEdge,
    Supernet,
    batch_norm_layers,
    batch_norm_state,
    recalibrate_batch_norm,
    restore_batch_norm,
)
from search_spaces import NB201Space
from search_spaces.nb201 import NB201_OPS
from search_spaces.nb201.network import NB201Cell, NetworkConfig

SPACE = NB201Space()
CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|",
    "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|",
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
]
SHAPES = {"1d": (1, 40), "2d": (1, 8, 8)}


def _randomised_supernet(input_shape: tuple[int, ...], channels: int = 3, num_cells: int = 1,
                         seed: int = 0) -> Supernet:
    """A supernet whose weights, BN affine parameters and running statistics are all non-trivial."""
    torch.manual_seed(seed)
    net = Supernet(NetworkConfig.for_input(input_shape, num_cells=num_cells, channels=channels))
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            noise = torch.randn(tensor.shape, generator=generator)
            if name.endswith("running_var"):
                tensor.copy_(0.5 + noise.abs())  # a variance must stay positive
            else:
                tensor.add_(0.3 * noise)
    return net


def _standalone(net: Supernet, arch) -> nn.Module:
    """``NetworkConfig.build(arch)`` carrying the weights of ``arch``'s path through ``net``.

    The stand-alone cell's edge ``e`` is the module ``cells.i.edges.e``; in the supernet it is
    ``cells.i.edges.e.ops.<choice of e>``. Every other module has the same name in both.
    """
    standalone = net.config.build(arch)
    choices = Supernet.choices_of(arch)
    source = net.state_dict()
    mapped = {}
    for name in standalone.state_dict():
        parts = name.split(".")
        if parts[0] == "cells" and isinstance(standalone.cells[int(parts[1])], NB201Cell):
            edge = int(parts[3])
            parts = parts[:4] + ["ops", str(choices[edge])] + parts[4:]
        mapped[name] = source[".".join(parts)]
    standalone.load_state_dict(mapped, strict=True)
    return standalone


@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
@pytest.mark.parametrize("cell", CELLS)
def test_single_path_is_the_standalone_network(shape: str, cell: str) -> None:
    input_shape = SHAPES[shape]
    net = _randomised_supernet(input_shape, num_cells=2)
    arch = SPACE.parse(cell)
    standalone = _standalone(net, arch)
    x = torch.randn(5, *input_shape, generator=torch.Generator().manual_seed(3))
    for train_mode in (False, True):  # running statistics, then batch statistics
        net.train(train_mode)
        standalone.train(train_mode)
        with torch.no_grad():
            expected = standalone(x)
            got = net(x, choices=Supernet.choices_of(arch))
        assert got.shape == (5, 10)
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)


def test_paths_differ_between_cells() -> None:
    # The comparison above cannot pass by every path computing the same thing.
    net = _randomised_supernet(SHAPES["1d"]).eval()
    x = torch.randn(4, 1, 40, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        outputs = [net(x, choices=Supernet.choices_of(SPACE.parse(cell))) for cell in CELLS]
    for a in range(len(outputs)):
        for b in range(a + 1, len(outputs)):
            assert not torch.allclose(outputs[a], outputs[b], atol=1e-4), (CELLS[a], CELLS[b])


@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
def test_one_hot_weights_are_the_single_path(shape: str) -> None:
    net = _randomised_supernet(SHAPES[shape]).eval()
    x = torch.randn(3, *SHAPES[shape], generator=torch.Generator().manual_seed(1))
    for cell in CELLS[:2]:
        choices = Supernet.choices_of(SPACE.parse(cell))
        one_hot = torch.zeros(6, len(NB201_OPS))
        one_hot[torch.arange(6), torch.tensor(choices)] = 1.0
        with torch.no_grad():
            torch.testing.assert_close(net(x, weights=one_hot), net(x, choices=choices), atol=1e-6, rtol=1e-6)


def test_mixed_edge_weighs_every_operation() -> None:
    torch.manual_seed(0)
    edge = MixedEdge(3, spatial_dims=1).eval()
    x = torch.randn(2, 3, 12)
    with torch.no_grad():
        outputs = torch.stack([edge(x, choice=o) for o in range(len(NB201_OPS))])
        uniform = edge(x, weights=Supernet.uniform_weights()[0])
        torch.testing.assert_close(uniform, outputs.mean(dim=0), atol=1e-6, rtol=1e-6)
        weights = torch.tensor([0.5, -1.0, 2.0, 0.25, 3.0])
        torch.testing.assert_close(edge(x, weights=weights), torch.einsum("o,o...->...", weights, outputs),
                                   atol=1e-5, rtol=1e-5)
    assert outputs[0].abs().sum() == 0 and torch.equal(outputs[1], x)  # none, skip_connect
    with pytest.raises(ValueError, match="choice"):
        edge(x)


def test_uniform_weights_are_a_fifth_everywhere() -> None:
    weights = Supernet.uniform_weights()
    assert weights.shape == (6, 5)
    torch.testing.assert_close(weights, torch.full((6, 5), 0.2))


def test_exactly_one_of_choices_and_weights() -> None:
    net = Supernet(NetworkConfig.for_input((1, 40), num_cells=1, channels=2))
    x = torch.zeros(2, 1, 40)
    with pytest.raises(ValueError, match="exactly one"):
        net(x)
    with pytest.raises(ValueError, match="exactly one"):
        net(x, choices=(3,) * 6, weights=Supernet.uniform_weights())


def test_path_dropout_zeros_and_scales_edges() -> None:
    net = _randomised_supernet(SHAPES["1d"], channels=2).eval()
    x = torch.randn(3, 1, 40, generator=torch.Generator().manual_seed(2))
    choices = Supernet.choices_of(SPACE.parse(CELLS[0]))
    cell = net.cells[0]
    feature = net.stem(x).detach()
    with torch.no_grad():
        plain = cell(feature, choices)
        assert torch.equal(cell(feature, choices, keep=torch.ones(6, 3)), plain)
        # Every edge dropped for sample 1, every edge doubled for sample 2: the cell is linear in
        # its edges' outputs only at node 3, so scaling all edges scales nodes 1-2 before their convs.
        keep = torch.ones(6, 3)
        keep[:, 1] = 0.0
        dropped = cell(feature, choices, keep=keep)
        assert dropped[1].abs().sum() == 0
        torch.testing.assert_close(dropped[0], plain[0])
        torch.testing.assert_close(dropped[2], plain[2])
        # Only the edges into node 3 scaled by 2: node 3 doubles exactly.
        keep = torch.ones(6, 3)
        keep[3:, :] = 2.0
        torch.testing.assert_close(cell(feature, choices, keep=keep), 2 * plain)
        # Dropping edge 0 -> 1 for sample 0 changes only sample 0.
        keep = torch.ones(6, 3)
        keep[0, 0] = 0.0
        changed = cell(feature, choices, keep=keep)
        assert not torch.allclose(changed[0], plain[0])
        torch.testing.assert_close(changed[1:], plain[1:])
        # The whole network takes the same per-sample multipliers.
        assert net(x, choices=choices, keep=keep).shape == (3, 10)


# --- CanonicalSampler -------------------------------------------------------------------------

def test_sampler_holds_each_canonical_class_once() -> None:
    sampler = CanonicalSampler()
    assert sampler.size == 6466 == len(sampler.cells)
    keys = [arch.key for arch in sampler.cells]
    assert len(set(keys)) == len(keys)
    assert set(keys) == {arch.key for arch in SPACE.enumerate()}
    # Each class is drawn through its representative's operations.
    rng = np.random.default_rng(0)
    for _ in range(20):
        choices = sampler.choices(rng)
        assert SPACE.make([NB201_OPS[c] for c in choices]) in sampler.cells


def test_sampler_over_strings_covers_the_space() -> None:
    sampler = CanonicalSampler(over="strings")
    assert sampler.size == 15625
    assert len(set(sampler.cells)) == 15625


def test_sampler_draws_are_deterministic_and_spread() -> None:
    sampler = CanonicalSampler()
    first = [sampler.choices(np.random.default_rng(7)) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    rng_a, rng_b = np.random.default_rng(11), np.random.default_rng(11)
    draws_a = [sampler.choices(rng_a) for _ in range(200)]
    assert draws_a == [sampler.choices(rng_b) for _ in range(200)]
    assert len(set(draws_a)) > 150  # uniform over 6,466: repeats are rare
    other = np.random.default_rng(12)
    assert draws_a != [sampler.choices(other) for _ in range(200)]


def test_sampler_is_uniform_over_classes_not_strings() -> None:
    # The all-"none" class has many strings (every cell whose output is cut off); uniform over
    # strings draws it far more often than uniform over classes does.
    zero_key = SPACE.make(["none"] * 6).key
    zero_strings = sum(arch.key == zero_key for arch in SPACE.enumerate())
    assert zero_strings > 100
    draws = 4000
    by_class = CanonicalSampler()
    by_string = CanonicalSampler(over="strings")
    rng = np.random.default_rng(0)
    hits_class = sum(SPACE.make([NB201_OPS[c] for c in by_class.choices(rng)]).key == zero_key
                     for _ in range(draws))
    hits_string = sum(SPACE.make([NB201_OPS[c] for c in by_string.choices(rng)]).key == zero_key
                      for _ in range(draws))
    assert hits_class <= 5  # expected 4000 / 6466 < 1
    assert hits_string >= draws * zero_strings / 15625 / 2


def test_sampler_refuses_unknown_option() -> None:
    with pytest.raises(InvalidArgumentError, match="'edges'"):
        CanonicalSampler(over="edges")


# --- BN recalibration -------------------------------------------------------------------------

def _capture_inputs(net: nn.Module) -> tuple[dict[nn.Module, list[torch.Tensor]], list]:
    seen: dict[nn.Module, list[torch.Tensor]] = {layer: [] for layer in batch_norm_layers(net)}
    handles = [layer.register_forward_pre_hook(lambda module, args: seen[module].append(args[0].detach().clone()))
               for layer in seen]
    return seen, handles


def test_recalibration_is_a_cumulative_average_over_batches() -> None:
    net = _randomised_supernet(SHAPES["1d"], channels=3)
    net.stem[1].momentum = 0.3  # a non-default momentum must come back too
    momenta = [layer.momentum for layer in batch_norm_layers(net)]
    choices = Supernet.choices_of(SPACE.parse(CELLS[1]))  # avg_pool, none, skip, conv1x1, none, conv3x3
    generator = torch.Generator().manual_seed(5)
    # Batches of different sizes: each batch counts once, whatever its size.
    batches = [2.0 * torch.randn(n, 1, 40, generator=generator) + 1.0 for n in (4, 9, 6)]
    seen, handles = _capture_inputs(net)
    try:
        used = recalibrate_batch_norm(lambda x: net(x, choices=choices), batches, modules=net)
    finally:
        for handle in handles:
            handle.remove()
    assert used == 3
    assert not net.training and all(not m.training for m in net.modules())
    assert [layer.momentum for layer in batch_norm_layers(net)] == momenta
    reached = unreached = 0
    for layer, inputs in seen.items():
        if inputs:
            reached += 1
            assert len(inputs) == 3
            means = torch.stack([x.transpose(0, 1).flatten(1).mean(dim=1) for x in inputs]).mean(dim=0)
            variances = torch.stack([x.transpose(0, 1).flatten(1).var(dim=1) for x in inputs]).mean(dim=0)
            torch.testing.assert_close(layer.running_mean, means, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(layer.running_var, variances, atol=1e-5, rtol=1e-4)
            assert int(layer.num_batches_tracked) == 3
        else:
            unreached += 1  # reset by recalibration and never updated
            assert torch.equal(layer.running_mean, torch.zeros_like(layer.running_mean))
            assert torch.equal(layer.running_var, torch.ones_like(layer.running_var))
            assert int(layer.num_batches_tracked) == 0
    # The path: stem, 2 convs per cell x 3 cells, 2 reduction blocks x 2, the last BN.
    assert reached == 1 + 2 * 3 + 2 * 2 + 1
    assert unreached == len(seen) - reached > 0


def test_recalibration_of_a_module_and_its_errors() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    batches = [torch.randn(8, 3) for _ in range(4)]
    assert recalibrate_batch_norm(net, batches) == 4
    with torch.no_grad():
        expected = torch.stack([net[0](b).mean(dim=0) for b in batches]).mean(dim=0)
    torch.testing.assert_close(net[1].running_mean, expected, atol=1e-5, rtol=1e-5)
    assert net[1].momentum == 0.1
    with pytest.raises(TypeError, match="modules="):
        recalibrate_batch_norm(lambda x: net(x), batches)
    assert recalibrate_batch_norm(net, []) == 0  # nothing seen: statistics stay reset
    assert torch.equal(net[1].running_mean, torch.zeros(4))


def test_momentum_is_restored_when_the_forward_raises() -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))

    def broken(x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        recalibrate_batch_norm(broken, [torch.zeros(2, 3)], modules=net)
    assert net[1].momentum == 0.1 and not net.training


def test_restore_puts_the_saved_statistics_back() -> None:
    net = _randomised_supernet(SHAPES["2d"], channels=2)
    saved = batch_norm_state(net)
    before = [tuple(t.clone() for t in entry) for entry in saved]
    choices = Supernet.choices_of(SPACE.parse(CELLS[0]))
    batches = [torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(s)) for s in range(2)]
    recalibrate_batch_norm(lambda x: net(x, choices=choices), batches, modules=net)
    changed = batch_norm_state(net)
    assert any(not torch.equal(a[0], b[0]) for a, b in zip(changed, before))
    # The saved copies are copies: recalibration did not write into them.
    assert all(torch.equal(x, y) for a, b in zip(saved, before) for x, y in zip(a, b))
    restore_batch_norm(net, saved)
    assert all(torch.equal(x, y) for a, b in zip(batch_norm_state(net), before) for x, y in zip(a, b))
    with pytest.raises(ValueError, match="BN layers"):
        restore_batch_norm(net, saved[:-1])
