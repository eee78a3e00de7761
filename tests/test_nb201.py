import numpy as np
import pytest

import search_spaces
from infonas.exceptions import InfonasError
from search_spaces import (
    Architecture,
    InvalidArchitectureError,
    InvalidArgumentError,
    NB201Space,
    get_space,
    register_space,
)

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def test_parse_format_round_trip(space):
    arch = space.parse(BEST)
    assert arch.ops == ("nor_conv_3x3",) * 3 + ("skip_connect", "nor_conv_3x3", "nor_conv_1x1")
    assert space.format(arch) == BEST


def test_architecture_is_immutable_and_hashable(space):
    arch = space.parse(BEST)
    with pytest.raises(AttributeError):
        arch.ops = ()
    assert {arch, space.parse(BEST)} == {arch}


@pytest.mark.parametrize("text, fragment", [
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "expected 3 nodes"),
    ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown operation 'conv_5x5'"),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "must read 'OP~0'"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "needs 2 incoming edges"),
    ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", "enclosed in '|'"),
    ("", "expected 3 nodes"),
])
def test_malformed_strings_name_the_problem(space, text, fragment):
    with pytest.raises(InvalidArchitectureError, match=fragment.replace("|", r"\|").replace("(", r"\(")):
        space.parse(text)


def test_make_rejects_unknown_op_and_wrong_length(space):
    with pytest.raises(InvalidArchitectureError, match="unknown operation 'conv'"):
        space.make(["conv"] * 6)
    with pytest.raises(InvalidArchitectureError, match="6 positions"):
        space.make(["none"] * 5)
    with pytest.raises(InvalidArchitectureError, match="wrong canonical key"):
        space.validate(Architecture("nb201", ("none",) * 6, "forged"))


def test_isomorphic_cells_share_a_key(space):
    # The ops on edges 0->1 and 0->2 never reach the output: both cells compute conv3x3(input).
    a = space.parse("|nor_conv_1x1~0|+|avg_pool_3x3~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    b = space.parse("|avg_pool_3x3~0|+|skip_connect~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    c = space.parse("|avg_pool_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|none~1|none~2|")
    assert a != b and a.key == b.key
    assert a.key != c.key


def test_enumerate_sample_mutate_neighbours(space):
    all_archs = list(space.enumerate())
    assert len(all_archs) == space.size == 15625 and len(set(all_archs)) == 15625
    rng = np.random.default_rng(0)
    arch = space.sample(rng)
    neighbours = space.neighbours(arch)
    assert len(neighbours) == 24 and arch not in neighbours
    assert all(sum(x != y for x, y in zip(arch.ops, n.ops)) == 1 for n in neighbours)
    assert space.mutate(arch, np.random.default_rng(1)) in neighbours
    assert space.sample(np.random.default_rng(5)) == space.sample(np.random.default_rng(5))


def test_categorical_round_trip(space):
    arch = space.parse(BEST)
    assert space.from_categorical(space.to_categorical(arch)) == arch
    with pytest.raises(InvalidArchitectureError):
        space.from_categorical([9] * 6)


def test_graph_pruning(space):
    dead = space.make(["none"] * 6)
    graph = space.to_graph(dead)
    assert sorted(op for _, op in graph.nodes(data="op")) == ["input", "output"]
    full = space.to_graph(space.parse(BEST), prune=False)
    assert full.number_of_nodes() == 8
    # An op whose output never reaches the cell output is pruned.
    cell = space.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert sorted(op for _, op in space.to_graph(cell).nodes(data="op")) == ["input", "output", "skip_connect"]


def test_get_space_unknown():
    assert isinstance(get_space("nb201"), NB201Space)
    with pytest.raises(InvalidArgumentError, match=r"unknown search space 'nb301'.*\['darts', 'macro', 'nb201'\].*register_space") as info:
        get_space("nb301")
    assert isinstance(info.value, InfonasError) and isinstance(info.value, ValueError)


def test_register_space(monkeypatch):
    monkeypatch.setattr(search_spaces, "SPACES", dict(search_spaces.SPACES))

    class Wide(NB201Space):
        name = "nb201-wide"

    register_space("nb201-wide", Wide)
    register_space("nb201-wide", Wide)  # the same class again: no change
    assert type(get_space("nb201-wide")) is Wide
    with pytest.raises(InvalidArgumentError, match="'nb201' is already NB201Space, not Other"):
        register_space("nb201", type("Other", (NB201Space,), {}))
    with pytest.raises(InvalidArgumentError, match="Wide.name is 'nb201-wide', not 'other'"):
        register_space("other", Wide)
    with pytest.raises(TypeError, match="SearchSpace subclass"):
        register_space("nothing", object)
    assert sorted(search_spaces.SPACES) == ["darts", "macro", "nb201", "nb201-wide"]


@pytest.mark.table
def test_every_table_cell_round_trips_and_keys_partition_like_the_benchmark(nb201_table_file, space):
    import csv

    with open(nb201_table_file, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 15625
    keys, uniques = {}, {}
    for row in rows:
        arch = space.parse(row["arch"])
        assert space.format(arch) == row["arch"]
        keys.setdefault(arch.key, set()).add(row["index"])
        uniques.setdefault(row["nb201_unique"], set()).add(row["index"])
    assert len(keys) == 6466
    assert sorted(map(sorted, keys.values())) == sorted(map(sorted, uniques.values()))


def test_representative_is_the_first_twin_in_enumeration_order_from_any_twin():
    space = NB201Space()  # fresh: nothing memoised
    first = {arch.key: arch for arch in space.canonical_representatives()}
    cells = list(space.enumerate())
    np.random.default_rng(0).shuffle(cells)  # classes met first through any of their twins
    assert all(space.representative(arch) == first[arch.key] for arch in cells)
    # The twins of this key differ in three positions: no one-position change joins them.
    late = space.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|nor_conv_3x3~0|skip_connect~1|nor_conv_3x3~2|")
    assert space.format(space.representative(late)) == (
        "|skip_connect~0|+|none~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")


def test_representative_refuses_a_key_no_cell_has():
    space = NB201Space()
    forged = Architecture("nb201", space.sample(np.random.default_rng(0)).ops, "not-a-key")
    with pytest.raises(InvalidArchitectureError, match="no NB201 cell has canonical key 'not-a-key'"):
        space.representative(forged)
