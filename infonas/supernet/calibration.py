"""Batch-norm statistics of a sub-network taken from a supernet.

A supernet's BN running statistics average over every sub-network sampled in training, so they
are stale for any one of them. ``recalibrate_batch_norm`` resets them and recomputes them on a
few training batches in train mode as a cumulative average (``momentum=None``):
``mu = (1/K) sum_k mean(batch_k)``, likewise the variance. ``batch_norm_state`` and
``restore_batch_norm`` keep and put back the supernet's own statistics around an evaluation.

Example:
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    >>> saved = batch_norm_state(net)
    >>> recalibrate_batch_norm(net, [torch.randn(8, 3) for _ in range(2)])
    2
    >>> restore_batch_norm(net, saved); float(net[1].running_mean.abs().sum())
    0.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

__all__ = ["batch_norm_layers", "batch_norm_state", "recalibrate_batch_norm", "restore_batch_norm"]


def batch_norm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of ``model`` that track running statistics."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def batch_norm_state(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Copies of every tracked BN layer's ``(running_mean, running_var, num_batches_tracked)``."""
    return [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())  # type: ignore[union-attr]
            for m in batch_norm_layers(model)]


def restore_batch_norm(model: nn.Module, state: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> None:
    """Put back statistics saved by ``batch_norm_state`` (same model, same layers)."""
    layers = batch_norm_layers(model)
    if len(layers) != len(state):
        raise ValueError(f"saved statistics of {len(state)} BN layers, the model has {len(layers)}")
    with torch.no_grad():
        for layer, (mean, var, count) in zip(layers, state):
            layer.running_mean.copy_(mean)  # type: ignore[union-attr]
            layer.running_var.copy_(var)  # type: ignore[union-attr]
            layer.num_batches_tracked.copy_(count)  # type: ignore[union-attr]


def recalibrate_batch_norm(model: nn.Module | Callable[[torch.Tensor], torch.Tensor], batches: Iterable[torch.Tensor],
                           modules: nn.Module | None = None) -> int:
    """Reset the BN running statistics and recompute them as a cumulative average over ``batches``.

    ``model`` is called on each batch in train mode without gradients; ``modules`` holds the BN
    layers when ``model`` is a function (a sub-network's forward over a supernet). Layers the
    batches never reach keep reset statistics. Each layer's momentum is put back afterwards and
    the modules are left in eval mode. Returns the number of batches used.
    """
    owner = modules if modules is not None else model
    if not isinstance(owner, nn.Module):
        raise TypeError("pass the module holding the BN layers as modules=... when model is a function")
    layers = batch_norm_layers(owner)
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative moving average: every batch counts equally
    count = 0
    owner.train()
    try:
        with torch.no_grad():
            for batch in batches:
                model(batch)
                count += 1
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        owner.eval()
    return count
