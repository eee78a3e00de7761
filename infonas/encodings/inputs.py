"""Model inputs: one tensor per architecture, ``[categorical codes | WL label counts]`` (or the
one-hot code for the baseline GP), with an ``InputLayout`` that tells kernels which columns are
which. ``ArchitectureEncoder`` computes each part once and shares it between surrogates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from infonas.encodings.categorical import CategoricalEncoding, OneHotEncoding
from infonas.encodings.wl import WLFeaturizer, WLVocabulary
from infonas.exceptions import InvalidArgumentError
from search_spaces.base import Architecture, SearchSpace

__all__ = ["ArchitectureEncoder", "InputLayout"]


@dataclass(frozen=True)
class InputLayout:
    """Which columns of a model input hold what.

    ``onehot``: the input is the one-hot encoding (``onehot-rbf``). Otherwise the input is
    ``[categorical (cat_dim columns) | WL columns (vocabulary.dim)]``; the WL columns carry every
    label of a cell, in the vocabulary or not (``infonas.encodings.wl``).
    """

    onehot: bool
    cat_dim: int
    vocabulary: WLVocabulary | None
    num_categories: tuple[int, ...] | None = None

    @property
    def dim(self) -> int:
        return self.cat_dim + (self.vocabulary.dim if self.vocabulary is not None else 0)

    def hamming_dims(self) -> list[int]:
        return list(range(self.cat_dim))

    def wl_dims(self, h: int) -> list[int]:
        """The WL columns at depth ``h``: counts, slots, then the norm (``WLVocabulary.columns``)."""
        return [self.cat_dim + c for c in self._wl().columns(h)]

    def wl_slot_count(self, h: int) -> int:
        """How many of ``wl_dims(h)`` are slot columns (``WLSubtreeKernel(slot_columns=...)``)."""
        return len(self._wl().slot_columns(h))

    def _wl(self) -> WLVocabulary:
        if self.vocabulary is None:
            raise InvalidArgumentError("this layout has no WL columns (one-hot input); use a layout with onehot=False")
        return self.vocabulary


class ArchitectureEncoder:
    """Turns architectures into model inputs; shares its caches between surrogates.

    One encoder per search space is enough: categorical/one-hot codes and WL label counts of
    every architecture are computed once and reused by every surrogate built on the encoder.
    """

    def __init__(self, space: SearchSpace, h_max: int = 2) -> None:
        self.space = space
        self.categorical = CategoricalEncoding(space)
        self.onehot = OneHotEncoding(space)
        self.wl = WLFeaturizer(space, h_max=h_max)
        self._last: dict[bool, tuple[tuple[Architecture, ...], torch.Tensor]] = {}

    def layout(self, vocabulary_archs: Sequence[Architecture] | None, onehot: bool = False) -> InputLayout:
        if onehot:
            return InputLayout(True, self.onehot.dim, None)
        vocabulary = self.wl.vocabulary(vocabulary_archs or [])
        return InputLayout(False, self.categorical.dim, vocabulary, self.categorical.cardinalities)

    def _codes(self, archs: list[Architecture], onehot: bool) -> torch.Tensor:
        """Categorical or one-hot codes; the last batch is kept (a search re-encodes its pool)."""
        key = tuple(archs)
        last = self._last.get(onehot)
        if last is not None and last[0] == key:
            return last[1]
        codes = (self.onehot if onehot else self.categorical)(archs)
        self._last[onehot] = (key, codes)
        return codes

    def encode(self, archs: Sequence[Architecture], layout: InputLayout, extra_columns: int = 0) -> torch.Tensor:
        """The ``n x (layout.dim + extra_columns)`` float64 model input of ``archs``.

        ``extra_columns`` trailing zero columns are left for the caller to fill (a fidelity
        index), so that a wide pool input is written once rather than copied by ``torch.cat``.
        """
        archs = list(archs)
        if isinstance(extra_columns, bool) or int(extra_columns) != extra_columns or extra_columns < 0:
            raise InvalidArgumentError(f"extra_columns must be a non-negative integer, got {extra_columns!r}")
        matrix = np.zeros((len(archs), layout.dim + int(extra_columns)), dtype=np.float64)
        matrix[:, : layout.cat_dim] = self._codes(archs, layout.onehot).numpy()
        if not layout.onehot:
            assert layout.vocabulary is not None
            self.wl.fill(matrix[:, layout.cat_dim : layout.dim], archs, layout.vocabulary)
        return torch.from_numpy(matrix)
