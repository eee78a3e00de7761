"""Weisfeiler-Lehman subtree features of labelled cell DAGs (NAS-BOWL, Ru et al., ICLR 2021).

Iteration 0 labels every node by its operation (node attribute ``op``). Iteration ``k`` relabels
every node by a stable hash of its iteration-``k-1`` label and the sorted iteration-``k-1`` labels
of its *predecessors* (the DAG's direction: information flows from the input towards the output,
so a label at iteration ``k`` names the ``k``-step computation feeding that node). The feature
vector of a cell counts how often every label occurs, for iterations ``0..h``.

Stability: labels are strings, and relabelling uses ``hashlib.blake2b`` (never Python's salted
``hash()`` nor networkx's WL hash), so the same cell gets the same labels in every process, on
every machine and in a resumed run.

Vocabulary: the count columns of a feature matrix are the labels of a ``WLVocabulary``, the sorted
union (by iteration, then label) of the labels of the architectures it was built over. The same
set of architectures always gives the same vocabulary, whatever their order, hence identical
tensors. Labels of an encoded architecture that are outside the vocabulary get no count column,
but they are not lost: every such node writes its label's id (``label_id``, an integer below
``2**53``, exact in float64) into a *slot* column of its iteration. With the counts, the slots and
the norm of the complete count vector, ``infonas.surrogates.kernels.WLSubtreeKernel`` computes the
exact kernel between any two cells, in the vocabulary or not.

Example:
    >>> from search_spaces import NB201Space
    >>> space = NB201Space()
    >>> featurizer = WLFeaturizer(space, h_max=1)
    >>> arch = space.parse("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    >>> vocabulary = featurizer.vocabulary([arch])
    >>> vocabulary.labels[:3], vocabulary.slots
    (((0, 'input'), (0, 'nor_conv_3x3'), (0, 'output')), 8)
    >>> X = featurizer.transform([arch], vocabulary)
    >>> X[:, vocabulary.count_columns(0) + [vocabulary.norm_column(0)]].tolist()
    [[1.0, 1.0, 1.0, 1.7320508075688772]]
    >>> bool((X[:, vocabulary.slot_columns(1)] == 0).all())  # every label is in the vocabulary
    True
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import torch

from infonas.encodings.categorical import MAX_CACHED_ARCHITECTURES
from infonas.exceptions import InvalidArgumentError
from search_spaces.base import Architecture, SearchSpace

__all__ = ["WLFeaturizer", "WLVocabulary", "label_id", "stable_hash", "wl_label_counts"]

logger = logging.getLogger(__name__)

_SEPARATOR = "\x1f"  # a character no operation name contains


def stable_hash(text: str) -> str:
    """A process-independent 16-hex-digit digest of ``text`` (blake2b with an 8-byte digest)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def label_id(iteration: int, label: str) -> int:
    """The id a slot column holds for ``(iteration, label)``: 52 bits of its blake2b digest, plus 1.

    It lies in ``1 .. 2**52`` (exact in float64; 0 marks an empty slot) and is the same in every
    process. ``WLFeaturizer`` gives a label whose id another label already holds the next free one.

    Example:
        >>> label_id(0, "nor_conv_3x3") == label_id(0, "nor_conv_3x3") != label_id(1, "nor_conv_3x3")
        True
    """
    return (int(stable_hash(f"{iteration}{_SEPARATOR}{label}"), 16) >> 12) + 1


