"""What determines a gradient search: its method, optimisers, remedies and hardware terms.

``GradientSettings`` holds every knob as a field (stored beside the checkpoint and checked on
resume); ``METHODS`` names the DARTS family as presets over it. Defaults are the NB201 authors'
runs (weights: SGD 0.025, cosine to 0.001, momentum 0.9, weight decay 3e-4, batch 64;
architecture: Adam 3e-4, betas (0.5, 0.999), weight decay 1e-3), with the network scaled to the
embedded task as the supernet fidelity's (8 channels, one cell per stage).

Example:
    >>> settings_for("gdas", epochs=5).relaxation
    'gumbel-hard'
    >>> settings_for("darts-2").order
    2
"""

from __future__ import annotations

import dataclasses
from typing import Any

from infonas.exceptions import InvalidArgumentError

__all__ = ["METHODS", "NB201_ONLY", "REMEDY_VARIANTS", "SPACE_OPTIONS", "GradientSettings", "settings_for"]

#: The spaces a gradient search runs on (``infonas.gradient.spaces`` adapts each) and how many
#: options each of their positions has (P-DARTS keeps at most that many).
SPACE_OPTIONS: dict[str, int] = {"nb201": 5, "macro": 3, "darts": 8}
#: Settings only the NB201 cell has a meaning for, and why: refused (unless at their default) on other spaces.
NB201_ONLY: dict[str, str] = {
    "skip_drop_path": "drops the skip operation", "max_skips": "caps skip operations",
    "stop_at_skips": "counts skip operations", "exclude_none": "names the none operation",
    "latency_weight": "needs the NB201 operation latency table", "num_cells": "repeats NB201 cells",
}
#: The spaces whose gradient searches take the FLOPs hinge (``bench hinge --space``): the darts
#: space refuses hardware terms (``DartsGradientSpace``).
HINGE_SPACES: tuple[str, ...] = ("macro", "nb201")


