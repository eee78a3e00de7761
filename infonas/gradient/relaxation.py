"""Mixing-weight relaxations of the DARTS family over the architecture parameters ``alpha`` (E, O).

Each maps ``alpha`` (a row per edge, a column per operation, ``NB201_OPS`` order) to the weights of
one supernet forward: DARTS's softmax (temperature optionally annealed), GDAS's hard and SNAS's soft
Gumbel-softmax, DrNAS's Dirichlet sample (KL-regularised). ``derive_choices`` discretises weights.

Example:
    >>> import torch
    >>> w = make_relaxation("softmax").weights(torch.zeros(6, 5), progress=0.0)
    >>> derive_choices(w, exclude_none=True), op_shares(derive_choices(w))["none"]
    ((1, 1, 1, 1, 1, 1), 1.0)
"""

from __future__ import annotations

import functools
import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.distributions import Dirichlet, kl_divergence
from torch.nn import functional

from infonas.exceptions import InvalidArgumentError
from search_spaces.nb201 import NB201_OPS

__all__ = ["RELAXATIONS", "DirichletRelaxation", "GumbelSoftmaxRelaxation", "Relaxation", "SoftmaxRelaxation",
           "derive_choices", "geometric_temperature", "make_relaxation", "op_shares"]


def _is_index(value: object, size: float) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < size