def wl_label_counts(graph: nx.DiGraph, h: int, label_attr: str = "op") -> list[Counter[str]]:
    """Counts of WL labels at iterations ``0..h`` of a labelled directed graph.

    ``result[k][label]`` is the number of nodes carrying ``label`` at iteration ``k``; the label
    of node ``v`` at iteration ``k`` is
    ``blake2b(label_{k-1}(v) + sorted(label_{k-1}(u) for u in predecessors(v)))``.
    The result depends only on the labelled graph up to isomorphism.
    """
    if h < 0:
        raise InvalidArgumentError(f"WL iteration count h must be >= 0, got {h}")
    labels: dict = {}
    for node, label in graph.nodes(data=label_attr):
        if label is None:
            raise InvalidArgumentError(f"node {node!r} has no {label_attr!r} attribute; label every node")
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
    """The columns of a WL feature matrix: label counts, norms, then slots.

    Layout of a row (``dim = len(labels) + (h_max + 1) * (1 + slots)`` columns):

    * the counts of every vocabulary label, iteration 0 first (``count_columns``);
    * ``norm_0 .. norm_h_max``, ``norm_h`` the Euclidean norm of the *complete* count vector of
      iterations ``0..h``, out-of-vocabulary labels included (``norm_column``);
    * per iteration, ``slots`` columns holding the ``label_id`` of each node whose label is outside
      the vocabulary, then zeros (``slot_columns``). ``slots`` bounds the node count of a cell.

    ``columns(h)`` selects counts and slots of iterations ``0..h`` then ``norm_h``: the input of a
    ``infonas.surrogates.kernels.WLSubtreeKernel`` with ``slot_columns=len(slot_columns(h))``.
    """

    h_max: int
    labels: tuple[tuple[int, str], ...]
    offsets: tuple[int, ...] = field(repr=False)
    slots: int = 0

    @classmethod
    def from_labels(cls, h_max: int, labels: Iterable[tuple[int, str]], slots: int = 0) -> WLVocabulary:
        ordered = tuple(sorted(set(labels)))
        if any(not 0 <= iteration <= h_max for iteration, _ in ordered):
            raise InvalidArgumentError(f"label iterations must lie in 0..{h_max}; drop the deeper labels")
        if int(slots) != slots or slots < 0:
            raise InvalidArgumentError(f"slots must be a non-negative integer, got {slots!r}")
        offsets = tuple(int(np.searchsorted([i for i, _ in ordered], k, side="left")) for k in range(h_max + 2))
        return cls(h_max, ordered, offsets, int(slots))

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def dim(self) -> int:
        """Total number of columns: label counts, ``h_max + 1`` norms and the slots."""
        return len(self.labels) + (self.h_max + 1) * (1 + self.slots)

    def count_columns(self, h: int) -> list[int]:
        """Columns holding the label counts of iterations ``0..h``."""
        self._check_h(h)
        return list(range(self.offsets[h + 1]))

    def norm_column(self, h: int) -> int:
        """The column holding the norm of the full count vector of iterations ``0..h``."""
        self._check_h(h)
        return len(self.labels) + h

    def slot_columns(self, h: int) -> list[int]:
        """Columns holding the ids of the out-of-vocabulary node labels of iterations ``0..h``."""
        self._check_h(h)
        start = len(self.labels) + self.h_max + 1
        return list(range(start, start + (h + 1) * self.slots))

    def columns(self, h: int) -> list[int]:
        """Counts, slots, then ``norm_h``: a ``WLSubtreeKernel``'s active dims at depth ``h``."""
        return self.count_columns(h) + self.slot_columns(h) + [self.norm_column(h)]

    def fingerprint(self) -> str:
        """A stable digest of the vocabulary (equal vocabularies, equal fingerprints)."""
        text = "\n".join(f"{i}{_SEPARATOR}{label}" for i, label in self.labels)
        return stable_hash(f"{self.h_max}\n{self.slots}\n{text}")

    def _check_h(self, h: int) -> None:
        if not 0 <= int(h) <= self.h_max:
            raise InvalidArgumentError(f"h must lie in 0..{self.h_max}, got {h}")


