"""The DARTS cell space: positions, the reference genotype format, canonical keys and graphs."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from infonas.exceptions import InvalidArchitectureError
from infonas.testing.spaces import SpaceConformance
from search_spaces import get_space
from search_spaces.darts import DARTS_V1, DARTS_V2, PRIMITIVES, DartsSpace, Genotype, parse_genotype
from search_spaces.darts.space import NODE_PAIRS, node_positions

SPACE = DartsSpace()
PARAMETER_FREE = ("max_pool_3x3", "avg_pool_3x3", "skip_connect")
SEP = "sep_conv_3x3"


def sorted_cell(pairs) -> tuple:
    """A reference cell with each node's two pairs in increasing input order."""
    return tuple(p for n in range(4) for p in sorted(pairs[2 * n:2 * n + 2], key=lambda pair: pair[1]))


def make(normal, reduce=None):
    """The architecture of a genotype given as two lists of eight (op, input) pairs."""
    reduce = normal if reduce is None else reduce
    return SPACE.from_genotype(Genotype(tuple(normal), (2, 3, 4, 5), tuple(reduce), (2, 3, 4, 5)))


# A normal cell of convolutions only: every node is live and has parameters.
PLAIN = [(SEP, 0), (SEP, 1), (SEP, 0), (SEP, 2), (SEP, 1), (SEP, 3), (SEP, 2), (SEP, 4)]


class TestDartsSpace(SpaceConformance):
    """9.1e18 choice vectors: the suite's enumeration skips it."""

    @pytest.fixture
    def space(self):
        return SPACE

    def equivalent(self, space, arch):
        # Rewrites that cannot change what a cell computes, stated here without the space's value
        # numbering: a ``none`` term may read any other input; a parameter-free op of a node whose
        # two terms are ``none`` (a zero node) is zero, i.e. ``none``; and in a normal cell a node
        # ``skip_connect(j) + none`` is state j, so a later term may read j instead.
        genotype = space.genotype(arch)
        cells = [list(genotype.normal), list(genotype.reduce)]
        for reduction, cell in enumerate(cells):
            for node in range(4):
                for side in (0, 1):
                    op, source = cell[2 * node + side]
                    other = cell[2 * node + 1 - side][1]
                    earlier = cell[2 * (source - 2):2 * (source - 2) + 2] if source >= 2 else []
                    if op == "none":
                        options = [j for j in range(node + 2) if j not in (source, other)]
                        if options:
                            cell[2 * node + side] = ("none", options[-1])
                    elif op in PARAMETER_FREE and earlier and all(o == "none" for o, _ in earlier):
                        cell[2 * node + side] = ("none", source)
                    elif not reduction and sorted(o for o, _ in earlier) == ["none", "skip_connect"]:
                        copied = next(j for o, j in earlier if o == "skip_connect")
                        if copied != other:
                            cell[2 * node + side] = (op, copied)
        variant = space.from_genotype(Genotype(tuple(cells[0]), (2, 3, 4, 5), tuple(cells[1]), (2, 3, 4, 5)))
        return None if variant == arch else variant

    def test_mutants_are_other_genotypes(self, space):
        rng = np.random.default_rng(9)
        archs = self.sample(space, seed=10, n=200)
        mutants = [space.mutate(arch, rng) for arch in archs]
        for arch, mutant in zip(archs, mutants):
            assert space.validate(mutant) is mutant and space.genotype(mutant) != space.genotype(arch)
        # A mutation that touches only a zero term keeps the function (and the key); most do not.
        changed = sum(a.key != m.key for a, m in zip(archs, mutants))
        assert 150 < changed < 200


