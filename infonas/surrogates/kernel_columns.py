"""How the architecture kernels read their inputs cheaply: column views and equality codes.

A surrogate's pool input is wide (``[categorical codes | WL columns]``, about 700 columns for
NAS-Bench-201 at 500 observations) and long (15,625 cells), and every kernel reads a few of its
columns. Two helpers keep that cheap without changing a single kernel value:

* ``ColumnViews``: a kernel whose ``active_dims`` are one consecutive run reads them as a view
  (``narrow``) instead of GPyTorch's ``index_select`` copy of both inputs on every call;
* ``equality_codes``: for every row pair, the bits ``sum_k 2^k [x_k = x'_k]`` as exact small
  integers from one matrix product of one-hot codes, instead of an ``n x m x d`` tensor.

Example:
    >>> x = torch.tensor([[0.0, 1.0, 2.0], [0.0, 3.0, 2.0]])
    >>> equality_codes(x, x[:1]).squeeze(-1).tolist()  # row 1 differs from row 0 at position 1 only
    [7.0, 5.0]
    >>> consecutive_run([4, 5, 6]), consecutive_run([4, 6])
    ((4, 3), None)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["ColumnViews", "consecutive_run", "equality_codes", "equality_patterns"]


def consecutive_run(columns: Sequence[int] | Tensor | None) -> tuple[int, int] | None:
    """``(start, length)`` when ``columns`` are ``start, start + 1, ...`` (``None`` otherwise)."""
    if columns is None:
        return None
    return _run(tuple(int(c) for c in (columns.reshape(-1).tolist() if isinstance(columns, Tensor) else columns)))


@functools.lru_cache(maxsize=256)
def _run(columns: tuple[int, ...]) -> tuple[int, int] | None:
    if not columns or columns[0] < 0 or columns != tuple(range(columns[0], columns[0] + len(columns))):
        return None
    return columns[0], len(columns)


class ColumnViews:
    """Mixin for a GPyTorch kernel: a consecutive ``active_dims`` is read as a view of the inputs.

    ``Kernel.__call__`` copies the active columns of both inputs with ``index_select`` on every
    call; against a wide pool input those copies cost more than the kernel itself. When the
    columns are one run, the inputs are narrowed here and GPyTorch is called with ``active_dims``
    cleared for the call -- what GPyTorch's ``LazyEvaluatedKernelTensor`` does itself when it
    evaluates -- so ``forward`` sees the same values as before, and other selections go the usual way.
    """

    active_dims: Tensor | None
    _buffers: dict

    def _active_run(self) -> tuple[int, int] | None:
        """``consecutive_run(self.active_dims)``, remembered while the tensor is unchanged."""
        dims = self._buffers.get("active_dims")
        if dims is None:
            return None
        cached = self.__dict__.get("_run_of_active_dims")
        if cached is None or cached[0] is not dims or cached[1] != dims._version:
            cached = (dims, dims._version, consecutive_run(dims))
            self.__dict__["_run_of_active_dims"] = cached
        return cached[2]

    def __call__(self, x1: Tensor, x2: Tensor | None = None, **kwargs):
        run = self._active_run()
        if run is None:
            return super().__call__(x1, x2, **kwargs)  # type: ignore[misc]
        narrow1 = x1.narrow(-1, *run)
        narrow2 = None if x2 is None else narrow1 if x2 is x1 else x2.narrow(-1, *run)
        # Straight into the buffer dict: Module.__setattr__ costs more than the narrowing.
        active_dims, self._buffers["active_dims"] = self._buffers["active_dims"], None
        try:
            return super().__call__(narrow1, narrow2, **kwargs)  # type: ignore[misc]
        finally:
            self._buffers["active_dims"] = active_dims


def equality_codes(x1: Tensor, x2: Tensor) -> Tensor:
    """``sum_k 2^k [x1_k = x2_k]`` for every row pair (``... x n x m``, exact integers in ``x1``'s dtype).

    Per position, the values both sides hold get consecutive ids (``torch.unique``); the one-hot
    codes of ``x1`` scaled by ``2^k`` times those of ``x2`` count the equal positions, as bits,
    in one matrix product of 0/1 and power-of-two entries (exact). Inputs are finite; ``d`` is
    small enough for ``2^d`` to be exact in the dtype.
    """
    d = x1.shape[-1]
    ids1, ids2, width = [], [], 0
    for k in range(d):
        values, inverse = torch.unique(torch.cat([x1[..., k].reshape(-1), x2[..., k].reshape(-1)]),
                                       return_inverse=True)
        ids1.append(inverse[: x1[..., k].numel()].reshape(x1.shape[:-1]) + width)
        ids2.append(inverse[x1[..., k].numel():].reshape(x2.shape[:-1]) + width)
        width += values.numel()
    index1, index2 = torch.stack(ids1, -1), torch.stack(ids2, -1)
    powers = (2.0 ** torch.arange(d, dtype=x1.dtype, device=x1.device)).expand_as(index1)
    onehot1 = torch.zeros(*x1.shape[:-1], width, dtype=x1.dtype, device=x1.device).scatter_(-1, index1, powers)
    onehot2 = torch.zeros(*x2.shape[:-1], width, dtype=x1.dtype, device=x1.device).scatter_(-1, index2, 1.0)
    return onehot1 @ onehot2.transpose(-1, -2)


@functools.lru_cache(maxsize=16)
def _patterns(d: int, dtype: torch.dtype) -> Tensor:
    bits = torch.arange(2**d).unsqueeze(-1).bitwise_right_shift(torch.arange(d)).bitwise_and(1)
    return bits.to(dtype)


def equality_patterns(d: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """The ``2^d x d`` matrix whose row ``q`` holds the bits of ``q`` (bit ``k``: position ``k`` equal)."""
    return _patterns(int(d), dtype)
