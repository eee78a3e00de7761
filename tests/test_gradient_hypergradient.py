"""Second-order DARTS machinery: the finite-difference hypergradient against autograd through the virtual step.

Tiny, seeded, float64: a 2-layer MLP whose hidden layers are softmax(alpha) mixtures of three smooth
operations, a quadratic toy with a hand-derived hypergradient, and the NB201 supernet at 2 channels.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from infonas.exceptions import InvalidArgumentError
from infonas.gradient import hypergradient
from infonas.gradient.hypergradient import (
    dominant_hessian_eigenvalue,
    exact_mixed_hvp,
    exact_unrolled_gradient,
    finite_difference_mixed_hvp,
    unrolled_hypergradient,
)
from infonas.supernet.network import Supernet
from search_spaces.nb201.network import NetworkConfig

DTYPE = torch.float64
OPS = (torch.tanh, torch.sin, lambda h: h)  # smooth, so central differences see no kinks


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _mlp_problem(seed: int = 0):
    """Params, alpha (2, 3) and train/valid losses of a mixed-operation MLP on two random batches."""
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return scale * torch.randn(*shape, generator=generator, dtype=DTYPE)

    params = {"w1": randn(5, 4, scale=0.7), "b1": randn(5, scale=0.1), "w2": randn(5, 5, scale=0.5),
              "w3": randn(3, 5, scale=0.6), "b3": randn(3, scale=0.1)}
    alpha = randn(2, 3)

    def loss_on(x: torch.Tensor, y: torch.Tensor):
        def loss(p: dict[str, torch.Tensor], a: torch.Tensor) -> torch.Tensor:
            mix = torch.softmax(a, -1)
            h = x @ p["w1"].T + p["b1"]
            h = sum(m * op(h) for m, op in zip(mix[0], OPS))
            h = h @ p["w2"].T
            h = sum(m * op(h) for m, op in zip(mix[1], OPS))
            return F.cross_entropy(h @ p["w3"].T + p["b3"], y)
        return loss

    labels = lambda n: torch.randint(0, 3, (n,), generator=generator)
    loss_train = loss_on(randn(12, 4), labels(12))
    loss_valid = loss_on(randn(10, 4), labels(10))
    return params, alpha, loss_train, loss_valid


def _quadratic_problem():
    """L_train = w'Aw/2 - w'Ba, L_val = (w-c)'C(w-c)/2 + a'Da/2 (two weights, two architecture entries)."""
    A = torch.tensor([[2.0, 0.3], [0.3, 1.0]], dtype=DTYPE)
    B = torch.tensor([[1.0, -0.5], [0.4, 2.0]], dtype=DTYPE)
    C = torch.tensor([[1.5, -0.2], [-0.2, 0.8]], dtype=DTYPE)
    D = torch.tensor([[0.5, 0.1], [0.1, 0.3]], dtype=DTYPE)
    c = torch.tensor([0.3, -1.0], dtype=DTYPE)

    def loss_train(p: dict[str, torch.Tensor], a: torch.Tensor) -> torch.Tensor:
        return p["w"] @ A @ p["w"] / 2 - p["w"] @ B @ a

    def loss_valid(p: dict[str, torch.Tensor], a: torch.Tensor) -> torch.Tensor:
        return (p["w"] - c) @ C @ (p["w"] - c) / 2 + a @ D @ a / 2

    params = {"w": torch.tensor([0.7, -0.4], dtype=DTYPE)}
    alpha = torch.tensor([1.2, -0.6], dtype=DTYPE)
    return params, alpha, loss_train, loss_valid, (A, B, C, D, c)


def _first_order(loss: object, params: dict[str, torch.Tensor], alpha: torch.Tensor) -> torch.Tensor:
    leaf = alpha.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss(params, leaf), leaf)  # type: ignore[operator]
    return grad


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("weight_decay", [0.0, 3e-2])
def test_finite_difference_hypergradient_matches_autograd_through_the_virtual_step(seed, weight_decay):
    params, alpha, loss_train, loss_valid = _mlp_problem(seed)
    xi = 0.5
    approx = unrolled_hypergradient(loss_train, loss_valid, params, alpha, xi, weight_decay=weight_decay)
    exact = exact_unrolled_gradient(loss_train, loss_valid, params, alpha, xi, weight_decay=weight_decay)
    assert _relative(approx, exact) < 1e-3
    # The second-order term must matter here, or the comparison above could not tell a wrong correction.
    stepped_first_order = exact_unrolled_gradient(loss_train, loss_valid, params, alpha, 0.0)
    assert _relative(stepped_first_order, exact) > 1e-2


@pytest.mark.parametrize("eps", [1e-3, 1e-2])
def test_finite_difference_mixed_hvp_matches_double_backward(eps):
    params, alpha, loss_train, _ = _mlp_problem(0)
    generator = torch.Generator().manual_seed(7)
    vector = {name: torch.randn(w.shape, generator=generator, dtype=DTYPE) for name, w in params.items()}
    norm = float(torch.sqrt(sum((v ** 2).sum() for v in vector.values())))
    exact = exact_mixed_hvp(loss_train, params, alpha, vector)
    approx = finite_difference_mixed_hvp(loss_train, params, alpha, vector, eps / norm)
    assert exact.shape == alpha.shape and exact.norm() > 1e-3
    assert _relative(approx, exact) < 1e-3


def test_the_difference_step_is_eps_scale_over_the_global_norm(monkeypatch):
    """DARTS's eps = 0.01 / ||grad_w' L_val||: every perturbation has global norm eps_scale."""
    params, alpha, loss_train, loss_valid = _mlp_problem(0)
    for name in params:  # a large validation gradient, so eps_scale and eps_scale / ||v|| differ clearly
        params[name] = 3 * params[name]
    seen = []
    original = hypergradient.finite_difference_mixed_hvp

    def spy(loss, p, a, vector, eps):
        seen.append(eps * float(torch.sqrt(sum((v ** 2).sum() for v in vector.values()))))
        return original(loss, p, a, vector, eps)

    monkeypatch.setattr(hypergradient, "finite_difference_mixed_hvp", spy)
    unrolled_hypergradient(loss_train, loss_valid, params, alpha, 0.5, eps_scale=0.02)
    assert seen == [pytest.approx(0.02, rel=1e-12)]


def test_zero_xi_is_the_first_order_gradient_exactly():
    params, alpha, loss_train, loss_valid = _mlp_problem(0)
    first_order = _first_order(loss_valid, params, alpha)
    assert torch.equal(unrolled_hypergradient(loss_train, loss_valid, params, alpha, 0.0), first_order)
    assert torch.allclose(exact_unrolled_gradient(loss_train, loss_valid, params, alpha, 0.0), first_order,
                          rtol=1e-12, atol=1e-14)
    assert not torch.allclose(unrolled_hypergradient(loss_train, loss_valid, params, alpha, 0.5), first_order,
                              rtol=1e-3)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_exact_unrolled_gradient_equals_the_closed_form_on_a_quadratic(weight_decay):
    params, alpha, loss_train, loss_valid, (A, B, C, D, c) = _quadratic_problem()
    xi, w = 0.3, params["w"]
    # w' = w - xi (A w - B a + lambda w), so dw'/da = xi B and d/da L_val(w', a) = D a + xi B' C (w' - c).
    stepped = w - xi * (A @ w - B @ alpha + weight_decay * w)
    closed_form = D @ alpha + xi * B.T @ C @ (stepped - c)
    exact = exact_unrolled_gradient(loss_train, loss_valid, params, alpha, xi, weight_decay=weight_decay)
    assert torch.allclose(exact, closed_form, rtol=1e-12, atol=1e-12)
    # The mixed Hessian of a quadratic is constant (-B'), so central differences are exact up to rounding.
    approx = unrolled_hypergradient(loss_train, loss_valid, params, alpha, xi, weight_decay=weight_decay)
    assert torch.allclose(approx, closed_form, rtol=1e-9, atol=1e-9)


def test_dominant_eigenvalue_matches_numpy_on_the_explicit_hessian():
    params, alpha, _, loss_valid = _mlp_problem(0)
    flat = alpha.reshape(-1)
    hessian = torch.autograd.functional.hessian(lambda a: loss_valid(params, a.reshape(alpha.shape)), flat)
    expected = float(np.linalg.eigvalsh(hessian.numpy()).max())
    found = dominant_hessian_eigenvalue(loss_valid, params, alpha, iterations=50,
                                        generator=torch.Generator().manual_seed(0))
    assert found == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("eigenvalues", [(4.0, 1.5, 0.2), (2.0, -0.5, -3.0)])
def test_dominant_eigenvalue_of_a_quadratic_with_known_spectrum(eigenvalues):
    """The largest eigenvalue, also when a negative one is larger in magnitude (power iteration's own pick)."""
    rotation, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(3), dtype=DTYPE))
    hessian = rotation @ torch.diag(torch.tensor(eigenvalues, dtype=DTYPE)) @ rotation.T
    params = {"hessian": hessian}
    loss = lambda p, a: a @ p["hessian"] @ a / 2 + a.sum()
    found = dominant_hessian_eigenvalue(loss, params, torch.zeros(3, dtype=DTYPE), iterations=60,
                                        generator=torch.Generator().manual_seed(0))
    assert found == pytest.approx(max(eigenvalues), rel=1e-6)