def test_registered_positions_and_size():
    assert isinstance(get_space("darts"), DartsSpace)
    assert [len(c) for c in SPACE.choices] == [8, 8, 3, 8, 8, 6, 8, 8, 10, 8, 8] * 2
    assert SPACE.size == (8**2 * 3 * 8**2 * 6 * 8**2 * 10 * 8**2) ** 2 == 9_119_789_245_425_254_400
    assert SPACE.choices[5] == ("0+1", "0+2", "0+3", "1+2", "1+3", "2+3")
    assert [node_positions(1, n) for n in range(4)] == [(None, 11, 12), (13, 14, 15), (16, 17, 18), (19, 20, 21)]
    operations = [p for cell in (0, 1) for node in range(4) for p in node_positions(cell, node)[1:]]
    assert len(operations) == 16 and all(SPACE.choices[p] == PRIMITIVES for p in operations)


@pytest.mark.parametrize("published", [DARTS_V1, DARTS_V2])
def test_published_genotypes_round_trip_with_sorted_nodes(published):
    arch = SPACE.parse(published)
    reference = parse_genotype(published)
    genotype = SPACE.genotype(arch)
    # The same cells, each node's two pairs in increasing input order; the order was never meaning.
    assert genotype == Genotype(sorted_cell(reference.normal), (2, 3, 4, 5), sorted_cell(reference.reduce),
                                (2, 3, 4, 5))
    text = SPACE.format(arch)
    assert SPACE.parse(text) == arch and SPACE.format(SPACE.parse(text)) == text
    assert text != published  # both published genotypes list some nodes' inputs in decreasing order
    assert parse_genotype(text) == genotype and SPACE.parse(published.replace("[2, 3, 4, 5]", "range(2, 6)")) == arch


def test_darts_v2_exactly():
    arch = SPACE.parse(DARTS_V2)
    assert SPACE.format(arch) == (
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
        "('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, "
        "4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('max_pool_3x3', 1), ('skip_connect', 2), "
        "('max_pool_3x3', 0), ('skip_connect', 2), ('max_pool_3x3', 1), ('skip_connect', 2)], "
        "reduce_concat=[2, 3, 4, 5])")
    assert arch.ops[:8] == ("sep_conv_3x3", "sep_conv_3x3", "0+1", "sep_conv_3x3", "sep_conv_3x3", "0+1",
                            "skip_connect", "sep_conv_3x3")
    # A string whose nodes are already in increasing input order comes back character for character.
    assert SPACE.format(SPACE.parse(SPACE.format(arch))) == SPACE.format(arch)


def test_other_printed_forms_parse_to_the_same_cell():
    arch = SPACE.parse(DARTS_V2)
    searched = DARTS_V2.replace("[2, 3, 4, 5]", "range(2, 6)")  # how a searched genotype prints
    multiline = "DARTS_V2 = " + DARTS_V2.replace("'", '"').replace(", ", ",\n    ").replace("=", " = ")
    normal, reduce = (DARTS_V2.split(f"{cell}=")[1].split(f", {cell}_concat")[0] for cell in ("normal", "reduce"))
    reordered = f"Genotype(reduce_concat=(2, 3, 4, 5), reduce={reduce}, normal_concat=[2, 3, 4, 5,], normal={normal},)"
    for text in (searched, multiline, reordered, f"  {DARTS_V2}\n"):
        assert SPACE.parse(text) == arch, text