def _number(name: str, value: float, rule: str = "> 0", holds: Callable[[float], bool] = lambda v: v > 0,
            fix: str = "pass e.g. 1.0") -> float:
    """``value`` as a float, or an ``InvalidArgumentError`` unless it is a finite number that ``holds``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not holds(value):
        raise InvalidArgumentError(f"{name} must be a finite number {rule}, got {value!r}; {fix}")
    return float(value)


def _check_progress(progress: float) -> float:
    return _number("progress", progress, "in [0, 1]", lambda p: 0.0 <= p <= 1.0, "pass steps done / total steps")


def _validated(alpha: Tensor, *, mask: Tensor | None = None, generator: torch.Generator | None = None,
               what: str = "alpha") -> None:
    """Raise ``InvalidArgumentError`` unless ``alpha`` (and the mask, generator given) are usable."""
    if not isinstance(alpha, Tensor) or alpha.dim() != 2 or alpha.shape[1] < 1 or not alpha.is_floating_point():
        seen = (alpha.dtype, tuple(alpha.shape)) if isinstance(alpha, Tensor) else type(alpha).__name__
        raise InvalidArgumentError(f"{what} must be a floating (edges, ops) tensor, got {seen}; pass torch.zeros(6, 5)")
    if not bool(torch.isfinite(alpha).all()):
        raise InvalidArgumentError(f"{what} must be finite, got {alpha.detach().tolist()}; lower the arch. step size")
    if mask is not None and (not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.shape != alpha.shape):
        seen = (mask.dtype, tuple(mask.shape)) if isinstance(mask, Tensor) else type(mask).__name__
        raise InvalidArgumentError(f"mask must be a bool tensor of alpha's shape {tuple(alpha.shape)}, got "
                                   f"{seen}; pass True for every operation still a candidate")
    if mask is not None and (empty := (~mask.any(-1)).nonzero().flatten().tolist()):
        raise InvalidArgumentError(f"mask must keep an op on every edge, got none on edges {empty}; keep their best op")
    if generator is not None and generator.device.type != alpha.device.type:
        raise InvalidArgumentError(f"the generator must be on alpha's device {alpha.device}, got one on "
                                   f"{generator.device}; pass torch.Generator(device=alpha.device).manual_seed(seed)")


def _masked_softmax(logits: Tensor, mask: Tensor | None) -> Tensor:
    """``softmax`` over the unmasked entries of each row; masked entries are exactly 0."""
    return torch.softmax(logits if mask is None else logits.masked_fill(~mask, float("-inf")), dim=-1)


def _renormalised(weights: Tensor, mask: Tensor | None) -> Tensor:
    """``weights`` with masked entries exactly 0, each row rescaled to sum to 1."""
    kept = weights if mask is None else torch.where(mask, weights, torch.zeros_like(weights))
    return kept / kept.sum(-1, keepdim=True)


def _seeded_rsample(distribution: Dirichlet, generator: torch.Generator, device: torch.device) -> Tensor:
    """``distribution.rsample()`` from a seed drawn by ``generator``, the global RNG state left as it was."""
    # Dirichlet.rsample (pathwise gradients through its Gamma draws) takes no generator: fork the global RNG and
    # seed the device's generator (torch.manual_seed would reseed every CUDA device, outside what fork_rng restores).
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
    devices = [torch.cuda.current_device() if device.index is None else device.index] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        (torch.cuda.default_generators[devices[0]] if devices else torch.default_generator).manual_seed(seed)
        return distribution.rsample()


def geometric_temperature(start: float, end: float, progress: float) -> float:
    """``tau(p) = start^(1-p) * end^p``: geometric from ``start`` (p = 0) to ``end`` (p = 1), both exact.

    Example:
        >>> [round(geometric_temperature(10.0, 0.1, p), 6) for p in (0.0, 0.5, 1.0)]
        [10.0, 1.0, 0.1]
    """
    progress = _check_progress(progress)
    start, end = _number("temperature_start", start), _number("temperature_end", end)
    return start ** (1.0 - progress) * end**progress


class Relaxation(ABC):
    """Maps ``alpha`` (E, O) to the mixing weights of one forward, rows summing to 1. ``progress`` in
    [0, 1] drives temperature schedules; ``mask`` (bool (E, O), True = still a candidate, P-DARTS)
    gives pruned operations exactly 0 and renormalises the others."""

    name: str = ""

    @abstractmethod
    def weights(self, alpha: Tensor, *, progress: float, generator: torch.Generator | None = None,
                mask: Tensor | None = None) -> Tensor:
        """The ``(E, O)`` weights of one forward, differentiable in ``alpha``."""

    def expected_weights(self, alpha: Tensor, mask: Tensor | None = None) -> Tensor:
        """The deterministic weights of the architecture distribution: ``softmax(alpha)`` unless overridden."""
        _validated(alpha, mask=mask)
        return _masked_softmax(alpha, mask)

    def cost_weights(self, alpha: Tensor, *, progress: float, mask: Tensor | None = None) -> Tensor:
        """The weights the hardware terms price at ``progress``: the architecture distribution
        (``expected_weights``) unless the relaxation anneals that distribution itself."""
        return self.expected_weights(alpha, mask)

    def regulariser(self, alpha: Tensor) -> Tensor:
        """A scalar added to the architecture loss: 0 unless overridden."""
        _validated(alpha)
        return alpha.new_zeros(())

    def hard(self) -> bool:
        """True when ``weights()`` rows are one-hot in value (straight-through gradient)."""
        return False

    def __repr__(self) -> str:
        options = ", ".join(f"{key.lstrip('_')}={value!r}" for key, value in vars(self).items() if key != "name")
        return f"{type(self).__name__}({options})"


class SoftmaxRelaxation(Relaxation):
    """DARTS: ``softmax(alpha / tau(p))``; ``start != end`` anneals ``tau`` geometrically.

    Example:
        >>> SoftmaxRelaxation().weights(torch.zeros(2, 4), progress=0.3)[0].tolist()
        [0.25, 0.25, 0.25, 0.25]
    """

    name = "softmax"

    def __init__(self, temperature_start: float = 1.0, temperature_end: float = 1.0) -> None:
        self.temperature_start = _number("temperature_start", temperature_start)
        self.temperature_end = _number("temperature_end", temperature_end)

    def temperature(self, progress: float) -> float:
        """``tau(p)``: ``temperature_start`` at p = 0, ``temperature_end`` at p = 1, geometric between."""
        return geometric_temperature(self.temperature_start, self.temperature_end, progress)

    def weights(self, alpha: Tensor, *, progress: float, generator: torch.Generator | None = None,
                mask: Tensor | None = None) -> Tensor:
        _validated(alpha, mask=mask)
        return _masked_softmax(alpha / self.temperature(progress), mask)

    def cost_weights(self, alpha: Tensor, *, progress: float, mask: Tensor | None = None) -> Tensor:
        """The annealed ``softmax(alpha / tau(p))`` the forward mixes by: as ``tau`` falls, its expected
        cost tends to the argmax architecture's, so a cost term on it prices the cell derived at the end
        (at ``tau = 1``, the default, it is ``expected_weights``)."""
        return self.weights(alpha, progress=progress, mask=mask)


class GumbelSoftmaxRelaxation(SoftmaxRelaxation):
    """Softmax of Gumbel-perturbed logits: ``y = softmax((alpha + g) / tau(p))``, ``g ~ Gumbel(0, 1)``.

    ``tau`` geometric 10 -> 0.1; ``hard=True`` is GDAS (one-hot forward, straight-through
    ``h = onehot - y.detach() + y``), ``hard=False`` SNAS (``y``). ``expected_weights``:
    ``softmax(alpha)``, the categorical's probabilities.

    Example:
        >>> w = GumbelSoftmaxRelaxation().weights(torch.zeros(2, 3), progress=1.0, generator=torch.Generator())
        >>> w.sum(-1).tolist(), sorted(set(w.flatten().tolist()))
        ([1.0, 1.0], [0.0, 1.0])
    """

    def cost_weights(self, alpha: Tensor, *, progress: float, mask: Tensor | None = None) -> Tensor:
        """The categorical's probabilities ``softmax(alpha)``: the temperature relaxes the samples, not them."""
        return self.expected_weights(alpha, mask)

    def __init__(self, hard: bool = True, temperature_start: float = 10.0, temperature_end: float = 0.1) -> None:
        super().__init__(temperature_start, temperature_end)
        if not isinstance(hard, bool):
            raise InvalidArgumentError(f"hard must be True (GDAS) or False (SNAS), got {hard!r}; pass a bool")
        self._hard, self.name = hard, ("gumbel-hard" if hard else "gumbel-soft")

    def hard(self) -> bool:
        return self._hard

    def weights(self, alpha: Tensor, *, progress: float, generator: torch.Generator | None = None,
                mask: Tensor | None = None) -> Tensor:
        _validated(alpha, mask=mask, generator=generator)
        tau = self.temperature(progress)
        # Not torch.nn.functional.gumbel_softmax: it takes no generator, and a seeded one keeps each search reproducible
        # whoever else draws from the global RNG. -log(E), E ~ Exp(1), is Gumbel(0, 1), as gumbel_softmax draws it.
        exponential = torch.empty_like(alpha, memory_format=torch.contiguous_format).exponential_(generator=generator)
        soft = _masked_softmax((alpha - exponential.log()) / tau, mask)
        if not self._hard:
            return soft
        one_hot = functional.one_hot(soft.detach().argmax(-1), alpha.shape[-1]).to(soft.dtype)
        return one_hot - soft.detach() + soft


