"""Weisfeiler-Lehman subtree features of labelled cell DAGs (NAS-BOWL, Ru et al., ICLR 2021).

Iteration 0 labels every node by its operation (node attribute ``op``). Iteration ``k`` relabels
every node by a stable hash of its iteration-``k-1`` label and the sorted iteration-``k-1`` labels
of its *predecessors* (the DAG's direction: information flows from the input towards the output,
so a label at iteration ``k`` names the ``k``-step computation feeding that node). The feature
vector of a cell counts how often every label occurs, for iterations ``0..h``.

Stability: labels are strings, and relabelling uses ``hashlib.blake2b`` (never Python's salted
``hash()`` nor networkx's WL hash), so the same cell gets the same labels in every process, on
every machine and in a resumed run.

Vocabulary: the columns of a count matrix are the labels of a ``WLVocabulary``, the sorted union
(by iteration, then label) of the labels of the architectures it was built over. The same set of
architectures always gives the same vocabulary, whatever their order, hence identical tensors.
Labels of an encoded architecture that are outside the vocabulary get no column, but they are not
lost: each row also carries, for every ``h``, the norm of the *complete* count vector of
iterations ``0..h``, so a normalised kernel between an in-vocabulary cell (e.g. a training cell)
and any other cell is exact (see ``infonas.surrogates.kernels.WLSubtreeKernel``).

Example:
    >>> from search_spaces import NB201Space
    >>> space = NB201Space()
    >>> featurizer = WLFeaturizer(space, h_max=1)
    >>> arch = space.parse("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    >>> vocabulary = featurizer.vocabulary([arch])
    >>> vocabulary.labels[:3]
    ((0, 'input'), (0, 'nor_conv_3x3'), (0, 'output'))
    >>> featurizer.transform([arch], vocabulary)[:, vocabulary.columns(0)].tolist()
    [[1.0, 1.0, 1.0, 1.7320508075688772]]
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import torch

from search_spaces.base import Architecture, SearchSpace

__all__ = ["WLFeaturizer", "WLVocabulary", "stable_hash", "wl_label_counts"]

_SEPARATOR = "\x1f"  # a character no operation name contains


def stable_hash(text: str) -> str:
    """A process-independent 16-hex-digit digest of ``text`` (blake2b with an 8-byte digest)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def wl_label_counts(graph: nx.DiGraph, h: int, label_attr: str = "op") -> list[Counter[str]]:
    """Counts of WL labels at iterations ``0..h`` of a labelled directed graph.

    ``result[k][label]`` is the number of nodes carrying ``label`` at iteration ``k``; the label
    of node ``v`` at iteration ``k`` is
    ``blake2b(label_{k-1}(v) + sorted(label_{k-1}(u) for u in predecessors(v)))``.
    The result depends only on the labelled graph up to isomorphism.
    """
    if h < 0:
        raise ValueError(f"WL iteration count h must be >= 0, got {h}")
    labels: dict = {}
    for node, label in graph.nodes(data=label_attr):
        if label is None:
            raise ValueError(f"node {node!r} has no {label_attr!r} attribute")
        labels[node] = str(label)
    counts = [Counter(labels.values())]
    for _ in range(h):
        labels = {
            node: stable_hash(
                labels[node] + _SEPARATOR + _SEPARATOR.join(sorted(labels[p] for p in graph.predecessors(node)))
            )
            for node in graph.nodes
        }
        counts.append(Counter(labels.values()))
    return counts


@dataclass(frozen=True)
class WLVocabulary:
    """The columns of a WL count matrix: ``(iteration, label)`` pairs sorted, then norm columns.

    Layout of a row (``dim = len(labels) + h_max + 1`` columns): the counts of every vocabulary
    label, iteration 0 first, then ``norm_0 .. norm_h_max`` where ``norm_h`` is the Euclidean norm
    of the complete count vector of iterations ``0..h`` (out-of-vocabulary labels included).
    ``columns(h)`` selects the counts of iterations ``0..h`` followed by ``norm_h``: the input
    ``infonas.surrogates.kernels.WLSubtreeKernel`` expects.
    """

    h_max: int
    labels: tuple[tuple[int, str], ...]
    offsets: tuple[int, ...] = field(repr=False)

    @classmethod
    def from_labels(cls, h_max: int, labels: Iterable[tuple[int, str]]) -> WLVocabulary:
        ordered = tuple(sorted(set(labels)))
        if any(not 0 <= iteration <= h_max for iteration, _ in ordered):
            raise ValueError(f"label iterations must lie in 0..{h_max}")
        offsets = tuple(int(np.searchsorted([i for i, _ in ordered], k, side="left")) for k in range(h_max + 2))
        return cls(h_max, ordered, offsets)

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def dim(self) -> int:
        """Total number of columns: label counts plus ``h_max + 1`` norm columns."""
        return len(self.labels) + self.h_max + 1

    def count_columns(self, h: int) -> list[int]:
        """Columns holding the label counts of iterations ``0..h``."""
        self._check_h(h)
        return list(range(0, self.offsets[h + 1]))

    def norm_column(self, h: int) -> int:
        """The column holding the norm of the full count vector of iterations ``0..h``."""
        self._check_h(h)
        return len(self.labels) + h

    def columns(self, h: int) -> list[int]:
        """Counts of iterations ``0..h`` then ``norm_h``: a ``WLSubtreeKernel``'s active dims."""
        return self.count_columns(h) + [self.norm_column(h)]

    def fingerprint(self) -> str:
        """A stable digest of the vocabulary (equal vocabularies, equal fingerprints)."""
        text = "\n".join(f"{i}{_SEPARATOR}{label}" for i, label in self.labels)
        return stable_hash(f"{self.h_max}\n{text}")

    def _check_h(self, h: int) -> None:
        if not 0 <= int(h) <= self.h_max:
            raise ValueError(f"h must lie in 0..{self.h_max}, got {h}")


