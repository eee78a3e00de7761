"""Embedded data sets (infonas.datasets): MNIST-1D's shapes and seeded split, and the digits."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
import torch

from infonas.datasets import DATASETS, load_digits_splits, load_mnist1d_splits, load_splits
from infonas.exceptions import InvalidArgumentError


@pytest.fixture(scope="module")
def mnist1d() -> tuple:
    return load_splits("mnist1d", seed=0)


def _rows(*tensors: torch.Tensor) -> Counter:
    """The multiset of samples (as bytes) of the tensors together."""
    return Counter(row.numpy().tobytes() for tensor in tensors for row in tensor)


def test_mnist1d_shapes_and_classes(mnist1d: tuple) -> None:
    assert [len(part) for part in mnist1d] == [3200, 800, 1000]
    for part in mnist1d:
        signals, labels = part.tensors
        assert tuple(signals.shape[1:]) == (1, 40) and signals.dtype == torch.float32
        assert labels.dtype == torch.long
    # Every class in every split: 10 roughly balanced classes, not one short of a label.
    for part in mnist1d:
        assert set(part.tensors[1].tolist()) == set(range(10))


def test_mnist1d_split_depends_on_the_seed_only(mnist1d: tuple) -> None:
    again = load_splits("mnist1d", seed=0)
    for a, b in zip(mnist1d, again):
        assert torch.equal(a.tensors[0], b.tensors[0]) and torch.equal(a.tensors[1], b.tensors[1])
    other = load_mnist1d_splits(seed=1)
    assert not torch.equal(other[1].tensors[0], mnist1d[1].tensors[0])
    # The test split is the package's own, whatever the seed.
    assert torch.equal(other[2].tensors[0], mnist1d[2].tensors[0])
    # Same pool of 4,000 training signals, only dealt differently.
    assert _rows(other[0].tensors[0], other[1].tensors[0]) == _rows(mnist1d[0].tensors[0], mnist1d[1].tensors[0])


def test_mnist1d_train_and_valid_partition_the_packages_training_signals(mnist1d: tuple) -> None:
    from mnist1d.data import get_dataset_args, make_dataset

    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        package = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    expected = torch.as_tensor(np.asarray(package["x"]), dtype=torch.float32).unsqueeze(1)
    assert len(expected) == 4000
    train, valid, test = mnist1d
    assert _rows(train.tensors[0], valid.tensors[0]) == _rows(expected)
    # Disjoint: no training signal is also a validation signal (the package's signals are distinct).
    assert len(_rows(expected)) == 4000
    assert not set(_rows(train.tensors[0])) & set(_rows(valid.tensors[0]))
    # Labels travel with their signals.
    label_of = {row.numpy().tobytes(): int(y) for row, y in zip(expected, np.asarray(package["y"]))}
    assert all(label_of[x.numpy().tobytes()] == int(y) for x, y in zip(*valid.tensors))
    assert torch.equal(test.tensors[1], torch.as_tensor(np.asarray(package["y_test"]), dtype=torch.long))


def test_loading_leaves_the_global_random_states_alone() -> None:
    np.random.seed(123)
    random.seed(456)
    numpy_state, python_state = np.random.get_state(), random.getstate()
    load_splits("mnist1d", seed=3)
    after = np.random.get_state()
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1]) and after[2:] == numpy_state[2:]
    assert random.getstate() == python_state
    assert np.random.random() == np.random.RandomState(123).random_sample()


def test_valid_fraction_is_checked() -> None:
    with pytest.raises(InvalidArgumentError, match="valid_fraction.*1.5"):
        load_mnist1d_splits(seed=0, valid_fraction=1.5)


def test_unknown_dataset_names_the_embedded_ones() -> None:
    assert sorted(DATASETS) == ["digits", "mnist1d"]
    with pytest.raises(InvalidArgumentError, match=r"unknown dataset 'cifar10'.*\['digits', 'mnist1d'\]"):
        load_splits("cifar10")


def test_digits_load_as_before() -> None:
    by_name = load_splits("digits", seed=0)
    direct = load_digits_splits(seed=0)
    assert [len(part) for part in by_name] == [1078, 359, 360]
    assert tuple(by_name[0].tensors[0].shape[1:]) == (1, 8, 8)
    for a, b in zip(by_name, direct):
        assert torch.equal(a.tensors[0], b.tensors[0]) and torch.equal(a.tensors[1], b.tensors[1])
    # Pinned from the loader before it moved to infonas.datasets: the same split, the same scaling.
    assert by_name[0].tensors[1][:12].tolist() == [6, 6, 6, 2, 5, 6, 6, 2, 2, 1, 1, 9]
    assert by_name[1].tensors[1][:12].tolist() == [3, 0, 0, 3, 0, 7, 6, 0, 6, 2, 7, 0]
    assert float(by_name[0].tensors[0].sum()) == 21036.375
