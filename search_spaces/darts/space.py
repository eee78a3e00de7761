"""The DARTS cell space (Liu, Simonyan & Yang, ICLR 2019): a normal and a reduction cell.

Each cell has 4 intermediate nodes; node ``i`` (0-based, the cell's state ``i + 2``) sums two
distinct earlier states (the cell inputs ``c_{k-2}`` = 0, ``c_{k-1}`` = 1, and nodes before it),
each through one of the 8 operations of ``PRIMITIVES``; the cell outputs the concatenation of its
four nodes. The categorical positions, per cell (normal first, then reduction):

* node 0 always reads the pair (0, 1): two positions, the operation on input 0 and on input 1;
* node ``i`` = 1, 2, 3: the unordered pair of inputs it reads (``"a+b"`` with ``a < b``; 3, 6 and
  10 options), the operation on its smaller input ``a`` and the operation on its larger input ``b``.

That is 11 positions per cell, 22 in all, every choice vector a valid genotype, and
``(8^2 * 3 * 8^2 * 6 * 8^2 * 10 * 8^2)^2 = 180^2 * 8^16 = 9,119,789,245,425,254,400`` (about
9.1e18) architectures: the 10^18 of the DARTS paper, counted with ``none`` as an operation. Node
0's pair has a single option, so it has no position: a one-option position would carry no
information and leaves ``mutate`` nothing to change to.

The string form is the reference code's printed ``Genotype`` (see ``genotype``). The order of
a node's two pairs carries no meaning (the node is their sum), so an architecture keeps none:
``parse`` accepts either order and ``format`` writes each node's pairs in increasing input order.
``format(parse(s)) == s`` therefore holds for every string in ``format``'s own form (the
reference namedtuple's repr with each node's inputs in increasing order). The published DARTS_V1
and DARTS_V2 list some nodes' inputs in decreasing order: they round-trip exactly at the level of
the genotype with each node's two pairs sorted by input (the same cells, the same networks).

The canonical key identifies cells that compute the same function for all parameter values (see
``canonical_cell``): the order of a node's inputs (already absent from the positions), terms that
are zero (``none``; a parameter-free operation on a zero node) whatever their input, parametric
operations on zero nodes whatever zero node they read, and reads of nodes that provably equal an
earlier state (a node that is a stride-1 ``skip_connect`` of one state, or two nodes with the same
parameter-free sum of the same states).

Example:
    >>> from search_spaces.darts.genotype import DARTS_V2
    >>> space = DartsSpace()
    >>> arch = space.parse(DARTS_V2)
    >>> space.genotype(arch).reduce[2:4]  # reduce node 1 reads (2, 1) in the paper: written sorted
    (('max_pool_3x3', 1), ('skip_connect', 2))
    >>> space.size
    9119789245425254400
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import networkx as nx

from search_spaces.base import Architecture, SearchSpace
from search_spaces.darts.genotype import (
    CONCAT,
    DARTS_STEPS,
    PRIMITIVES,
    Genotype,
    check_genotype,
    format_genotype,
    parse_genotype,
)

__all__ = ["CELL_POSITIONS", "DARTS_CELLS", "NODE_PAIRS", "DartsSpace", "canonical_cell", "is_parametric",
           "node_positions", "pair_token"]

#: The two cell types, in position order.
DARTS_CELLS: tuple[str, ...] = ("normal", "reduce")
#: Node ``i``'s possible input pairs ``(a, b)``, ``a < b``, in the order of its pair position's options.
NODE_PAIRS: tuple[tuple[tuple[int, int], ...], ...] = tuple(
    tuple(itertools.combinations(range(node + 2), 2)) for node in range(DARTS_STEPS))
#: Positions per cell: node 0's two operations, then per later node its pair and two operations.
CELL_POSITIONS = 2 + 3 * (DARTS_STEPS - 1)
#: The operations with parameters at any stride (``skip_connect`` has some only at stride 2).
CONV_OPS = frozenset({"sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"})
#: The value id of a state that is identically zero.
ZERO = "z"

#: One node of a cell: its two ``(input, operation)`` terms, the smaller input first.
NodeTerms = tuple[tuple[int, str], tuple[int, str]]


def pair_token(a: int, b: int) -> str:
    """The option naming input pair ``(a, b)``: ``pair_token(0, 2) == "0+2"``."""
    return f"{a}+{b}"


def node_positions(cell: int, node: int) -> tuple[int | None, int, int]:
    """``(pair position or None for node 0, position of the smaller input's op, of the larger's)``.

    Example:
        >>> node_positions(0, 0), node_positions(1, 3)
        ((None, 0, 1), (19, 20, 21))
    """
    base = cell * CELL_POSITIONS
    if node == 0:
        return None, base, base + 1
    start = base + 2 + 3 * (node - 1)
    return start, start + 1, start + 2


def _cell_choices() -> tuple[tuple[str, ...], ...]:
    choices = [PRIMITIVES, PRIMITIVES]
    for node in range(1, DARTS_STEPS):
        choices += [tuple(pair_token(*pair) for pair in NODE_PAIRS[node]), PRIMITIVES, PRIMITIVES]
    return tuple(choices)


_CHOICES: tuple[tuple[str, ...], ...] = _cell_choices() * len(DARTS_CELLS)


def is_parametric(op: str, source: int, reduction: bool) -> bool:
    """Whether ``op`` reading state ``source`` has parameters: the convolutions always, and
    ``skip_connect`` on a reduction cell's inputs, where it is a strided ``FactorizedReduce``."""
    return op in CONV_OPS or (op == "skip_connect" and reduction and source < 2)


