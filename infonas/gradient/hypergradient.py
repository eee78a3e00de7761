"""Second-order DARTS: the architecture gradient through one virtual step of the weights.

DARTS (Liu et al. 2019, eq. 7-8) takes a virtual SGD step ``w' = w - xi (grad_w L_train(w, a) + lambda w)``
and differentiates ``L_val(w', a)`` with respect to ``a`` through it::

    dL_val/da = grad_a L_val(w', a) - xi * d2 L_train / (da dw) . grad_w' L_val(w', a)
             ~= grad_a L_val(w', a) - xi * [grad_a L_train(w+, a) - grad_a L_train(w-, a)] / (2 eps)

with ``w+- = w +- eps v``, ``v = grad_w' L_val(w', a)`` and ``eps = eps_scale / ||v||`` (one global
norm over every parameter). ``xi = 0`` is first-order DARTS. ``dominant_hessian_eigenvalue`` is
R-DARTS's early-stopping signal (Zela et al. 2020): the largest eigenvalue of ``grad_a^2 L_val``.

Losses are functions ``loss(params, alpha) -> scalar`` over a fixed batch, so a module is used through
``torch.func.functional_call(module, {**params, **buffers}, (x,), {"weights": softmax(alpha)})``.
Only ``params`` are differentiated and perturbed; buffers ride in the closure. In ``train()`` mode
BatchNorm's running statistics move during every extra forward pass (the virtual step, ``w+-``)
unless the closure passes copies of the buffers. Inputs are never modified and get no ``.grad``.

Example (a two-parameter quadratic, where the finite difference is exact up to rounding):
    >>> import torch
    >>> train = lambda p, a: ((p["w"] - a) ** 2).sum()
    >>> valid = lambda p, a: ((p["w"] - 1.0) ** 2 + a ** 2).sum()
    >>> w, a = {"w": torch.tensor([0.5], dtype=torch.float64)}, torch.tensor([2.0], dtype=torch.float64)
    >>> approx = unrolled_hypergradient(train, valid, w, a, xi=0.1)
    >>> exact = exact_unrolled_gradient(train, valid, w, a, xi=0.1)
    >>> round(exact.item(), 6), bool(torch.allclose(approx, exact, rtol=1e-9))
    (3.92, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import Tensor

from infonas.exceptions import InvalidArgumentError

__all__ = [
    "Loss",
    "dominant_hessian_eigenvalue",
    "exact_mixed_hvp",
    "exact_unrolled_gradient",
    "finite_difference_mixed_hvp",
    "unrolled_hypergradient",
]

Loss = Callable[[dict[str, Tensor], Tensor], Tensor]  # loss(params, alpha) -> scalar, on a fixed batch

Params = dict[str, Tensor]


def _check_tensors(params: Params, alpha: Tensor) -> None:
    if not params:
        raise InvalidArgumentError("params must hold a tensor, got an empty dict; pass the model's named parameters")
    for name, tensor in params.items():
        if not tensor.is_floating_point():
            raise InvalidArgumentError(f"every parameter must be floating point, got {name!r} of dtype {tensor.dtype}; "
                                       "pass integer buffers (e.g. BatchNorm's num_batches_tracked) "
                                       "inside the loss closure, not in params")
    if not alpha.is_floating_point():
        raise InvalidArgumentError(f"alpha must be floating point, got dtype {alpha.dtype}; pass e.g. alpha.double()")


def _check_positive(name: str, value: float, fix: str, *, allow_zero: bool = False) -> None:
    if not (math.isfinite(value) and (value >= 0 if allow_zero else value > 0)):
        rule = ">= 0" if allow_zero else "> 0"
        raise InvalidArgumentError(f"{name} must be finite and {rule}, got {value!r}; {fix}")


def _check_step(xi: float, weight_decay: float) -> None:
    _check_positive("xi", xi, "pass 0 for first-order DARTS or the weights' learning rate", allow_zero=True)
    _check_positive("weight_decay", weight_decay, "pass the weights' optimiser weight decay, or 0", allow_zero=True)


def _copies(params: Params, requires_grad: bool = False) -> Params:
    # Clones, so a loss that writes into its inputs cannot reach the caller's tensors.
    return {name: tensor.detach().clone().requires_grad_(requires_grad) for name, tensor in params.items()}


def _grads(output: Tensor, inputs: Iterable[Tensor], *, create_graph: bool = False,
           retain_graph: bool = False) -> list[Tensor]:
    """``d output / d input`` for each input, zeros where the output does not depend on it."""
    inputs = list(inputs)
    if not output.requires_grad:
        return [torch.zeros_like(tensor) for tensor in inputs]
    grads = torch.autograd.grad(output, inputs, create_graph=create_graph, retain_graph=retain_graph or create_graph,
                                allow_unused=True)
    return [torch.zeros_like(tensor) if grad is None else grad for grad, tensor in zip(grads, inputs)]


def _scalar(loss: Loss, params: Params, alpha: Tensor) -> Tensor:
    value = loss(params, alpha)
    if value.numel() != 1:
        raise InvalidArgumentError(f"a loss must return a scalar, got a tensor of shape {tuple(value.shape)}; "
                                   "reduce it with .mean() or .sum()")
    return value.reshape(())


def _alpha_gradient(loss: Loss, params: Params, alpha: Tensor) -> Tensor:
    leaf = alpha.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = _grads(_scalar(loss, _copies(params), leaf), [leaf])
    return grad.detach()


def _virtual_step(loss_train: Loss, params: Params, alpha: Tensor, xi: float, weight_decay: float) -> Params:
    """``w' = w - xi (grad_w L_train(w, a) + weight_decay w)``, detached."""
    leaves = _copies(params, True)
    with torch.enable_grad():
        grads = _grads(_scalar(loss_train, leaves, alpha.detach()), leaves.values())
    return {name: (w - xi * (g + weight_decay * w)).detach() for (name, w), g in zip(leaves.items(), grads)}