@dataclasses.dataclass(frozen=True)
class GradientSettings:
    """One gradient search, every knob a field.

    Space: ``space`` (``"nb201"``: the NB201 cell; ``"macro"``: per stage a depth, a width and a
    kernel per block, see ``search_spaces.macro``; ``"darts"``: the DARTS normal and reduction
    cells, see ``search_spaces.darts``; the settings of ``NB201_ONLY`` are refused on the last two).

    Method: ``relaxation`` (``"softmax"``: DARTS; ``"gumbel-hard"``: GDAS; ``"gumbel-soft"``: SNAS;
    ``"dirichlet"``: DrNAS), ``relaxation_options`` (its keyword arguments, e.g. temperatures),
    ``order`` (1: first-order DARTS; 2: the unrolled step with the finite-difference Hessian-vector
    product, ``xi`` = the weight learning rate), ``prune_at`` / ``prune_keep`` (P-DARTS: at the
    start of epoch ``prune_at[k]`` keep the ``prune_keep[k]`` best operations of each edge).

    Remedies, each off by default: ``l1_weight`` (the L1 distance of each edge's weights to the
    nearest one-hot row, ``sum_e (1 - max_o w_eo)``, pushing each edge towards one operation),
    ``skip_drop_path`` (the skip operation's output dropped with this probability in weight
    steps), ``max_skips`` (a cap on skips when discretising), ``exclude_none`` (discretise over the
    operations other than none, as DARTS's own genotype does; NB201's authors kept none),
    ``stop_at_skips`` (stop once the argmax cell has this many skips),
    ``stop_eigenvalue_ratio`` (R-DARTS: stop once the dominant eigenvalue of the validation
    loss's Hessian in alpha exceeds this multiple of its first measurement, measured every
    ``eigenvalue_every`` epochs).

    Hardware: ``flops_budget`` with ``flops_weight`` (``lambda * max(0, E[FLOPs] / B - 1)^2``),
    ``latency_weight`` (``weight * E[latency] / E_uniform[latency]``), ``pcgrad`` (project the
    accuracy and cost gradients of alpha when they conflict). The hinge acts on the relaxed
    (expected) FLOPs, not on the argmax architecture's; ``discretise_within_budget`` (with a
    ``flops_budget``, the hinge on or off) closes that gap at discretisation: from the argmax,
    greedily switch the position whose cheaper option loses the least log-probability per FLOP
    saved until the exact FLOPs are within the budget (``GradientSpace.fit_budget``). It makes
    ``<= B`` hold by construction whenever the smallest architecture is within ``B``, so it is
    reported apart from the hinge.
    """

    method: str = "darts-1"
    space: str = "nb201"
    relaxation: str = "softmax"
    relaxation_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    order: int = 1
    epochs: int = 50
    warmup_epochs: int = 0
    channels: int = 8
    num_cells: int = 1
    batch_size: int = 64
    weight_lr: float = 0.025
    weight_lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    arch_lr: float = 3e-4
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = 1e-3
    seed: int = 0
    prune_at: tuple[int, ...] = ()
    prune_keep: tuple[int, ...] = ()
    l1_weight: float = 0.0
    skip_drop_path: float = 0.0
    max_skips: int | None = None
    exclude_none: bool = False
    stop_at_skips: int | None = None
    stop_eigenvalue_ratio: float | None = None
    eigenvalue_every: int = 0
    flops_budget: float | None = None
    flops_weight: float = 0.0
    discretise_within_budget: bool = False
    latency_weight: float = 0.0
    pcgrad: bool = False

    def __post_init__(self) -> None:
        problems = self._space_problems()
        if self.order not in (1, 2):
            problems.append(f"order must be 1 (first order) or 2 (unrolled), got {self.order}")
        if min(self.epochs, self.channels, self.num_cells) < 1 or self.batch_size < 2:
            problems.append(f"epochs, channels, num_cells must be >= 1 and batch_size >= 2, got {self.epochs}, "
                            f"{self.channels}, {self.num_cells}, {self.batch_size}")
        if not 0 <= self.warmup_epochs < self.epochs:
            problems.append(f"warmup_epochs must lie in [0, epochs), got {self.warmup_epochs}")
        if min(self.weight_lr, self.arch_lr) <= 0 or not 0 <= self.weight_lr_min <= self.weight_lr:
            problems.append(f"learning rates must be positive with 0 <= weight_lr_min <= weight_lr, got "
                            f"{self.weight_lr}, {self.weight_lr_min}, {self.arch_lr}")
        options = SPACE_OPTIONS.get(self.space, max(SPACE_OPTIONS.values()))
        if len(self.prune_at) != len(self.prune_keep) or list(self.prune_at) != sorted(set(self.prune_at)) \
                or any(not 1 <= k <= options for k in self.prune_keep) \
                or list(self.prune_keep) != sorted(self.prune_keep, reverse=True):
            problems.append(f"prune_at (increasing epochs) and prune_keep (decreasing counts in 1..{options}) must pair "
                            f"up, got {self.prune_at} and {self.prune_keep}")
        if not 0 <= self.skip_drop_path < 1 or min(self.l1_weight, self.flops_weight, self.latency_weight) < 0:
            problems.append(f"skip_drop_path must lie in [0, 1) and the weights be >= 0, got {self.skip_drop_path}, "
                            f"{self.l1_weight}, {self.flops_weight}, {self.latency_weight}")
        if self.flops_weight > 0 and not (self.flops_budget and self.flops_budget > 0):
            problems.append(f"flops_weight {self.flops_weight} needs a positive flops_budget, got {self.flops_budget}")
        if self.discretise_within_budget and not (self.flops_budget and self.flops_budget > 0):
            problems.append(f"discretise_within_budget needs a positive flops_budget, got {self.flops_budget}")
        if self.stop_eigenvalue_ratio is not None and (self.eigenvalue_every < 1 or self.stop_eigenvalue_ratio <= 1):
            problems.append("stop_eigenvalue_ratio needs eigenvalue_every >= 1 and a ratio above 1, got "
                            f"{self.eigenvalue_every} and {self.stop_eigenvalue_ratio}")
        for name in ("max_skips", "stop_at_skips"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 6:
                problems.append(f"{name} counts skip edges of the 6-edge cell, got {value}")
        if problems:
            raise InvalidArgumentError("invalid gradient search settings: " + "; ".join(problems)
                                       + ": fix these fields (see GradientSettings)")

    def _space_problems(self) -> list[str]:
        if self.space not in SPACE_OPTIONS:
            return [f"space must be one of {sorted(SPACE_OPTIONS)}, got {self.space!r}"]
        if self.space == "nb201":
            return []
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        return [f"{name}={getattr(self, name)!r} is refused on space {self.space!r}: it {why}; leave it at "
                f"{defaults[name]!r} (or search space 'nb201')"
                for name, why in NB201_ONLY.items() if getattr(self, name) != defaults[name]]

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (tuples as lists), what the checkpoint stores and compares on resume."""
        return json_ready(dataclasses.asdict(self))


def json_ready(value: Any) -> Any:
    """Tuples as lists, recursively: what ``json`` writes and reads back."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


#: The DARTS family as presets over ``GradientSettings``: name -> the fields each sets.
METHODS: dict[str, dict[str, Any]] = {
    "darts-1": {"relaxation": "softmax", "order": 1},
    "darts-2": {"relaxation": "softmax", "order": 2},
    "gdas": {"relaxation": "gumbel-hard", "relaxation_options": {"temperature_start": 10.0, "temperature_end": 0.1}},
    "snas": {"relaxation": "gumbel-soft", "relaxation_options": {"temperature_start": 10.0, "temperature_end": 0.1}},
    "drnas": {"relaxation": "dirichlet"},
    # P-DARTS-style: two pruning stages over the search, 5 -> 3 -> 2 candidate operations per edge.
    "pdarts": {"relaxation": "softmax", "order": 1, "prune": (3, 2)},
}


#: DARTS without remedies, each remedy alone (written as bench method specs), and the
#: second-order DARTS of the published collapse: the collapse benchmark's default variants.
REMEDY_VARIANTS: tuple[str, ...] = (
    "darts-1", "darts-1[temperature_end=0.1]", "darts-1[l1_weight=0.5]", "darts-1[skip_drop_path=0.3]",
    "darts-1[max_skips=2]", "darts-1[exclude_none=true]", "darts-1[stop_at_skips=3]",
    "darts-1[stop_eigenvalue_ratio=1.3;eigenvalue_every=1]", "darts-2",
)


def settings_for(method: str, **overrides: Any) -> GradientSettings:
    """The settings of ``method`` (a ``METHODS`` name) with ``overrides`` (any ``GradientSettings`` field).

    P-DARTS's pruning epochs follow the number of epochs: stages at 1/3 and 2/3 of the search.
    """
    if method not in METHODS:
        raise InvalidArgumentError(f"unknown gradient method {method!r}: choose one of {sorted(METHODS)}")
    preset = dict(METHODS[method])
    keep = preset.pop("prune", None)
    fields = {f.name for f in dataclasses.fields(GradientSettings)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise InvalidArgumentError(f"unknown gradient search settings {unknown}: fields are {sorted(fields)}")
    merged = {**preset, **overrides, "method": method}
    if keep is not None and "prune_at" not in overrides:
        epochs = int(merged.get("epochs", GradientSettings.epochs))
        merged["prune_at"] = tuple(sorted({max(1, epochs * (k + 1) // (len(keep) + 1)) for k in range(len(keep))}))
        merged["prune_keep"] = tuple(keep[: len(merged["prune_at"])])
    return GradientSettings(**merged)
