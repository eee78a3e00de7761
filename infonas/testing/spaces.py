"""Conformance suite for search spaces: strings, canonical keys, seeded moves and validation.

What every ``SearchSpace`` must do:

* ``parse(format(a)) == a`` and ``format(parse(s)) == s``; categorical codes round-trip too;
* architectures the space defines as equivalent (``equivalent``: a cell rewritten without
  changing what it computes) share a canonical key, and their pruned graphs are isomorphic;
* ``sample``, ``mutate`` and ``neighbours`` return valid architectures, and the same generator
  state gives the same ones; a mutant differs from its parent at exactly one position;
* ``validate`` and ``parse`` reject what does not belong to the space with
  ``InvalidArchitectureError``;
* ``enumerate`` (of a space small enough to enumerate) yields ``size`` distinct architectures;
* ``representative`` returns a valid twin (same key) that is its own representative and, in a
  space small enough to enumerate, is each class's first member in ``enumerate`` order or the
  architecture itself (the default).

A test class subclasses ``SpaceConformance`` and provides a ``space`` fixture; a space with
equivalences also overrides ``equivalent`` (an equivalent rewrite of an architecture, or ``None``).

Example:
    >>> import pytest
    >>> from search_spaces import NB201Space
    >>> class TestNB201(SpaceConformance):  # doctest: +SKIP
    ...     @pytest.fixture
    ...     def space(self):
    ...         return NB201Space()
"""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import pytest

from infonas.exceptions import InvalidArchitectureError
from search_spaces.base import Architecture, SearchSpace

__all__ = ["SpaceConformance"]


class SpaceConformance:
    """The search-space contract, checked for the ``space`` fixture of a subclass."""

    #: Spaces up to this size are enumerated in full by ``test_enumerate_has_size_elements``.
    enumeration_limit = 100_000
    samples = 50

    def equivalent(self, space: SearchSpace, arch: Architecture) -> Architecture | None:
        """Another architecture that the space's canonical key must identify with ``arch``, or
        ``None`` (the default: the space defines no equivalence beyond equality)."""
        return None

    def sample(self, space: SearchSpace, seed: int = 0, n: int | None = None) -> list[Architecture]:
        rng = np.random.default_rng(seed)
        return [space.sample(rng) for _ in range(n or self.samples)]

    def test_format_parse_round_trip(self, space: SearchSpace) -> None:
        for arch in self.sample(space):
            text = space.format(arch)
            assert isinstance(text, str)
            assert space.parse(text) == arch
            assert space.format(space.parse(text)) == text
            assert space.from_categorical(space.to_categorical(arch)) == arch

    def test_canonical_key_is_invariant_under_equivalence(self, space: SearchSpace) -> None:
        pairs = [(a, b) for a in self.sample(space, seed=1, n=500) if (b := self.equivalent(space, a)) is not None]
        if not pairs:
            pytest.skip(f"space {space.name!r} defines no equivalence (override equivalent to give one)")
        match = nx.algorithms.isomorphism.categorical_node_match("op", None)
        for arch, variant in pairs:
            assert variant != arch, "equivalent() must rewrite the architecture"
            assert variant.key == arch.key == space.canonical_key(variant.ops), (arch, variant)
            # The cross-check: what the key merges must compute the same (isomorphic pruned cells).
            assert nx.is_isomorphic(space.to_graph(arch), space.to_graph(variant), node_match=match), (arch, variant)

    def test_sample_is_valid_and_seeded(self, space: SearchSpace) -> None:
        archs = self.sample(space, seed=2)
        assert archs == self.sample(space, seed=2)
        assert archs != self.sample(space, seed=3)
        for arch in archs:
            assert space.validate(arch) is arch and arch.space == space.name

    def test_mutate_is_valid_seeded_and_local(self, space: SearchSpace) -> None:
        for arch in self.sample(space, seed=4, n=20):
            mutant = space.mutate(arch, np.random.default_rng(5))
            assert mutant == space.mutate(arch, np.random.default_rng(5))
            assert space.validate(mutant) is mutant
            assert sum(a != b for a, b in zip(arch.ops, mutant.ops)) == 1

    def test_neighbours_are_valid_distinct_and_ordered(self, space: SearchSpace) -> None:
        for arch in self.sample(space, seed=6, n=10):
            neighbours = space.neighbours(arch)
            assert neighbours == space.neighbours(arch)
            assert len(set(neighbours)) == len(neighbours) and arch not in neighbours
            assert len(neighbours) == sum(len(c) - 1 for c in space.choices)
            for neighbour in neighbours:
                assert space.validate(neighbour) is neighbour
                assert sum(a != b for a, b in zip(arch.ops, neighbour.ops)) == 1

    def test_validate_rejects_foreign_objects(self, space: SearchSpace) -> None:
        arch = self.sample(space, seed=7, n=1)[0]
        wrong_op = list(arch.ops)
        wrong_op[0] = "no-such-op"
        foreign = [
            None,
            space.format(arch),  # a string is not an architecture: parse it first
            dataclasses.replace(arch, space=f"{space.name}-other"),
            dataclasses.replace(arch, ops=arch.ops[:-1]),
            dataclasses.replace(arch, ops=tuple(wrong_op)),
            dataclasses.replace(arch, key=arch.key + "-wrong"),
        ]
        for thing in foreign:
            with pytest.raises(InvalidArchitectureError):
                space.validate(thing)
        for text in ["", "garbage", space.format(arch) + "+", space.format(arch).replace(arch.ops[0], "no-such-op", 1)]:
            with pytest.raises(InvalidArchitectureError):
                space.parse(text)
        with pytest.raises(InvalidArchitectureError):
            space.make(tuple(wrong_op))
        with pytest.raises(InvalidArchitectureError):
            space.from_categorical([len(c) for c in space.choices])  # one past the last option everywhere

    def test_graph_has_input_and_output(self, space: SearchSpace) -> None:
        for arch in self.sample(space, seed=8, n=20):
            for prune in (False, True):
                graph = space.to_graph(arch, prune=prune)
                assert nx.is_directed_acyclic_graph(graph)
                ops = [op for _, op in graph.nodes(data="op")]
                assert ops.count("input") == 1 and ops.count("output") == 1 and None not in ops

    def test_enumerate_has_size_elements(self, space: SearchSpace) -> None:
        if space.size > self.enumeration_limit:
            pytest.skip(f"space {space.name!r} has {space.size} architectures: too many to enumerate in a test")
        archs = list(space.enumerate())
        assert len(archs) == space.size == len(set(archs))
        assert list(space.enumerate())[:10] == archs[:10]
        for arch in archs[:: max(1, len(archs) // 500)]:
            assert space.validate(arch) is arch

    def test_representative_is_a_twin_and_the_first_in_enumeration_order(self, space: SearchSpace) -> None:
        archs = self.sample(space, seed=9)
        for arch in archs:
            twin = space.representative(arch)
            assert space.validate(twin) is twin and twin.key == arch.key
            assert space.representative(twin) == twin
        if space.size > self.enumeration_limit:
            return
        first = {arch.key: arch for arch in space.canonical_representatives()}
        for arch in archs:
            assert space.representative(arch) in (first[arch.key], arch)