def test_inputs_are_left_untouched_and_get_no_grad():
    params, alpha, loss_train, loss_valid = _mlp_problem(0)
    params = {name: torch.nn.Parameter(w.clone()) for name, w in params.items()}
    alpha = alpha.clone().requires_grad_(True)
    before = {name: w.detach().clone() for name, w in params.items()}, alpha.detach().clone()
    vector = {name: torch.ones_like(w) for name, w in params.items()}
    results = [unrolled_hypergradient(loss_train, loss_valid, params, alpha, 0.5, weight_decay=0.1),
               exact_unrolled_gradient(loss_train, loss_valid, params, alpha, 0.5, weight_decay=0.1),
               finite_difference_mixed_hvp(loss_train, params, alpha, vector, 1e-3),
               exact_mixed_hvp(loss_train, params, alpha, vector)]
    dominant_hessian_eigenvalue(loss_valid, params, alpha, iterations=3)
    for name, w in params.items():
        assert torch.equal(w.detach(), before[0][name]) and w.grad is None
    assert torch.equal(alpha.detach(), before[1]) and alpha.grad is None
    assert all(not result.requires_grad for result in results)


def test_invalid_arguments_raise_with_the_rule_and_the_value():
    params, alpha, loss_train, loss_valid = _mlp_problem(0)
    with pytest.raises(InvalidArgumentError, match=r"xi must be finite and >= 0, got -0.1"):
        unrolled_hypergradient(loss_train, loss_valid, params, alpha, -0.1)
    with pytest.raises(InvalidArgumentError, match=r"xi must be .* got nan"):
        exact_unrolled_gradient(loss_train, loss_valid, params, alpha, float("nan"))
    with pytest.raises(InvalidArgumentError, match=r"eps_scale must be finite and > 0, got 0"):
        unrolled_hypergradient(loss_train, loss_valid, params, alpha, 0.1, eps_scale=0.0)
    with pytest.raises(InvalidArgumentError, match=r"weight_decay must be .* got -1"):
        unrolled_hypergradient(loss_train, loss_valid, params, alpha, 0.1, weight_decay=-1.0)
    for iterations in (0, 2.5, True):
        with pytest.raises(InvalidArgumentError, match=r"iterations must be an integer >= 1"):
            dominant_hessian_eigenvalue(loss_valid, params, alpha, iterations=iterations)
    with pytest.raises(InvalidArgumentError, match=r"floating point, got 'steps' of dtype torch.int64"):
        unrolled_hypergradient(loss_train, loss_valid, {**params, "steps": torch.tensor(3)}, alpha, 0.1)
    with pytest.raises(InvalidArgumentError, match=r"vector must match params"):
        exact_mixed_hvp(loss_train, params, alpha, {"w1": torch.zeros(5, 4, dtype=DTYPE)})
    with pytest.raises(InvalidArgumentError, match=r"eps must be finite and > 0"):
        finite_difference_mixed_hvp(loss_train, params, alpha, params, 0.0)


