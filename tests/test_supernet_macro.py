"""The macro supernet: one-hot paths are the macro networks, widths are channel masks, every kind of
position gets gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infonas.exceptions import InvalidArgumentError
from infonas.supernet.macro import MacroSupernet
from search_spaces.macro import MacroSpace
from search_spaces.macro.network import MacroNetworkConfig

SPACE = MacroSpace()
ARCH = "|d2,x0.75,k3,k5,k7|d1,x0.5,k5,k3,k3|d3,x0.5,k7,k3,k5|"


def config_for(data: str) -> MacroNetworkConfig:
    return MacroNetworkConfig.for_dataset(data, channels=4)


def supernet(data: str, seed: int = 0) -> MacroSupernet:
    torch.manual_seed(seed)
    net = MacroSupernet(config_for(data))
    for module in net.modules():  # trained-looking BatchNorms: a non-zero shift would leak through a missed mask
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            torch.nn.init.normal_(module.weight, 1.0, 0.3)
            torch.nn.init.normal_(module.bias, 0.0, 0.3)
    return net


def inputs(data: str, batch: int = 6) -> torch.Tensor:
    return torch.randn(batch, *config_for(data).input_shape, generator=torch.Generator().manual_seed(1))


def one_hot(choices) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(choices), 3).float()


def random_choices(seed: int) -> tuple[int, ...]:
    return SPACE.to_categorical(SPACE.sample(np.random.default_rng(seed)))


@pytest.mark.parametrize("data", ["mnist1d", "digits"])
def test_every_mode_gives_logits_for_both_data_sets(data):
    net, x = supernet(data), inputs(data)
    weights = torch.softmax(torch.randn(15, 3, generator=torch.Generator().manual_seed(2)), -1)
    for logits in (net(x, weights=weights), net(x, weights=weights, selected=weights.argmax(-1)),
                   net(x, choices=random_choices(0)), net(x, weights=net.uniform_weights())):
        assert logits.shape == (6, 10) and torch.isfinite(logits).all()


def _copy_sliced(source: MacroSupernet, target: torch.nn.Module, arch) -> None:
    """Load ``target`` (a ``MacroNetwork``) with the leading slices of the supernet's tensors."""
    state = source.state_dict()
    stages = SPACE.stages(arch)
    live = [s * 3 + b for s, (depth, _, _) in enumerate(stages) for b in range(depth)]
    kernels = [k for _, _, ks in stages for k in ks]
    loaded = {}
    for name, tensor in target.state_dict().items():
        parts = name.split(".")
        if parts[0] == "blocks":
            block, kind = live[int(parts[1])], parts[2]
            body = f"bodies.{(kernels[int(parts[1])] - 3) // 2}" if kind == "body" else kind
            key = ".".join(["blocks", str(block), body, *parts[3:]])
        else:
            key = name
        loaded[name] = state[key][tuple(slice(0, n) for n in tensor.shape)]
    target.load_state_dict(loaded)


@pytest.mark.parametrize("data", ["mnist1d", "digits"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_one_hot_path_is_the_macro_network_with_the_sliced_weights(data, seed):
    net, x = supernet(data, seed), inputs(data)
    arch = SPACE.sample(np.random.default_rng(seed)) if seed else SPACE.parse(ARCH)
    network = config_for(data).build(arch)
    _copy_sliced(net, network, arch)
    for module in (net, network):  # train mode: batch statistics, channel by channel
        module.train()
    expected = network(x)
    torch.testing.assert_close(net(x, choices=SPACE.to_categorical(arch)), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(net(x, weights=one_hot(SPACE.to_categorical(arch))), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("data", ["mnist1d", "digits"])
def test_channels_past_the_chosen_width_are_exactly_zero(data):
    net, x = supernet(data), inputs(data)
    arch = SPACE.parse(ARCH)
    widths = config_for(data).stage_widths(arch)
    seen: list[tuple[int, torch.Tensor]] = []
    masked = net._masked

    def recording(feature, stage, row):
        out = masked(feature, stage, row)
        seen.append((stage, out))
        return out

    net._masked = recording
    net(x, choices=SPACE.to_categorical(arch))
    assert [stage for stage, _ in seen] == [0, 0, 0, 1, 2, 2, 2, 2]  # stem, live blocks, head
    for stage, out in seen:
        assert out[:, widths[stage]:].abs().max().item() == 0.0
        assert out[:, :widths[stage]].abs().max().item() > 0.0
    # Every stage narrowed: 3 of 4, 4 of 8 and 8 of 16 channels live.
    assert widths == (3, 4, 8) and [out.shape[1] for _, out in seen] == [4, 4, 4, 8, 16, 16, 16, 16]


@pytest.mark.parametrize("seed", range(4))
def test_choices_selected_and_one_hot_weights_agree(seed):
    net, x = supernet("mnist1d", seed), inputs("mnist1d")
    choices = random_choices(seed)
    by_weights = net(x, weights=one_hot(choices))
    torch.testing.assert_close(net(x, choices=choices), by_weights)
    torch.testing.assert_close(net(x, weights=one_hot(choices), selected=choices), by_weights)
    other = tuple((c + 1) % 3 for c in choices)
    assert not torch.allclose(net(x, choices=other), by_weights)


@pytest.mark.parametrize("hard", [False, True])
def test_gradients_reach_depth_width_and_kernel_positions(hard):
    net, x = supernet("digits"), inputs("digits")
    y = torch.arange(6) % 10
    alpha = torch.randn(15, 3, generator=torch.Generator().manual_seed(3)).requires_grad_()
    soft = torch.softmax(alpha, -1)
    if hard:  # straight-through one-hot rows, as GDAS gives them; d3 everywhere so every block runs
        chosen = torch.tensor([2, 0, 0, 1, 2] * 3)
        weights = torch.nn.functional.one_hot(chosen, 3).float() - soft.detach() + soft
        logits = net(x, weights=weights, selected=chosen)
    else:
        logits = net(x, weights=soft)
    torch.nn.functional.cross_entropy(logits, y).backward()
    row_norms = alpha.grad.abs().sum(-1)
    for stage in range(3):
        depth, width, *kernels = range(5 * stage, 5 * stage + 5)
        assert row_norms[depth] > 0 and row_norms[width] > 0 and all(row_norms[k] > 0 for k in kernels)


def test_bad_calls_are_refused():
    net, x = supernet("mnist1d"), inputs("mnist1d")
    with pytest.raises(ValueError, match="exactly one of choices"):
        net(x)
    with pytest.raises(ValueError, match="exactly one of choices"):
        net(x, weights=net.uniform_weights(), choices=(0,) * 15)
    with pytest.raises(InvalidArgumentError, match=r"selected must be 15 option indices in \[0, 3\), got \[0, 3\]"):
        net(x, weights=net.uniform_weights(), selected=[0, 3])
    with pytest.raises(InvalidArgumentError, match="only valid with weights"):
        net(x, choices=(0,) * 15, selected=(0,) * 15)
    with pytest.raises(InvalidArgumentError, match=r"weights must have shape \(15, 3\).*got \(6, 5\)"):
        net(x, weights=torch.full((6, 5), 0.2))
    assert MacroSupernet.choices_of(SPACE.parse(ARCH)) == (1, 1, 0, 1, 2, 0, 0, 1, 0, 0, 2, 0, 2, 0, 1)