class WLFeaturizer:
    """Computes (once per architecture, cached) and lays out WL subtree counts.

    Args:
        space: the search space whose ``to_graph`` gives the labelled cell DAG.
        h_max: the largest WL iteration computed; features of iterations ``0..h`` for any
            ``h <= h_max`` are column subsets (``WLVocabulary.columns(h)``).
        prune: use the pruned cell graph (zero ops and dead branches removed), so cells that
            compute the same function share their features.

    ``vocabulary(archs)`` builds the column layout over a set of architectures;
    ``transform(archs, vocabulary)`` gives the ``n x vocabulary.dim`` float64 count matrix.
    """

    def __init__(self, space: SearchSpace, h_max: int = 2, prune: bool = True) -> None:
        if isinstance(h_max, bool) or int(h_max) != h_max or h_max < 0:
            raise ValueError(f"h_max must be a non-negative integer, got {h_max!r}")
        self.space = space
        self.h_max = int(h_max)
        self.prune = prune
        self._counts: dict[Architecture, tuple[tuple[tuple[str, int], ...], ...]] = {}
        # Internal integer ids of (iteration, label) in first-seen order; never part of a tensor.
        self._ids: dict[tuple[int, str], int] = {}
        self._id_labels: list[tuple[int, str]] = []
        self._rows: dict[Architecture, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._lookups: dict[WLVocabulary, np.ndarray] = {}
        # The concatenated rows of the last batch transformed: a search re-encodes its pool often.
        self._last_batch: tuple[tuple[Architecture, ...], tuple[np.ndarray, ...]] | None = None

    # ----- per-architecture features -----

    def label_counts(self, arch: Architecture) -> tuple[tuple[tuple[str, int], ...], ...]:
        """Sorted ``(label, count)`` pairs for each iteration ``0..h_max`` (computed once)."""
        cached = self._counts.get(arch)
        if cached is None:
            graph = self.space.to_graph(self.space.validate(arch), prune=self.prune)
            cached = tuple(tuple(sorted(c.items())) for c in wl_label_counts(graph, self.h_max))
            self._counts[arch] = cached
        return cached

    def _row(self, arch: Architecture) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(label ids, counts, norms of iterations 0..h for every h) of ``arch`` (cached)."""
        row = self._rows.get(arch)
        if row is None:
            ids, values, squares = [], [], []
            for iteration, pairs in enumerate(self.label_counts(arch)):
                total = 0.0
                for label, count in pairs:
                    key = (iteration, label)
                    index = self._ids.get(key)
                    if index is None:
                        index = self._ids[key] = len(self._id_labels)
                        self._id_labels.append(key)
                    ids.append(index)
                    values.append(float(count))
                    total += float(count) ** 2
                squares.append(total)
            row = (
                np.asarray(ids, dtype=np.int64),
                np.asarray(values, dtype=np.float64),
                np.sqrt(np.cumsum(squares)),
            )
            self._rows[arch] = row
        return row

    # ----- layout -----

    def vocabulary(self, archs: Iterable[Architecture]) -> WLVocabulary:
        """The vocabulary of all labels (iterations ``0..h_max``) of ``archs``, sorted."""
        labels = set()
        for arch in archs:
            ids, _, _ = self._row(arch)
            labels.update(self._id_labels[i] for i in ids.tolist())
        return WLVocabulary.from_labels(self.h_max, labels)

    def _lookup(self, vocabulary: WLVocabulary) -> np.ndarray:
        """Map from internal label id to the vocabulary's column (-1: not in the vocabulary)."""
        lookup = self._lookups.get(vocabulary)
        if lookup is None or len(lookup) < len(self._id_labels):
            columns = {label: i for i, label in enumerate(vocabulary.labels)}
            lookup = np.asarray([columns.get(label, -1) for label in self._id_labels], dtype=np.int64)
            if len(self._lookups) > 16:
                self._lookups.clear()
            self._lookups[vocabulary] = lookup
        return lookup

    def transform(self, archs: Sequence[Architecture], vocabulary: WLVocabulary | None = None) -> torch.Tensor:
        """The ``n x vocabulary.dim`` float64 matrix of label counts and norms of ``archs``.

        Without ``vocabulary``, the one built over ``archs`` itself is used.
        """
        archs = list(archs)
        if vocabulary is None:
            vocabulary = self.vocabulary(archs)
        if vocabulary.h_max != self.h_max:
            raise ValueError(f"vocabulary has h_max={vocabulary.h_max}, featurizer has {self.h_max}")
        matrix = np.zeros((len(archs), vocabulary.dim), dtype=np.float64)
        if archs:
            ids, values, row_index, norms = self._batch(archs)
            columns = self._lookup(vocabulary)[ids]
            keep = columns >= 0
            matrix[row_index[keep], columns[keep]] = values[keep]
            matrix[:, vocabulary.num_labels :] = norms
        return torch.from_numpy(matrix)

    def _batch(self, archs: list[Architecture]) -> tuple[np.ndarray, ...]:
        key = tuple(archs)
        if self._last_batch is not None and self._last_batch[0] == key:
            return self._last_batch[1]
        rows = [self._row(arch) for arch in archs]
        batch = (
            np.concatenate([r[0] for r in rows]),
            np.concatenate([r[1] for r in rows]),
            np.repeat(np.arange(len(archs)), [len(r[0]) for r in rows]),
            np.stack([r[2] for r in rows]),
        )
        self._last_batch = (key, batch)
        return batch

    __call__ = transform
