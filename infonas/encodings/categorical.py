"""Encodings turn architectures into what surrogates read: ``n x d`` tensors, or labelled graphs.

Every encoding is a small callable object bound to its search space, computed once per
architecture and cached (architectures are immutable values, so the cache never goes stale).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import networkx as nx
import torch

from search_spaces.base import Architecture, SearchSpace

#: Architectures an encoding (or ``WLFeaturizer``) keeps computed before it starts over: its caches
#: are emptied at once and refilled on demand with the same values. NB201's 15,625 cells always fit;
#: a sampled pool over a large space (DARTS, macro) brings about 2,000 new cells a step, which would
#: otherwise grow memory, and the label registry each lookup spans, without bound.
MAX_CACHED_ARCHITECTURES = 20_000


class Encoding:
    """Base class: ``encoding(archs)`` gives an ``n x dim`` float64 tensor."""

    dim: int

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self._cache: dict[Architecture, tuple[float, ...]] = {}

    def encode_one(self, arch: Architecture) -> tuple[float, ...]:
        raise NotImplementedError

    def __call__(self, archs: Sequence[Architecture]) -> torch.Tensor:
        if len(self._cache) > MAX_CACHED_ARCHITECTURES:
            self._cache.clear()
        rows = []
        for arch in archs:
            row = self._cache.get(arch)
            if row is None:
                row = self._cache[arch] = tuple(self.encode_one(self.space.validate(arch)))
            rows.append(row)
        return torch.tensor(rows, dtype=torch.float64).reshape(len(rows), self.dim)


class CategoricalEncoding(Encoding):
    """One index per decision position: ``x_i = index of the op chosen at position i``.

    The input Hamming kernels expect. Example:
        >>> from search_spaces import NB201Space
        >>> space = NB201Space()
        >>> CategoricalEncoding(space)([space.make(["none"] * 6)]).tolist()
        [[0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]
    """

    def __init__(self, space: SearchSpace) -> None:
        super().__init__(space)
        self.dim = len(space.choices)
        self.cardinalities = tuple(len(c) for c in space.choices)

    def encode_one(self, arch: Architecture) -> tuple[float, ...]:
        return tuple(float(i) for i in self.space.to_categorical(arch))


class OneHotEncoding(Encoding):
    """Concatenated one-hot codes of the choice at every position (``sum_i |choices_i|`` columns)."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__(space)
        self.dim = sum(len(c) for c in space.choices)

    def encode_one(self, arch: Architecture) -> tuple[float, ...]:
        row: list[float] = []
        for allowed, index in zip(self.space.choices, self.space.to_categorical(arch)):
            block = [0.0] * len(allowed)
            block[index] = 1.0
            row.extend(block)
        return tuple(row)


class PathEncoding(Encoding):
    """Counts of input-to-output paths by their sequence of operations (BANANAS, White et al. 2021).

    ``x_p`` = number of paths through the pruned cell graph whose operations read ``p``, for
    every sequence ``p`` of non-zero operations of length 1..``max_length``.
    """

    def __init__(self, space: SearchSpace, max_length: int | None = None) -> None:
        super().__init__(space)
        alphabet = sorted({op for allowed in space.choices for op in allowed if op != "none"})
        if max_length is None:
            graph = space.to_graph(space.make([c[0] for c in space.choices]), prune=False)
            max_length = nx.dag_longest_path_length(graph) - 1
        self.max_length = max_length
        self.index = {
            sequence: i
            for i, sequence in enumerate(
                seq
                for length in range(1, max_length + 1)
                for seq in itertools.product(alphabet, repeat=length)
            )
        }
        self.dim = len(self.index)

    def encode_one(self, arch: Architecture) -> tuple[float, ...]:
        graph = self.space.to_graph(arch, prune=True)
        labels = dict(graph.nodes(data="op"))
        source = next(n for n, op in labels.items() if op == "input")
        target = next(n for n, op in labels.items() if op == "output")
        row = [0.0] * self.dim
        if graph.has_node(source) and graph.has_node(target):
            for path in nx.all_simple_paths(graph, source, target):
                sequence = tuple(labels[n] for n in path[1:-1])
                if sequence in self.index:
                    row[self.index[sequence]] += 1.0
        return tuple(row)


class GraphEncoding:
    """Labelled ``networkx.DiGraph`` per architecture (node attribute ``op``), for graph kernels."""

    def __init__(self, space: SearchSpace, prune: bool = True) -> None:
        self.space = space
        self.prune = prune
        self._cache: dict[Architecture, nx.DiGraph] = {}

    def __call__(self, archs: Sequence[Architecture]) -> list[nx.DiGraph]:
        if len(self._cache) > MAX_CACHED_ARCHITECTURES:
            self._cache.clear()
        graphs = []
        for arch in archs:
            if arch not in self._cache:
                self._cache[arch] = self.space.to_graph(arch, prune=self.prune)
            graphs.append(self._cache[arch])
        return graphs