def unrolled_hypergradient(loss_train: Loss, loss_valid: Loss, params: Params, alpha: Tensor, xi: float, *,
                           weight_decay: float = 0.0, eps_scale: float = 0.01) -> Tensor:
    """DARTS's second-order architecture gradient, with the mixed Hessian by central differences.

    ``grad_a L_val(w', a) - xi [grad_a L_train(w + eps v, a) - grad_a L_train(w - eps v, a)] / (2 eps)``,
    ``v = grad_w' L_val(w', a)``, ``eps = eps_scale / ||v||``; ``xi = 0`` gives ``grad_a L_val(w, a)``.
    Cost: three backward passes more than first order (virtual step, ``w+``, ``w-``).

    Example:
        >>> loss = lambda p, a: (p["w"] * a).sum()
        >>> unrolled_hypergradient(loss, loss, {"w": torch.ones(2)}, torch.ones(2), xi=0.0).tolist()
        [1.0, 1.0]
    """
    _check_tensors(params, alpha)
    _check_step(xi, weight_decay)
    _check_positive("eps_scale", eps_scale, "pass a small step such as DARTS's 0.01")
    stepped = _virtual_step(loss_train, params, alpha, xi, weight_decay) if xi > 0 else params
    leaves = _copies(stepped, True)
    leaf_alpha = alpha.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        *weight_grads, alpha_grad = _grads(_scalar(loss_valid, leaves, leaf_alpha), [*leaves.values(), leaf_alpha])
    norm = torch.sqrt(sum((g.detach() ** 2).sum() for g in weight_grads))  # type: ignore[arg-type]
    if xi == 0 or norm == 0:  # no virtual step, or a flat validation loss in w: nothing to correct
        return alpha_grad.detach()
    vector = {name: g.detach() for name, g in zip(leaves, weight_grads)}
    eps = eps_scale / norm.item()
    return (alpha_grad - xi * finite_difference_mixed_hvp(loss_train, params, alpha, vector, eps)).detach()


def exact_unrolled_gradient(loss_train: Loss, loss_valid: Loss, params: Params, alpha: Tensor, xi: float, *,
                            weight_decay: float = 0.0) -> Tensor:
    """``d/da L_val(w'(a), a)`` by autograd through the virtual step: the reference for the finite difference.

    Example:
        >>> train = lambda p, a: ((p["w"] - a) ** 2).sum()  # w' = w + 2 xi (a - w), dw'/da = 2 xi
        >>> valid = lambda p, a: p["w"].sum()
        >>> exact_unrolled_gradient(train, valid, {"w": torch.zeros(1)}, torch.zeros(1), xi=0.25).tolist()
        [0.5]
    """
    _check_tensors(params, alpha)
    _check_step(xi, weight_decay)
    leaves = _copies(params, True)
    leaf_alpha = alpha.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        grads = _grads(_scalar(loss_train, leaves, leaf_alpha), leaves.values(), create_graph=True)
        stepped = {name: w - xi * (g + weight_decay * w) for (name, w), g in zip(leaves.items(), grads)}
        (grad,) = _grads(_scalar(loss_valid, stepped, leaf_alpha), [leaf_alpha])
    return grad.detach()


