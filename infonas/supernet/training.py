"""Training a supernet, checkpointed every epoch so that a killed run continues where it stopped.

The supernet is NB201's ``Supernet`` (``space="nb201"``, the default) or the DARTS search network
``DartsSupernet`` (``space="darts"``), in the network its space trains architectures in
(``search_spaces.networks.network_config``). Two modes over the same modules:

* ``"spos"`` (single-path one-shot, Guo et al. 2020): each step trains one sub-network drawn
  uniformly over the canonical classes of cells (de-isomorphic sampling, Ning et al. 2021:
  uniform over NB201's 15,625 strings overweights simple cells that have many isomorphic
  copies), optionally with path dropout (each edge's output zeroed per sample with probability
  ``path_dropout`` and the rest scaled by ``1/(1-p)``); on DARTS, uniform over the 22 positions'
  options (``DartsSpace.sample``: its 9.1e18 architectures cannot be grouped into classes), each
  step running only the genotype's 8 edges per cell;
* ``"mixed"`` (DARTS's relaxation at fixed uniform weights): each step trains every operation
  of every edge, ``edge(x) = (1/|O|) sum_o op_o(x)`` (``|O|`` = 5 on NB201, 8 on DARTS); gradient
  NAS (issue 13) learns the weights.

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
from infonas.supernet.darts import DartsSupernet
from infonas.supernet.network import Supernet
from search_spaces.base import Architecture
from search_spaces.darts import DartsSpace
from search_spaces.nb201 import NB201Space
from search_spaces.networks import network_config

__all__ = ["MODES", "SPACES", "CanonicalSampler", "SpaceSampler", "SupernetSettings", "SupernetTrainer"]

logger = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("spos", "mixed")
#: The spaces with a supernet, and the supernet class of each.
SUPERNETS: dict[str, type[Supernet | DartsSupernet]] = {"nb201": Supernet, "darts": DartsSupernet}
SPACES: tuple[str, ...] = tuple(SUPERNETS)
#: Each space's draw of single-path cells when ``sampling`` is left out.
DEFAULT_SAMPLING: dict[str, str] = {"nb201": "classes", "darts": "strings"}
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


class SpaceSampler:
    """Architectures drawn by the DARTS space's own ``sample`` (uniform over its choice vectors).

    Example:
        >>> import numpy as np
        >>> len(SpaceSampler().choices(np.random.default_rng(0)))
        22
    """

    def __init__(self) -> None:
        self.space = DartsSpace()

    def choices(self, rng: np.random.Generator) -> tuple[int, ...]:
        """The option index at each of the 22 positions of one architecture drawn uniformly."""
        return self.space.to_categorical(self.space.sample(rng))


@dataclasses.dataclass(frozen=True)
class SupernetSettings:
    """What determines a trained supernet; stored beside its checkpoint (``to_json``) and checked on resume.

    ``space`` is ``"nb201"`` (default) or ``"darts"``. ``sampling`` is NB201's draw of single-path
    cells, over canonical classes (its default) or strings; DARTS draws strings only (uniform over
    its choice vectors), its default, and has no path dropout.

    Example:
        >>> SupernetSettings(space="darts").sampling, "space" in SupernetSettings().to_json()
        ('strings', False)
    """

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
    sampling: str | None = None
    space: str = "nb201"

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise InvalidArgumentError(f"a supernet exists for the spaces {list(SPACES)}, got space={self.space!r}: "
                                       "use one of those")
        if self.sampling is None:  # the space's own draw; resolved so the saved settings name it
            object.__setattr__(self, "sampling", DEFAULT_SAMPLING[self.space])
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
        if self.space == "darts" and (self.sampling != "strings" or self.path_dropout > 0):
            raise InvalidArgumentError(
                f"the DARTS supernet draws cells uniformly over its choice vectors (sampling='strings'; its 9.1e18 "
                f"architectures cannot be grouped into classes) without path dropout, got sampling="
                f"{self.sampling!r} and path_dropout={self.path_dropout}: leave both out for space='darts'")

    def to_json(self) -> dict[str, Any]:
        """The settings as saved beside a checkpoint; ``space`` only when it is not ``"nb201"``, so
        NB201 checkpoints saved before spaces existed read the same."""
        saved = dataclasses.asdict(self)
        if self.space == "nb201":
            del saved["space"]
        return saved


def _atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` ``obj`` so that a crash leaves either the old file or the new one, never half of one."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


class SupernetTrainer:
    """Trains the supernet of ``settings.space`` on ``(train_x, train_y)``; checkpoints in ``checkpoint_dir``.

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
        self.config = network_config(settings.space, tuple(self.train_x.shape[1:]), num_cells=settings.num_cells,
                                     channels=settings.channels, num_classes=classes)
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.num_threads = num_threads
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(stable_seed(settings.seed, "supernet-init"))
            self.supernet: Supernet | DartsSupernet = SUPERNETS[settings.space](self.config)
        n = len(self.train_x)
        self._starts = batch_starts(n, settings.batch_size)
        if not self._starts:
            raise InvalidArgumentError(f"supernet training needs at least 2 training samples, got {n}: pass more data")
        self.optimizer, self.scheduler = sgd_with_cosine(self.supernet.parameters(), settings.learning_rate,
                                                         settings.momentum, settings.weight_decay,
                                                         settings.epochs * len(self._starts))
        self.sampler: CanonicalSampler | SpaceSampler | None = None
        if settings.mode == "spos":
            self.sampler = SpaceSampler() if settings.space == "darts" else CanonicalSampler(str(settings.sampling))
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
        if saved != self.settings.to_json():
            raise IncompatibleRunError(f"{self.checkpoint_dir} holds a supernet trained with {saved}, not "
                                       f"{self.settings.to_json()}: use the same settings or another directory")
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
        state = {"settings": self.settings.to_json(), "epochs_done": self.epochs_done,
                 "seconds": self.seconds, "loss": self.last_loss, "done": self.done}
        atomic_write_bytes(self.checkpoint_dir / STATE_NAME, json.dumps(state, indent=2).encode())

    def forward(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """The supernet's logits for training step ``step``: the cell drawn for that step (with its
        path-dropout masks), or the mixed operation at uniform weights."""
        settings = self.settings
        if self.sampler is None:
            return self.supernet(x, weights=self.supernet.uniform_weights())
        choices = self.sampler.choices(np.random.default_rng([settings.seed, step]))
        if settings.path_dropout == 0:
            return self.supernet(x, choices=choices)
        generator = torch.Generator().manual_seed(stable_seed(settings.seed, "drop", step))
        kept = torch.rand(len(choices), len(x), generator=generator) >= settings.path_dropout
        return self.supernet(x, choices=choices, keep=kept.float() / (1.0 - settings.path_dropout))

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