def canonical_cell(nodes: Sequence[NodeTerms], reduction: bool) -> tuple[tuple[tuple[str, str], ...], ...]:
    """Per node, the sorted ``(operation, value id)`` terms that it really sums.

    Value numbering over the cell's states: the inputs are ``"0"`` and ``"1"``; a node with no
    live term is ``ZERO``; a node whose live terms have no parameters is a fixed function of its
    inputs, so it gets the id of the first node with the same terms, or its input's id when it is a
    single stride-1 ``skip_connect``; a node with parameters gets its own id. A term is dropped
    when it is zero for every parameter value: ``none``, or a parameter-free operation (pooling,
    stride-1 identity) of a zero state. Padded pooling and the identity map zero to zero; a
    convolution's BatchNorm maps it to a learned constant, so those terms stay, reading ``ZERO``.

    Example:
        >>> skip_then_conv = [((0, "skip_connect"), (1, "none")), ((0, "sep_conv_3x3"), (2, "sep_conv_5x5")),
        ...                   ((0, "none"), (1, "none")), ((1, "max_pool_3x3"), (4, "avg_pool_3x3"))]
        >>> canonical_cell(skip_then_conv, reduction=False)[1:]  # node 2 is input 0; node 4 is zero
        ((('sep_conv_3x3', '0'), ('sep_conv_5x5', '0')), (), (('max_pool_3x3', '1'),))
    """
    values = ["0", "1"]
    seen: dict[tuple[tuple[str, str], ...], str] = {}
    result = []
    for node, terms in enumerate(nodes):
        live, parametric = [], False
        for source, op in terms:
            value = values[source]
            if op == "none" or (value == ZERO and not is_parametric(op, source, reduction)):
                continue
            live.append((op, value))
            parametric = parametric or is_parametric(op, source, reduction)
        key = tuple(sorted(live))
        result.append(key)
        if not key:
            values.append(ZERO)
        elif parametric:
            values.append(str(node + 2))
        elif len(key) == 1 and key[0][0] == "skip_connect":
            values.append(key[0][1])  # a parameter-free skip is the identity: the node is its input
        else:
            values.append(seen.setdefault(key, str(node + 2)))
    return tuple(result)