class DirichletRelaxation(Relaxation):
    """DrNAS: weights ``~ Dir(beta)``, ``beta = ELU(alpha) + 1``, a pathwise (reparameterised) sample.

    ``regulariser = kl_weight * sum_e KL(Dir(beta_e) || Dir(prior * 1))``; ``expected_weights = beta / sum(beta)``.
    A mask renormalises the sample over the unmasked operations, a Dirichlet over that sub-vector.

    Example:
        >>> DirichletRelaxation().regulariser(torch.zeros(6, 5)).item()  # beta == prior: KL 0
        0.0
    """

    name = "dirichlet"

    def __init__(self, kl_weight: float = 1.0, prior: float = 1.0) -> None:
        self.kl_weight = _number("kl_weight", kl_weight, ">= 0", lambda v: v >= 0, "pass 0.0 for no KL term")
        self.prior = _number("prior", prior)

    @staticmethod
    def concentration(alpha: Tensor) -> Tensor:
        """``beta = ELU(alpha) + 1 > 0``."""
        return functional.elu(alpha) + 1.0

    def weights(self, alpha: Tensor, *, progress: float, generator: torch.Generator | None = None,
                mask: Tensor | None = None) -> Tensor:
        _validated(alpha, mask=mask, generator=generator)
        _check_progress(progress)  # unused, checked as every relaxation does
        distribution = Dirichlet(self.concentration(alpha))
        sample = distribution.rsample() if generator is None else _seeded_rsample(distribution, generator, alpha.device)
        return sample if mask is None else _renormalised(sample, mask)

    def expected_weights(self, alpha: Tensor, mask: Tensor | None = None) -> Tensor:
        _validated(alpha, mask=mask)
        return _renormalised(self.concentration(alpha), mask)

    def regulariser(self, alpha: Tensor) -> Tensor:
        _validated(alpha)
        beta = self.concentration(alpha)
        return self.kl_weight * kl_divergence(Dirichlet(beta), Dirichlet(torch.full_like(beta, self.prior))).sum()


