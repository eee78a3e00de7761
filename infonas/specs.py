"""Evaluators described as JSON, so a run directory can rebuild the evaluator it was made with.

A spec is a small dict: ``{"kind": "table", "path": ..., "objective": ..., "cheap": {...}}`` or
``{"kind": "training", "dataset": "digits", ...}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infonas.evaluator import Evaluator
from search_spaces.base import SearchSpace


def table_spec(path: str | Path, objective: str, cheap: dict[str, float] | None = None,
               extra_metrics: list[str] | None = None) -> dict[str, Any]:
    """Spec of a tabular evaluator; the path is stored absolute so a resume works from anywhere."""
    return {"kind": "table", "path": str(Path(path).resolve()), "objective": objective,
            "cheap": dict(cheap or {}), "extra_metrics": list(extra_metrics or [])}


def training_spec(**options: Any) -> dict[str, Any]:
    """Spec of a from-scratch training evaluator on the embedded digits data."""
    return {"kind": "training", "dataset": "digits", **options}


def build_evaluator(spec: dict[str, Any], space: SearchSpace) -> Evaluator:
    """The evaluator a spec describes."""
    kind = spec.get("kind")
    if kind == "table":
        from infonas.tabular import TabularBenchmark, TabularEvaluator

        table = TabularBenchmark.from_csv(spec["path"], space)
        return TabularEvaluator(table, spec["objective"], cheap=spec.get("cheap"),
                                extra_metrics=spec.get("extra_metrics", ()))
    if kind == "training":
        from infonas.training import TrainingEvaluator

        options = {k: v for k, v in spec.items() if k not in ("kind", "dataset")}
        if spec.get("dataset", "digits") != "digits":
            raise ValueError(f"training spec names dataset {spec.get('dataset')!r}; only 'digits' is embedded")
        return TrainingEvaluator(**options)
    raise ValueError(f"unknown evaluator kind {kind!r} in spec {spec}; expected 'table' or 'training'")
