"""A ground-truth table's value for any cell: looked up, or trained as the table's rows were.

A gradient search may derive a cell the table never trained (the mnist1d table holds 2,000 of
NB201's 15,625 cells). Its value is then measured the way the table measured its rows: the
table's provenance JSON (``benchmarks/data/nb201_mnist1d.json`` beside the CSV) holds the
``TableSettings`` of the build, and the cell is trained by the same ``TrainingEvaluator`` spec
(same data split, epochs, width, seed), so a looked-up value and a trained one are the same
measurement; training is deterministic per cell, so the table's own rows would come out equal.

Example:
    >>> truth = GroundTruth(table, "test_acc")  # doctest: +SKIP
    >>> truth.value(arch)  # doctest: +SKIP
    (93.1, True)
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from infonas.bench.table import TableSettings
from infonas.evaluators.tabular import TabularBenchmark
from infonas.exceptions import InvalidArgumentError
from search_spaces.base import Architecture

__all__ = ["TABLE_TO_TRAINING", "GroundTruth"]

logger = logging.getLogger(__name__)

#: Table columns and the ``TrainingEvaluator`` metric that measured them.
TABLE_TO_TRAINING = {"test_acc": "test_accuracy", "valid_acc": "valid_accuracy"}


def provenance_settings(path: str | Path | None) -> dict[str, Any] | None:
    """The ``settings`` (``TableSettings`` fields) of a table's build JSON, or ``None`` when absent or unreadable."""
    if path is None:
        return None
    try:
        return dict(json.loads(Path(path).read_text())["settings"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class GroundTruth:
    """``objective`` of any cell of ``table``'s space: its row, or a training with the table's settings.

    ``provenance``: the table's build JSON (default: the CSV's path with ``.json``), whose
    ``settings`` say how its rows were trained; ``settings`` (``TableSettings`` fields) override
    them, or stand in for a table without one. Read only when a cell is absent; trained values are
    kept for the object's life.
    """

    def __init__(self, table: TabularBenchmark, objective: str = "test_acc", *,
                 settings: Mapping[str, Any] | None = None, provenance: str | Path | None = None) -> None:
        if objective not in TABLE_TO_TRAINING:
            raise InvalidArgumentError(f"a ground truth can retrain cells for {sorted(TABLE_TO_TRAINING)}, got "
                                       f"objective {objective!r}: use test_acc or valid_acc")
        table.require(objective)
        self.table, self.objective = table, objective
        source = getattr(table, "source", None)
        self.provenance = Path(provenance) if provenance else (Path(source).with_suffix(".json") if source else None)
        self.overrides = dict(settings or {})
        self._trained: dict[str, float] = {}
        self._evaluator: Any = None
        self._by_key: dict[str, dict[Architecture, float]] | None = None

    @property
    def best(self) -> float:
        """The table's best value of the objective (larger is better)."""
        return float(self.table.best(self.objective, True)[1])

    def lookup(self, arch: Architecture) -> tuple[float, str] | None:
        """The table's value of ``arch`` and where it comes from: the cell's own row, else the mean
        over the rows of its canonical class (isomorphic cells compute the same function; their
        rows differ by training noise); ``None`` when the table has neither."""
        if self._by_key is None:
            values = self.table.column(self.objective)
            self._by_key = {}
            for other, value in zip(self.table.archs, values):
                if not np.isnan(value):
                    self._by_key.setdefault(other.key, {})[other] = float(value)
        same = self._by_key.get(arch.key, {})
        if arch in same:
            return same[arch], "its row"
        if not same:
            return None
        how = "an isomorphic row" if len(same) == 1 else f"mean of {len(same)} isomorphic rows"
        return sum(same.values()) / len(same), how

    def value(self, arch: Architecture) -> tuple[float, bool]:
        """``(value, looked_up)``: the table's (``lookup``), or (``looked_up=False``) a training's."""
        found = self.lookup(arch)
        if found is not None:
            return found[0], True
        if arch.key not in self._trained:
            logger.info("%s is not in the table: training it as the table's rows were", self.table.space.format(arch))
            self._trained[arch.key] = self.train(arch)
        return self._trained[arch.key], False

    def table_settings(self) -> TableSettings:
        """How the table's rows were trained: its provenance's settings, with ``settings`` on top."""
        saved = provenance_settings(self.provenance)
        if saved is None and not self.overrides:
            raise InvalidArgumentError(
                f"a cell absent from the table must be trained with the table's settings, read from its provenance "
                f"JSON; {self.provenance} is absent or unreadable: put the build's JSON beside the CSV, or pass "
                "settings=")
        fields = {f.name for f in dataclasses.fields(TableSettings)}
        return TableSettings(**{k: v for k, v in {**(saved or {}), **self.overrides}.items() if k in fields})

    def train(self, arch: Architecture) -> float:
        """``objective`` of ``arch`` trained with ``table_settings()`` (the table's seed and data split)."""
        if self._evaluator is None:
            from infonas.evaluators.registry import build_evaluator  # deferred: loads torch

            settings = self.table_settings()
            self._evaluator = build_evaluator({"kind": "training", **settings.training_options(settings.seed)},
                                              self.table.space)
        result = self._evaluator.evaluate(arch, "full")
        metric = TABLE_TO_TRAINING[self.objective]
        if metric not in result.metrics:
            raise InvalidArgumentError(f"training {self.table.space.format(arch)} failed ({result.error}): the cell "
                                       "cannot be scored; check the data set and the table's training settings")
        return float(result.metrics[metric])
