"""The supernet's GDAS forward: ``weights`` with ``selected`` runs one operation per edge.

Tiny and seeded: 3 channels, one cell per stage, MNIST-1D's (1, 40) inputs and the digits' (1, 8, 8).
"""

from __future__ import annotations

import pytest
import torch
from test_supernet import _randomised_supernet

from infonas.exceptions import InvalidArgumentError
from infonas.gradient.relaxation import make_relaxation
from infonas.supernet import MixedEdge, Supernet
from search_spaces.nb201 import NB201_OPS

SHAPES = {"1d": (1, 40), "2d": (1, 8, 8)}


def _supernet(input_shape: tuple[int, ...], seed: int = 0) -> Supernet:
    """A supernet in eval mode whose weights and BN statistics are all non-trivial."""
    return _randomised_supernet(input_shape, seed=seed).eval()


def _count_calls(edge: MixedEdge) -> list[int]:
    calls = [0] * len(edge.ops)
    for index, op in enumerate(edge.ops):
        op.register_forward_hook(lambda *_, index=index: calls.__setitem__(index, calls[index] + 1))
    return calls


def test_selected_edge_runs_one_op_and_adds_the_other_weights() -> None:
    torch.manual_seed(0)
    edge = MixedEdge(3, spatial_dims=1).eval()
    calls = _count_calls(edge)
    x = torch.randn(2, 3, 16, generator=torch.Generator().manual_seed(1))
    weights = torch.tensor([0.1, 0.2, 0.3, 0.15, 0.25])
    conv = NB201_OPS.index("nor_conv_3x3")
    with torch.no_grad():
        out = edge(x, weights=weights, selected=conv)
        expected = 0.15 * edge.ops[conv](x) + (0.1 + 0.2 + 0.3 + 0.25)
    assert calls == [0, 0, 0, 2, 0]  # the selected op once here, once for the expected value
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
def test_hard_rows_equal_the_single_path_and_reach_alpha(shape: str) -> None:
    net = _supernet(SHAPES[shape])
    x = torch.randn(4, *SHAPES[shape], generator=torch.Generator().manual_seed(2))
    alpha = torch.randn(6, len(NB201_OPS), generator=torch.Generator().manual_seed(3)).requires_grad_()
    gdas = make_relaxation("gumbel-hard")
    weights = gdas.weights(alpha, progress=0.5, generator=torch.Generator().manual_seed(4))
    selected = weights.detach().argmax(-1)
    calls = _count_calls(net.cells[0].edges[0])
    out = net(x, weights=weights, selected=selected)
    assert sum(calls) == 1  # one op on the edge, not five
    single = net(x, choices=tuple(selected.tolist()))
    torch.testing.assert_close(out, single, atol=1e-5, rtol=1e-5)
    weights.retain_grad()
    out.square().sum().backward()
    assert alpha.grad is not None and bool(torch.isfinite(alpha.grad).all()) and bool((alpha.grad != 0).all())
    # Every weight gets a gradient, 0 in value as they are: the selected one through its op, the
    # others through "+ w[e, o]" (GDAS's straight-through reaches alpha through each of them).
    assert bool((weights.grad != 0).all())


def test_selected_with_soft_weights_differs_from_the_mixture() -> None:
    net = _supernet(SHAPES["1d"])
    x = torch.randn(3, *SHAPES["1d"], generator=torch.Generator().manual_seed(5))
    weights = Supernet.uniform_weights()
    selected = (3, 3, 2, 1, 4, 3)
    with torch.no_grad():
        gdas_path = net(x, weights=weights, selected=selected)
        mixture = net(x, weights=weights)
    assert not torch.allclose(gdas_path, mixture)
    assert torch.equal(gdas_path, net(x, weights=weights, selected=list(selected)))


BAD_SELECTED = {
    "with choices": {"choices": (3,) * 6, "selected": (3,) * 6},
    "too short": {"weights": Supernet.uniform_weights(), "selected": (3,) * 5},
    "out of range": {"weights": Supernet.uniform_weights(), "selected": (3, 3, 3, 3, 3, 5)},
    "negative": {"weights": Supernet.uniform_weights(), "selected": (3, 3, -1, 3, 3, 3)},
    "floats": {"weights": Supernet.uniform_weights(), "selected": (3.0,) * 6},
    "bools": {"weights": Supernet.uniform_weights(), "selected": (True,) * 6},
}


@pytest.mark.parametrize("kwargs", list(BAD_SELECTED.values()), ids=list(BAD_SELECTED))
def test_bad_selected_raises(kwargs: dict) -> None:
    net = _supernet(SHAPES["1d"])
    with pytest.raises(InvalidArgumentError, match=r"selected .*got .*; pass"):
        net(torch.zeros(1, *SHAPES["1d"]), **kwargs)


def test_edge_refuses_selected_without_weights() -> None:
    edge = MixedEdge(2, spatial_dims=1)
    with pytest.raises(InvalidArgumentError, match="goes with weights"):
        edge(torch.zeros(1, 2, 8), selected=1)
    with pytest.raises(InvalidArgumentError, match="goes with weights"):
        edge(torch.zeros(1, 2, 8), choice=1, weights=torch.ones(5), selected=1)
