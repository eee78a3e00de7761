"""Evaluate a cell by training its NB201 network from scratch on a small data set.

The default data are scikit-learn's handwritten digits (1,797 8x8 grey images, 10 classes; they
ship with scikit-learn, nothing is downloaded), split 60/20/20 into train, validation and test
sets by a seed. Any torch ``Dataset`` of ``(image, label)`` pairs works the same way.

Example:
    >>> from search_spaces import NB201Space
    >>> evaluator = TrainingEvaluator(epochs={"short": 1}, num_cells=1, channels=4, seed=0)
    >>> result = evaluator.evaluate(NB201Space().make(["nor_conv_3x3"] * 6))
    >>> sorted(result.metrics)
    ['test_accuracy', 'train_loss', 'valid_accuracy']
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset

from infonas.evaluators.base import Evaluator, Fidelity
from infonas.trials import EvaluationResult
from search_spaces.base import Architecture
from search_spaces.nb201.network import NB201Network

__all__ = [
    "DEFAULT_FRACTIONS",
    "TrainingEvaluator",
    "load_digits_splits",
    "split_dataset",
    "stable_seed",
    "torch_threads",
]

DEFAULT_FRACTIONS: tuple[float, float, float] = (0.6, 0.2, 0.2)

Splits = tuple[Dataset, Dataset, Dataset]


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from ``parts`` that is the same in every process and Python version.

    ``sha256`` of the parts' ``repr``s joined; never Python's ``hash()``, which is salted per
    process for strings.

    Example:
        >>> stable_seed(0, "abc") == stable_seed(0, "abc")
        True
    """
    digest = hashlib.sha256("\x1f".join(repr(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` torch intra-op threads, then put the previous count back.

    ``None``, or the count torch already uses, touches nothing: a process that set its threads
    once (``infonas --threads``, a benchmark worker) pays no global change per evaluation. The
    setting is process-wide, so blocks running at once in threads of one process must agree.

    Example:
        >>> before = torch.get_num_threads()
        >>> with torch_threads(1):
        ...     torch.get_num_threads()
        1
        >>> torch.get_num_threads() == before
        True
    """
    previous = torch.get_num_threads()
    if count is None or count == previous:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _split_sizes(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    if len(fractions) != 3 or any(f <= 0 for f in fractions):
        raise ValueError(f"need three positive split fractions (train, valid, test), got {tuple(fractions)}")
    total = float(sum(fractions))
    n_train = int(round(n * fractions[0] / total))
    n_valid = int(round(n * fractions[1] / total))
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


def load_digits_splits(
    seed: int = 0, fractions: Sequence[float] = DEFAULT_FRACTIONS
) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
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


def _as_tensors(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """All of ``dataset`` as an ``(n, C, H, W)`` float tensor and an ``(n,)`` long tensor."""
    # Fast paths read the tensors directly; a small data set in memory trains far faster than
    # through a DataLoader, whose per-sample overhead dominates at this scale.
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) >= 2:
        images, labels = dataset.tensors[0], dataset.tensors[1]
    elif (
        isinstance(dataset, Subset)
        and isinstance(dataset.dataset, TensorDataset)
        and len(dataset.dataset.tensors) >= 2
    ):
        index = torch.as_tensor(list(dataset.indices), dtype=torch.long)
        images, labels = dataset.dataset.tensors[0][index], dataset.dataset.tensors[1][index]
    else:
        pairs = [dataset[i] for i in range(len(dataset))]  # type: ignore[arg-type]
        if not pairs:
            raise ValueError("a data split is empty")
        images = torch.stack([torch.as_tensor(image) for image, _ in pairs])
        labels = torch.stack([torch.as_tensor(label) for _, label in pairs])
    if len(images) == 0:
        raise ValueError("a data split is empty")
    images = images.float()
    if images.dim() == 3:  # (n, H, W): single-channel images without a channel axis
        images = images.unsqueeze(1)
    if images.dim() != 4:
        raise ValueError(f"expected images of shape (C, H, W) or (H, W), got samples of shape {tuple(images.shape[1:])}")
    return images, labels.long().reshape(-1)


class TrainingEvaluator(Evaluator):
    """Trains a cell's ``NB201Network`` from scratch and reports its accuracies.

    Training is SGD with Nesterov momentum and a cosine learning-rate schedule on the cross
    entropy, ``epochs[fidelity]`` epochs over the train split (``epochs`` maps fidelity names to
    epochs; a plain number ``e`` means ``{"full": e}``, the default ``{"full": 10}``); accuracies (in %) are measured on
    the valid and test splits in eval mode. Metrics: ``valid_accuracy``, ``test_accuracy`` and
    ``train_loss`` (the mean loss of the last epoch); the cost is the measured seconds.

    ``data`` is ``None`` (the digits, split by ``split_seed``), one dataset (split the same way),
    or an explicit ``(train, valid, test)`` triple. The initial weights and the batch order derive
    from ``seed`` and the architecture's canonical key, so one cell always gets the same result
    (for a given device and ``num_threads``). ``num_threads`` (default 1) is the number of torch
    intra-op threads an evaluation trains with, set for the evaluation only (``torch_threads``:
    the caller's count is restored after, and nothing changes when it already matches): these
    small networks gain little from intra-op threads, and on a loaded machine oversubscribed
    threads slow training down by an order of magnitude. ``None`` trains with whatever the
    process set, e.g. once with ``infonas --threads`` or in a worker's initialiser.

    Example:
        >>> from search_spaces import NB201Space
        >>> evaluator = TrainingEvaluator(epochs={"low": 1, "high": 2}, channels=4)
        >>> evaluator.target_fidelity
        'high'
        >>> evaluator.evaluate(NB201Space().make(["none"] * 6), "low").metrics["valid_accuracy"] < 30
        True
    """

    metric_names = ("valid_accuracy", "test_accuracy", "train_loss")

    def __init__(
        self,
        data: Dataset | Sequence[Dataset] | None = None,
        *,
        epochs: Mapping[str, int] | int | None = None,
        num_cells: int = 1,
        channels: int = 16,
        batch_size: int = 64,
        learning_rate: float = 0.1,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        seed: int = 0,
        split_seed: int | None = None,
        split_fractions: Sequence[float] = DEFAULT_FRACTIONS,
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
        device: str | torch.device = "cpu",
        num_threads: int | None = 1,
    ) -> None:
        # A bare number means one fidelity, "full", so ``--epochs 5`` style options just work.
        epochs = {"full": 10 if epochs is None else epochs} if not isinstance(epochs, Mapping) else dict(epochs)
        if not epochs or any(int(e) != e or e < 1 for e in epochs.values()):
            raise ValueError(f"epochs must map fidelity names to positive integers, got {epochs}")
        if batch_size < 2:
            raise ValueError(f"batch_size must be at least 2 (BatchNorm needs two samples), got {batch_size}")
        if num_threads is not None and num_threads < 1:
            raise ValueError(f"num_threads must be positive, got {num_threads}")
        self.epochs = {name: int(e) for name, e in epochs.items()}
        # Levels rank fidelities by epochs; ``sorted`` is stable, so ties keep the caller's order.
        self.fidelities = {
            name: Fidelity(name, cost=None, level=level)
            for level, name in enumerate(sorted(self.epochs, key=self.epochs.__getitem__))
        }
        self.num_cells = num_cells
        self.channels = channels
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.seed = seed
        self.split_seed = seed if split_seed is None else split_seed
        self.device = torch.device(device)
        self.num_threads = num_threads

        if data is None:
            splits: Splits = load_digits_splits(self.split_seed, split_fractions)
        elif isinstance(data, Dataset):
            splits = split_dataset(data, self.split_seed, split_fractions)
        elif isinstance(data, Sequence) and len(data) == 3:
            splits = (data[0], data[1], data[2])
        else:
            raise TypeError("data must be None, one torch Dataset, or a (train, valid, test) sequence of Datasets")
        self._train_x, self._train_y = _as_tensors(splits[0])
        self._valid_x, self._valid_y = _as_tensors(splits[1])
        self._test_x, self._test_y = _as_tensors(splits[2])
        if len(self._train_x) < 2:
            raise ValueError("the train split needs at least two samples (BatchNorm in training mode)")

        inferred_shape = tuple(self._train_x.shape[1:])
        self.input_shape = tuple(input_shape) if input_shape is not None else inferred_shape
        if self.input_shape != inferred_shape:
            raise ValueError(f"input_shape {self.input_shape} does not match the data's {inferred_shape}")
        labels = torch.cat([self._train_y, self._valid_y, self._test_y])
        smallest, largest = int(labels.min()), int(labels.max())
        self.num_classes = largest + 1 if num_classes is None else num_classes
        if smallest < 0 or largest >= self.num_classes:
            raise ValueError(f"labels must lie in [0, {self.num_classes}), found {smallest}..{largest}")

    def _evaluate(self, arch: Architecture, fidelity: str) -> EvaluationResult:
        start = time.perf_counter()
        with torch_threads(self.num_threads):
            metrics = self._train_and_test(arch, self.epochs[fidelity])
        return EvaluationResult(metrics=metrics, cost=time.perf_counter() - start)

    def _train_and_test(self, arch: Architecture, epochs: int) -> dict[str, float]:
        seed = stable_seed(self.seed, arch.space, arch.key)
        # Weights come from the global generator; fork it so that training leaves the caller's
        # random state untouched. Built on the CPU, then moved, so any device gets the same start.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = NB201Network(arch, self.num_cells, self.channels, self.input_shape[0], self.num_classes)
        # Channels-last makes these small convolutions and poolings 1.2-3x faster on CPU
        # (oneDNN's native layout) and is the layout tensor cores prefer on GPUs.
        model = model.to(self.device, memory_format=torch.channels_last)
        generator = torch.Generator().manual_seed(seed)
        train_x = self._train_x.to(self.device, memory_format=torch.channels_last)
        train_y = self._train_y.to(self.device)
        n = len(train_x)
        # A last batch of a single sample would break BatchNorm in training mode: drop it.
        starts = [s for s in range(0, n, self.batch_size) if min(self.batch_size, n - s) >= 2]
        optimizer = torch.optim.SGD(
            model.parameters(),
            lr=self.learning_rate,
            momentum=self.momentum,
            nesterov=self.momentum > 0,
            weight_decay=self.weight_decay,
        )
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * len(starts))
        loss_fn = nn.CrossEntropyLoss()

        model.train()
        epoch_loss = math.nan
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator).to(self.device)
            total, seen = 0.0, 0
            for s in starts:
                index = order[s : s + self.batch_size]
                loss = loss_fn(model(train_x[index]), train_y[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                total += float(loss.detach()) * len(index)
                seen += len(index)
            epoch_loss = total / seen
            if not math.isfinite(epoch_loss):
                # Diverged: more epochs cannot help. NaN metrics make the base class fail the trial.
                return {name: math.nan for name in self.metric_names}
        return {
            "valid_accuracy": self._accuracy(model, self._valid_x, self._valid_y),
            "test_accuracy": self._accuracy(model, self._test_x, self._test_y),
            "train_loss": epoch_loss,
        }

    def _accuracy(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
        """Percentage of ``images`` whose arg-max logit is the label, in eval mode."""
        model.eval()
        correct = 0
        with torch.no_grad():
            for s in range(0, len(images), 1024):
                batch = images[s : s + 1024].to(self.device, memory_format=torch.channels_last)
                logits = model(batch)
                correct += int((logits.argmax(dim=1).cpu() == labels[s : s + 1024]).sum())
        return 100.0 * correct / len(images)
