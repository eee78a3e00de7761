"""Embedded data sets: each ships inside an installed package, so nothing is downloaded.

* ``digits``: scikit-learn's 1,797 handwritten digits, ``(1, 8, 8)`` images in [0, 1], split
  60/20/20 into train, validation and test by a seed.
* ``mnist1d``: Greydanus's MNIST-1D (PyPI ``mnist1d``), 5,000 signals of length 40 in 10
  classes, generated from templates inside the package by ``make_dataset`` (never its
  downloading ``get_dataset``). Its own 4,000/1,000 train/test split is kept; the 4,000 are split
  80/20 into train and validation by a seed. Unlike the digits, where nearly every cell scores
  97-100%, short training on MNIST-1D separates architectures.

Example:
    >>> train, valid, test = load_splits("mnist1d", seed=0)
    >>> len(train), len(valid), len(test), tuple(train[0][0].shape)
    (3200, 800, 1000, (1, 40))
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Subset, TensorDataset

from infonas.exceptions import InvalidArgumentError

__all__ = [
    "DATASETS",
    "DEFAULT_FRACTIONS",
    "load_digits_splits",
    "load_mnist1d_splits",
    "load_splits",
    "split_dataset",
]

DEFAULT_FRACTIONS: tuple[float, float, float] = (0.6, 0.2, 0.2)

Splits = tuple[TensorDataset, TensorDataset, TensorDataset]


def _split_sizes(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    if len(fractions) != 3 or any(f <= 0 for f in fractions):
        raise ValueError(f"need three positive split fractions (train, valid, test), got {tuple(fractions)}")
    total = float(sum(fractions))
    n_train = round(n * fractions[0] / total)
    n_valid = round(n * fractions[1] / total)
    n_test = n - n_train - n_valid
    if min(n_train, n_valid, n_test) < 1:
        raise ValueError(f"{n} samples are too few to split by {tuple(fractions)}")
    return n_train, n_valid, n_test


def split_dataset(
    dataset: Dataset, seed: int, fractions: Sequence[float] = DEFAULT_FRACTIONS
) -> tuple[Subset, Subset, Subset]:
    """Split ``dataset`` into (train, valid, test) subsets by a permutation drawn from ``seed`` alone.

    Sizes are ``round(n * fraction)`` for train and valid, the rest for test.

    Example:
        >>> data = TensorDataset(torch.arange(10.0))
        >>> [len(part) for part in split_dataset(data, seed=0)]
        [6, 2, 2]
    """
    n = len(dataset)  # type: ignore[arg-type]
    n_train, n_valid, _ = _split_sizes(n, fractions)
    order = np.random.default_rng(seed).permutation(n).tolist()
    return (
        Subset(dataset, order[:n_train]),
        Subset(dataset, order[n_train : n_train + n_valid]),
        Subset(dataset, order[n_train + n_valid :]),
    )


def load_digits_splits(seed: int = 0, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> Splits:
    """scikit-learn's digits as (train, valid, test) ``TensorDataset``s of ``(1, 8, 8)`` images in [0, 1].

    Pixel values 0..16 are divided by 16; the split depends on ``seed`` (and ``fractions``) only.

    Example:
        >>> train, valid, test = load_digits_splits(seed=0)
        >>> len(train), len(valid), len(test), tuple(train[0][0].shape)
        (1078, 359, 360, (1, 8, 8))
    """
    from sklearn.datasets import load_digits  # deferred: scikit-learn is slow to import

    digits = load_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.as_tensor(digits.target, dtype=torch.long)
    parts = split_dataset(TensorDataset(images, labels), seed, fractions)
    return tuple(TensorDataset(images[part.indices], labels[part.indices]) for part in parts)  # type: ignore[return-value]


def _mnist1d_arrays() -> dict[str, np.ndarray]:
    """MNIST-1D generated from the package's templates, leaving the caller's random state as it was."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as error:  # pragma: no cover - a dependency of infonas
        raise InvalidArgumentError("dataset 'mnist1d' needs the mnist1d package: pip install mnist1d") from error
    # make_dataset seeds numpy's and Python's global generators (args.seed = 42); put both back
    # so that generating the data never changes anybody else's random stream.
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        return make_dataset(get_dataset_args())
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)


def load_mnist1d_splits(seed: int = 0, valid_fraction: float = 0.2) -> Splits:
    """MNIST-1D as (train, valid, test) ``TensorDataset``s of ``(1, 40)`` float signals.

    The package's 1,000 test signals are the test split; its 4,000 training signals are split by
    a permutation drawn from ``seed`` into ``valid_fraction`` validation and the rest train.

    Example:
        >>> train, valid, test = load_mnist1d_splits(seed=1)
        >>> int(train.tensors[1].max()), tuple(test.tensors[0].shape)
        (9, (1000, 1, 40))
    """
    if not 0.0 < valid_fraction < 1.0:
        raise InvalidArgumentError(f"valid_fraction must lie strictly between 0 and 1, got {valid_fraction}; "
                                   "use e.g. 0.2")
    arrays = _mnist1d_arrays()
    signals = torch.as_tensor(np.asarray(arrays["x"]), dtype=torch.float32).unsqueeze(1)
    labels = torch.as_tensor(np.asarray(arrays["y"]), dtype=torch.long)
    test = TensorDataset(torch.as_tensor(np.asarray(arrays["x_test"]), dtype=torch.float32).unsqueeze(1),
                         torch.as_tensor(np.asarray(arrays["y_test"]), dtype=torch.long))
    order = torch.as_tensor(np.random.default_rng(seed).permutation(len(labels)))
    n_valid = round(len(labels) * valid_fraction)
    valid_index, train_index = order[:n_valid], order[n_valid:]
    return (TensorDataset(signals[train_index], labels[train_index]),
            TensorDataset(signals[valid_index], labels[valid_index]), test)


#: Data set name -> ``loader(seed)`` returning (train, valid, test) ``TensorDataset``s.
DATASETS: dict[str, Callable[[int], Splits]] = {
    "digits": load_digits_splits,
    "mnist1d": load_mnist1d_splits,
}


def load_splits(name: str, seed: int = 0) -> Splits:
    """The embedded data set ``name`` split into (train, valid, test) by ``seed``.

    Example:
        >>> load_splits("cifar10")
        Traceback (most recent call last):
        ...
        infonas.exceptions.InvalidArgumentError: unknown dataset 'cifar10': embedded data sets are ['digits', 'mnist1d'] (nothing is downloaded)
    """
    try:
        loader = DATASETS[name]
    except KeyError:
        raise InvalidArgumentError(f"unknown dataset {name!r}: embedded data sets are {sorted(DATASETS)} "
                                   "(nothing is downloaded)") from None
    return loader(seed)
