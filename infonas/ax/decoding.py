"""Ax's model-space inputs back to architectures: which columns of X hold which decision position.

Before a BoTorch model sees them, Ax's adapter transforms the experiment's parameters
(``infonas.ax.parameters``: one unordered str choice ``choice_XX`` per position). In Ax 1.3.1:

* the default modular BoTorch transforms (``MBM_X_trans``: ``ChoiceToNumericChoice`` then
  ``OneHot``) turn position ``i`` into ``k_i`` float columns ``choice_XX_OH_PARAM_j`` in ``[0, 1]``,
  one per Ax value ``j``; Ax's optimiser then treats them as *continuous* (``optimize_acqf`` on the
  relaxed one-hot, rounded by argmax only at the end);
* the categorical transforms (``Mixed_transforms``, what ``Generators.BO_MIXED`` uses) keep one
  column ``choice_XX`` holding the integer index ``j`` of the value, declared categorical, and
  Ax's optimiser only proposes valid integer points;
* a position with exactly two options is an *ordered* choice for Ax (whatever was asked), so it
  stays one integer column under both; a position with one option is removed (``RemoveFixed``).

``ChoiceDecoder`` reads these layouts from the column names Ax gives the model
(``SupervisedDataset.feature_names``) and maps any row to the choice indices of the infonas space:
one-hot blocks by argmax (exact on a valid one-hot row, the nearest cell of a relaxed one),
index columns by rounding. Ax's value ``j`` of a parameter is its ``j``-th value in the
experiment's order; that is ``space.choices[i][j]`` for experiments made with
``infonas.ax.parameters`` (Ax keeps str choices unsorted), or the order given as ``ax_values``.

Example:
    >>> from search_spaces import NB201Space
    >>> space = NB201Space()
    >>> names = [f"choice_{i:02d}_OH_PARAM_{j}" for i in range(6) for j in range(5)]
    >>> decoder = ChoiceDecoder(space, names)
    >>> X = torch.zeros(1, 30, dtype=torch.float64)
    >>> X[0, [3, 5, 10, 15, 20, 29]] = 1.0
    >>> decoder.decode(X).tolist()
    [[3, 0, 0, 0, 0, 4]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from infonas.ax.parameters import parameter_name
from infonas.exceptions import InvalidArgumentError
from search_spaces.base import Architecture, SearchSpace

__all__ = ["ONE_HOT_INFIX", "ChoiceDecoder"]

#: How Ax's ``OneHot`` transform names the column of value ``j`` of parameter ``p``: ``p + infix + j``
#: (``ax.adapter.transforms.one_hot.OH_PARAM_INFIX``; repeated here so that importing this module
#: does not import Ax, and checked against Ax by the tests).
ONE_HOT_INFIX = "_OH_PARAM_"


@dataclass(frozen=True)
class _Position:
    """Where position ``i`` lives in X: ``kind`` is ``"onehot"`` (``columns[j]``: column of Ax
    value ``j``, -1 where Ax dropped it), ``"index"`` (``columns[0]`` holds ``j``) or ``"fixed"``."""

    kind: str
    columns: tuple[int, ...]
    to_space: tuple[int, ...]  # Ax value j -> index into space.choices[i]


class ChoiceDecoder:
    """Maps Ax model-space rows (columns named ``feature_names``) to choice indices of ``space``.

    Args:
        space: the infonas search space of the experiment.
        feature_names: the model-space column names, in X's order (``dataset.feature_names``).
        ax_values: optional ``{parameter name: values in the Ax parameter's order}`` when that
            order differs from ``space.choices`` (default: the same order).
    """

    def __init__(self, space: SearchSpace, feature_names: Sequence[str],
                 ax_values: Mapping[str, Sequence[str]] | None = None) -> None:
        self.space = space
        self.feature_names = tuple(str(name) for name in feature_names)
        column = {name: c for c, name in enumerate(self.feature_names)}
        claimed: set[str] = set()
        positions = []
        for i, allowed in enumerate(space.choices):
            name = parameter_name(i)
            to_space = self._value_order(name, allowed, (ax_values or {}).get(name))
            block = [f"{name}{ONE_HOT_INFIX}{j}" for j in range(len(allowed))]
            if name in column:
                positions.append(_Position("index", (column[name],), to_space))
                claimed.add(name)
            elif any(b in column for b in block):
                positions.append(_Position("onehot", tuple(column.get(b, -1) for b in block), to_space))
                claimed.update(b for b in block if b in column)
            elif len(allowed) == 1:
                positions.append(_Position("fixed", (), to_space))
            else:
                raise InvalidArgumentError(
                    f"Ax's model inputs have no column for {name!r} (position {i} of {space.name!r}, "
                    f"{len(allowed)} options): expected {name!r} or {block[0]!r}..; got {list(self.feature_names)}. "
                    "Was the experiment made with infonas.ax.parameters for this space?")
        unknown = [name for name in self.feature_names if name not in claimed]
        if unknown:
            raise InvalidArgumentError(
                f"Ax's model inputs have columns {unknown} that belong to no decision position of "
                f"{space.name!r}; the model reads experiments whose only parameters are choice_00.. "
                "(infonas.ax.parameters)")
        self.positions = tuple(positions)

    @staticmethod
    def _value_order(name: str, allowed: Sequence[str], values: Sequence[str] | None) -> tuple[int, ...]:
        if values is None:
            return tuple(range(len(allowed)))
        if sorted(map(str, values)) != sorted(allowed):
            raise InvalidArgumentError(
                f"ax_values[{name!r}] must be the options {sorted(allowed)} in Ax's order, got {list(values)}")
        return tuple(list(allowed).index(str(v)) for v in values)

    @property
    def dim(self) -> int:
        """Columns of X this decoder reads."""
        return len(self.feature_names)

    def decode(self, X: torch.Tensor) -> torch.Tensor:
        """``(..., d)`` model-space rows -> ``(..., P)`` long choice indices of ``space``.

        One-hot blocks decode by argmax (ties to the first column), index columns by rounding and
        clamping to the options: exact on the points Ax stores and proposes, the nearest cell of a
        relaxed point.
        """
        if X.shape[-1] != self.dim:
            raise InvalidArgumentError(
                f"expected rows of {self.dim} Ax model-space columns, got shape {tuple(X.shape)}")
        X = X.detach()
        out = torch.zeros(*X.shape[:-1], len(self.positions), dtype=torch.long, device=X.device)
        for i, position in enumerate(self.positions):
            to_space = torch.tensor(position.to_space, dtype=torch.long, device=X.device)
            if position.kind == "fixed":
                value = torch.zeros(X.shape[:-1], dtype=torch.long, device=X.device)
            elif position.kind == "index":
                value = X[..., position.columns[0]].round().clamp(0, len(position.to_space) - 1).long()
            else:
                present = [c for c in position.columns if c >= 0]
                block = torch.full((*X.shape[:-1], len(position.columns)), -torch.inf, dtype=X.dtype, device=X.device)
                block[..., [j for j, c in enumerate(position.columns) if c >= 0]] = X[..., present]
                value = block.argmax(-1)
            out[..., i] = to_space[value]
        return out

    def architectures(self, X: torch.Tensor) -> list[Architecture]:
        """The architectures of the rows of a ``n x d`` model-space X."""
        return [self.space.from_categorical(row) for row in self.decode(X).reshape(-1, len(self.positions)).tolist()]