class WLFeaturizer:
    """Computes (once per architecture, cached) and lays out WL subtree counts.

    Args:
        space: the search space whose ``to_graph`` gives the labelled cell DAG.
        h_max: the largest WL iteration computed; features of iterations ``0..h`` for any
            ``h <= h_max`` are column subsets (``WLVocabulary.columns(h)``).
        prune: use the pruned cell graph (zero ops and dead branches removed), so cells that
            compute the same function share their features.

    ``vocabulary(archs)`` builds the column layout over a set of architectures;
    ``transform(archs, vocabulary)`` gives the ``n x vocabulary.dim`` float64 feature matrix.
    """

    def __init__(self, space: SearchSpace, h_max: int = 2, prune: bool = True) -> None:
        if isinstance(h_max, bool) or int(h_max) != h_max or h_max < 0:
            raise InvalidArgumentError(f"h_max must be a non-negative integer, got {h_max!r}")
        self.space = space
        self.h_max = int(h_max)
        self.prune = prune
        self._start_over()

    def _start_over(self) -> None:
        """Empty every cache (per-architecture features, the label registry, lookups). Slot ids
        are hashes of the labels, so features computed again have the same values."""
        self._counts: dict[Architecture, tuple[tuple[tuple[str, int], ...], ...]] = {}
        # Internal integer ids of (iteration, label) in first-seen order; never part of a tensor.
        self._ids: dict[tuple[int, str], int] = {}
        self._id_labels: list[tuple[int, str]] = []
        # Per internal id: its iteration and slot id (label_id); slot id -> label, to resolve a clash.
        self._id_iterations: list[int] = []
        self._id_slots: list[float] = []
        self._slot_owners: dict[int, tuple[int, str]] = {}
        self._rows: dict[Architecture, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._sizes: dict[Architecture, int] = {}
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

    def _start_over_if_full(self) -> None:
        """Start over once more than ``MAX_CACHED_ARCHITECTURES`` architectures are kept: only at
        the start of a batch, so no internal id outlives the registry it came from."""
        if len(self._rows) > MAX_CACHED_ARCHITECTURES or len(self._counts) > MAX_CACHED_ARCHITECTURES:
            self._start_over()

    def _register(self, key: tuple[int, str]) -> int:
        slot = label_id(*key)
        while self._slot_owners.get(slot, key) != key:
            # A 52-bit hash clash (about one in 10**8 for 10**4 labels): take the next free id, which
            # keeps every kernel value exact; only this label's slot tensors then depend on history.
            logger.warning("WL labels %s and %s share the slot id %d; using the next free id",
                           self._slot_owners[slot], key, slot)
            slot = slot % 2**52 + 1
        self._slot_owners[slot] = key
        index = self._ids[key] = len(self._id_labels)
        self._id_labels.append(key)
        self._id_iterations.append(key[0])
        self._id_slots.append(float(slot))
        return index

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
                    ids.append(self._register(key) if index is None else index)
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

    def num_nodes(self, arch: Architecture) -> int:
        """Nodes of the *unpruned* cell graph: a bound on the nodes, hence labels, of any iteration."""
        size = self._sizes.get(arch)
        if size is None:
            size = self._sizes[arch] = self.space.to_graph(self.space.validate(arch), prune=False).number_of_nodes()
        return size

    # ----- layout -----

    def vocabulary(self, archs: Iterable[Architecture]) -> WLVocabulary:
        """The vocabulary of all labels (iterations ``0..h_max``) of ``archs``, sorted.

        It has as many slots per iteration as the largest unpruned cell graph of ``archs`` has nodes.
        """
        self._start_over_if_full()
        labels = set()
        slots = 0
        for arch in archs:
            ids, _, _ = self._row(arch)
            labels.update(self._id_labels[i] for i in ids.tolist())
            slots = max(slots, self.num_nodes(arch))
        return WLVocabulary.from_labels(self.h_max, labels, slots)

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
        """The ``n x vocabulary.dim`` float64 matrix of label counts, norms and slots of ``archs``.

        Without ``vocabulary``, the one built over ``archs`` itself is used.
        """
        archs = list(archs)
        if vocabulary is None:
            vocabulary = self.vocabulary(archs)
        matrix = np.zeros((len(archs), vocabulary.dim), dtype=np.float64)
        self.fill(matrix, archs, vocabulary)
        return torch.from_numpy(matrix)

    def fill(self, matrix: np.ndarray, archs: Sequence[Architecture], vocabulary: WLVocabulary) -> None:
        """Write ``transform(archs, vocabulary)`` into ``matrix`` (zeros; it may be a column block of a wider array)."""
        archs = list(archs)
        self._start_over_if_full()
        if vocabulary.h_max != self.h_max:
            raise InvalidArgumentError(
                f"vocabulary has h_max={vocabulary.h_max}, featurizer has {self.h_max}; build the vocabulary "
                "with this featurizer"
            )
        if matrix.shape != (len(archs), vocabulary.dim):
            raise InvalidArgumentError(f"the matrix to fill must have shape {(len(archs), vocabulary.dim)} "
                                       f"(architectures x vocabulary.dim), got {matrix.shape}")
        if archs:
            ids, values, row_index, norms = self._batch(archs)
            columns = self._lookup(vocabulary)[ids]
            keep = columns >= 0
            matrix[row_index[keep], columns[keep]] = values[keep]
            start = vocabulary.num_labels
            matrix[:, start : start + self.h_max + 1] = norms
            if not keep.all():
                self._fill_slots(matrix, vocabulary, archs, ids[~keep], values[~keep], row_index[~keep])

    def _fill_slots(self, matrix: np.ndarray, vocabulary: WLVocabulary, archs: list[Architecture],
                    ids: np.ndarray, values: np.ndarray, rows: np.ndarray) -> None:
        """Write one slot per out-of-vocabulary node: its label's id, in its iteration's slots."""
        repeats = values.astype(np.int64)
        ids, rows = np.repeat(ids, repeats), np.repeat(rows, repeats)
        iterations = np.asarray(self._id_iterations, dtype=np.int64)[ids]
        # Entries come row by row, iterations in order: a group's slots are consecutive.
        group = rows * (self.h_max + 1) + iterations
        position = np.arange(len(group)) - np.searchsorted(group, group, side="left")
        if len(position) and int(position.max()) >= vocabulary.slots:
            worst = int(rows[int(position.argmax())])
            raise InvalidArgumentError(
                f"{archs[worst]} has {int(position.max()) + 1} nodes with labels outside the vocabulary at one WL "
                f"iteration, more than its {vocabulary.slots} slots; build the vocabulary over this cell too "
                "(Surrogate.fit(..., candidates=...))"
            )
        start = vocabulary.num_labels + self.h_max + 1
        matrix[rows, start + iterations * vocabulary.slots + position] = np.asarray(self._id_slots)[ids]

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
