"""A ground-truth table of an embedded task, built by the project as resumable studies.

``build_table`` trains a seeded list of canonical NB201 cells from scratch and scores each with
the weight-sharing supernets, every step a journalled ``Study`` in its own directory under the
run directory, so a killed build resumes where it stopped and the journals are the record:

* ``train-seed0``: every cell trained with ``seed`` (validation accuracy after every epoch);
* ``train-seed<k>``, ``k = 1..repeat_seeds``: the first ``repeat`` cells again with ``seed + k``
  (the seed-to-seed ceiling, and less noisy targets: the means over seeds);
* ``supernet-<mode>``: one supernet per training mode, checkpointed every epoch;
* ``scores-<mode>``: every cell scored on that supernet with and without BN recalibration.

``write_table`` joins them into one CSV in the shared table format (an ``arch`` column, then
metric columns) that ``TabularBenchmark`` and ``infonas bench fidelity`` read.

Example:
    >>> cells = table_cells(NB201Space(), 3, seed=0)
    >>> len({cell.key for cell in cells})
    3
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from infonas.exceptions import IncompatibleRunError, InvalidArgumentError
from infonas.storage.files import atomic_write_bytes
from infonas.trials import TrialStatus
from search_spaces.base import Architecture, SearchSpace
from search_spaces.nb201 import NB201Space

__all__ = ["PHASES", "TableSettings", "build_summary", "build_table", "read_table_rows", "table_cells", "write_table"]

logger = logging.getLogger(__name__)

#: The build steps, in order; ``build_table(phases=...)`` runs a subset (several processes can
#: run different phases of one build at once: each phase has its own directory and lock).
PHASES: tuple[str, ...] = ("train", "repeat", "supernet", "scores")

#: Supernet training modes scored in the table.
MODES: tuple[str, ...] = ("spos", "mixed")


@dataclasses.dataclass(frozen=True)
class TableSettings:
    """Everything that determines a table's values; saved in the run directory, checked on resume."""

    dataset: str = "mnist1d"
    cells: int = 2000
    seed: int = 0
    repeat: int = 500
    repeat_seeds: int = 1
    epochs: int = 3
    channels: int = 8
    num_cells: int = 1
    batch_size: int = 64
    learning_rate: float = 0.1
    supernet_epochs: int = 100
    recalibration_batches: int = 10

    def check(self) -> TableSettings:
        for name in ("cells", "epochs", "channels", "num_cells", "batch_size", "supernet_epochs",
                     "recalibration_batches"):
            if getattr(self, name) < 1:
                raise InvalidArgumentError(f"table setting {name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.repeat:
            raise InvalidArgumentError(f"repeat (cells trained with a second seed) must be >= 0, got {self.repeat}")
        if self.repeat_seeds < 1:
            raise InvalidArgumentError(f"repeat_seeds (extra training seeds of the repeated cells) must be >= 1, "
                                       f"got {self.repeat_seeds}")
        return self

    def training_options(self, seed: int) -> dict[str, Any]:
        """Options of the ``TrainingEvaluator`` that trains a cell with ``seed`` (the split stays the table's)."""
        return {"dataset": self.dataset, "epochs": {"full": self.epochs}, "channels": self.channels,
                "num_cells": self.num_cells, "batch_size": self.batch_size, "learning_rate": self.learning_rate,
                "seed": seed, "split_seed": self.seed, "curve": True}

    def supernet_options(self, mode: str) -> dict[str, Any]:
        """Options of the ``SupernetEvaluator`` for ``mode`` (its checkpoint lives in the run directory)."""
        return {"dataset": self.dataset, "mode": mode, "epochs": self.supernet_epochs, "channels": self.channels,
                "num_cells": self.num_cells, "batch_size": self.batch_size, "learning_rate": self.learning_rate,
                "seed": self.seed, "recalibration_batches": self.recalibration_batches,
                "ablations": True}


def table_cells(space: SearchSpace, n: int, seed: int) -> list[Architecture]:
    """``n`` canonical cells drawn uniformly over the canonical classes, without replacement.

    Each class is represented by its first member in the space's enumeration order, so the list
    is a function of ``(n, seed)`` alone; uniform over classes, not over strings, so that simple
    cells with many isomorphic copies are not overrepresented.
    """
    classes = space.canonical_representatives()
    if not 1 <= n <= len(classes):
        raise InvalidArgumentError(f"--cells must lie in 1..{len(classes)} (the canonical cells of {space.name}), "
                                   f"got {n}")
    order = np.random.default_rng([seed, 2011]).permutation(len(classes))[:n]
    return [classes[i] for i in order]


#: Settings a resumed build may change: they add to the table (more seeds of the repeated
#: cells) without changing a value already measured.
EXTENSIBLE: tuple[str, ...] = ("repeat_seeds",)


def _saved_settings(run_dir: Path) -> TableSettings:
    """The settings in ``run_dir/table.json``; keys added to ``TableSettings`` since take their defaults."""
    return TableSettings(**json.loads((run_dir / "table.json").read_text()))


def _check_settings(run_dir: Path, settings: TableSettings) -> None:
    path = run_dir / "table.json"
    saved = dataclasses.asdict(settings)
    if path.exists():
        before = dataclasses.asdict(_saved_settings(run_dir))
        changed = {k: (before[k], v) for k, v in saved.items() if before[k] != v and k not in EXTENSIBLE}
        if changed:
            raise IncompatibleRunError(f"{run_dir} holds a table built with other settings {changed} "
                                       "(saved, given): resume with the same options or use a new --run-dir")
        if before == saved:
            return
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(saved, indent=2).encode())


