"""GPyTorch kernels for architectures, and the spec language that combines them.

Surrogate inputs are tensors whose columns are ``[categorical columns | WL columns]`` (see
``infonas.surrogates.gp``); every kernel reads its own columns through ``active_dims``, as views
of the input where they are consecutive (``infonas.surrogates.kernel_columns``):

* ``HammingKernel`` -- on the categorical encoding, one lengthscale per decision position.
* ``WLSubtreeKernel`` -- the normalised linear kernel on Weisfeiler-Lehman subtree counts
  (exact for any two cells, whatever the vocabulary).
* ``build_kernel("wl+hamming", ...)`` -- sums of scaled terms, each term a product of base kernels.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
from botorch.models.kernels.categorical import CategoricalKernel
from gpytorch.constraints import GreaterThan, Positive
from gpytorch.kernels import AdditiveKernel, Kernel, ProductKernel, ScaleKernel
from gpytorch.priors import GammaPrior, LogNormalPrior
from torch import Tensor

from infonas.exceptions import InvalidArgumentError
from infonas.surrogates.kernel_columns import ColumnViews, consecutive_run, equality_codes, equality_patterns

__all__ = ["KERNELS", "AdditiveHammingKernel", "HammingKernel", "WLSubtreeKernel", "build_kernel", "parse_kernel_spec",
           "register_kernel"]


class HammingKernel(ColumnViews, CategoricalKernel):
    r"""Exponentiated weighted Hamming kernel on categorical codes.

    .. math::
        k(\mathbf{x}, \mathbf{x'}) = \exp\Big(-\frac{1}{d}\sum_{i=1}^{d}
            \frac{[x_i \neq x'_i]}{\ell_i}\Big)

    with one lengthscale :math:`\ell_i` per position when ``ard_num_dims=d`` (a shared one
    otherwise). Inputs hold one category index per column (``CategoricalEncoding``).

    This is BoTorch's ``CategoricalKernel`` (same parameters, same value; it is reused, not
    re-derived). What it lacks for scoring a 15,625-cell pool, and what is written here:

    * an O(n) diagonal -- ``CategoricalKernel`` forms the full ``n x n`` matrix, then takes its
      diagonal (a 15,625^2 x 6 tensor for the predictive variance of every NB201 cell);
    * with ``num_categories`` (options per position) given, the distance is computed as
      :math:`\sum_i w_i - \mathrm{onehot}(x) W \mathrm{onehot}(x')^\top` (:math:`w_i = 1/(d\ell_i)`),
      one small matrix product instead of an ``n x n' x d`` tensor and its gradient: the
      marginal-likelihood fit is several times faster.
    """

    def __init__(self, num_categories: Sequence[int] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_categories = None if num_categories is None else tuple(int(c) for c in num_categories)
        if self.num_categories is not None:
            if self.ard_num_dims not in (None, len(self.num_categories)):
                raise InvalidArgumentError("num_categories needs one entry per ARD dimension")
            owner = torch.repeat_interleave(
                torch.arange(len(self.num_categories)), torch.tensor(self.num_categories)
            )
            offsets = torch.tensor([0, *self.num_categories[:-1]]).cumsum(0)
            # Plain attributes, not buffers: Kernel.__getitem__ indexes every buffer by the batch
            # index, and these are per-category, not per-batch.
            self._owner, self._offsets = owner, offsets

    def _onehot(self, x: Tensor) -> Tensor:
        index = x.round().long() + self._offsets.to(x.device)
        out = torch.zeros(*x.shape[:-1], int(sum(self.num_categories)), dtype=x.dtype, device=x.device)
        return out.scatter_(-1, index, 1.0)

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, last_dim_is_batch: bool = False, **params) -> Tensor:
        if last_dim_is_batch:
            return super().forward(x1, x2, diag=diag, last_dim_is_batch=True)
        if diag:
            delta = (x1 != x2).to(self.lengthscale.dtype)
            return torch.exp(-(delta / self.lengthscale).mean(-1))
        if self.num_categories is None or x1.shape[-1] != len(self.num_categories):
            return super().forward(x1, x2)
        weights = 1.0 / (self.lengthscale * x1.shape[-1])  # (*batch, 1, d), or (*batch, 1, 1) shared
        weights = weights.expand(*weights.shape[:-1], x1.shape[-1])
        expanded = weights.index_select(-1, self._owner.to(x1.device))  # (*batch, 1, C)
        same = (self._onehot(x1) * expanded) @ self._onehot(x2).transpose(-1, -2)
        return torch.exp(same - weights.sum(-1, keepdim=True))


class WLSubtreeKernel(Kernel):
    r"""Weisfeiler-Lehman subtree kernel: the normalised linear kernel on WL label counts.

    .. math::
        k(\mathbf{x}, \mathbf{x'}) = \frac{\langle \mathbf{c}, \mathbf{c'} \rangle}{\|\mathbf{c}\|\,\|\mathbf{c'}\|}

    where :math:`\mathbf{c}` counts the WL labels of iterations ``0..h`` of the cell DAG
    (NAS-BOWL, Ru et al. 2021). It has no hyperparameter (wrap it in a ``ScaleKernel``); ``h``
    is chosen by which columns ``active_dims`` selects. The kernel reads them itself, as views of
    each consecutive run (``columns``; GPyTorch's ``active_dims`` stays ``None``).

    Input layout (``WLVocabulary.columns(h)``): the counts :math:`P\mathbf{c}` over a vocabulary,
    then ``slot_columns`` columns holding one label id per node whose label is outside the
    vocabulary (0: empty), then :math:`\|\mathbf{c}\|`. The kernel is exact for any two cells:

    .. math::
        \langle \mathbf{c}, \mathbf{c'} \rangle = \langle P\mathbf{c}, P\mathbf{c'} \rangle
            + \sum_{a, b} [s_a = s'_b \neq 0]

    (each slot is one node, so the double sum over slots counts :math:`\sum_l c_l c'_l` over the
    labels outside the vocabulary). Training cells are in their own vocabulary, so the slot term
    only runs between two cells that both have slots (a joint posterior over a pool).

    With ``norm_column=False`` the inputs are plain counts and the norms are computed from them
    (the textbook kernel).

    Example (one vocabulary label, two slots: cell a is ``c = (1, 1)``, cell b is ``c = (1, 2)``,
    their second label, id 5, outside the vocabulary):
        >>> x = torch.tensor([[1.0, 5.0, 0.0, 2.0 ** 0.5], [1.0, 5.0, 5.0, 5.0 ** 0.5]], dtype=torch.float64)
        >>> round(WLSubtreeKernel(slot_columns=2)(x).to_dense()[0, 1].item(), 12)  # (1 + 2) / sqrt(2 * 5)
        0.948683298051
    """

    has_lengthscale = False

    def __init__(self, norm_column: bool = True, slot_columns: int = 0, *,
                 active_dims: Sequence[int] | Tensor | None = None, **kwargs) -> None:
        # The columns are read here, not by GPyTorch: they are three runs (counts, slots, norm) of
        # a wide input, read as views instead of one index_select copy per call.
        super().__init__(**kwargs)
        if int(slot_columns) != slot_columns or slot_columns < 0 or (slot_columns and not norm_column):
            raise InvalidArgumentError(
                f"slot_columns must be a non-negative integer, and 0 without a norm column; got {slot_columns!r} "
                f"with norm_column={norm_column}"
            )
        self.norm_column = norm_column
        self.slot_columns = int(slot_columns)
        self.columns = None if active_dims is None else tuple(int(c) for c in torch.as_tensor(active_dims).reshape(-1))

    def _take(self, x: Tensor, start: int, stop: int) -> Tensor:
        """Columns ``start:stop`` of this kernel's selection of ``x``: a view where they are consecutive."""
        if self.columns is None:
            return x[..., start:stop]
        chosen = self.columns[start:stop]
        run = consecutive_run(chosen)
        if run is not None:
            return x.narrow(-1, *run)
        return x.index_select(-1, torch.tensor(chosen, dtype=torch.long, device=x.device))

    def _parts(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """Counts, slots and the norm column (``None``: no norm column) of every row, as read."""
        width = x.shape[-1] if self.columns is None else len(self.columns)
        if not self.norm_column:
            return self._take(x, 0, width), self._take(x, width, width), None
        counts = width - 1 - self.slot_columns
        return self._take(x, 0, counts), self._take(x, counts, width - 1), self._take(x, width - 1, width)

    @staticmethod
    def _split(parts: tuple[Tensor, Tensor, Tensor | None]) -> tuple[Tensor, Tensor | None, Tensor]:
        """Counts, slots (``None``: all empty) and norms (clamped away from 0) of every row."""
        counts, slots, norms = parts
        if norms is None:
            norms = torch.linalg.vector_norm(counts, dim=-1, keepdim=True)
        return counts, (slots if bool((slots != 0).any()) else None), norms.clamp_min(1e-12)

    def __getitem__(self, index: Any) -> Kernel:
        # Kernel.__getitem__ narrows batch_shape through the parameters it indexes; this kernel
        # has none, so narrow it directly.
        if len(self.batch_shape) == 0:
            return self
        kernel = copy.deepcopy(self)
        kernel.batch_shape = torch.empty(self.batch_shape)[index].shape
        return kernel

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, last_dim_is_batch: bool = False, **params) -> Tensor:
        if last_dim_is_batch:
            raise NotImplementedError("WLSubtreeKernel does not support last_dim_is_batch")
        parts1 = self._parts(x1)
        parts2 = parts1 if x2 is x1 else self._parts(x2)
        pairs = [(a, b) for a, b in zip(parts1, parts2) if a is not None]
        c1, t1, n1 = self._split(parts1)
        if diag and (x2 is x1 or all(torch.equal(a, b) for a, b in pairs)):
            # Equal rows are equal count vectors: k = 1 exactly (summing would leave 1 +- 1e-16).
            return (n1.squeeze(-1) > 1e-12).to(x1.dtype)
        c2, t2, n2 = self._split(parts2)
        if diag:
            result = ((c1 / n1) * (c2 / n2)).sum(-1)
            if t1 is not None and t2 is not None:
                matches = (t1.unsqueeze(-1) == t2.unsqueeze(-2)) & (t1 != 0).unsqueeze(-1)
                result = result + matches.sum((-2, -1)).to(x1.dtype) / (n1 * n2).squeeze(-1)
            same = n1.squeeze(-1) > 1e-12
            for a, b in pairs:
                same = same & (a == b).all(-1)
            return torch.where(same, torch.ones_like(result), result)
        # Only columns used on both sides contribute: skip the rest (a pool side is wide).
        used = (c2 != 0).reshape(-1, c2.shape[-1]).any(0) & (c1 != 0).reshape(-1, c1.shape[-1]).any(0)
        if not bool(used.all()):
            index = used.nonzero().squeeze(-1)
            c1, c2 = c1.index_select(-1, index), c2.index_select(-1, index)
        result = (c1 / n1) @ (c2 / n2).transpose(-1, -2)
        if t1 is not None and t2 is not None:
            shared = _shared_slot_counts(t1, t2)
            if shared is not None:
                result = result + shared / (n1 * n2.transpose(-1, -2))
        return result


def _shared_slot_counts(t1: Tensor, t2: Tensor) -> Tensor | None:
    """``sum_l c1_l c2_l`` over the slot labels of every row pair (``None``: no label in common).

    The ids both sides hold become columns of two small count matrices, multiplied once; ids on
    one side only cannot contribute and get no column.
    """
    ids1, ids2 = torch.unique(t1[t1 != 0]), torch.unique(t2[t2 != 0])
    common = ids1[torch.isin(ids1, ids2)]
    if common.numel() == 0:
        return None

    def counts(t: Tensor) -> Tensor:
        position = torch.searchsorted(common, t.contiguous()).clamp_max(common.numel() - 1)
        hit = common[position] == t
        # Misses go to a spare last column, dropped after the scatter.
        position = torch.where(hit, position, torch.full_like(position, common.numel()))
        out = torch.zeros(*t.shape[:-1], common.numel() + 1, dtype=t.dtype, device=t.device)
        return out.scatter_add_(-1, position, torch.ones_like(t))[..., :-1]

    return counts(t1) @ counts(t2).transpose(-1, -2)


#: Positions up to which the additive kernel looks its values up in a table of 2^d entries.
_MAX_TABLE_POSITIONS = 12


class AdditiveHammingKernel(ColumnViews, Kernel):
    r"""First-order (additive) categorical kernel: one positive weight per position.

    .. math::
        k(\mathbf{x}, \mathbf{x'}) = \sum_{i=1}^{d} w_i \, [x_i = x'_i]

    A GP with it is a Bayesian model of per-position main effects ("skip on edge 0->3 helps"),
    which the product-form ``HammingKernel`` cannot separate from the other edits of the same
    cell. GPyTorch and BoTorch have no such kernel, hence it is written here.

    Without gradients (prediction over a pool), the ``2^d`` possible values are computed once and
    looked up by each pair's equality code (``kernel_columns.equality_codes``), bit for bit the
    values of the ``n x m x d`` formula used when fitting, without its memory.
    """

    has_lengthscale = False

    def __init__(self, num_positions: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.register_parameter("raw_weights", torch.nn.Parameter(torch.zeros(*self.batch_shape, num_positions)))
        self.register_constraint("raw_weights", Positive())
        self.weights = torch.full((*self.batch_shape, num_positions), 1.0 / num_positions)

    @property
    def weights(self) -> Tensor:
        return self.raw_weights_constraint.transform(self.raw_weights)

    @weights.setter
    def weights(self, value: Tensor) -> None:
        value = torch.as_tensor(value, dtype=self.raw_weights.dtype, device=self.raw_weights.device)
        self.initialize(raw_weights=self.raw_weights_constraint.inverse_transform(value))

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params) -> Tensor:
        weights = self.weights.to(x1.dtype)
        if diag:
            total = weights.sum(-1).unsqueeze(-1)  # (*batch_shape, 1)
            return total.expand(torch.broadcast_shapes(total.shape, x1.shape[:-1]))
        d = x1.shape[-1]
        if (weights.dim() == 1 and d <= _MAX_TABLE_POSITIONS and x1.dtype in (torch.float32, torch.float64)
                and not (torch.is_grad_enabled() and weights.requires_grad)
                and bool(torch.isfinite(x1).all()) and bool(torch.isfinite(x2).all())):
            # sum_i w_i [x_i = x'_i] takes one of 2^d values: computed once each (by the same
            # matrix-vector product as below, hence bit for bit the same), then looked up.
            codes = equality_codes(x1, x2).long()
            table = equality_patterns(d, x1.dtype) @ weights
            return table.index_select(0, codes.reshape(-1)).reshape(codes.shape)
        # Fitting differentiates through the n x n x d tensor: small, and its gradient is the one
        # every recorded search was fitted with.
        equal = (x1.unsqueeze(-2) == x2.unsqueeze(-3)).to(x1.dtype)  # (*batch, n, m, d)
        if weights.dim() == 1:
            return equal @ weights
        return (equal @ weights[..., None, :, None]).squeeze(-1)


# ----- kernel specs -----

def parse_kernel_spec(spec: str) -> list[list[str]]:
    """``"wl+hamming*wl"`` -> ``[["wl"], ["hamming", "wl"]]`` (sum of products); validated."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidArgumentError(f"a kernel spec must be a non-empty string, got {spec!r}")
    terms = []
    for term in spec.replace(" ", "").split("+"):
        factors = term.split("*")
        for name in factors:
            if name not in KERNELS:
                raise InvalidArgumentError(f"unknown base kernel {name!r} in spec {spec!r}; expected one of {list(KERNELS)} "
                                 "(add one with register_kernel)")
        terms.append(factors)
    return terms


def build_kernel(spec: str, factories: dict[str, Callable[[], Kernel]]) -> Kernel:
    """A sum of scaled products of base kernels, e.g. ``"wl+hamming"`` or ``"wl*hamming"``.

    ``factories[name]()`` returns a fresh base kernel reading its own ``active_dims``. Each term
    ``a*b`` becomes ``ScaleKernel(a * b)`` (one outputscale per term); the terms are summed:
    ``"wl+hamming"`` is ``ScaleKernel(WL) + ScaleKernel(Hamming)``.
    """
    terms = parse_kernel_spec(spec)
    scaled = []
    for factors in terms:
        bases = [factories[name]() for name in factors]
        inner = bases[0] if len(bases) == 1 else ProductKernel(*bases)
        # Standardised targets have unit variance: start by splitting it evenly over the terms.
        term = _ScaleKernel(inner, outputscale_prior=GammaPrior(2.0, 4.0))
        term.outputscale = 1.0 / len(terms)
        scaled.append(term)
    # What ``a + b + ...`` builds, reading a consecutive active_dims (MultiTaskGP sets one: every
    # column but the fidelity's) as a view.
    return scaled[0] if len(scaled) == 1 else _SumKernel(*scaled)


class _ScaleKernel(ColumnViews, ScaleKernel):
    """``ScaleKernel`` reading the columns it takes from its base kernel as a view (``ColumnViews``)."""


class _SumKernel(ColumnViews, AdditiveKernel):
    """``AdditiveKernel`` reading a consecutive ``active_dims`` as a view (``ColumnViews``)."""


def hamming_factory(active_dims: Sequence[int], num_categories: Sequence[int] | None = None) -> Callable[[], Kernel]:
    """Factory of ``HammingKernel`` on ``active_dims`` with one lengthscale per position."""

    def make() -> Kernel:
        kernel = HammingKernel(
            num_categories=num_categories,
            ard_num_dims=len(active_dims),
            active_dims=tuple(active_dims),
            lengthscale_prior=LogNormalPrior(0.0, 1.0),
            lengthscale_constraint=GreaterThan(1e-4),
        )
        kernel.lengthscale = 1.0
        return kernel

    return make


def additive_factory(active_dims: Sequence[int]) -> Callable[[], Kernel]:
    """Factory of ``AdditiveHammingKernel`` on the categorical ``active_dims``."""

    def make() -> Kernel:
        return AdditiveHammingKernel(len(active_dims), active_dims=tuple(active_dims))

    return make


def wl_factory(active_dims: Sequence[int], slot_columns: int = 0) -> Callable[[], Kernel]:
    """Factory of ``WLSubtreeKernel`` on ``active_dims`` (counts, ``slot_columns`` slots, the norm)."""

    def make() -> Kernel:
        return WLSubtreeKernel(slot_columns=slot_columns, active_dims=tuple(active_dims))

    return make


#: Base kernel name -> ``factory(layout, h)`` of a fresh kernel that reads its own columns of a
#: model input laid out by ``infonas.encodings.InputLayout`` (``h``: the WL depth chosen for the
#: fit). Kernel specs (``"wl+hamming+additive"``) combine these names; extend with ``register_kernel``.
KERNELS: dict[str, Callable[[Any, int], Kernel]] = {
    "hamming": lambda layout, h: hamming_factory(layout.hamming_dims(), layout.num_categories)(),
    "wl": lambda layout, h: wl_factory(layout.wl_dims(h), layout.wl_slot_count(h))(),
    "additive": lambda layout, h: additive_factory(layout.hamming_dims())(),
}


def register_kernel(name: str, factory: Callable[[Any, int], Kernel]) -> None:
    """Make ``name`` usable in kernel specs: ``factory(layout, h)`` returns a fresh base kernel.

    Example:
        >>> from gpytorch.kernels import RBFKernel
        >>> register_kernel("rbf-categorical", lambda layout, h: RBFKernel(active_dims=tuple(layout.hamming_dims())))
        >>> parse_kernel_spec("wl+rbf-categorical")
        [['wl'], ['rbf-categorical']]
    """
    if not name or any(c in name for c in "+* "):
        raise InvalidArgumentError(f"a kernel name must be non-empty without '+', '*' or spaces, got {name!r}")
    if name in KERNELS and KERNELS[name] is not factory:
        raise InvalidArgumentError(f"kernel {name!r} is already registered; choose another name")
    KERNELS[name] = factory
