import numpy as np
import torch

from infonas.encodings.categorical import CategoricalEncoding, GraphEncoding, OneHotEncoding, PathEncoding

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def test_categorical_and_one_hot_agree(space):
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(20)]
    cat = CategoricalEncoding(space)(archs)
    onehot = OneHotEncoding(space)(archs)
    assert cat.shape == (20, 6) and onehot.shape == (20, 30) and cat.dtype == torch.float64
    assert torch.equal(onehot.reshape(20, 6, 5).argmax(-1).double(), cat)
    assert torch.all(onehot.sum(1) == 6)


def test_path_encoding_counts_paths(space):
    encoding = PathEncoding(space)
    assert encoding.dim == 4 + 16 + 64
    best = encoding([space.parse(BEST)])[0]
    # Live paths: 0->3 skip; 0->1->3 (3x3,3x3); 0->2->3 (3x3,1x1); 0->1->2->3 (3x3,3x3,1x1).
    assert best.sum() == 4
    assert encoding.index[("skip_connect",)] in torch.nonzero(best).flatten().tolist()
    assert encoding([space.make(["none"] * 6)]).sum() == 0


def test_path_encoding_identical_for_isomorphic_cells(space):
    # The ops on edges 0->1 and 0->2 never reach the output: both cells compute conv3x3(input).
    a = space.parse("|nor_conv_1x1~0|+|avg_pool_3x3~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    b = space.parse("|avg_pool_3x3~0|+|skip_connect~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    encoding = PathEncoding(space)
    assert torch.equal(encoding([a]), encoding([b]))


def test_graph_encoding_cached(space):
    encoding = GraphEncoding(space)
    arch = space.parse(BEST)
    first, second = encoding([arch, arch])
    assert first is second and first.number_of_nodes() == 8
