"""Evaluate an architecture by training its network from scratch on a small data set (an NB201
cell in its ``NB201Network``, a macro architecture in its ``MacroNetwork``: ``search_spaces.networks``).

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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset

from infonas.datasets import DEFAULT_FRACTIONS, load_digits_splits, load_splits, split_dataset
from infonas.evaluators.base import Evaluator, Fidelity
from infonas.exceptions import InvalidArchitectureError, InvalidArgumentError
from infonas.trials import EvaluationResult
from search_spaces.base import Architecture
from search_spaces.networks import network_config

__all__ = [
    "DEFAULT_FRACTIONS",
    "TrainingEvaluator",
    "batch_starts",
    "load_digits_splits",
    "sgd_with_cosine",
    "split_dataset",
    "stable_seed",
    "torch_threads",
]

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


def batch_starts(n: int, batch_size: int) -> list[int]:
    """Start indices of the minibatches of ``n`` samples, in order, without a last batch of a single
    sample (BatchNorm in training mode needs two).

    Example:
        >>> batch_starts(9, 4), batch_starts(10, 4)
        ([0, 4], [0, 4, 8])
    """
    return [s for s in range(0, n, batch_size) if min(batch_size, n - s) >= 2]


def sgd_with_cosine(parameters: Iterable[nn.Parameter], learning_rate: float, momentum: float, weight_decay: float,
                    steps: int) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.CosineAnnealingLR]:
    """SGD (with Nesterov momentum when ``momentum > 0``) and a cosine schedule from ``learning_rate``
    to 0 over ``steps`` steps: how cells and supernets are trained.

    Example:
        >>> optimizer, schedule = sgd_with_cosine(nn.Linear(2, 1).parameters(), 0.1, 0.9, 5e-4, steps=10)
        >>> optimizer.defaults["nesterov"], schedule.T_max
        (True, 10)
    """
    optimizer = torch.optim.SGD(parameters, lr=learning_rate, momentum=momentum, nesterov=momentum > 0,
                                weight_decay=weight_decay)
    return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)


def _as_tensors(dataset: Dataset, like: Sequence[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """All of ``dataset`` as an ``(n, C, H, W)`` or ``(n, C, L)`` float tensor and an ``(n,)`` long tensor.

    Samples without a channel axis get one: ``(L,)`` always, and ``(H, W)`` when ``like`` (the
    expected sample shape) is ``(1, H, W)``; without ``like``, ``(a, b)`` samples are ``(C, L)``
    signals, since the two readings cannot be told apart from the data."""
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
    if images.dim() == 2 or (like is not None and len(like) == images.dim() and like[0] == 1
                             and tuple(images.shape[1:]) == tuple(like[1:])):
        images = images.unsqueeze(1)  # single-channel samples without a channel axis
    if images.dim() not in (3, 4):
        raise ValueError("expected images of shape (C, H, W) or signals of shape (C, L), got samples of shape "
                         f"{tuple(images.shape[1:])}")
    return images, labels.long().reshape(-1)


def _layout(tensor: torch.Tensor) -> torch.Tensor:
    """Channels-last for image batches, which makes these small convolutions and poolings 1.2-3x
    faster on CPU (oneDNN's native layout); signals stay as they are."""
    return tensor.contiguous(memory_format=torch.channels_last) if tensor.dim() == 4 else tensor


class TrainingEvaluator(Evaluator):
    """Trains an architecture's network from scratch and reports its accuracies.

    The network is the one its space trains in (``search_spaces.networks.network_config``):
    a cell's ``NB201Network`` with ``num_cells`` cells per stage and ``channels`` channels, or a
    macro architecture's ``MacroNetwork`` with base width ``channels`` (``num_cells`` unused).

    Training is SGD with Nesterov momentum and a cosine learning-rate schedule on the cross
    entropy, ``epochs[fidelity]`` epochs over the train split (``epochs`` maps fidelity names to
    epochs; a plain number ``e`` means ``{"full": e}``, the default ``{"full": 10}``); accuracies (in %) are measured on
    the valid and test splits in eval mode. Metrics: ``valid_accuracy``, ``test_accuracy`` and
    ``train_loss`` (the mean loss of the last epoch); the cost is the measured seconds.

    ``data`` is ``None`` (the digits), the name of an embedded data set (``"digits"`` or
    ``"mnist1d"``, split by ``split_seed``; see ``infonas.datasets``), one dataset (split
    ``split_fractions`` by ``split_seed``), or an explicit ``(train, valid, test)`` triple. Images
    ``(C, H, W)`` train the 2-D network, signals ``(C, L)`` its 1-D form. With ``curve=True`` the
    validation accuracy is also measured after every epoch, as ``valid_accuracy_ep<k>`` (the
    learning curve: a cell's short-training fidelities come from the same run). The initial weights and the batch order derive
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

    def __init__(
        self,
        data: str | Dataset | Sequence[Dataset] | None = None,
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
        curve: bool = False,
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
        self.curve = curve
        longest = max(self.epochs.values())
        self.metric_names: tuple[str, ...] = ("valid_accuracy", "test_accuracy", "train_loss") + (
            tuple(f"valid_accuracy_ep{k}" for k in range(1, longest + 1)) if curve else ())

        if data is None:
            splits: Splits = load_digits_splits(self.split_seed, split_fractions)
        elif isinstance(data, str):
            splits = load_splits(data, self.split_seed)
        elif isinstance(data, Dataset):
            splits = split_dataset(data, self.split_seed, split_fractions)
        elif isinstance(data, Sequence) and len(data) == 3:
            splits = (data[0], data[1], data[2])
        else:
            raise TypeError("data must be None, one torch Dataset, or a (train, valid, test) sequence of Datasets")
        self._train_x, self._train_y = _as_tensors(splits[0], input_shape)
        # The train split fixes the layout; (H, W) samples of the others follow its (1, H, W).
        self._valid_x, self._valid_y = _as_tensors(splits[1], self._train_x.shape[1:])
        self._test_x, self._test_y = _as_tensors(splits[2], self._train_x.shape[1:])
        if len(self._train_x) < 2:
            raise ValueError("the train split needs at least two samples (BatchNorm in training mode)")

        inferred_shape = tuple(self._train_x.shape[1:])
        self.input_shape = tuple(input_shape) if input_shape is not None else inferred_shape
        if self.input_shape != inferred_shape:
            raise ValueError(f"input_shape {self.input_shape} does not match the data's {inferred_shape}")
        if len(self.input_shape) not in (2, 3):
            raise ValueError(f"input_shape must be (C, L) or (C, H, W), got {self.input_shape}")
        labels = torch.cat([self._train_y, self._valid_y, self._test_y])
        smallest, largest = int(labels.min()), int(labels.max())
        self.num_classes = largest + 1 if num_classes is None else num_classes
        if smallest < 0 or largest >= self.num_classes:
            raise ValueError(f"labels must lie in [0, {self.num_classes}), found {smallest}..{largest}")
        self._network_configs: dict[str, Any] = {}
        #: The network every NB201 cell is trained in: 2-D for images, 1-D for signals (other
        #: spaces' networks: ``network_config_for``).
        self.network_config = self.network_config_for("nb201")

    def network_config_for(self, space: str) -> Any:
        """The config of the network architectures of ``space`` are trained in, for this data."""
        if space not in self._network_configs:
            try:
                self._network_configs[space] = network_config(space, self.input_shape, num_cells=self.num_cells,
                                                              channels=self.channels, num_classes=self.num_classes)
            except InvalidArgumentError as error:
                # For the caller it is the architecture (of a space without a network) that is wrong.
                raise InvalidArchitectureError(str(error)) from None
        return self._network_configs[space]

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
            config = self.network_config_for(arch.space)
            model = config.build(arch)
        # Channels-last (images only) is also the layout tensor cores prefer on GPUs.
        model = model.to(self.device)
        if config.spatial_dims == 2:
            model = model.to(memory_format=torch.channels_last)
        generator = torch.Generator().manual_seed(seed)
        train_x = _layout(self._train_x.to(self.device))
        train_y = self._train_y.to(self.device)
        n = len(train_x)
        starts = batch_starts(n, self.batch_size)
        optimizer, scheduler = sgd_with_cosine(model.parameters(), self.learning_rate, self.momentum,
                                               self.weight_decay, epochs * len(starts))
        loss_fn = nn.CrossEntropyLoss()

        curve: dict[str, float] = {}
        epoch_loss = math.nan
        for epoch in range(1, epochs + 1):
            model.train()
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
            if self.curve:
                curve[f"valid_accuracy_ep{epoch}"] = self._accuracy(model, self._valid_x, self._valid_y)
        valid = curve.get(f"valid_accuracy_ep{epochs}")
        return {
            "valid_accuracy": self._accuracy(model, self._valid_x, self._valid_y) if valid is None else valid,
            "test_accuracy": self._accuracy(model, self._test_x, self._test_y),
            "train_loss": epoch_loss,
            **curve,
        }

    def _accuracy(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
        """Percentage of ``images`` whose arg-max logit is the label, in eval mode."""
        model.eval()
        correct = 0
        with torch.no_grad():
            for s in range(0, len(images), 1024):
                batch = _layout(images[s : s + 1024].to(self.device))
                logits = model(batch)
                correct += int((logits.argmax(dim=1).cpu() == labels[s : s + 1024]).sum())
        return 100.0 * correct / len(images)
