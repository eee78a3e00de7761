"""Exact parameters and FLOPs of every macro network as multilinear factor tables.

A macro network is a sum of pieces (the stem, nine blocks, the head with its classifier), and each
piece's cost depends on only a few of the 15 positions: the stem on stage 1's width; block 1 of
stage ``s`` on the widths of stages ``s - 1`` and ``s`` and its kernel; blocks 2 and 3 on their
stage's depth (which gates them), width and their kernel; the head on stage 3's width. So

    metric(arch) = base + sum_t T_t[i_{p_t1}, i_{p_t2}, ...]

with one table ``T_t`` per piece, indexed by the option indices of its positions. Each entry is
COUNTED (``count_flops``/``count_parameters`` on that piece of a built network, at the input
shape the piece sees there), so the sum is exact by construction; gated-off blocks cost 0. No
term repeats a position, so the polynomial is multilinear, and at rows ``w_p`` of independent
categorical probabilities its value ``sum_t einsum(T_t, w_{p_t1}, w_{p_t2}, ...)`` is the exact
expected cost: what a gradient search needs for a differentiable FLOPs or size penalty.

Example:
    >>> from search_spaces.macro import MacroSpace
    >>> from search_spaces.metrics import ArchitectureMetrics
    >>> config = MacroNetworkConfig.for_dataset("mnist1d")
    >>> costs = MacroCosts.measure(config)
    >>> arch = MacroSpace().parse("|d2,x0.75,k3,k5,k7|d1,x1,k5,k3,k3|d3,x0.5,k7,k7,k7|")
    >>> costs.value(arch, "params") == ArchitectureMetrics(MacroSpace(), config).params(arch)
    True
    >>> rows = torch.full((15, 3), 1 / 3, requires_grad=True)  # uniform over each position's options
    >>> mean_flops = costs.expected(rows, "flops")  # the mean over all 3^15 choice vectors
    >>> mean_flops.dtype, mean_flops.requires_grad
    (torch.float64, True)
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import nn

from infonas.exceptions import InvalidArgumentError
from search_spaces.additive_costs import COST_METRICS, AdditiveCosts, CostTerm
from search_spaces.macro.network import MacroNetworkConfig
from search_spaces.macro.space import MACRO_MAX_DEPTH, MACRO_STAGES, STAGE_POSITIONS, MacroSpace, depth_of
from search_spaces.metrics import count_flops, count_parameters

__all__ = ["COST_METRICS", "CostTerm", "MacroCosts"]

_SPACE = MacroSpace()
_NUM_POSITIONS = len(_SPACE.choices)
_NUM_OPTIONS = len(_SPACE.choices[0])


def _depth(stage: int) -> int:
    return stage * STAGE_POSITIONS


def _width(stage: int) -> int:
    return stage * STAGE_POSITIONS + 1


def _kernel(stage: int, block: int) -> int:
    return stage * STAGE_POSITIONS + 2 + block


def _terms_layout() -> list[tuple[str, tuple[int, ...], int | None]]:
    """``(piece name, positions, index of the block its first position gates or None)`` per piece,
    in network order."""
    layout: list[tuple[str, tuple[int, ...], int | None]] = [("stem", (_width(0),), None)]
    for s in range(MACRO_STAGES):
        # A stage's first block always runs and reads the previous stage's width (stage 1's reads
        # the stem's, which is its own); blocks 2 and 3 read their own stage's width and are gated.
        first = (_width(0), _kernel(0, 0)) if s == 0 else (_width(s - 1), _width(s), _kernel(s, 0))
        layout.append((f"stage{s + 1}.block1", first, None))
        for b in range(1, MACRO_MAX_DEPTH):
            layout.append((f"stage{s + 1}.block{b + 1}", (_depth(s), _width(s), _kernel(s, b)), b))
    layout.append(("head", (_width(MACRO_STAGES - 1),), None))
    return layout


def _piece(network: nn.Module, name: str) -> tuple[nn.Module, nn.Module]:
    """Piece ``name`` of a network whose stages all run three blocks, and the module its input enters."""
    if name == "stem":
        return network.stem, network.stem
    if name == "head":
        return nn.Sequential(network.head, network.classifier), network.head
    stage, block = (int(part[-1]) - 1 for part in name.split("."))
    piece = network.blocks[stage * MACRO_MAX_DEPTH + block]
    return piece, piece


def _in_channels(piece: nn.Module) -> int:
    """The channels of the input of ``piece``: those of its first convolution, linear or BatchNorm."""
    for module in piece.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            return module.in_channels
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            return module.num_features
        if isinstance(module, nn.Linear):
            return module.in_features
    raise RuntimeError(f"cannot tell the input channels of {piece!r}: update _in_channels in cost_tables.py")


def _spatial_shapes(config: MacroNetworkConfig) -> dict[str, tuple[int, ...]]:
    """The resolution (sample shape without channels) at which each piece runs.

    It does not depend on any choice (every kernel is padded to keep the resolution, every
    stride is fixed), so one forward pass of one network gives it for all of them; a forward
    pass per entry would cost far more than the counting.
    """
    network = config.build(_SPACE.parse("|d3,x1,k3,k3,k3|d3,x1,k3,k3,k3|d3,x1,k3,k3,k3|"))
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []

    def record(name: str) -> Callable[[nn.Module, tuple], None]:
        def hook(_module: nn.Module, args: tuple) -> None:  # returns None: the input passes unchanged
            shapes.setdefault(name, tuple(args[0].shape[2:]))
        return hook

    for name, _, _ in _terms_layout():
        handles.append(_piece(network, name)[1].register_forward_pre_hook(record(name)))
    try:
        network.eval()
        with torch.no_grad():
            network(torch.zeros(1, *config.input_shape))
    finally:
        for handle in handles:
            handle.remove()
    return shapes


def _measure_term(config: MacroNetworkConfig, name: str, positions: tuple[int, ...], gated: int | None,
                  spatial: Mapping[str, tuple[int, ...]], counted: dict[tuple[str, tuple[int, ...]], tuple[int, int]]
                  ) -> CostTerm:
    tables = {metric: np.zeros((_NUM_OPTIONS,) * len(positions)) for metric in COST_METRICS}
    for index in itertools.product(range(_NUM_OPTIONS), repeat=len(positions)):
        # The piece is counted inside a network whose stages all run three blocks (so it sits at a
        # fixed place) and whose other choices are fixed: only the term's own positions change its
        # cost, which is what the layout states and what the self-check in ``measure`` tests.
        ops = [choices[0] for choices in _SPACE.choices]
        for position, i in zip(positions, index):
            ops[position] = _SPACE.choices[position][i]
        if gated is not None and gated >= depth_of(ops[positions[0]]):
            continue  # a gated-off block costs nothing
        for s in range(MACRO_STAGES):
            ops[_depth(s)] = _SPACE.choices[_depth(s)][-1]
        piece = _piece(config.build(_SPACE.make(ops)), name)[0]
        shape = (_in_channels(piece), *spatial[name])
        # Equal modules (their repr lists every layer's settings) at equal input shapes cost the
        # same, e.g. blocks 2 and 3 of a stage: count each once.
        key = (repr(piece), shape)
        if key not in counted:
            counted[key] = (count_flops(piece, shape), count_parameters(piece))
        tables["flops"][index], tables["params"][index] = counted[key]
    return CostTerm(name, positions, tables)


class MacroCosts(AdditiveCosts):
    """Exact ``flops`` and ``params`` of every macro network under one ``MacroNetworkConfig``.

    ``value``/``values`` look architectures up (``base + sum_t T_t[...]``); ``expected(w)`` is
    the exact expectation under independent per-position categorical rows ``w`` (shape
    ``(..., 15, 3)``, in ``MacroSpace().choices`` order), differentiable in ``w``.

    Example:
        >>> costs = MacroCosts.measure(MacroNetworkConfig.for_dataset("digits"))
        >>> arch = MacroSpace().parse("|d1,x0.5,k3,k3,k3|d1,x0.5,k3,k3,k3|d1,x0.5,k3,k3,k3|")
        >>> one_hot = torch.nn.functional.one_hot(torch.tensor(MacroSpace().to_categorical(arch)), 3)
        >>> float(costs.expected(one_hot, "params")) == costs.value(arch, "params")
        True
    """

    label = "macro"
    space = _SPACE
    config_class = MacroNetworkConfig
    check_arch = "|d3,x0.75,k5,k3,k7|d2,x0.5,k7,k5,k3|d3,x1,k3,k7,k5|"

    @classmethod
    def measure(cls, config: MacroNetworkConfig) -> MacroCosts:
        """Count every piece of every network of ``config``: about 150 table entries, equal pieces counted once."""
        spatial = _spatial_shapes(config)
        counted: dict[tuple[str, tuple[int, ...]], tuple[int, int]] = {}
        costs = cls(config, [_measure_term(config, *piece, spatial, counted) for piece in _terms_layout()])
        costs._self_check()
        return costs

    def expected(self, weights: torch.Tensor, metric: str) -> torch.Tensor:
        """``E[metric]`` with position ``p`` drawn from row ``weights[..., p, :]``, independently:
        ``base + sum_t einsum(T_t, w_{p_t1}, w_{p_t2}, ...)``, exact because no term repeats a
        position; float64, differentiable, batched over leading dims. Rows should sum to 1 (it is
        the same polynomial otherwise, but no longer an expectation)."""
        self._check_metric(metric)
        shape = (_NUM_POSITIONS, _NUM_OPTIONS)
        if not isinstance(weights, torch.Tensor) or weights.dim() < 2 or tuple(weights.shape[-2:]) != shape:
            seen = tuple(weights.shape) if isinstance(weights, torch.Tensor) else type(weights).__name__
            raise InvalidArgumentError(f"macro cost weights must be a tensor of shape (..., {shape[0]}, {shape[1]}) "
                                       f"(one row of option probabilities per position), got {seen}; pass "
                                       f"softmax(alpha, -1) of per-position logits in MacroSpace().choices order")
        rows = weights.to(torch.float64)
        total = torch.full(rows.shape[:-2], self.base[metric], dtype=torch.float64, device=rows.device)
        for term in self.terms:
            letters = string.ascii_lowercase[:len(term.positions)]
            table = torch.as_tensor(term.tables[metric], dtype=torch.float64, device=rows.device)
            spec = ",".join(f"...{letter}" for letter in letters) + f",{letters}->..."
            total = total + torch.einsum(spec, *(rows[..., p, :] for p in term.positions), table)
        return total
