"""The cheap fidelity: a cell's accuracy as a sub-network of a trained weight-sharing supernet.

The supernet is NB201's (``space="nb201"``, the default) or the DARTS search network
(``space="darts"``: an architecture's path is its genotype's 8 edges per cell).

Scoring a cell takes its weights from the supernet (no training), resets every BN layer's running
statistics and recomputes them on ``K`` training batches in train mode as a cumulative average,
then measures accuracy on the validation split in eval mode. Two ablations are measured beside
it when ``ablations=True``: the supernet's own running statistics (no recalibration) and batch
statistics at evaluation. The supernet is trained once (``prepare``, resumable from its
checkpoint); its training seconds are the evaluator's ``setup_cost``, charged to a run once.

Example:
    >>> from search_spaces import NB201Space
    >>> evaluator = SupernetEvaluator("digits", epochs=1, channels=2, recalibration_batches=2)
    >>> result = evaluator.evaluate(NB201Space().make(["nor_conv_3x3"] * 6))
    >>> sorted(result.metrics)
    ['valid_accuracy']
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from infonas.datasets import load_splits
from infonas.evaluators.base import Evaluator, Fidelity
from infonas.evaluators.training import _as_tensors, batch_starts, stable_seed, torch_threads
from infonas.exceptions import InvalidArchitectureError, InvalidArgumentError
from infonas.supernet.calibration import batch_norm_state, recalibrate_batch_norm, restore_batch_norm
from infonas.supernet.darts import DartsSupernet
from infonas.supernet.network import Supernet
from infonas.supernet.training import SUPERNETS, SupernetSettings, SupernetTrainer
from infonas.trials import EvaluationResult
from search_spaces.base import Architecture

__all__ = ["BATCH_NORM_MODES", "SupernetEvaluator"]

#: How a sub-network's BN layers get their statistics: recomputed on K training batches (the
#: default), the supernet's running statistics as trained, or each evaluation batch's own.
BATCH_NORM_MODES: dict[str, str] = {"recalibrate": "recal", "running": "norecal", "batch": "batchstats"}


class SupernetEvaluator(Evaluator):
    """Scores architectures of ``space`` at fidelity ``"supernet"`` on a supernet trained by ``SupernetSettings``.

    ``data`` is an embedded data set's name (split by ``split_seed``, default ``seed``) or a
    ``(train, valid, test)`` triple. ``batch_norm`` picks the statistics behind ``valid_accuracy``
    (``BATCH_NORM_MODES``); ``ablations=True`` also reports ``valid_accuracy_recal``,
    ``valid_accuracy_norecal`` and ``valid_accuracy_batchstats``. The recalibration batches are the
    first ``K * batch_size`` training samples of a permutation drawn from the seed: the same for
    every cell, so cells differ only by their weights. The cost is the measured seconds.
    """

    def __init__(self, data: str | Sequence[Dataset] = "mnist1d", *, mode: str = "spos", epochs: int = 100,
                 channels: int = 8, num_cells: int = 1, batch_size: int = 64, learning_rate: float = 0.1,
                 seed: int = 0, split_seed: int | None = None, path_dropout: float = 0.0,
                 sampling: str | None = None, recalibration_batches: int = 10, batch_norm: str = "recalibrate",
                 ablations: bool = False, checkpoint_dir: str | Path | None = None, eval_batch_size: int = 256,
                 num_threads: int | None = 1, space: str = "nb201") -> None:
        if batch_norm not in BATCH_NORM_MODES:
            raise InvalidArgumentError(f"batch_norm must be one of {list(BATCH_NORM_MODES)}, got {batch_norm!r}")
        if recalibration_batches < 1 or eval_batch_size < 2:
            raise InvalidArgumentError("recalibration_batches must be >= 1 and eval_batch_size >= 2, got "
                                       f"{recalibration_batches} and {eval_batch_size}")
        self.settings = SupernetSettings(mode=mode, epochs=epochs, channels=channels, num_cells=num_cells,
                                         batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                                         path_dropout=path_dropout, sampling=sampling, space=space)
        split_seed = seed if split_seed is None else split_seed
        splits = load_splits(data, split_seed) if isinstance(data, str) else tuple(data)
        if len(splits) != 3:
            raise InvalidArgumentError("data must be an embedded data set's name or a (train, valid, test) triple")
        self._train_x, self._train_y = _as_tensors(splits[0])
        self._valid_x, self._valid_y = _as_tensors(splits[1])
        self.batch_norm = batch_norm
        self.ablations = ablations
        self.recalibration_batches = recalibration_batches
        self.eval_batch_size = eval_batch_size
        self.num_threads = num_threads
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.fidelities = {"supernet": Fidelity("supernet", cost=None, level=0)}
        self.metric_names = ("valid_accuracy",) + (
            tuple(f"valid_accuracy_{suffix}" for suffix in BATCH_NORM_MODES.values()) if ablations else ())
        order = torch.randperm(len(self._train_x),
                               generator=torch.Generator().manual_seed(stable_seed(seed, "recalibration")))
        take = order[: recalibration_batches * batch_size]
        self._recalibration = [self._train_x[take[s: s + batch_size]] for s in batch_starts(len(take), batch_size)]
        self._trainer: SupernetTrainer | None = None
        self._trained_batch_norm: list | None = None

    def prepare(self, progress: bool = False) -> SupernetTrainer:
        """Train the supernet (or resume it from its checkpoint); later calls return it at once."""
        if self._trainer is None or not self._trainer.done:
            trainer = SupernetTrainer(self.settings, self._train_x, self._train_y, self.checkpoint_dir,
                                      num_classes=int(torch.cat([self._train_y, self._valid_y]).max()) + 1,
                                      num_threads=self.num_threads)
            trainer.train(progress=progress)
            trainer.supernet.eval()
            self._trainer = trainer
            self._trained_batch_norm = batch_norm_state(trainer.supernet)
        return self._trainer

    def setup_cost(self) -> float:
        """Seconds spent training the supernet so far (from its checkpoint before ``prepare``): a
        run's one-off charge."""
        if self._trainer is not None:
            return self._trainer.seconds
        return SupernetTrainer.saved_seconds(self.checkpoint_dir)

    def _accuracy(self, supernet: Supernet | DartsSupernet, choices: tuple[int, ...], train_mode: bool) -> float:
        supernet.train(train_mode)
        correct = 0
        with torch.no_grad():
            for s in range(0, len(self._valid_x), self.eval_batch_size):
                logits = supernet(self._valid_x[s: s + self.eval_batch_size], choices=choices)
                correct += int((logits.argmax(dim=1) == self._valid_y[s: s + self.eval_batch_size]).sum())
        supernet.eval()
        return 100.0 * correct / len(self._valid_x)

    def _score(self, supernet: Supernet | DartsSupernet, choices: tuple[int, ...], batch_norm: str) -> float:
        assert self._trained_batch_norm is not None
        restore_batch_norm(supernet, self._trained_batch_norm)
        if batch_norm == "recalibrate":
            recalibrate_batch_norm(lambda x: supernet(x, choices=choices), self._recalibration, modules=supernet)
        return self._accuracy(supernet, choices, train_mode=batch_norm == "batch")

    def _evaluate(self, arch: Architecture, fidelity: str) -> EvaluationResult:
        if arch.space != self.settings.space:
            raise InvalidArchitectureError(f"this supernet scores {self.settings.space} architectures, got one of "
                                           f"{arch.space!r} ({arch}): build the evaluator with space={arch.space!r}")
        supernet = self.prepare().supernet
        started = time.perf_counter()
        choices = SUPERNETS[self.settings.space].choices_of(arch)
        with torch_threads(self.num_threads):
            if self.ablations:
                scores = {f"valid_accuracy_{suffix}": self._score(supernet, choices, mode)
                          for mode, suffix in BATCH_NORM_MODES.items()}
                metrics = {"valid_accuracy": scores[f"valid_accuracy_{BATCH_NORM_MODES[self.batch_norm]}"], **scores}
            else:
                metrics = {"valid_accuracy": self._score(supernet, choices, self.batch_norm)}
            assert self._trained_batch_norm is not None
            restore_batch_norm(supernet, self._trained_batch_norm)
        return EvaluationResult(metrics=metrics, cost=time.perf_counter() - started)