class DartsSpace(SearchSpace):
    """The DARTS normal and reduction cells: 22 positions, about 9.1e18 architectures.

    ``cells(arch)`` reads an architecture as, per cell, its nodes' two ``(input, operation)``
    terms (smaller input first): what the network builder and the cost tables need.

    Example:
        >>> from search_spaces.darts.genotype import DARTS_V1
        >>> space = DartsSpace()
        >>> arch = space.parse(DARTS_V1)
        >>> space.cells(arch)[0][0]
        ((0, 'sep_conv_3x3'), (1, 'sep_conv_3x3'))
        >>> space.parse(space.format(arch)) == arch
        True
    """

    name = "darts"

    @property
    def choices(self) -> tuple[tuple[str, ...], ...]:
        return _CHOICES

    @property
    def size(self) -> int:
        """Number of choice vectors, as an exact integer (it is close to the int64 limit)."""
        return math.prod(len(c) for c in self.choices)

    @staticmethod
    def _cells(ops: Sequence[str]) -> tuple[tuple[NodeTerms, ...], ...]:
        cells = []
        for cell in range(len(DARTS_CELLS)):
            nodes = []
            for node in range(DARTS_STEPS):
                pair_position, low, high = node_positions(cell, node)
                a, b = (0, 1) if pair_position is None else NODE_PAIRS[node][
                    _CHOICES[pair_position].index(ops[pair_position])]
                nodes.append(((a, ops[low]), (b, ops[high])))
            cells.append(tuple(nodes))
        return tuple(cells)

    def cells(self, arch: Architecture) -> tuple[tuple[NodeTerms, ...], ...]:
        """Per cell (normal, reduce), per node, its ``((a, op_a), (b, op_b))`` with ``a < b``."""
        return self._cells(self.validate(arch).ops)

    def canonical_key(self, ops: Sequence[str]) -> str:
        """Per cell, per node, its live terms ``op~value`` joined by ``+`` (``zero`` for a zero node);
        see ``canonical_cell``."""
        parts = []
        for cell, nodes in zip(DARTS_CELLS, self._cells(ops)):
            canonical = canonical_cell(nodes, reduction=cell == "reduce")
            parts.append(f"{cell}:" + "|".join("+".join(f"{op}~{v}" for op, v in node) or "zero"
                                               for node in canonical))
        return " ".join(parts)

    def genotype(self, arch: Architecture) -> Genotype:
        """The reference code's genotype of ``arch``, each node's pairs in increasing input order."""
        normal, reduce = ((tuple((op, source) for node in nodes for source, op in node)) for nodes in self.cells(arch))
        return Genotype(normal, CONCAT, reduce, CONCAT)

    def from_genotype(self, genotype: Genotype) -> Architecture:
        """The architecture of a genotype (its pairs in any order within a node); checked with
        ``check_genotype``, which raises ``InvalidArchitectureError`` with the rule broken."""
        genotype = check_genotype(genotype)
        ops: list[str] = [""] * len(_CHOICES)
        for cell, pairs in enumerate((genotype.normal, genotype.reduce)):
            for node in range(DARTS_STEPS):
                (op_a, a), (op_b, b) = sorted(pairs[2 * node:2 * node + 2], key=lambda pair: pair[1])
                pair_position, low, high = node_positions(cell, node)
                if pair_position is not None:
                    ops[pair_position] = pair_token(a, b)
                ops[low], ops[high] = op_a, op_b
        return self.make(ops)

    def parse(self, text: str) -> Architecture:
        return self.from_genotype(parse_genotype(text))

    def format(self, arch: Architecture) -> str:
        return format_genotype(self.genotype(arch))

    def to_graph(self, arch: Architecture, prune: bool = True) -> nx.DiGraph:
        """Both cells side by side between one ``input`` and one ``output``, operations on nodes.

        Per cell (labels prefixed ``normal/`` or ``reduce/``, so the WL features of the two cells
        stay apart): the inputs ``c_k-2`` and ``c_k-1``, fed by ``input``; one node per operation,
        fed by the state it reads; one ``add`` node per intermediate node, fed by its operations;
        a ``concat`` node fed by the ``add`` nodes and feeding ``output``. With ``prune`` the graph
        is the canonical cell (``canonical_cell``): only live terms, reading the states they equal,
        a ``zero`` source for convolutions of zero nodes, and no ``add`` for a zero node; equal
        canonical keys give equal pruned graphs.
        """
        graph = nx.DiGraph()
        graph.add_node(0, op="input")
        outputs = []
        for cell, nodes in zip(DARTS_CELLS, self.cells(arch)):
            if prune:
                terms = [[(op, value) for op, value in node]
                         for node in canonical_cell(nodes, reduction=cell == "reduce")]
            else:
                terms = [[(op, str(source)) for source, op in node] for node in nodes]
            outputs.append(_add_cell(graph, cell, terms, always_inputs=not prune))
        output = graph.number_of_nodes()
        graph.add_node(output, op="output")
        graph.add_edges_from((concat, output) for concat in outputs)
        return graph


def _add_cell(graph: nx.DiGraph, cell: str, nodes: list[list[tuple[str, str]]], always_inputs: bool) -> int:
    """Add one cell's nodes to ``graph`` (whose node 0 is the input); return its ``concat`` node."""
    states: dict[str, int] = {}

    def add(label: str) -> int:
        index = graph.number_of_nodes()
        graph.add_node(index, op=f"{cell}/{label}")
        return index

    def state(value: str) -> int:
        if value not in states:
            states[value] = add({"0": "c_k-2", "1": "c_k-1", ZERO: "zero"}[value])
            if value in ("0", "1"):
                graph.add_edge(0, states[value])
        return states[value]

    if always_inputs:
        state("0"), state("1")
    sums = []
    for node, terms in enumerate(nodes):
        if not terms:
            continue
        states[str(node + 2)] = total = add("add")
        sums.append(total)
        for op, value in terms:
            operation = add(op)
            graph.add_edge(state(value), operation)
            graph.add_edge(operation, total)
    concat = add("concat")
    graph.add_edges_from((total, concat) for total in sums)
    return concat
