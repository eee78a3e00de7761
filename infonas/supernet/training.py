"""Training a supernet, checkpointed every epoch so that a killed run continues where it stopped.

Two modes over the same modules:

* ``"spos"`` (single-path one-shot, Guo et al. 2020): each step trains one sub-network drawn
  uniformly over the canonical classes of cells (de-isomorphic sampling, Ning et al. 2021:
  uniform over NB201's 15,625 strings overweights simple cells that have many isomorphic
  copies), optionally with path dropout (each edge's output zeroed per sample with probability
  ``path_dropout`` and the rest scaled by ``1/(1-p)``);
* ``"mixed"`` (DARTS's relaxation at fixed uniform weights): each step trains every operation
  of every edge, ``edge(x) = (1/5) sum_o op_o(x)``; gradient NAS (issue 13) learns the weights.

Randomness is a function of ``(seed, epoch)`` for the batch order and of ``(seed, step)`` for the
sampled cell and the dropout masks, so a run resumed from an end-of-epoch checkpoint continues
exactly as an uninterrupted one.

Example:
    >>> from infonas.datasets import load_splits
    >>> train, _, _ = load_splits("digits", seed=0)
    >>> settings = SupernetSettings(mode="spos", epochs=1, channels=2)
    >>> trainer = SupernetTrainer(settings, train.tensors[0][:128], train.tensors[1][:128])
    >>> trainer.train().epochs_done
    1
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from infonas.evaluators.training import batch_starts, sgd_with_cosine, stable_seed, torch_threads
from infonas.exceptions import IncompatibleRunError, InvalidArgumentError
from infonas.storage.files import atomic_write_bytes
from infonas.supernet.network import Supernet
from search_spaces.base import Architecture
from search_spaces.nb201 import NB201Space
from search_spaces.nb201.network import NetworkConfig

__all__ = ["MODES", "CanonicalSampler", "SupernetSettings", "SupernetTrainer"]

logger = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("spos", "mixed")
CHECKPOINT_NAME = "supernet.pt"
STATE_NAME = "supernet.json"


class CanonicalSampler:
    """Cells drawn uniformly over NB201's canonical classes (each class's first string stands for it).

    ``over="strings"`` draws uniformly over the 15,625 strings instead (the biased baseline).

    Example:
        >>> sampler = CanonicalSampler()
        >>> sampler.size, CanonicalSampler(over="strings").size
        (6466, 15625)
    """

    def __init__(self, over: str = "classes") -> None:
        if over not in ("classes", "strings"):
            raise InvalidArgumentError(f"sampling must be over 'classes' or 'strings', got {over!r}")
        space = NB201Space()
        if over == "strings":
            self.cells: list[Architecture] = list(space.enumerate())
        else:
            self.cells = space.canonical_representatives()
        self._choices = [Supernet.choices_of(arch) for arch in self.cells]

    @property
    def size(self) -> int:
        return len(self.cells)

    def choices(self, rng: np.random.Generator) -> tuple[int, ...]:
        """The operation indices of one cell drawn uniformly."""
        return self._choices[int(rng.integers(len(self._choices)))]


@dataclasses.dataclass(frozen=True)
class SupernetSettings:
    """What determines a trained supernet; stored beside its checkpoint and checked on resume."""

    mode: str = "spos"
    epochs: int = 100
    channels: int = 8
    num_cells: int = 1
    batch_size: int = 64
    learning_rate: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seed: int = 0
    path_dropout: float = 0.0
    sampling: str = "classes"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidArgumentError(f"supernet mode must be one of {list(MODES)}, got {self.mode!r}")
        if min(self.epochs, self.channels, self.num_cells) < 1 or self.batch_size < 2:
            raise InvalidArgumentError("supernet epochs, channels and num_cells must be >= 1 and batch_size >= 2, "
                                       f"got {self.epochs}, {self.channels}, {self.num_cells}, {self.batch_size}")
        if not 0.0 <= self.path_dropout < 1.0:
            raise InvalidArgumentError(f"path_dropout must lie in [0, 1), got {self.path_dropout}")
        if self.mode == "mixed" and self.path_dropout > 0:
            raise InvalidArgumentError(f"path_dropout ({self.path_dropout}) applies to single-path training only: "
                                       "use mode='spos' or path_dropout=0")
        if self.sampling not in ("classes", "strings"):
            # Checked here too, not only by CanonicalSampler: a "mixed" run never builds a sampler.
            raise InvalidArgumentError(f"sampling must be over 'classes' or 'strings', got {self.sampling!r}")


def _atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` ``obj`` so that a crash leaves either the old file or the new one, never half of one."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


class SupernetTrainer:
    """Trains a ``Supernet`` on ``(train_x, train_y)`` by ``settings``; checkpoints in ``checkpoint_dir``.

    ``train()`` runs the epochs left (all of them, or those after the checkpoint's) and saves the
    model, optimizer and schedule after every epoch; ``seconds`` is the training time spent over
    the supernet's whole life (resumed runs included), the cost a search is charged once.
    """

    def __init__(self, settings: SupernetSettings, train_x: torch.Tensor, train_y: torch.Tensor,
                 checkpoint_dir: str | Path | None = None, num_classes: int | None = None,
                 num_threads: int | None = 1) -> None:
        self.settings = settings
        self.train_x, self.train_y = train_x.float(), train_y.long()
        classes = int(self.train_y.max()) + 1 if num_classes is None else num_classes
        self.config = NetworkConfig.for_input(tuple(self.train_x.shape[1:]), settings.num_cells, settings.channels,
                                              classes)
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.num_threads = num_threads
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(stable_seed(settings.seed, "supernet-init"))
            self.supernet = Supernet(self.config)
        n = len(self.train_x)
        self._starts = batch_starts(n, settings.batch_size)
        if not self._starts:
            raise InvalidArgumentError(f"supernet training needs at least 2 training samples, got {n}: pass more data")
        self.optimizer, self.scheduler = sgd_with_cosine(self.supernet.parameters(), settings.learning_rate,
                                                         settings.momentum, settings.weight_decay,
                                                         settings.epochs * len(self._starts))
        self.sampler = CanonicalSampler(settings.sampling) if settings.mode == "spos" else None
        self.epochs_done = 0
        self.seconds = 0.0
        self.last_loss = math.nan
        if self.checkpoint_dir is not None:
            self._load()

    @staticmethod
    def saved_seconds(checkpoint_dir: str | Path | None) -> float:
        """Training seconds recorded in ``checkpoint_dir`` (0 when nothing was saved there)."""
        if checkpoint_dir is None or not (Path(checkpoint_dir) / STATE_NAME).exists():
            return 0.0
        return float(json.loads((Path(checkpoint_dir) / STATE_NAME).read_text())["seconds"])

    @property
    def done(self) -> bool:
        return self.epochs_done >= self.settings.epochs

    def _load(self) -> None:
        assert self.checkpoint_dir is not None
        state_path = self.checkpoint_dir / STATE_NAME
        if not state_path.exists():
            return
        state = json.loads(state_path.read_text())
        saved = state.get("settings")
        if saved != dataclasses.asdict(self.settings):
            raise IncompatibleRunError(f"{self.checkpoint_dir} holds a supernet trained with {saved}, not "
                                       f"{dataclasses.asdict(self.settings)}: use the same settings or another "
                                       "directory")
        checkpoint = torch.load(self.checkpoint_dir / CHECKPOINT_NAME, weights_only=True)
        if checkpoint["epochs_done"] != state["epochs_done"]:
            # The state file is written after the checkpoint: a crash between them leaves the
            # checkpoint one epoch ahead, which is the one to trust.
            logger.info("supernet state file behind its checkpoint; using the checkpoint")
        self.supernet.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.epochs_done = int(checkpoint["epochs_done"])
        self.seconds = float(checkpoint["seconds"])
        self.last_loss = float(checkpoint["loss"])

    def _save(self) -> None:
        assert self.checkpoint_dir is not None
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        _atomic_save({"model": self.supernet.state_dict(), "optimizer": self.optimizer.state_dict(),
                      "scheduler": self.scheduler.state_dict(), "epochs_done": self.epochs_done,
                      "seconds": self.seconds, "loss": self.last_loss}, self.checkpoint_dir / CHECKPOINT_NAME)
        state = {"settings": dataclasses.asdict(self.settings), "epochs_done": self.epochs_done,
                 "seconds": self.seconds, "loss": self.last_loss, "done": self.done}
        atomic_write_bytes(self.checkpoint_dir / STATE_NAME, json.dumps(state, indent=2).encode())

    def forward(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """The supernet's logits for training step ``step``: the cell drawn for that step (with its
        path-dropout masks), or the mixed operation at uniform weights."""
        settings = self.settings
        if self.sampler is None:
            return self.supernet(x, weights=Supernet.uniform_weights())
        choices = self.sampler.choices(np.random.default_rng([settings.seed, step]))
        keep = None
        if settings.path_dropout > 0:
            generator = torch.Generator().manual_seed(stable_seed(settings.seed, "drop", step))
            kept = torch.rand(len(choices), len(x), generator=generator) >= settings.path_dropout
            keep = kept.float() / (1.0 - settings.path_dropout)
        return self.supernet(x, choices=choices, keep=keep)

    def train(self, progress: bool = False) -> SupernetTrainer:
        """Train the epochs left, checkpointing after each; returns ``self``."""
        from tqdm.auto import tqdm

        settings = self.settings
        loss_fn = nn.CrossEntropyLoss()
        n = len(self.train_x)
        with torch_threads(self.num_threads), tqdm(total=settings.epochs, initial=self.epochs_done,
                                                   desc=f"supernet ({settings.mode})", unit="epoch",
                                                   disable=not progress, dynamic_ncols=True) as bar:
            while not self.done:
                started = time.perf_counter()
                epoch = self.epochs_done
                generator = torch.Generator().manual_seed(stable_seed(settings.seed, "order", epoch))
                order = torch.randperm(n, generator=generator)
                self.supernet.train()
                total, seen = 0.0, 0
                for index_in_epoch, s in enumerate(self._starts):
                    step = epoch * len(self._starts) + index_in_epoch
                    index = order[s: s + settings.batch_size]
                    loss = loss_fn(self.forward(self.train_x[index], step), self.train_y[index])
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    self.optimizer.step()
                    self.scheduler.step()
                    total += float(loss.detach()) * len(index)
                    seen += len(index)
                self.last_loss = total / seen
                if not math.isfinite(self.last_loss):
                    raise InvalidArgumentError(f"supernet training diverged in epoch {epoch + 1} (loss "
                                               f"{self.last_loss}): lower the learning rate "
                                               f"{settings.learning_rate}")
                self.epochs_done += 1
                self.seconds += time.perf_counter() - started
                if self.checkpoint_dir is not None:
                    self._save()
                bar.update(1)
                bar.set_postfix_str(f"loss {self.last_loss:.3f}", refresh=False)
        return self
