"""A search space restricted to some of its architectures (the cells of an incomplete table).

A ``SubsetSpace`` keeps its base space's name, strings, canonical keys, graphs and categorical
encoding, so architectures, run directories and encoders are those of the base; only the moves
a strategy makes stay inside the subset: ``sample``, ``enumerate``, ``mutate``, ``neighbours``
and ``from_categorical`` return members, and ``validate`` accepts members only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import networkx as nx
import numpy as np

from infonas.exceptions import InvalidArchitectureError, InvalidArgumentError
from search_spaces.base import Architecture, SearchSpace


class SubsetSpace(SearchSpace):
    """The members of ``base`` listed in ``members``, in the base's enumeration order.

    Distances are Hamming distances between categorical codes. ``neighbours(a)`` are the members
    closest to ``a`` (its one-position neighbours in the subset when it has any, else the nearest
    members further away), so a local search or an evolution still moves on a sparse subset;
    ``mutate`` picks one of them uniformly; ``from_categorical`` decodes a point of the base's
    grid to the member nearest to it (ties: the first in enumeration order), so operators on the
    encoding (NSGA-II's crossover and mutation) land on members. Randomness comes only from the
    generator passed in, as in every space.

    Example:
        >>> from search_spaces import NB201Space
        >>> base = NB201Space()
        >>> cells = [base.from_categorical([0, 0, 0, 0, 0, i]) for i in range(3)]
        >>> subset = SubsetSpace(base, cells)
        >>> subset.size, subset.name
        (3, 'nb201')
        >>> subset.sample(np.random.default_rng(0)) in cells
        True
        >>> len(subset.neighbours(cells[0]))
        2
    """

    def __init__(self, base: SearchSpace, members: Iterable[Architecture]) -> None:
        self.base = base
        self.name = base.name
        unique = {base.validate(arch) for arch in members}
        if not unique:
            raise InvalidArgumentError(f"a subset of space {base.name!r} needs at least one architecture, got none: "
                                       "give the architectures the search may propose")
        codes = sorted(base.to_categorical(arch) for arch in unique)
        self._codes = np.array(codes, dtype=np.int64).reshape(len(codes), len(base.choices))
        self._members = tuple(base.from_categorical(code) for code in codes)
        self._index = {arch: i for i, arch in enumerate(self._members)}
        self._first_twin = {arch.key: arch for arch in self.canonical_representatives()}

    # ----- what the base defines -----

    @property
    def choices(self) -> tuple[tuple[str, ...], ...]:
        return self.base.choices

    def canonical_key(self, ops: Sequence[str]) -> str:
        return self.base.canonical_key(ops)

    def parse(self, text: str) -> Architecture:
        """The member written ``text``; a valid string of a non-member is rejected too."""
        return self.validate(self.base.parse(text))

    def format(self, arch: Architecture) -> str:
        return self.base.format(arch)

    def to_graph(self, arch: Architecture, prune: bool = True) -> nx.DiGraph:
        return self.base.to_graph(arch, prune=prune)

    # ----- restricted to the members -----

    @property
    def members(self) -> tuple[Architecture, ...]:
        """Every member, in the base's enumeration order."""
        return self._members

    def __contains__(self, arch: object) -> bool:
        return arch in self._index

    def validate(self, arch: Architecture) -> Architecture:
        """``arch`` if it is a member, else ``InvalidArchitectureError``.

        ``make`` still builds any architecture of the base (encoders build template cells).
        """
        self.base.validate(arch)
        if arch not in self._index:
            raise InvalidArchitectureError(
                f"architecture {self.base.format(arch)} is not one of the {len(self._members)} architectures this "
                f"search may propose (a subset of {self.name!r}, e.g. the rows of a table): propose members only")
        return arch

    @property
    def size(self) -> int:
        return len(self._members)

    def sample(self, rng: np.random.Generator) -> Architecture:
        """A member drawn uniformly at random with ``rng``."""
        return self._members[int(rng.integers(len(self._members)))]

    def enumerate(self) -> Iterator[Architecture]:
        """Every member, in the base's order (lexicographic in choice indices)."""
        return iter(self._members)

    def _distances(self, code: Sequence[int]) -> np.ndarray:
        return (self._codes != np.asarray(code, dtype=np.int64)).sum(axis=1)

    def neighbours(self, arch: Architecture) -> list[Architecture]:
        """The members nearest to ``arch`` other than itself, in enumeration order ([] for a lone member)."""
        distances = self._distances(self.base.to_categorical(self.base.validate(arch)))
        others = distances > 0
        if not others.any():
            return []
        nearest = np.flatnonzero(others & (distances == distances[others].min()))
        return [self._members[i] for i in nearest]

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """A uniformly random one of ``neighbours(arch)`` (``arch`` itself in a one-member subset)."""
        neighbours = self.neighbours(arch)
        if not neighbours:
            return self.validate(arch)
        return neighbours[int(rng.integers(len(neighbours)))]

    def representative(self, arch: Architecture) -> Architecture:
        """The first member with ``arch``'s canonical key (members are in enumeration order), as an
        enumerated pool of the subset offers it; ``arch`` itself when no member has its key."""
        return self._first_twin.get(arch.key, arch)

    def from_categorical(self, indices: Sequence[int]) -> Architecture:
        """The member at ``indices``, or the member nearest to it for a point outside the subset."""
        arch = self.base.from_categorical(indices)  # checks the indices
        if arch in self._index:
            return self._members[self._index[arch]]
        return self._members[int(np.argmin(self._distances(self.base.to_categorical(arch))))]