def test_on_the_supernet_through_functional_call():
    torch.manual_seed(0)
    net = Supernet(NetworkConfig.for_input((1, 40), num_cells=1, channels=2)).double().eval()
    params = {name: p.detach().clone() for name, p in net.named_parameters()}
    # Buffers (BN running statistics, an integer step count) ride in the closure, never differentiated.
    buffers = {name: b.detach().clone() for name, b in net.named_buffers()}
    generator = torch.Generator().manual_seed(1)
    batches = [(torch.randn(8, 1, 40, generator=generator, dtype=DTYPE), torch.randint(0, 10, (8,), generator=generator))
               for _ in range(2)]

    def loss_on(x: torch.Tensor, y: torch.Tensor):
        def loss(p: dict[str, torch.Tensor], a: torch.Tensor) -> torch.Tensor:
            logits = functional_call(net, {**p, **buffers}, (x,), {"weights": torch.softmax(a, -1)})
            return F.cross_entropy(logits, y)
        return loss

    loss_train, loss_valid = loss_on(*batches[0]), loss_on(*batches[1])
    alpha = 1e-3 * torch.randn(6, 5, generator=generator, dtype=DTYPE)
    second = unrolled_hypergradient(loss_train, loss_valid, params, alpha, 0.05, weight_decay=3e-4)
    assert second.shape == alpha.shape and torch.isfinite(second).all()
    first = unrolled_hypergradient(loss_train, loss_valid, params, alpha, 0.0)
    assert torch.equal(first, _first_order(loss_valid, params, alpha))
    for name, p in net.named_parameters():
        assert torch.equal(p.detach(), params[name]) and p.grad is None
