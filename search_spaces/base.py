"""The two core values of a search space: an immutable ``Architecture`` and a pure ``SearchSpace``.

A search space knows how to sample, mutate, enumerate, validate, parse and format its
architectures, and how to present them to encodings (a categorical vector and a labelled DAG).
It never trains, never looks anything up and never mutates an architecture: those jobs belong to
evaluators and strategies.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np

from infonas.exceptions import InvalidArchitectureError


@dataclass(frozen=True)
class Architecture:
    """An immutable architecture: the name of its space and one choice per decision.

    ``ops`` holds the choice made at every position of the space's categorical encoding (for
    NAS-Bench-201, the operation on each of the six cell edges, in arch-string order). Two
    architectures are equal when their choices are; ``key`` is the canonical key that
    functionally identical (isomorphic) architectures share, and is what searches deduplicate on.

    Example:
        >>> from search_spaces import NB201Space
        >>> space = NB201Space()
        >>> arch = space.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|")
        >>> arch.ops[0]
        'nor_conv_3x3'
    """

    space: str
    ops: tuple[str, ...]
    key: str

    def __repr__(self) -> str:
        return f"Architecture({self.space}: {', '.join(self.ops)})"


#: Spaces with at most this many choice vectors memoise ``make`` (NB201's 15,625; not the macro or
#: DARTS spaces).
MAKE_MEMO_LIMIT = 100_000


class SearchSpace(abc.ABC):
    """A pure description of a set of architectures.

    Subclasses define the decision positions (``choices``), the string format, the canonical
    key and the labelled cell graph; sampling, mutation, neighbourhoods and enumeration follow
    from the categorical structure here, each taking the random generator it must use.
    """

    name: str

    @property
    @abc.abstractmethod
    def choices(self) -> tuple[tuple[str, ...], ...]:
        """The options at each decision position, in encoding order."""

    @abc.abstractmethod
    def canonical_key(self, ops: Sequence[str]) -> str:
        """A stable string shared exactly by functionally identical architectures."""

    @abc.abstractmethod
    def parse(self, text: str) -> Architecture:
        """Read an architecture from its string form; raise ``InvalidArchitectureError``."""

    @abc.abstractmethod
    def format(self, arch: Architecture) -> str:
        """The string form of ``arch``; ``parse(format(a)) == a``."""

    @abc.abstractmethod
    def to_graph(self, arch: Architecture, prune: bool = True) -> nx.DiGraph:
        """The cell as a DAG with operations as node labels (attribute ``op``).

        Nodes labelled ``input`` and ``output`` mark the cell's ends; with ``prune`` the
        operations that cannot affect the output (zero ops and dead branches) are removed.
        """

    # ----- derived behaviour shared by every categorical space -----

    def make(self, ops: Sequence[str]) -> Architecture:
        """Build a validated architecture from one choice per position.

        A space of at most ``MAKE_MEMO_LIMIT`` choice vectors keeps what it made (on the
        instance, bounded by the space): a sampled candidate pool rebuilds the same cells step
        after step, and validating them and computing their keys again was most of its cost.
        """
        ops = tuple(ops)
        memo = self.__dict__.get("_made_architectures", False)
        if memo is False:  # first call: decide once whether this space is small enough to keep them
            memo = {} if self.size <= MAKE_MEMO_LIMIT else None
            self.__dict__["_made_architectures"] = memo
        if memo is not None:
            try:
                made = memo.get(ops)
            except TypeError:  # an unhashable choice: let the check below say what is wrong
                made = None
            if made is not None:
                return made
        self._check_ops(ops)
        arch = Architecture(self.name, ops, self.canonical_key(ops))
        if memo is not None:
            memo[ops] = arch
        return arch

    def validate(self, arch: Architecture) -> Architecture:
        """Return ``arch`` if it belongs to this space, else raise ``InvalidArchitectureError``."""
        if not isinstance(arch, Architecture):
            raise InvalidArchitectureError(f"expected an Architecture, got {type(arch).__name__}")
        if arch.space != self.name:
            raise InvalidArchitectureError(
                f"architecture belongs to space {arch.space!r}, not {self.name!r}"
            )
        self._check_ops(arch.ops)
        if arch.key != self.canonical_key(arch.ops):
            raise InvalidArchitectureError(f"architecture {arch} carries a wrong canonical key")
        return arch

    def _check_ops(self, ops: tuple[str, ...]) -> None:
        if len(ops) != len(self.choices):
            raise InvalidArchitectureError(
                f"{self.name} architectures have {len(self.choices)} positions, got {len(ops)}"
            )
        for position, (op, allowed) in enumerate(zip(ops, self.choices)):
            if op not in allowed:
                raise InvalidArchitectureError(
                    f"unknown operation {op!r} at position {position}; expected one of {list(allowed)}"
                )

    @property
    def size(self) -> int:
        """Number of architectures (distinct choice vectors) in the space."""
        return int(np.prod([len(c) for c in self.choices]))

    def sample(self, rng: np.random.Generator) -> Architecture:
        """One architecture drawn uniformly at random with ``rng``."""
        return self.make(c[rng.integers(len(c))] for c in self.choices)

    def neighbours(self, arch: Architecture) -> list[Architecture]:
        """Every architecture that differs from ``arch`` at exactly one position, in a fixed order."""
        result = []
        for position, allowed in enumerate(self.choices):
            for op in allowed:
                if op != arch.ops[position]:
                    ops = list(arch.ops)
                    ops[position] = op
                    result.append(self.make(ops))
        return result

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """A uniformly random neighbour of ``arch`` (one position changed)."""
        position = int(rng.integers(len(self.choices)))
        alternatives = [op for op in self.choices[position] if op != arch.ops[position]]
        ops = list(arch.ops)
        ops[position] = alternatives[int(rng.integers(len(alternatives)))]
        return self.make(ops)

    def enumerate(self) -> Iterator[Architecture]:
        """Every architecture of the space in lexicographic order of choice indices."""
        for index in np.ndindex(*(len(c) for c in self.choices)):
            yield self.make(c[i] for c, i in zip(self.choices, index))

    def canonical_representatives(self) -> list[Architecture]:
        """One architecture per canonical class (the first in ``enumerate`` order), in order of
        first appearance: what sampling or listing "uniform over functions" draws from."""
        representatives: dict[str, Architecture] = {}
        for arch in self.enumerate():
            representatives.setdefault(arch.key, arch)
        return list(representatives.values())

    def representative(self, arch: Architecture) -> Architecture:
        """The twin of ``arch`` (same canonical key) that a candidate pool offers for its class.

        An enumerated pool offers each class's first member in ``enumerate`` order; a sampled pool
        offers this, so that both score and evaluate the same cells. Twins are one network, but a
        table may record each in its own row (NAS-Bench-201 trained isomorphic cells separately)
        and a Hamming kernel sees their raw choices. This default returns ``arch`` itself; a space
        with twins overrides it with the first twin, built without enumerating (``NB201Space``).
        """
        return arch

    def to_categorical(self, arch: Architecture) -> tuple[int, ...]:
        """The index of the chosen option at every position."""
        return tuple(c.index(op) for c, op in zip(self.choices, arch.ops))

    def from_categorical(self, indices: Sequence[int]) -> Architecture:
        """Inverse of ``to_categorical``."""
        if len(indices) != len(self.choices):
            raise InvalidArchitectureError(
                f"{self.name} has {len(self.choices)} positions, got {len(indices)} indices"
            )
        for position, (allowed, index) in enumerate(zip(self.choices, indices)):
            # Checked by hand: Python's negative indexing would read -1 as the last option.
            if not 0 <= int(index) < len(allowed):
                raise InvalidArchitectureError(
                    f"categorical index {index} at position {position} of {list(indices)} is out of range; "
                    f"indices at that position are between 0 and {len(allowed) - 1}"
                )
        return self.make(c[int(i)] for c, i in zip(self.choices, indices))
