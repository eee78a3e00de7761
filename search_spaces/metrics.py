"""Cost metrics of an architecture computed from its network: parameters, FLOPs and latency.

FLOPs follow NAS-Bench-201's convention (``xautodl.utils.flop_benchmark``): multiply-accumulates
of every convolution and linear layer, plus one addition per output element of a layer that has
a bias; pooling, BatchNorm, activations and the cell's node sums are not counted. For the
CIFAR-10 network (N=5, C=16) this gives the benchmark's published range, 7.78305M (all-``none``
cell) to 220.11969M (all-``nor_conv_3x3`` cell).

Example:
    >>> from search_spaces import NB201Space
    >>> from search_spaces.nb201.network import NetworkConfig
    >>> metrics = ArchitectureMetrics(NB201Space(), NetworkConfig.for_dataset("cifar10"))
    >>> metrics.flops(NB201Space().make(["none"] * 6)), metrics.params(NB201Space().make(["none"] * 6))
    (7783050, 73306)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from infonas.exceptions import InvalidArgumentError
from search_spaces.base import Architecture, SearchSpace
from search_spaces.nb201.network import NetworkConfig

__all__ = ["ArchitectureMetrics", "checked_device", "count_flops", "count_parameters", "measure_latency_ms"]


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters, ``sum_p numel(p)`` (BatchNorm running statistics excluded).

    Example:
        >>> count_parameters(nn.Linear(4, 3))
        15
    """
    return sum(p.numel() for p in model.parameters())


def checked_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device`` this process has; ``InvalidArgumentError`` for a name torch does
    not know or a CUDA device that is not there (torch's own errors come later, as a ``RuntimeError``
    or an ``AssertionError``).

    Example:
        >>> checked_device("cpu")
        device(type='cpu')
    """
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise InvalidArgumentError(f"a device is a torch device name such as cpu, cuda or cuda:0, got {device!r}: "
                                   "pass one of those") from None
    if parsed.type != "cuda":
        return parsed
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if (parsed.index or 0) >= count:
        raise InvalidArgumentError(f"device {device!r} is not on this machine, which has {count} CUDA device(s): "
                                   + ("pass cpu" if not count else f"pass cpu or cuda:0 to cuda:{count - 1}"))
    return parsed


def _model_device(model: nn.Module) -> torch.device:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


def count_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass on one sample of shape ``input_shape`` (no batch dim).

    ``MACs(conv, linear) + bias additions``, as NAS-Bench-201 counts; the core count comes from
    ``torch.utils.flop_counter.FlopCounterMode``. Works on a model on the ``meta`` device too,
    which costs no arithmetic at all.

    Example:
        >>> count_flops(nn.Linear(4, 3), (4,))  # 4*3 MACs + 3 bias additions
        15
    """
    bias_adds = 0

    def count_bias(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal bias_adds
        # One addition per output element; NB201 counts these for conv and linear layers.
        bias_adds += output.numel()

    handles = [
        module.register_forward_hook(count_bias)
        for module in model.modules()
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)) and module.bias is not None
    ]
    was_training = model.training
    counter = FlopCounterMode(display=False)
    try:
        model.eval()
        x = torch.zeros(1, *input_shape, device=_model_device(model))
        with torch.no_grad(), counter:
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    # torch counts a multiply-accumulate as two FLOPs (and ignores biases); NB201 counts one.
    return counter.get_total_flops() // 2 + bias_adds