def _run_list(directory: Path, evaluator: Any, spec: dict[str, Any], cells: Sequence[Architecture],
              objective: str, seed: int, progress: bool) -> None:
    """Evaluate ``cells`` in order as a journalled study in ``directory`` (resumed if it exists)."""
    from infonas.study import Study

    space = NB201Space()
    study = Study.create(directory, space, evaluator, objective, strategy="list", seed=seed,
                         strategy_options={"cells": [space.format(c) for c in cells]}, evaluator_spec=spec,
                         resume=True)
    left = len(cells) - len(study.finished_trials())
    if left > 0:
        logger.info("%s: %d of %d cells left", directory.name, left, len(cells))
        study.optimize(evaluations=len(cells), progress=progress)


def build_table(run_dir: str | Path, settings: TableSettings, *, phases: Sequence[str] = PHASES,
                progress: bool = False) -> None:
    """Run (or resume) the ``phases`` of a table build in ``run_dir``."""
    from infonas.evaluators.registry import build_evaluator, supernet_spec

    settings.check()
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        raise InvalidArgumentError(f"unknown table phases {unknown}; choose from {list(PHASES)}")
    run_dir = Path(run_dir)
    _check_settings(run_dir, settings)
    space = NB201Space()
    cells = table_cells(space, settings.cells, settings.seed)
    steps: dict[str, Callable[[], None]] = {}

    def train(seed: int, name: str, subset: Sequence[Architecture]) -> None:
        spec = {"kind": "training", **settings.training_options(seed)}
        _run_list(run_dir / name, build_evaluator(spec, space), spec, subset, "test_accuracy", settings.seed,
                  progress)

    def scores() -> None:
        for mode in MODES:
            spec = supernet_spec(run_dir / f"supernet-{mode}", **settings.supernet_options(mode))
            _run_list(run_dir / f"scores-{mode}", build_evaluator(spec, space), spec, cells, "valid_accuracy",
                      settings.seed, progress)

    def supernets() -> None:
        for mode in MODES:
            spec = supernet_spec(run_dir / f"supernet-{mode}", **settings.supernet_options(mode))
            build_evaluator(spec, space).prepare(progress=progress)

    def repeat() -> None:
        for k in range(1, settings.repeat_seeds + 1) if settings.repeat else ():
            train(settings.seed + k, f"train-seed{k}", cells[: settings.repeat])

    steps["train"] = lambda: train(settings.seed, "train-seed0", cells)
    steps["repeat"] = repeat
    steps["supernet"] = supernets
    steps["scores"] = scores
    for phase in PHASES:
        if phase in phases:
            steps[phase]()


def _journal_state(directory: Path) -> Any:
    """The replayed journal of the study in ``directory``, or ``None`` when that phase never ran."""
    from infonas.storage import RunStore
    from infonas.storage.events import replay

    if not (directory / "config.json").exists():
        return None
    return replay(RunStore.open(directory).events())


def _finished(directory: Path) -> dict[str, dict[str, float]]:
    """Metrics of the complete trials of the study in ``directory`` by arch string (none if absent)."""
    state = _journal_state(directory)
    if state is None:
        return {}
    archs = {event.trial: event.arch for event in state.asked.values()}
    # "_cost" carries the trial's measured seconds beside its metrics.
    return {archs[event.trial]: {**event.metrics, "_cost": event.cost}
            for event in state.finished if event.status is TrialStatus.COMPLETE}


