"""infonas: neural architecture search by Bayesian experimental design.

The public API, in the order data flows through one search iteration:
space -> encodings -> surrogate -> acquisition -> evaluator -> run store.

Example:
    >>> from infonas import Study, TabularBenchmark, TabularEvaluator, table_spec
    >>> from search_spaces import NB201Space
    >>> space = NB201Space()
    >>> spec = table_spec("../shared/benchmarks/nb201/nb201_cifar.csv", "cifar10_test_200ep")  # doctest: +SKIP
    >>> study = Study.create("runs/demo", space, build_evaluator(spec, space), "cifar10_test_200ep",
    ...                      strategy="bo-mes", seed=0, evaluator_spec=spec)  # doctest: +SKIP
    >>> study.optimize(budget=50).best()  # doctest: +SKIP
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from infonas.budget import Budget
from infonas.evaluator import Evaluator, Fidelity
from infonas.objectives import ComputedMetrics, Objective, parse_objectives
from infonas.run_store import RunStore, RunStoreError
from infonas.specs import build_evaluator, table_spec, training_spec
from infonas.strategies import STRATEGIES, Strategy, Suggestion, make_strategy
from infonas.study import Study, StudyError
from infonas.tabular import TableError, TabularBenchmark, TabularEvaluator
from infonas.trials import EvaluationResult, Trial, TrialStatus

# Heavy modules (torch networks, the GP stack) load on first use, so `import infonas` stays fast.
_LAZY = {
    "ArchitectureMetrics": "infonas.metrics",
    "count_flops": "infonas.metrics",
    "count_parameters": "infonas.metrics",
    "measure_latency_ms": "infonas.metrics",
    "TrainingEvaluator": "infonas.training",
    "load_digits_splits": "infonas.training",
    "Surrogate": "infonas.surrogate",
    "MultiFidelitySurrogate": "infonas.multi_fidelity",
    "HammingKernel": "infonas.kernels",
    "WLSubtreeKernel": "infonas.kernels",
    "WLFeaturizer": "infonas.wl_features",
    "BayesianStrategy": "infonas.strategies.bayesian",
    "MultiFidelityStrategy": "infonas.strategies.cost_aware",
    "ParetoStrategy": "infonas.strategies.multi_objective",
    "NSGA2Strategy": "infonas.strategies.nsga2",
    "ArchitectureCosts": "infonas.cost_tables",
    "OperationLatencyTable": "infonas.cost_tables",
    "pareto_mask": "infonas.pareto",
    "hypervolume": "infonas.pareto",
    "ACQUISITIONS": "infonas.acquisition",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'infonas' has no attribute {name!r}")


__all__ = [
    "Budget", "ComputedMetrics", "EvaluationResult", "Evaluator", "Fidelity", "Objective", "parse_objectives", "RunStore", "RunStoreError", "STRATEGIES", "Strategy",
    "Study", "StudyError", "Suggestion", "TableError", "TabularBenchmark", "TabularEvaluator", "Trial",
    "TrialStatus", "build_evaluator", "make_strategy", "table_spec", "training_spec", *sorted(_LAZY),
]
