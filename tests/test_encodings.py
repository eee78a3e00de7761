import numpy as np
import pytest
import torch

from infonas.encodings.categorical import CategoricalEncoding, GraphEncoding, OneHotEncoding, PathEncoding
from infonas.encodings.inputs import ArchitectureEncoder
from infonas.exceptions import InvalidArgumentError

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


def test_model_input_is_codes_then_wl_columns_written_once(space):
    """``encode`` writes ``[categorical | WL]`` (and trailing zero columns) into one matrix: the
    values of concatenating the two parts, whatever the layout and however often it is asked."""
    rng = np.random.default_rng(4)
    cells = [space.sample(rng) for _ in range(40)]
    encoder = ArchitectureEncoder(space, h_max=2)
    for train in (cells[:5], cells[:25]):
        layout = encoder.layout(train)
        expected = torch.cat([CategoricalEncoding(space)(cells), encoder.wl.transform(cells, layout.vocabulary)], -1)
        assert torch.equal(encoder.encode(cells, layout), expected)
        widened = encoder.encode(cells, layout, extra_columns=2)
        assert torch.equal(widened[:, :-2], expected) and not bool(widened[:, -2:].any())
        widened[:, -1] = 1.0  # a fresh matrix each call: the caller may fill it
        assert not bool(encoder.encode(cells, layout, extra_columns=2)[:, -1].any())
    onehot = encoder.layout(None, onehot=True)
    assert torch.equal(encoder.encode(cells, onehot), OneHotEncoding(space)(cells))
    assert encoder.encode([], layout).shape == (0, layout.dim)
    with pytest.raises(InvalidArgumentError, match="extra_columns"):
        encoder.encode(cells, layout, extra_columns=-1)
    with pytest.raises(InvalidArgumentError, match="shape"):
        encoder.wl.fill(np.zeros((3, layout.vocabulary.dim)), cells[:2], layout.vocabulary)