def _check_vector(params: Params, vector: Params) -> None:
    if set(vector) != set(params) or any(vector[name].shape != w.shape for name, w in params.items()):
        raise InvalidArgumentError(f"vector must match params key for key and shape, got "
                                   f"{ {k: tuple(v.shape) for k, v in vector.items()} } for params "
                                   f"{ {k: tuple(w.shape) for k, w in params.items()} }; "
                                   "pass one direction tensor of each parameter's shape")


def finite_difference_mixed_hvp(loss_train: Loss, params: Params, alpha: Tensor, vector: Params,
                                eps: float) -> Tensor:
    """``(d2 L_train / da dw) v ~= [grad_a L(w + eps v, a) - grad_a L(w - eps v, a)] / (2 eps)``.

    Example:
        >>> loss = lambda p, a: (p["w"] * a).sum() ** 2  # d2L/(da dw) v = 2 (v.a) w + 2 (w.a) v: 8 at w = a = v = 1
        >>> one = torch.ones(2, dtype=torch.float64)
        >>> finite_difference_mixed_hvp(loss, {"w": one}, one, {"w": one}, eps=1e-2).round(decimals=9).tolist()
        [8.0, 8.0]
    """
    _check_tensors(params, alpha)
    _check_vector(params, vector)
    _check_positive("eps", eps, "pass a small step such as 0.01 / ||vector||")
    plus = {name: w.detach() + eps * vector[name].detach() for name, w in params.items()}
    minus = {name: w.detach() - eps * vector[name].detach() for name, w in params.items()}
    return (_alpha_gradient(loss_train, plus, alpha) - _alpha_gradient(loss_train, minus, alpha)) / (2 * eps)


def exact_mixed_hvp(loss_train: Loss, params: Params, alpha: Tensor, vector: Params) -> Tensor:
    """``(d2 L_train / da dw) v`` by double backward: ``grad_a <grad_w L_train(w, a), v>``.

    Example:
        >>> loss = lambda p, a: (p["w"] * a).sum() ** 2
        >>> exact_mixed_hvp(loss, {"w": torch.ones(2)}, torch.ones(2), {"w": torch.ones(2)}).tolist()
        [8.0, 8.0]
    """
    _check_tensors(params, alpha)
    _check_vector(params, vector)
    leaves = _copies(params, True)
    leaf_alpha = alpha.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        grads = _grads(_scalar(loss_train, leaves, leaf_alpha), leaves.values(), create_graph=True)
        inner = sum((g * vector[name].detach()).sum() for name, g in zip(leaves, grads))
        (hvp,) = _grads(inner, [leaf_alpha])  # type: ignore[arg-type]
    return hvp.detach()


def dominant_hessian_eigenvalue(loss_valid: Loss, params: Params, alpha: Tensor, *, iterations: int = 20,
                                generator: torch.Generator | None = None) -> float:
    """The largest eigenvalue of ``grad_a^2 L_val(w, a)`` by power iteration on Hessian-vector products.

    Power iteration finds the eigenvalue of largest magnitude; when that one is negative, a second
    run on ``H - lambda I`` (spectrum shifted to be >= 0) finds the largest. Hand-written because
    ``torch.autograd.functional.hessian`` builds the whole ``|a| x |a|`` matrix; this needs
    ``iterations`` products from one double-backward graph.

    Example:
        >>> loss = lambda p, a: (p["scale"] * a ** 2).sum() / 2  # Hessian diag(3, 1)
        >>> round(dominant_hessian_eigenvalue(loss, {"scale": torch.tensor([3.0, 1.0])}, torch.zeros(2)), 4)
        3.0
    """
    _check_tensors(params, alpha)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise InvalidArgumentError(f"iterations must be an integer >= 1, got {iterations!r}; "
                                   "pass e.g. 20 (more for a slowly converging spectrum)")
    leaf_alpha = alpha.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = _grads(_scalar(loss_valid, _copies(params), leaf_alpha), [leaf_alpha], create_graph=True)
        if not grad.requires_grad:  # the loss is at most linear in alpha
            return 0.0
        start = torch.randn(alpha.shape, generator=generator, dtype=alpha.dtype, device=alpha.device)

        def power(shift: float) -> float:
            vector, value = start / start.norm(), 0.0
            for _ in range(iterations):
                (product,) = _grads((grad * vector).sum(), [leaf_alpha], retain_graph=True)
                product = product.detach() - shift * vector
                value = float((vector * product).sum())  # Rayleigh quotient of the unit vector
                size = product.norm()
                if size == 0:
                    break
                vector = product / size
            return value + shift

        dominant = power(0.0)
        return dominant if dominant >= 0 else power(dominant)
