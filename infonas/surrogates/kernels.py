"""GPyTorch kernels for architectures, and the spec language that combines them.

Surrogate inputs are tensors whose columns are ``[categorical columns | WL columns]`` (see
``infonas.surrogates.gp``); every kernel reads its own columns through ``active_dims``:

* ``HammingKernel`` -- on the categorical encoding, one lengthscale per decision position.
* ``WLSubtreeKernel`` -- the normalised linear kernel on Weisfeiler-Lehman subtree counts.
* ``build_kernel("wl+hamming", ...)`` -- sums of scaled terms, each term a product of base kernels.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
from botorch.models.kernels.categorical import CategoricalKernel
from gpytorch.constraints import GreaterThan, Positive
from gpytorch.kernels import Kernel, ProductKernel, ScaleKernel
from gpytorch.priors import GammaPrior, LogNormalPrior
from torch import Tensor

from infonas.exceptions import InvalidArgumentError

__all__ = ["KERNELS", "AdditiveHammingKernel", "HammingKernel", "WLSubtreeKernel", "build_kernel", "parse_kernel_spec",
           "register_kernel"]


class HammingKernel(CategoricalKernel):
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
    is chosen by which columns ``active_dims`` selects.

    Input layout (``WLVocabulary.columns(h)``): the counts over a vocabulary, then one column
    holding :math:`\|\mathbf{c}\|` computed over *all* labels of the cell. When a cell has labels
    outside the vocabulary (a pool cell with labels no training cell has), its columns hold only
    the projection :math:`P\mathbf{c}` and the kernel computes

    .. math::
        k(\mathbf{x}, \mathbf{x'}) = \frac{\langle P\mathbf{c}, P\mathbf{c'} \rangle}{\|\mathbf{c}\|\,\|\mathbf{c'}\|}
            + [\mathbf{x} = \mathbf{x'}]\, r(\mathbf{x}), \qquad
        r(\mathbf{x}) = 1 - \frac{\|P\mathbf{c}\|^2}{\|\mathbf{c}\|^2},

    which is positive semi-definite and equals the exact kernel whenever one of the two cells is
    fully in the vocabulary (every training cell is), and on the diagonal (:math:`k(x, x) = 1`):
    posterior means and marginal variances are exact. Only the prior covariance between two
    distinct cells that share out-of-vocabulary labels is underestimated; build the vocabulary
    over those cells too when their joint covariance matters.

    With ``norm_column=False`` the inputs are plain counts and the norms are computed from them
    (the textbook kernel).
    """

    has_lengthscale = False

    def __init__(self, norm_column: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.norm_column = norm_column

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Counts scaled by the full norm, and the residual ``r`` of every row."""
        if self.norm_column:
            counts, norms = x[..., :-1], x[..., -1:]
        else:
            counts = x
            norms = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
        scaled = counts / norms.clamp_min(1e-12)
        residual = (1.0 - (scaled * scaled).sum(-1)).clamp_min(0.0)
        residual = torch.where(norms.squeeze(-1) > 0, residual, torch.zeros_like(residual))
        return scaled, residual, counts

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
        s1, r1, _ = self._split(x1)
        if diag:
            s2, r2, _ = self._split(x2)
            same = (x1 == x2).all(-1)
            return (s1 * s2).sum(-1) + torch.where(same, r1, torch.zeros_like(r1))
        s2, r2, _ = self._split(x2)
        # Only columns used on both sides contribute: skip the rest (a pool side is wide).
        used = (s2 != 0).reshape(-1, s2.shape[-1]).any(0) & (s1 != 0).reshape(-1, s1.shape[-1]).any(0)
        if bool(used.all()):
            result = s1 @ s2.transpose(-1, -2)
        else:
            index = used.nonzero().squeeze(-1)
            result = s1.index_select(-1, index) @ s2.index_select(-1, index).transpose(-1, -2)
        tolerance = 1e-12
        if bool((r1 > tolerance).any()) and bool((r2 > tolerance).any()):
            result = result + _equality(x1, x2) * torch.sqrt(r1.unsqueeze(-1) * r2.unsqueeze(-2))
        return result


def _equality(x1: Tensor, x2: Tensor) -> Tensor:
    """``[x1_i == x2_j]`` for all row pairs, via two fixed random projections (exact for integer
    counts up to a negligible collision probability, without forming ``n1 x n2 x d``)."""
    generator = torch.Generator().manual_seed(20210503)
    weights = 1.0 + torch.rand(x1.shape[-1], 2, generator=generator, dtype=x1.dtype).to(x1.device)
    p1, p2 = x1 @ weights, x2 @ weights
    scale = 1e-9 * (1.0 + p1.abs().amax() + p2.abs().amax())
    close = (p1.unsqueeze(-2) - p2.unsqueeze(-3)).abs() <= scale
    return close.all(-1).to(x1.dtype)


class AdditiveHammingKernel(Kernel):
    r"""First-order (additive) categorical kernel: one positive weight per position.

    .. math::
        k(\mathbf{x}, \mathbf{x'}) = \sum_{i=1}^{d} w_i \, [x_i = x'_i]

    A GP with it is a Bayesian model of per-position main effects ("skip on edge 0->3 helps"),
    which the product-form ``HammingKernel`` cannot separate from the other edits of the same
    cell. GPyTorch and BoTorch have no such kernel, hence it is written here.
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
    kernel: Kernel | None = None
    for factors in terms:
        bases = [factories[name]() for name in factors]
        inner = bases[0] if len(bases) == 1 else ProductKernel(*bases)
        # Standardised targets have unit variance: start by splitting it evenly over the terms.
        term = ScaleKernel(inner, outputscale_prior=GammaPrior(2.0, 4.0))
        term.outputscale = 1.0 / len(terms)
        kernel = term if kernel is None else kernel + term
    assert kernel is not None
    return kernel


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


def wl_factory(active_dims: Sequence[int]) -> Callable[[], Kernel]:
    """Factory of ``WLSubtreeKernel`` on ``active_dims`` (counts then the norm column)."""

    def make() -> Kernel:
        return WLSubtreeKernel(active_dims=tuple(active_dims))

    return make


#: Base kernel name -> ``factory(layout, h)`` of a fresh kernel that reads its own columns of a
#: model input laid out by ``infonas.encodings.InputLayout`` (``h``: the WL depth chosen for the
#: fit). Kernel specs (``"wl+hamming+additive"``) combine these names; extend with ``register_kernel``.
KERNELS: dict[str, Callable[[Any, int], Kernel]] = {
    "hamming": lambda layout, h: hamming_factory(layout.hamming_dims(), layout.num_categories)(),
    "wl": lambda layout, h: wl_factory(layout.wl_dims(h))(),
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
