"""The NAS-Bench-201 cell space (Dong & Yang, ICLR 2020).

A cell is a DAG over 4 nodes; each of the 6 edges ``i -> j`` (i < j) carries one of 5 operations.
The arch string lists, for nodes 1..3, ``op~i`` for each incoming edge from node ``i``:
``|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import networkx as nx

from search_spaces.base import Architecture, InvalidArchitectureError, SearchSpace

NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# Edge (source, target) at each position, in arch-string order.
NB201_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
NB201_NODES = 4


class NB201Space(SearchSpace):
    """The 15,625 cells of NAS-Bench-201: 6 edges, 5 operations each.

    Example:
        >>> space = NB201Space()
        >>> arch = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
        >>> space.format(arch) == "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
        True
        >>> space.size
        15625
    """

    name = "nb201"
    edges = NB201_EDGES

    @property
    def choices(self) -> tuple[tuple[str, ...], ...]:
        return (NB201_OPS,) * len(NB201_EDGES)

    def canonical_key(self, ops: Sequence[str]) -> str:
        """NAS-Bench-201's own functional form of a cell (``to_unique_str(consider_zero=True)``).

        Each node is written as the sorted sum of its incoming terms: ``(x)@op`` for a
        parametric or pooling op, ``x`` itself for a skip, ``#`` for a zero op or a zero input.
        The benchmark's own rule is reproduced term for term (not a cleaner functional form) so
        that keys partition the space exactly as the benchmark's ``nb201_unique`` column does.
        """
        node_terms: dict[int, str] = {0: "0"}
        start = 0
        for target in range(1, NB201_NODES):
            # Edges are ordered by target (node j reads nodes 0..j-1, in order), so every source
            # node is complete before it is read.
            node_terms[target] = self._node_term(ops[start:start + target], node_terms)
            start += target
        return node_terms[NB201_NODES - 1]

    @classmethod
    def _node_term(cls, ops: Sequence[str], node_terms: dict[int, str]) -> str:
        """A node's term: the sorted sum of the terms of its incoming ops, one per source node."""
        return "+".join(sorted(cls._term(op, node_terms, source) for source, op in enumerate(ops)))

    @staticmethod
    def _term(op: str, node_terms: dict[int, str], source: int) -> str:
        if op == "none" or node_terms[source] == "#":
            return "#"
        if op == "skip_connect":
            return node_terms[source]
        return f"({node_terms[source]})@{op}"

    def representative(self, arch: Architecture) -> Architecture:
        """The first twin of ``arch`` in ``enumerate`` order, built node by node, not enumerated.

        Positions are ordered by target node, so the first twin takes, for node 1, then node 2,
        the earliest incoming operations whose node terms still let the output node read as
        ``arch``'s key; the output node's earliest operations per (earlier terms, key) come from a
        table filled as earlier terms are met (at most 5^3 entries per pair of earlier terms).
        """
        memo = self.__dict__.setdefault("_first_twins", {})
        if arch.key not in memo:
            memo[arch.key] = self.make(self._first_twin_ops(arch.key))
        return memo[arch.key]

    def _first_twin_ops(self, key: str) -> tuple[str, ...]:
        last = NB201_NODES - 1
        tables = self.__dict__.setdefault("_output_node_tables", {})

        def search(target: int, terms: dict[int, str], prefix: tuple[str, ...]) -> tuple[str, ...] | None:
            if target == last:
                earlier = tuple(terms[node] for node in range(last))
                table = tables.get(earlier)
                if table is None:
                    table = tables[earlier] = {}
                    for ops in itertools.product(NB201_OPS, repeat=last):  # in enumeration order
                        table.setdefault(self._node_term(ops, terms), ops)
                ops = table.get(key)
                return None if ops is None else prefix + ops
            for ops in itertools.product(NB201_OPS, repeat=target):
                found = search(target + 1, {**terms, target: self._node_term(ops, terms)}, prefix + ops)
                if found is not None:
                    return found
            return None

        found = search(1, {0: "0"}, ())
        if found is None:  # every key is some cell's: a key from elsewhere is a caller's error
            raise InvalidArchitectureError(f"no NB201 cell has canonical key {key!r}")
        return found

    def parse(self, text: str) -> Architecture:
        if not isinstance(text, str):
            raise InvalidArchitectureError(f"an NB201 arch string must be a str, got {type(text).__name__}")
        stripped = text.strip()
        node_strings = stripped.split("+")
        if len(node_strings) != NB201_NODES - 1:
            raise InvalidArchitectureError(
                f"malformed NB201 arch string {text!r}: expected {NB201_NODES - 1} nodes separated by '+', "
                f"found {len(node_strings)}"
            )
        ops: list[str] = []
        for target, node_string in enumerate(node_strings, start=1):
            if len(node_string) < 2 or not (node_string.startswith("|") and node_string.endswith("|")):
                raise InvalidArchitectureError(
                    f"malformed NB201 arch string {text!r}: node {target} part {node_string!r} must be "
                    "enclosed in '|'"
                )
            entries = node_string[1:-1].split("|")
            if len(entries) != target:
                raise InvalidArchitectureError(
                    f"malformed NB201 arch string {text!r}: node {target} needs {target} incoming edges, "
                    f"found {len(entries)}"
                )
            for source, entry in enumerate(entries):
                op, sep, source_text = entry.partition("~")
                if not sep or source_text != str(source):
                    raise InvalidArchitectureError(
                        f"malformed NB201 arch string {text!r}: entry {entry!r} of node {target} must read "
                        f"'OP~{source}'"
                    )
                if op not in NB201_OPS:
                    raise InvalidArchitectureError(
                        f"unknown operation {op!r} in NB201 arch string {text!r}; "
                        f"expected one of {list(NB201_OPS)}"
                    )
                ops.append(op)
        return self.make(ops)

    def format(self, arch: Architecture) -> str:
        self.validate(arch)
        parts = []
        position = 0
        for target in range(1, NB201_NODES):
            entries = []
            for source in range(target):
                entries.append(f"{arch.ops[position]}~{source}")
                position += 1
            parts.append("|" + "|".join(entries) + "|")
        return "+".join(parts)

    def to_graph(self, arch: Architecture, prune: bool = True) -> nx.DiGraph:
        """Operation-on-node form of the cell (as in NAS-BOWL and BANANAS).

        Node 0 is the input, nodes 1..6 are the edges of the cell labelled with their operation,
        node 7 is the output; edge-node ``(i, j)`` feeds edge-node ``(j, k)``.
        """
        self.validate(arch)
        graph = nx.DiGraph()
        input_node, output_node = 0, len(NB201_EDGES) + 1
        graph.add_node(input_node, op="input")
        graph.add_node(output_node, op="output")
        for position, ((source, target), op) in enumerate(zip(NB201_EDGES, arch.ops), start=1):
            graph.add_node(position, op=op)
            if source == 0:
                graph.add_edge(input_node, position)
            if target == NB201_NODES - 1:
                graph.add_edge(position, output_node)
        for a, (_, target_a) in enumerate(NB201_EDGES, start=1):
            for b, (source_b, _) in enumerate(NB201_EDGES, start=1):
                if target_a == source_b:
                    graph.add_edge(a, b)
        if prune:
            graph = prune_graph(graph, input_node, output_node)
        return graph


def prune_graph(graph: nx.DiGraph, input_node: int, output_node: int) -> nx.DiGraph:
    """Remove zero operations and every node not on a path from input to output."""
    kept = graph.copy()
    kept.remove_nodes_from([n for n, op in graph.nodes(data="op") if op == "none"])
    live = (nx.descendants(kept, input_node) | {input_node}) & (nx.ancestors(kept, output_node) | {output_node})
    if output_node not in nx.descendants(kept, input_node):
        live = {input_node, output_node}
    return kept.subgraph(sorted(live)).copy()