@pytest.mark.parametrize(("text", "message"), [
    (DARTS_V2.replace("('sep_conv_3x3', 1), ('skip_connect', 0)", "('sep_conv_3x3', 0), ('skip_connect', 0)"),
     (r"node 2 of the normal cell reads input 0 twice \('sep_conv_3x3' and 'skip_connect'\), but a node sums two "
     r"distinct inputs: change one of them to another input in 0..3")),
    (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"),
     (r"node 3 of the normal cell reads input 5 \(pair 7\), but node i reads only states 0..i\+1 .*: use an input "
     r"in 0..4")),
    (DARTS_V2.replace("('sep_conv_3x3', 0), ('sep_conv_3x3', 1)", "('sep_conv_3x3', 0), ('sep_conv_3x3', 2)", 1),
     r"node 0 of the normal cell reads input 2 \(pair 1\).*use an input in 0..1"),
    (DARTS_V2.replace("dil_conv_3x3", "conv_7x1_1x7"),
     (r"unknown operation 'conv_7x1_1x7' in pair 7 \(node 3\) of the normal cell; the DARTS space's operations are "
     r"\['none', 'max_pool_3x3'.*: use one of those")),
    (DARTS_V2.replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=[4, 5]"),
     (r"every DARTS cell concatenates all its intermediate nodes, \[2, 3, 4, 5\]; reduce_concat is \[4, 5\]: write "
     r"reduce_concat=\[2, 3, 4, 5\]")),
    (DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 7)"),
     r"normal_concat is \[2, 3, 4, 5, 6\]"),
    (DARTS_V2.replace(", ('dil_conv_3x3', 2)]", "]"), r"the normal cell has 7: give 8 pairs"),
    (DARTS_V2.replace(", reduce_concat=[2, 3, 4, 5]", ""), r"it lacks the field\(s\) \['reduce_concat'\]"),
    (DARTS_V2.replace("reduce_concat=", "normal_concat="), r"keyword 'normal_concat' at position \d+ is given twice"),
    (DARTS_V2.replace("reduce_concat=", "concat="), r"keyword 'concat' .* is not a Genotype field"),
    (DARTS_V2.replace("Genotype(", "Genome("), r"expected 'Genotype' at position 0, found 'Genome'"),
    (DARTS_V2 + "+", r"character '\+' at position \d+ has no place in a genotype"),
    (DARTS_V2[:-1], r"expected '\)' at position \d+, found the end of the text"),
    (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', " + "9" * 5000 + ")"), "reads input 1000000"),
    (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', -2)"), r"character '-'"),
    ("", "expected 'Genotype' at position 0, found the end of the text"),
    ("|nor_conv_3x3~0|+|none~0|skip_connect~1|", r"character '\|' at position 0"),
])
def test_invalid_genotypes_are_rejected_with_the_rule_and_fix(text, message):
    with pytest.raises(InvalidArchitectureError, match=message) as info:
        SPACE.parse(text)
    assert "DARTS" in str(info.value) or "node" in str(info.value)


def test_non_string_and_bad_pairs_are_rejected():
    with pytest.raises(InvalidArchitectureError, match="must be a str, got tuple"):
        SPACE.parse(("sep_conv_3x3", 0))  # type: ignore[arg-type]
    with pytest.raises(InvalidArchitectureError, match=r"pair 3 of the normal cell is \('sep_conv_3x3', '1'\).*write"):
        make(PLAIN[:3] + [("sep_conv_3x3", "1")] + PLAIN[4:])


def test_key_ignores_the_input_of_a_zero_term():
    base = PLAIN[:4] + [("none", 0), (SEP, 3)] + PLAIN[6:]
    for source in (1, 2):
        assert make(PLAIN[:4] + [("none", source), (SEP, 3)] + PLAIN[6:]).key == make(base).key
    assert make(PLAIN[:4] + [("skip_connect", 0), (SEP, 3)] + PLAIN[6:]).key != make(base).key


def test_key_zeroes_parameter_free_ops_of_zero_nodes_but_not_convolutions():
    zero_node = [("none", 0), ("none", 1)]  # node 0 (state 2) is zero
    base = zero_node + [(SEP, 0), ("none", 2)] + PLAIN[4:6] + [(SEP, 3), ("none", 4)]
    for op in PARAMETER_FREE:
        assert make(zero_node + [(SEP, 0), (op, 2)] + base[4:]).key == make(base).key, op
    # A convolution's BatchNorm maps zeros to a learned constant: not zero, whichever zero node it reads.
    conv_on_zero = make(zero_node + [(SEP, 0), ("dil_conv_5x5", 2)] + base[4:])
    assert conv_on_zero.key != make(base).key
    zero_nodes = zero_node + [("none", 0), ("none", 1)] + PLAIN[4:6] + [(SEP, 1), ("dil_conv_5x5", 2)]
    assert make(zero_nodes).key == make(zero_nodes[:7] + [("dil_conv_5x5", 3)]).key
    assert make(zero_nodes).key != make(zero_nodes[:7] + [("dil_conv_5x5", 4)]).key  # node 2 is not zero


def test_key_reads_a_copied_node_as_its_source():
    copy = PLAIN[:2] + [("skip_connect", 0), ("none", 1)]  # normal node 1 (state 3) is state 0
    normal = [make(copy + [(SEP, 1), (SEP, j)] + PLAIN[6:], PLAIN) for j in (3, 0)]
    assert normal[0].key == normal[1].key and normal[0] != normal[1]
    # In a reduction cell skip_connect on an input is a strided FactorizedReduce, not a copy.
    reduce = [make(PLAIN, copy + [(SEP, 1), (SEP, j)] + PLAIN[6:]) for j in (3, 0)]
    assert reduce[0].key != reduce[1].key
    # Two nodes with the same parameter-free sum of the same states are equal tensors.
    pools = [("max_pool_3x3", 0), ("avg_pool_3x3", 1)]
    same = pools + pools
    for reduce in (PLAIN, None):  # in a reduction cell too: the pools are strided alike
        assert make(same + [(SEP, 1), (SEP, 3)] + PLAIN[6:], reduce).key == \
            make(same + [(SEP, 1), (SEP, 2)] + PLAIN[6:], reduce).key
    differ = pools + [("avg_pool_3x3", 0), ("max_pool_3x3", 1)]
    assert make(differ + [(SEP, 1), (SEP, 3)] + PLAIN[6:]).key != make(differ + [(SEP, 1), (SEP, 2)] + PLAIN[6:]).key


def test_key_of_darts_v2_names_every_term():
    key = SPACE.parse(DARTS_V2).key
    assert key.startswith("normal:sep_conv_3x3~0+sep_conv_3x3~1|sep_conv_3x3~0+sep_conv_3x3~1|")
    # Reduce nodes 1 and 3 are both max_pool(c_{k-1}) + node 0: the same tensor, both concatenated.
    assert key.endswith("reduce:max_pool_3x3~0+max_pool_3x3~1|max_pool_3x3~1+skip_connect~2|"
                        "max_pool_3x3~0+skip_connect~2|max_pool_3x3~1+skip_connect~2")


def test_every_pair_option_is_a_valid_node():
    for node in range(1, 4):
        assert len(NODE_PAIRS[node]) == (node + 2) * (node + 1) // 2
        for a, b in NODE_PAIRS[node]:
            assert 0 <= a < b <= node + 1


def test_graph_of_darts_v2():
    arch = SPACE.parse(DARTS_V2)
    full, pruned = SPACE.to_graph(arch, prune=False), SPACE.to_graph(arch)
    labels = [op for _, op in full.nodes(data="op")]
    assert full.number_of_nodes() == 2 + 2 * (2 + 8 + 4 + 1)
    assert labels.count("normal/sep_conv_3x3") == 5 and labels.count("reduce/max_pool_3x3") == 5
    assert labels.count("normal/add") == 4 and labels.count("reduce/concat") == 1
    assert nx.is_isomorphic(full, pruned, node_match=lambda a, b: a["op"] == b["op"])  # no zero term in V2
    concat = next(n for n, op in full.nodes(data="op") if op == "normal/concat")
    assert full.in_degree(concat) == 4 and list(full.successors(concat)) == [full.number_of_nodes() - 1]


def test_pruned_graph_drops_zero_terms_and_nodes():
    zero_node = [("none", 0), ("none", 1)]
    arch = make(zero_node + [(SEP, 0), ("max_pool_3x3", 2)] + PLAIN[4:6] + [("dil_conv_3x3", 2), ("none", 4)])
    labels = [op for _, op in SPACE.to_graph(arch).nodes(data="op")]
    assert labels.count("normal/add") == 3 and "normal/none" not in labels and "normal/max_pool_3x3" not in labels
    assert labels.count("normal/zero") == 1 and labels.count("normal/dil_conv_3x3") == 1  # conv of zero stays
    full = [op for _, op in SPACE.to_graph(arch, prune=False).nodes(data="op")]
    assert full.count("normal/none") == 3 and full.count("normal/add") == 4