def read_table_rows(run_dir: str | Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The table's rows (one per cell trained from scratch, in list order) and its saved settings."""
    from search_spaces.metrics import ArchitectureMetrics
    from search_spaces.nb201.network import NetworkConfig

    run_dir = Path(run_dir)
    if not (run_dir / "table.json").exists():
        raise InvalidArgumentError(f"{run_dir} is not a table build (no table.json): build one with "
                                   "infonas bench table --run-dir DIR")
    settings = _saved_settings(run_dir)
    space = NB201Space()
    seeds = [_finished(run_dir / f"train-seed{k}") for k in range(settings.repeat_seeds + 1)]
    scores = {mode: _finished(run_dir / f"scores-{mode}") for mode in MODES}
    # The data set's preset knows its input shape and classes: no need to generate the data.
    counter = ArchitectureMetrics(space, NetworkConfig.for_dataset(settings.dataset, num_cells=settings.num_cells,
                                                                   channels=settings.channels))
    rows = []
    for cell in table_cells(space, settings.cells, settings.seed):
        text = space.format(cell)
        trained = seeds[0].get(text)
        if trained is None:
            continue
        row: dict[str, Any] = {"arch": text, "test_acc": trained["test_accuracy"],
                               "valid_acc": trained["valid_accuracy"]}
        for epoch in range(1, settings.epochs + 1):
            row[f"valid_acc_ep{epoch}"] = trained[f"valid_accuracy_ep{epoch}"]
        repeats = [seed.get(text, {}).get("test_accuracy", math.nan) for seed in seeds[1:]]
        for k, value in enumerate(repeats, start=1):
            row[f"test_acc_seed{k}"] = value
        # Means over seeds: less noisy targets where every seed exists (empty elsewhere). With four
        # seeds, the mean of seeds 2 and 3 is an independent replicate of the mean of 0 and 1: the
        # ceiling of a two-seed target.
        row["test_acc_mean2"] = (row["test_acc"] + repeats[0]) / 2
        if len(repeats) >= 3:
            row["test_acc_mean2b"] = (repeats[1] + repeats[2]) / 2
            row["test_acc_mean4"] = (row["test_acc"] + sum(repeats[:3])) / 4
        row["params"] = counter.params(cell)
        row["flops"] = counter.flops(cell)
        row["train_seconds"] = trained["_cost"]
        for mode in MODES:
            score = scores[mode].get(text, {})
            for variant in ("recal", "norecal", "batchstats"):
                row[f"supernet_{mode}_{variant}"] = score.get(f"valid_accuracy_{variant}", math.nan)
        rows.append(row)
    return rows, dataclasses.asdict(settings)


def build_summary(run_dir: str | Path) -> dict[str, Any]:
    """What each phase of the build in ``run_dir`` did: cells finished, the seconds they cost and
    when they ran (UTC), and each supernet's training seconds, epochs and last loss."""
    import datetime

    from infonas.supernet.training import STATE_NAME

    def stamp(seconds: float) -> str:
        return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat(timespec="seconds")

    run_dir = Path(run_dir)
    summary: dict[str, Any] = {}
    seeds = _saved_settings(run_dir).repeat_seeds if (run_dir / "table.json").exists() else 1
    for name in (*(f"train-seed{k}" for k in range(seeds + 1)), *(f"scores-{mode}" for mode in MODES)):
        state = _journal_state(run_dir / name)
        if state is None:
            continue
        finished = state.finished
        summary[name] = {"finished": len(finished), "complete": sum(e.status is TrialStatus.COMPLETE for e in finished),
                         "seconds": float(sum(e.cost for e in finished)),
                         "first": stamp(min(e.time for e in finished)) if finished else None,
                         "last": stamp(max(e.time for e in finished)) if finished else None}
    for mode in MODES:
        state_path = run_dir / f"supernet-{mode}" / STATE_NAME
        if state_path.exists():
            state = json.loads(state_path.read_text())
            summary[f"supernet-{mode}"] = {key: state[key] for key in ("epochs_done", "seconds", "loss", "settings")}
    return summary


def write_table(run_dir: str | Path, out: str | Path) -> int:
    """Write the table of ``run_dir`` as CSV at ``out`` (empty cells for values not measured); return its rows."""
    import csv
    import io

    rows, _ = read_table_rows(run_dir)
    if not rows:
        raise InvalidArgumentError(f"{run_dir} has no trained cell yet: run the 'train' phase first")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()})
    atomic_write_bytes(out, text.getvalue().encode())
    return len(rows)
