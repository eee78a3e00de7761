"""WL subtree features: stability across processes, order and node relabelling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch

from infonas.encodings.wl import WLFeaturizer, WLVocabulary, label_id, stable_hash, wl_label_counts
from infonas.exceptions import InvalidArgumentError
from infonas.surrogates.kernels import WLSubtreeKernel
from search_spaces import NB201Space

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def space():
    return NB201Space()


@pytest.fixture(scope="module")
def archs(space):
    rng = np.random.default_rng(7)
    return [space.sample(rng) for _ in range(25)]


def test_stable_hash_is_a_fixed_blake2b_digest():
    # A regression value: if this changes, every saved run's features change with it.
    assert stable_hash("nor_conv_3x3") == "5912dc2613c0e452"
    # The slot id: 52 bits of the digest of "iteration, label", plus 1 (0 marks an empty slot).
    assert label_id(0, "nor_conv_3x3") == 4461130730186109 == (int(stable_hash("0\x1fnor_conv_3x3"), 16) >> 12) + 1
    assert 1 <= label_id(2, "5912dc2613c0e452") <= 2**52


def test_iteration_zero_counts_operations(space):
    arch = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    counts = WLFeaturizer(space, h_max=2).label_counts(arch)
    assert dict(counts[0]) == {"input": 1, "output": 1, "nor_conv_3x3": 2, "skip_connect": 2}
    assert len(counts) == 3
    # Each iteration relabels every node: the counts always add up to the number of nodes.
    assert {sum(c for _, c in level) for level in counts} == {6}


def test_features_identical_in_another_process(space, archs):
    featurizer = WLFeaturizer(space, h_max=2)
    local = featurizer.transform(archs).tolist()
    # With a vocabulary over three cells the others fill slot columns: their ids are stable too.
    local_small = featurizer.transform(list(reversed(archs)), featurizer.vocabulary(archs[:3])).tolist()
    strings = [space.format(a) for a in archs]
    script = (
        "import json, sys\n"
        "from search_spaces import NB201Space\n"
        "from infonas.encodings.wl import WLFeaturizer\n"
        "space = NB201Space()\n"
        "archs = [space.parse(s) for s in json.loads(sys.stdin.read())]\n"
        "f = WLFeaturizer(space, h_max=2)\n"
        "small = f.transform(list(reversed(archs)), f.vocabulary(archs[:3])).tolist()\n"
        "print(json.dumps({'x': f.transform(archs).tolist(), 'v': f.vocabulary(archs).fingerprint(), 's': small}))\n"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(strings), capture_output=True, text=True, env=env,
        cwd=ROOT, check=True, timeout=120,
    )
    remote = json.loads(result.stdout)
    assert remote["x"] == local
    assert remote["v"] == featurizer.vocabulary(archs).fingerprint()
    assert remote["s"] == local_small


def test_vocabulary_does_not_depend_on_order(space, archs):
    featurizer = WLFeaturizer(space, h_max=2)
    forward = featurizer.vocabulary(archs)
    backward = WLFeaturizer(space, h_max=2).vocabulary(list(reversed(archs)))
    assert forward == backward
    assert torch.equal(featurizer.transform(archs, forward), featurizer.transform(archs, backward))
    # Labels sorted by iteration then label; then h_max + 1 norms, then 8 slots per iteration
    # (an NB201 cell graph has 8 nodes); columns(h) = counts, slots, norm.
    assert list(forward.labels) == sorted(forward.labels)
    assert forward.slots == 8 and forward.dim == forward.num_labels + 3 + 3 * 8
    for h in range(3):
        counts, slots = forward.count_columns(h), forward.slot_columns(h)
        assert counts == list(range(len(counts)))
        assert slots == list(range(forward.num_labels + 3, forward.num_labels + 3 + 8 * (h + 1)))
        assert forward.columns(h) == counts + slots + [forward.num_labels + h]


def test_norm_and_slot_columns_carry_every_label(space, archs):
    featurizer = WLFeaturizer(space, h_max=2)
    vocabulary = featurizer.vocabulary(archs)
    X = featurizer.transform(archs, vocabulary)
    norms = [vocabulary.norm_column(h) for h in range(3)]
    for h in range(3):
        counts = X[:, vocabulary.count_columns(h)]
        assert torch.allclose(counts.norm(dim=-1), X[:, vocabulary.norm_column(h)])
    # With a vocabulary over fewer cells, the counts shrink but the norms stay those of the cell ...
    small = featurizer.vocabulary(archs[:3])
    Y = featurizer.transform(archs, small)
    assert torch.allclose(Y[:, [small.norm_column(h) for h in range(3)]], X[:, norms])
    # ... and each label outside the vocabulary fills one slot of its iteration per node carrying it.
    for row, arch in enumerate(archs):
        for k, pairs in enumerate(featurizer.label_counts(arch)):
            missing = Counter({label_id(k, label): count for label, count in pairs if (k, label) not in small.labels})
            start = small.num_labels + 3 + 8 * k
            values = Y[row, start : start + 8].tolist()
            assert Counter(int(v) for v in values if v) == missing
            assert all(v == 0 for v in values[sum(missing.values()):])  # filled from the first slot
    assert bool(Y[3:, small.slot_columns(2)].any())


def test_too_few_slots_is_an_error(space, archs):
    featurizer = WLFeaturizer(space, h_max=1)
    vocabulary = WLVocabulary.from_labels(1, [(0, "input")], slots=1)
    arch = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    with pytest.raises(InvalidArgumentError, match="more than its 1 slots.*candidates"):
        featurizer.transform([arch], vocabulary)
    with pytest.raises(InvalidArgumentError, match="slots"):
        WLVocabulary.from_labels(1, [], slots=-1)


def test_slot_id_clash_takes_the_next_free_id(space, archs, monkeypatch):
    from infonas.encodings import wl

    monkeypatch.setattr(wl, "label_id", lambda iteration, label: 7)  # every label clashes
    featurizer = WLFeaturizer(space, h_max=1)
    featurizer.transform(archs[:5])
    ids = featurizer._id_slots
    assert len(set(ids)) == len(ids) == len(featurizer._id_labels) and min(ids) == 7
    # The kernel stays exact: a vocabulary over one cell puts the others' labels in slots.
    vocabulary = featurizer.vocabulary(archs[:1])
    X = featurizer.transform(archs[:5], vocabulary)
    full = featurizer.vocabulary(archs[:5])
    kernel = WLSubtreeKernel(slot_columns=len(vocabulary.slot_columns(1)), active_dims=vocabulary.columns(1))
    exact = WLSubtreeKernel(active_dims=full.count_columns(1) + [full.norm_column(1)])
    assert torch.allclose(kernel(X).to_dense(), exact(featurizer.transform(archs[:5], full)).to_dense(), atol=1e-12)


def _relabelled(graph: nx.DiGraph, seed: int) -> nx.DiGraph:
    """The same labelled DAG with node ids permuted and nodes/edges inserted in another order."""
    rng = np.random.default_rng(seed)
    nodes = list(graph.nodes)
    mapping = dict(zip(nodes, (f"n{i}" for i in rng.permutation(len(nodes)))))
    shuffled = nx.DiGraph()
    for index in rng.permutation(len(nodes)):
        node = nodes[index]
        shuffled.add_node(mapping[node], op=graph.nodes[node]["op"])
    edges = list(graph.edges)
    for index in rng.permutation(len(edges)):
        u, v = edges[index]
        shuffled.add_edge(mapping[u], mapping[v])
    return shuffled


def _counts_matrix(count_lists, h):
    labels = sorted({(k, label) for counts in count_lists for k in range(h + 1) for label in counts[k]})
    index = {label: i for i, label in enumerate(labels)}
    X = torch.zeros(len(count_lists), len(labels), dtype=torch.float64)
    for row, counts in enumerate(count_lists):
        for k in range(h + 1):
            for label, count in counts[k].items():
                X[row, index[(k, label)]] = count
    return X


def test_wl_kernel_invariant_to_isomorphic_relabelling(space, archs):
    graphs = [space.to_graph(a) for a in archs[:10]]
    kernel = WLSubtreeKernel(norm_column=False).double()
    for h in range(3):
        original = [wl_label_counts(g, h) for g in graphs]
        relabelled = [wl_label_counts(_relabelled(g, seed), h) for seed, g in enumerate(graphs)]
        assert original == relabelled
        both = _counts_matrix(original + relabelled, h)
        K = kernel(both).to_dense().detach()
        n = len(graphs)
        assert torch.allclose(K[:n, :n], K[n:, n:])
        assert torch.allclose(K[:n, n:], K[:n, :n])


def test_isomorphic_cells_share_features(space):
    # The two parallel branches swapped: different op strings, isomorphic cells.
    a = space.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    b = space.parse("|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    featurizer = WLFeaturizer(space, h_max=2)
    X = featurizer.transform([a, b])
    assert a.ops != b.ops
    assert torch.equal(X[0], X[1])


def test_direction_matters():
    # A chain a -> b and b -> a are not isomorphic as DAGs; WL along the direction tells them apart.
    forward = nx.DiGraph([("x", "y")])
    nx.set_node_attributes(forward, {"x": "conv", "y": "pool"}, "op")
    reverse = nx.DiGraph([("y", "x")])
    nx.set_node_attributes(reverse, {"x": "conv", "y": "pool"}, "op")
    assert wl_label_counts(forward, 0) == wl_label_counts(reverse, 0)
    assert wl_label_counts(forward, 1)[1] != wl_label_counts(reverse, 1)[1]


def test_invalid_arguments(space):
    with pytest.raises(ValueError, match="h_max"):
        WLFeaturizer(space, h_max=-1)
    vocabulary = WLVocabulary.from_labels(1, [(0, "input")])
    with pytest.raises(ValueError, match="h must lie"):
        vocabulary.columns(2)
    with pytest.raises(ValueError, match="h_max"):
        WLFeaturizer(space, h_max=2).transform([space.make(["none"] * 6)], vocabulary)


def test_a_full_featurizer_starts_over_with_the_same_features(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the cap, every cache is emptied at the next batch: memory stays bounded over a long
    search of a large space, and the features computed again are the same numbers."""
    import infonas.encodings.wl as wl
    from search_spaces import get_space

    monkeypatch.setattr(wl, "MAX_CACHED_ARCHITECTURES", 30)
    darts = get_space("darts")
    rng = np.random.default_rng(0)
    train = [darts.sample(rng) for _ in range(10)]
    featurizer, fresh = WLFeaturizer(darts, h_max=2), WLFeaturizer(darts, h_max=2)
    vocabulary = featurizer.vocabulary(train)
    expected = fresh.transform(train, fresh.vocabulary(train))
    for _ in range(6):  # 6 batches of 20 new cells: the cap is passed twice
        featurizer.transform([darts.sample(rng) for _ in range(20)], vocabulary)
        assert len(featurizer._rows) <= 30 + 20 and len(featurizer._id_labels) < 2000
        assert torch.equal(featurizer.transform(train, vocabulary), expected)


def test_encodings_keep_a_bounded_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    import infonas.encodings.categorical as categorical
    from infonas.encodings.categorical import CategoricalEncoding, GraphEncoding
    from search_spaces import get_space

    monkeypatch.setattr(categorical, "MAX_CACHED_ARCHITECTURES", 15)
    darts = get_space("darts")
    rng = np.random.default_rng(1)
    encoding, graphs = CategoricalEncoding(darts), GraphEncoding(darts)
    first = [darts.sample(rng) for _ in range(10)]
    expected = encoding(first)
    for _ in range(4):
        batch = [darts.sample(rng) for _ in range(10)]
        encoding(batch), graphs(batch)
        assert len(encoding._cache) <= 15 + 10 and len(graphs._cache) <= 15 + 10
    assert torch.equal(encoding(first), expected)