def measure_latency_ms(
    model: nn.Module,
    input_shape: Sequence[int],
    device: str | torch.device = "cpu",
    batch_size: int = 1,
    repeats: int = 20,
    warmup: int = 3,
) -> float:
    """Median wall-clock milliseconds of one forward pass of ``batch_size`` samples.

    The model is moved to ``device`` and timed in eval mode under ``torch.no_grad()``; the first
    ``warmup`` passes are discarded (allocator and kernel selection), CUDA is synchronised around
    every pass. The median resists the outliers of a shared machine.

    Example:
        >>> measure_latency_ms(nn.Linear(4, 3), (4,), repeats=3, warmup=1) > 0
        True
    """
    if repeats < 1 or warmup < 0 or batch_size < 1:
        raise ValueError(f"need repeats >= 1, warmup >= 0, batch_size >= 1; got {repeats}, {warmup}, {batch_size}")
    device = checked_device(device)
    was_training = model.training
    model = model.to(device)
    x = torch.randn(batch_size, *input_shape, device=device)
    synchronise = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times: list[float] = []
    try:
        model.eval()
        with torch.no_grad():
            for i in range(warmup + repeats):
                synchronise()
                start = time.perf_counter()
                model(x)
                synchronise()
                if i >= warmup:
                    times.append(time.perf_counter() - start)
    finally:
        model.train(was_training)
    return 1000.0 * statistics.median(times)


class ArchitectureMetrics:
    """Parameters, FLOPs and latency of a space's architectures under one ``NetworkConfig``.

    Parameters and FLOPs are counted on a CPU network (they do not depend on the device);
    latency times a network on ``device``. Every value is computed once per architecture and
    cached.

    Example:
        >>> from search_spaces import NB201Space
        >>> metrics = ArchitectureMetrics(NB201Space(), NetworkConfig.for_dataset("digits"))
        >>> sorted(metrics.compute(NB201Space().make(["skip_connect"] * 6)))
        ['flops', 'latency_ms', 'params']
    """

    def __init__(
        self,
        space: SearchSpace,
        config: NetworkConfig,
        device: str | torch.device = "cpu",
        batch_size: int = 1,
        repeats: int = 20,
        warmup: int = 3,
    ) -> None:
        self.space = space
        self.config = config
        self.device = checked_device(device)
        self.batch_size = batch_size
        self.repeats = repeats
        self.warmup = warmup
        self._counts: dict[tuple[str, tuple[str, ...]], tuple[int, int]] = {}
        self._latency: dict[tuple[str, tuple[str, ...]], float] = {}

    @staticmethod
    def _cache_key(arch: Architecture) -> tuple[str, tuple[str, ...]]:
        # Keyed by the exact choices, not ``arch.key``: the canonical key merges cells that compute
        # the same function but still differ in dead edges (e.g. a conv fed only by a zeroed node),
        # and the network, hence its params and FLOPs as NB201 reports them, keeps those edges.
        return (arch.space, arch.ops)

    def _count(self, arch: Architecture) -> tuple[int, int]:
        key = self._cache_key(arch)
        if key not in self._counts:
            self.space.validate(arch)
            # Built on the CPU, not the meta device: meta BatchNorm runs through slow Python
            # decompositions, while a batch-1 CPU forward pass of this size costs milliseconds.
            network = self.config.build(arch)
            self._counts[key] = (count_parameters(network), count_flops(network, self.config.input_shape))
        return self._counts[key]

    def params(self, arch: Architecture) -> int:
        """Number of trainable parameters of ``arch``'s network."""
        return self._count(arch)[0]

    def flops(self, arch: Architecture) -> int:
        """NB201-convention multiply-accumulates of one forward pass on one sample."""
        return self._count(arch)[1]

    def latency_ms(self, arch: Architecture) -> float:
        """Median milliseconds of one forward pass (measured once, then cached)."""
        key = self._cache_key(arch)
        if key not in self._latency:
            self.space.validate(arch)
            network = self.config.build(arch)
            self._latency[key] = measure_latency_ms(
                network, self.config.input_shape, self.device, self.batch_size, self.repeats, self.warmup
            )
        return self._latency[key]

    def compute(self, arch: Architecture) -> dict[str, float]:
        """``{"params": int, "flops": int, "latency_ms": float}`` for ``arch``, from the caches.

        A new dict each call, so a caller that edits it cannot corrupt the cache.
        """
        return {"params": self.params(arch), "flops": self.flops(arch), "latency_ms": self.latency_ms(arch)}
