"""infonas: neural architecture search by Bayesian experimental design.

The public API, in the order data flows through one search iteration:
space -> encodings -> surrogate -> acquisition -> evaluator -> run store.
Every name below loads its module on first use, so ``import infonas`` does no work.

Example:
    >>> from infonas import Study, build_evaluator, table_spec
    >>> from search_spaces import NB201Space
    >>> space = NB201Space()
    >>> spec = table_spec("../shared/benchmarks/nb201/nb201_cifar.csv", "cifar10_test_200ep")  # doctest: +SKIP
    >>> study = Study.create("runs/demo", space, build_evaluator(spec, space), "cifar10_test_200ep",
    ...                      strategy="bo-mes", seed=0, evaluator_spec=spec)  # doctest: +SKIP
    >>> study.optimize(budget=50).best()  # doctest: +SKIP
"""

from __future__ import annotations

from infonas.lazy import lazy_exports

# name -> module that defines it. Loaded on first attribute access (PEP 562): importing the GP
# stack, torch networks or pymoo only when they are used keeps `import infonas` instant, and lets
# `search_spaces` import `infonas.exceptions` without a cycle.
_PUBLIC = {
    # errors
    "InfonasError": "infonas.exceptions",
    "InvalidArchitectureError": "infonas.exceptions",
    "InvalidArgumentError": "infonas.exceptions",
    "SpaceExhaustedError": "infonas.exceptions",
    "RunStoreError": "infonas.exceptions",
    "IncompatibleRunError": "infonas.exceptions",
    "StudyError": "infonas.exceptions",
    "TableError": "infonas.exceptions",
    "UnsupportedError": "infonas.exceptions",
    "NumericalError": "infonas.exceptions",
    # warnings
    "InfonasWarning": "infonas.exceptions",
    "NumericalWarning": "infonas.exceptions",
    # trials, objectives, budgets, fronts
    "Trial": "infonas.trials",
    "TrialStatus": "infonas.trials",
    "EvaluationResult": "infonas.trials",
    "Objective": "infonas.objectives",
    "ComputedMetrics": "infonas.objectives",
    "parse_objectives": "infonas.objectives",
    "Budget": "infonas.budget",
    "pareto_mask": "infonas.pareto",
    "hypervolume": "infonas.pareto",
    # encodings and surrogates
    "CategoricalEncoding": "infonas.encodings",
    "OneHotEncoding": "infonas.encodings",
    "WLFeaturizer": "infonas.encodings",
    "ArchitectureEncoder": "infonas.encodings",
    "HammingKernel": "infonas.surrogates",
    "WLSubtreeKernel": "infonas.surrogates",
    "Surrogate": "infonas.surrogates",
    "MultiFidelitySurrogate": "infonas.surrogates",
    "GPSurrogateBase": "infonas.surrogates",
    "KERNELS": "infonas.surrogates",
    "register_kernel": "infonas.surrogates",
    # acquisition
    "ACQUISITIONS": "infonas.acquisition",
    "PROBLEM_ACQUISITIONS": "infonas.acquisition",
    "acquisition_for": "infonas.acquisition",
    "register_acquisition": "infonas.acquisition",
    # strategies
    "STRATEGIES": "infonas.strategies",
    "Strategy": "infonas.strategies",
    "Suggestion": "infonas.strategies",
    "make_strategy": "infonas.strategies",
    "register_strategy": "infonas.strategies",
    "BayesianStrategy": "infonas.strategies.bayesian",
    "MultiFidelityStrategy": "infonas.strategies.cost_aware",
    "ParetoStrategy": "infonas.strategies.multi_objective",
    "NSGA2Strategy": "infonas.strategies.nsga2",
    "FitSchedule": "infonas.strategies.fit_schedule",
    # Ax (the optional extra, pip install 'infonas[ax]'): Ax as a strategy, the infonas GP inside Ax
    "AxStrategy": "infonas.ax.strategy",
    "AxArchitectureGP": "infonas.ax.generator",
    "infonas_generation_strategy": "infonas.ax.generator",
    # evaluators
    "Evaluator": "infonas.evaluators",
    "Fidelity": "infonas.evaluators",
    "EVALUATORS": "infonas.evaluators",
    "register_evaluator": "infonas.evaluators",
    "build_evaluator": "infonas.evaluators",
    "table_spec": "infonas.evaluators",
    "training_spec": "infonas.evaluators",
    "TabularBenchmark": "infonas.evaluators.tabular",
    "TabularEvaluator": "infonas.evaluators.tabular",
    "TrainingEvaluator": "infonas.evaluators.training",
    "SupernetEvaluator": "infonas.evaluators.supernet",
    "supernet_spec": "infonas.evaluators",
    "SleepEvaluator": "infonas.evaluators",
    "FaultyEvaluator": "infonas.evaluators",
    "sleep_spec": "infonas.evaluators",
    "faulty_spec": "infonas.evaluators",
    # embedded data sets
    "load_digits_splits": "infonas.datasets",
    "load_mnist1d_splits": "infonas.datasets",
    "load_splits": "infonas.datasets",
    # weight-sharing supernets
    "Supernet": "infonas.supernet",
    "SupernetSettings": "infonas.supernet",
    "SupernetTrainer": "infonas.supernet",
    "CanonicalSampler": "infonas.supernet",
    "recalibrate_batch_norm": "infonas.supernet",
    "DartsSupernet": "infonas.supernet.darts",
    # gradient NAS (the DARTS family) and the one-shot baselines
    "GradientSearch": "infonas.gradient",
    "GradientSettings": "infonas.gradient",
    "GradientResult": "infonas.gradient",
    "OneShotResult": "infonas.gradient",
    "random_search_with_weight_sharing": "infonas.gradient",
    "evolution_with_weight_sharing": "infonas.gradient",
    # storage and the loop
    "RunStore": "infonas.storage",
    "InMemoryStore": "infonas.storage",
    "Study": "infonas.study",
    "Executor": "infonas.execution",
    "SerialExecutor": "infonas.execution",
    "PoolExecutor": "infonas.execution",
    "RayExecutor": "infonas.execution.ray_executor",
    "build_executor": "infonas.execution",
    "RetryPolicy": "infonas.execution",
    "FailureRateLimit": "infonas.execution",
    "FailureRateExceededError": "infonas.execution",
    # architecture costs (exact FLOPs and parameters, latency lookup) and measurements
    "ArchitectureCosts": "search_spaces.nb201.cost_tables",
    "OperationLatencyTable": "search_spaces.nb201.cost_tables",
    "MacroCosts": "search_spaces.macro.cost_tables",
    "DartsCosts": "search_spaces.darts.cost_tables",
    "ArchitectureMetrics": "search_spaces.metrics",
    "count_flops": "search_spaces.metrics",
    "count_parameters": "search_spaces.metrics",
    "measure_latency_ms": "search_spaces.metrics",
}


__getattr__, __dir__, __all__ = lazy_exports("infonas", _PUBLIC, globals())
