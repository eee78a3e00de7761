"""Evaluators described as JSON, so a run directory can rebuild the evaluator it was made with.

A spec is a small dict whose ``kind`` names a registered builder: ``{"kind": "table", "path": ...,
"objective": ..., "cheap": {...}}`` or ``{"kind": "training", "dataset": "digits", ...}``.
``{"kind": "supernet", "dataset": "mnist1d", "mode": "spos", "checkpoint_dir": ...}`` scores
cells on a weight-sharing supernet. ``Study.load`` calls ``build_evaluator(config["evaluator"], space)``; a new evaluator becomes
resumable by ``register_evaluator("mine", builder)``.

Example:
    >>> from search_spaces import NB201Space
    >>> spec = training_spec(epochs=1)
    >>> type(build_evaluator(spec, NB201Space())).__name__
    'TrainingEvaluator'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from infonas.evaluators.base import Evaluator
from infonas.exceptions import InvalidArgumentError, UnsupportedError
from search_spaces.base import SearchSpace

EvaluatorBuilder = Callable[[Mapping[str, Any], SearchSpace], Evaluator]


def table_spec(path: str | Path, objective: str, cheap: dict[str, float] | None = None,
               extra_metrics: list[str] | None = None) -> dict[str, Any]:
    """Spec of a tabular evaluator; the path is stored absolute so a resume works from anywhere."""
    return {"kind": "table", "path": str(Path(path).resolve()), "objective": objective,
            "cheap": dict(cheap or {}), "extra_metrics": list(extra_metrics or [])}


def training_spec(**options: Any) -> dict[str, Any]:
    """Spec of a from-scratch training evaluator on an embedded data set (default: the digits)."""
    return {"kind": "training", "dataset": "digits", **options}


def supernet_spec(checkpoint_dir: str | Path, **options: Any) -> dict[str, Any]:
    """Spec of a supernet evaluator; the checkpoint directory is stored absolute, as a table's path."""
    return {"kind": "supernet", "checkpoint_dir": str(Path(checkpoint_dir).resolve()), **options}


def _build_table(spec: Mapping[str, Any], space: SearchSpace) -> Evaluator:
    from infonas.evaluators.tabular import (  # deferred: reads a file
        TabularBenchmark,
        TabularEvaluator,
    )

    table = TabularBenchmark.from_csv(spec["path"], space)
    return TabularEvaluator(table, spec["objective"], cheap=spec.get("cheap"),
                            extra_metrics=spec.get("extra_metrics", ()))


def _build_training(spec: Mapping[str, Any], space: SearchSpace) -> Evaluator:
    from infonas.datasets import DATASETS
    from infonas.evaluators.training import TrainingEvaluator  # deferred: loads torch

    dataset = spec.get("dataset", "digits")
    if dataset not in DATASETS:
        raise UnsupportedError(f"training spec names dataset {dataset!r}; the embedded data sets are {sorted(DATASETS)}")
    return TrainingEvaluator(dataset, **{k: v for k, v in spec.items() if k not in ("kind", "dataset")})


def _build_supernet(spec: Mapping[str, Any], space: SearchSpace) -> Evaluator:
    from infonas.evaluators.supernet import SupernetEvaluator  # deferred: loads torch

    options = {k: v for k, v in spec.items() if k not in ("kind", "dataset")}
    return SupernetEvaluator(spec.get("dataset", "mnist1d"), **options)


#: Evaluator kind -> builder from (spec, space). Extend with ``register_evaluator``.
EVALUATORS: dict[str, EvaluatorBuilder] = {"table": _build_table, "training": _build_training,
                                           "supernet": _build_supernet}


def register_evaluator(kind: str, builder: EvaluatorBuilder) -> None:
    """Make specs of ``kind`` buildable (and so runs made with them resumable by ``Study.load``)."""
    if kind in EVALUATORS and EVALUATORS[kind] is not builder:
        raise InvalidArgumentError(f"evaluator kind {kind!r} is already registered; choose another name")
    EVALUATORS[kind] = builder


def build_evaluator(spec: Mapping[str, Any], space: SearchSpace) -> Evaluator:
    """The evaluator a spec describes."""
    kind = spec.get("kind")
    if kind not in EVALUATORS:
        raise InvalidArgumentError(f"unknown evaluator kind {kind!r} in spec {dict(spec)}; "
                               f"registered kinds: {sorted(EVALUATORS)} (add one with register_evaluator)")
    return EVALUATORS[kind](spec, space)
