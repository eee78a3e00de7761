"""The DARTS search network: shapes in 1-D and 2-D, a genotype's one-hot path is its ``DartsNetwork``
with the inherited weights, and every edge gets gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infonas.exceptions import InvalidArgumentError
from infonas.supernet.darts import EDGES, DartsSupernet, edge_index
from search_spaces.darts import DARTS_V2, DartsSpace
from search_spaces.darts.network import DartsNetworkConfig

SPACE = DartsSpace()
POOLS = ("max_pool_3x3", "avg_pool_3x3")


def config_for(data: str) -> DartsNetworkConfig:
    return DartsNetworkConfig.for_dataset(data, channels=2)


def supernet(data: str, seed: int = 0, pool_batch_norm: bool = True) -> DartsSupernet:
    torch.manual_seed(seed)
    net = DartsSupernet(config_for(data), pool_batch_norm=pool_batch_norm)
    for module in net.modules():  # trained-looking BatchNorms: an identity affine map would hide a missed copy
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.affine:
            torch.nn.init.normal_(module.weight, 1.0, 0.3)
            torch.nn.init.normal_(module.bias, 0.0, 0.3)
    return net


def inputs(data: str, batch: int = 5) -> torch.Tensor:
    return torch.randn(batch, *config_for(data).input_shape, generator=torch.Generator().manual_seed(1))


def one_hot(arch) -> torch.Tensor:
    return DartsSupernet.one_hot_weights(arch)


def without_pools(arch):
    return SPACE.make([{"max_pool_3x3": "sep_conv_3x3", "avg_pool_3x3": "dil_conv_5x5"}.get(op, op) for op in arch.ops])


def test_the_edges_are_the_reference_order():
    assert len(EDGES) == 14 and EDGES[:5] == ((0, 0), (0, 1), (1, 0), (1, 1), (1, 2)) and EDGES[-1] == (3, 4)
    assert [edge_index(node, node + 1) for node in range(4)] == [1, 4, 8, 13]


@pytest.mark.parametrize("data", ["mnist1d", "digits"])
def test_every_mode_gives_logits_in_1d_and_2d(data):
    net, x = supernet(data), inputs(data)
    weights = torch.softmax(torch.randn(28, 8, generator=torch.Generator().manual_seed(2)), -1)
    arch = SPACE.sample(np.random.default_rng(0))
    for logits in (net(x, weights=weights), net(x, weights=weights, selected=weights.argmax(-1)),
                   net(x, choices=SPACE.to_categorical(arch)), net(x, weights=net.uniform_weights())):
        assert logits.shape == (5, 10) and torch.isfinite(logits).all()
    assert sum(isinstance(m, type(net.cells[0].edges[0])) for m in net.modules()) == 14 * len(net.cells) == 70


@pytest.mark.parametrize("data", ["mnist1d", "digits"])
@pytest.mark.parametrize("seed", [0, 1])
def test_a_one_hot_path_is_the_darts_network_with_the_inherited_weights(data, seed):
    net, x = supernet(data, seed, pool_batch_norm=False), inputs(data)
    arch = SPACE.sample(np.random.default_rng(seed)) if seed else SPACE.parse(DARTS_V2)
    network = config_for(data).build(arch)
    network.load_state_dict(net.network_state_dict(arch))  # strict: every tensor of the network, nothing else
    for module in (net, network):  # train mode: batch statistics, operation by operation
        module.train()
    expected = network(x)
    torch.testing.assert_close(net(x, choices=SPACE.to_categorical(arch)), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(net(x, weights=one_hot(arch)), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(net(x, weights=one_hot(arch), selected=one_hot(arch).argmax(-1)), expected,
                               rtol=1e-5, atol=1e-5)
    other = SPACE.sample(np.random.default_rng(seed + 10))
    assert not torch.allclose(net(x, choices=SPACE.to_categorical(other)), expected, rtol=1e-3, atol=1e-3)


def test_the_reference_pool_batch_norm_is_the_only_difference_from_the_network():
    """With the reference MixedOp (a BatchNorm after each pool) the inherited network computes the
    same function exactly when the genotype has no pool, and another one when it has."""
    x = inputs("mnist1d")
    for arch, same in ((without_pools(SPACE.parse(DARTS_V2)), True), (SPACE.parse(DARTS_V2), False)):
        net, network = supernet("mnist1d"), config_for("mnist1d").build(arch)
        network.load_state_dict(net.network_state_dict(arch))
        assert any(op in POOLS for op in arch.ops) != same
        assert torch.allclose(net(x, choices=SPACE.to_categorical(arch)), network(x), rtol=1e-5, atol=1e-5) == same


def test_every_edge_and_operation_gets_a_gradient():
    net, x = supernet("digits"), inputs("digits")
    alpha = torch.zeros(28, 8, requires_grad=True)
    net(x, weights=torch.softmax(alpha, -1)).logsumexp(-1).sum().backward()
    assert alpha.grad is not None and (alpha.grad != 0).all()


def test_bad_weights_and_selections_are_refused():
    net, x = supernet("mnist1d"), inputs("mnist1d")
    with pytest.raises(InvalidArgumentError, match=r"weights must have shape \(28, 8\) .* got \(14, 8\)"):
        net(x, weights=torch.zeros(14, 8))
    with pytest.raises(InvalidArgumentError, match=r"selected must be 28 operation indices in \[0, 8\)"):
        net(x, weights=net.uniform_weights(), selected=[8] * 28)
    with pytest.raises(InvalidArgumentError, match="selected .* is only valid with weights"):
        net(x, choices=(0,) * 22, selected=[0] * 28)
