"""The chain's prices measured for a space no ground-truth table covers (the DARTS space).

NB201's multi-fidelity chain reads its seconds from the mnist1d table's build (its ``phases``).
The DARTS space has no table (9.1e18 cells), so ``measure_prices`` times the three things a chain
is priced by, on this machine, with the network the chain trains: ``cells`` random genotypes each
trained for ``epochs`` epochs (the target), a SPOS supernet trained for ``supernet_epochs``
epochs (its per-epoch seconds price a longer training linearly) and ``cells`` recalibrated
supernet scores. The result has the table provenance's schema (``settings`` + ``phases``), so
``infonas.evaluators.chain.measured_costs(space="darts")`` reads it as it reads the table's;
``infonas bench prices --space darts --measure --out benchmarks/data/darts_mnist1d_prices.json``
rebuilds it.

Example:
    >>> record = measure_prices("darts", cells=2, epochs=1, supernet_epochs=1)  # doctest: +SKIP
    >>> sorted(record["phases"])  # doctest: +SKIP
    ['scores-spos', 'supernet-spos', 'train-seed0']
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from infonas.exceptions import InvalidArgumentError

__all__ = ["MEASURABLE_SPACES", "measure_prices"]

logger = logging.getLogger(__name__)

#: Spaces with a supernet and a network builder, hence a chain whose prices can be measured.
MEASURABLE_SPACES = ("nb201", "darts")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def measure_prices(space: str = "darts", data: str = "mnist1d", *, cells: int = 5, epochs: int = 3,
                   supernet_epochs: int = 3, channels: int = 8, num_cells: int = 1, batch_size: int = 64,
                   learning_rate: float = 0.1, recalibration_batches: int = 10, seed: int = 0,
                   splits: Sequence[Any] | None = None,
                   echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Seconds of ``cells`` trainings, of ``supernet_epochs`` supernet epochs and of ``cells`` scores.

    Every piece runs in this process with one torch thread (as the chain's evaluators do), in
    the order train, supernet, scores; ``splits`` (default: ``data`` split by ``seed``) lets tests
    pass a small subset. Returns ``{"settings", "phases"}``; each phase holds what finished, the
    summed seconds and when it ran (``scores-spos`` also ``batch_norm_modes: 1``: one recalibrated
    score per cell), ``train-seed0`` also each cell's validation accuracy.
    """
    from infonas.evaluators.supernet import SupernetEvaluator
    from infonas.evaluators.training import TrainingEvaluator
    from search_spaces import get_space

    if space not in MEASURABLE_SPACES:
        raise InvalidArgumentError(f"prices are measured for the spaces with a supernet, {list(MEASURABLE_SPACES)}; "
                                   f"got {space!r}: pick one of those")
    if min(cells, epochs, supernet_epochs, recalibration_batches) < 1:
        raise InvalidArgumentError(f"cells, epochs, supernet_epochs and recalibration_batches must be >= 1, got "
                                   f"{cells}, {epochs}, {supernet_epochs}, {recalibration_batches}: give positive counts")
    if splits is None:
        from infonas.datasets import load_splits

        splits = load_splits(data, seed)
    say = echo or logger.info
    search_space = get_space(space)
    rng = np.random.default_rng(seed)
    archs = [search_space.sample(rng) for _ in range(cells)]
    network = {"channels": channels, "num_cells": num_cells, "batch_size": batch_size, "learning_rate": learning_rate}
    phases: dict[str, Any] = {}

    trainer = TrainingEvaluator(splits, epochs=epochs, seed=seed, **network)
    started, seconds, accuracies = _now(), 0.0, []
    for index, arch in enumerate(archs):
        result = trainer.evaluate(arch)
        seconds += float(result.cost)
        accuracies.append(result.metrics.get("valid_accuracy"))
        say(f"trained cell {index + 1}/{cells} in {float(result.cost):.1f} s")
    phases["train-seed0"] = {"finished": cells, "seconds": seconds, "valid_accuracy": accuracies,
                             "first": started, "last": _now()}

    supernet = SupernetEvaluator(splits, mode="spos", epochs=supernet_epochs, seed=seed, space=space,
                                 recalibration_batches=recalibration_batches, **network)
    started = _now()
    supernet.prepare()
    phases["supernet-spos"] = {"epochs_done": supernet_epochs, "seconds": float(supernet.setup_cost()),
                               "first": started, "last": _now()}
    say(f"trained the supernet {supernet_epochs} epochs in {supernet.setup_cost():.1f} s")

    started, seconds = _now(), 0.0
    for arch in archs:
        seconds += float(supernet.evaluate(arch).cost)
    phases["scores-spos"] = {"finished": cells, "seconds": seconds, "batch_norm_modes": 1,
                             "first": started, "last": _now()}
    say(f"scored {cells} cells in {seconds:.1f} s")
    settings = {"space": space, "dataset": data, "cells": cells, "seed": seed, "epochs": epochs,
                "supernet_epochs": supernet_epochs, "recalibration_batches": recalibration_batches, **network}
    return {"settings": settings, "phases": phases}