# ``hard`` is bound positionally, so it leaves the factories' signatures that make_relaxation checks.
RELAXATIONS: dict[str, Callable[..., Relaxation]] = {
    "softmax": SoftmaxRelaxation, "gumbel-hard": functools.partial(GumbelSoftmaxRelaxation, True),
    "gumbel-soft": functools.partial(GumbelSoftmaxRelaxation, False), "dirichlet": DirichletRelaxation}


def make_relaxation(name: str, **options: float) -> Relaxation:
    """The relaxation registered as ``name`` in ``RELAXATIONS``, built with ``options``.

    Example:
        >>> make_relaxation("softmax", temperature_start=5.0, temperature_end=0.5).temperature(1.0)
        0.5
    """
    if name not in RELAXATIONS:
        raise InvalidArgumentError(f"relaxation must be one of {sorted(RELAXATIONS)}, got {name!r}; pick one of them")
    accepted = set(inspect.signature(RELAXATIONS[name]).parameters)
    if unknown := sorted(set(options) - accepted):
        raise InvalidArgumentError(f"{name!r} takes the options {sorted(accepted)}, got {unknown}; drop or rename them")
    return RELAXATIONS[name](**options)


def derive_choices(weights: Tensor, *, max_skips: int | None = None, skip_index: int = 1,
                   exclude_none: bool = False) -> tuple[int, ...]:
    """One operation per edge: ``argmax_o w[e, o]`` (ties: the lower index).

    ``exclude_none`` leaves 'none' out of the argmax (DARTS's discretisation). ``max_skips`` keeps skip only on
    the ``max_skips`` skip edges of largest ``w[e, skip_index]`` (ties: the lower edge) and gives the others
    their best non-skip operation (DARTS+/P-DARTS's cap).

    Example:
        >>> w = torch.tensor([[0.1, 0.6, 0.3], [0.1, 0.8, 0.1], [0.5, 0.4, 0.1]])
        >>> derive_choices(w), derive_choices(w, max_skips=1), derive_choices(w, exclude_none=True)
        ((1, 1, 0), (2, 1, 0), (1, 1, 1))
    """
    _validated(weights, what="weights")
    num_ops = weights.shape[1]
    if not _is_index(skip_index, num_ops):
        raise InvalidArgumentError(f"skip_index must be in [0, {num_ops}), got {skip_index!r}; pass skip_connect's: 1")
    if max_skips is not None and not _is_index(max_skips, math.inf):
        raise InvalidArgumentError(f"max_skips must be None or an integer >= 0, got {max_skips!r}; pass e.g. 2")
    excluded = {NB201_OPS.index("none")} if exclude_none else set()
    if len(excluded | ({skip_index} if max_skips is not None else set())) >= num_ops:
        raise InvalidArgumentError(f"exclude_none, max_skips must leave an op, got none of {num_ops}; pass one of them")
    scores = weights.detach().to(device="cpu", dtype=torch.float64).clone()
    scores[:, sorted(excluded)] = float("-inf")
    choices = scores.argmax(-1).tolist()
    skip_edges = [edge for edge, choice in enumerate(choices) if choice == skip_index]
    if max_skips is not None and len(skip_edges) > max_skips:
        ranked = sorted(skip_edges, key=lambda edge: (-scores[edge, skip_index].item(), edge))
        scores[:, skip_index] = float("-inf")  # the edges past the cap take their best other operation
        for edge in ranked[max_skips:]:
            choices[edge] = int(scores[edge].argmax().item())
    return tuple(int(choice) for choice in choices)


def op_shares(choices: Sequence[int], ops: Sequence[str] = NB201_OPS) -> dict[str, float]:
    """The share of each operation name among the edges' ``choices`` (0.0 for an absent one).

    Example:
        >>> op_shares((1, 1, 0, 3, 1, 4))["skip_connect"]
        0.5
    """
    values = list(choices)
    if not values or not all(_is_index(choice, len(ops)) for choice in values):
        raise InvalidArgumentError(f"choices must be 1+ indices in [0, {len(ops)}), got {values!r}; pass e.g. (3, 1)")
    return {name: values.count(index) / len(values) for index, name in enumerate(ops)}
