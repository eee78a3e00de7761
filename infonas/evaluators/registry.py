"""Evaluators described as JSON, so a run directory can rebuild the evaluator it was made with.

A spec is a small dict whose ``kind`` names a registered builder: ``{"kind": "table", "path": ...,
"objective": ..., "cheap": {...}}`` or ``{"kind": "training", "dataset": "digits", ...}``.
``{"kind": "supernet", "dataset": "mnist1d", "mode": "spos", "checkpoint_dir": ...}`` scores
cells on a weight-sharing supernet (``"space": "darts"`` for DARTS genotypes, NB201 cells without it);
``{"kind": "chain", "cheap": {...}, "target": {...}, "costs": ...}`` makes two specs the two
fidelities of one evaluator (``chain_spec``, ``mnist1d_chain_spec``). ``Study.load`` calls
``build_evaluator(config["evaluator"], space)``; a new evaluator becomes resumable by
``register_evaluator("mine", builder)``.

Example:
    >>> from search_spaces import NB201Space
    >>> spec = training_spec(epochs=1)
    >>> type(build_evaluator(spec, NB201Space())).__name__
    'TrainingEvaluator'
"""

from __future__ import annotations

import functools
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
    """Spec of a supernet evaluator; the checkpoint directory is stored absolute, as a table's path.
    ``options`` are ``SupernetEvaluator``'s (``space="darts"`` for the DARTS supernet)."""
    return {"kind": "supernet", "checkpoint_dir": str(Path(checkpoint_dir).resolve()), **options}


def chain_spec(cheap: Mapping[str, Any], target: Mapping[str, Any], costs: Mapping[str, float],
               setup_cost: float = 0.0, **extra: Any) -> dict[str, Any]:
    """Spec of a ``FidelityChain``: a cheap and a target spec, fixed prices per fidelity (target = 1)
    and the price of the cheap one's setup; ``extra`` (e.g. where the prices come from) is kept as is."""
    return {"kind": "chain", "cheap": dict(cheap), "target": dict(target), "costs": dict(costs),
            "setup_cost": float(setup_cost), **extra}


#: The network of the mnist1d ground-truth table (benchmarks/data/nb201_mnist1d.json): the main
#: job trains and scores cells with it, so its results and the table's agree.
MNIST1D_NETWORK: dict[str, Any] = {"channels": 8, "num_cells": 1, "batch_size": 64, "learning_rate": 0.1}


def mnist1d_chain_spec(checkpoint_dir: str | Path, *, epochs: int = 3, supernet_epochs: int = 30,
                       recalibration_batches: int = 10, space: str = "nb201", **network: Any) -> dict[str, Any]:
    """The main job's evaluator: a spos supernet on mnist1d (trained once, checkpointed in
    ``checkpoint_dir``) as the cheap fidelity, ``epochs``-epoch training as the target, priced by
    ``infonas.evaluators.chain.measured_costs``. ``network`` overrides ``MNIST1D_NETWORK``.
    ``space="darts"`` makes the DARTS space's chain (its supernet, its genotypes' networks), priced
    by the seconds ``infonas bench prices --space darts --measure`` recorded.

    Example:
        >>> spec = mnist1d_chain_spec("/tmp/run/supernet", epochs=3, supernet_epochs=30)
        >>> spec["target"]["channels"], round(spec["costs"]["supernet"], 3), spec["costs"]["train"]
        (8, 0.045, 1.0)
    """
    from infonas.evaluators.chain import measured_costs

    settings = {**MNIST1D_NETWORK, **network}
    prices = measured_costs(epochs, supernet_epochs, recalibration_batches, space=space)
    space_option = {"space": space} if space != "nb201" else {}  # NB201's specs stay as they were
    cheap = supernet_spec(checkpoint_dir, dataset="mnist1d", mode="spos", epochs=supernet_epochs,
                          recalibration_batches=recalibration_batches, **space_option, **settings)
    target = training_spec(dataset="mnist1d", epochs=epochs, **settings)
    return chain_spec(cheap, target, prices["costs"], prices["setup_cost"], cost_source=prices["cost_source"])


def _build_table(spec: Mapping[str, Any], space: SearchSpace) -> Evaluator:
    from infonas.evaluators.tabular import (  # deferred: reads a file
        TabularBenchmark,
        TabularEvaluator,
    )

    table = TabularBenchmark.from_csv(spec["path"], space)
    return TabularEvaluator(table, spec["objective"], cheap=spec.get("cheap"),
                            extra_metrics=spec.get("extra_metrics", ()))


@functools.lru_cache(maxsize=4)
def _splits(dataset: str, split_seed: int) -> tuple[Any, ...]:
    """An embedded data set's splits, made once per process: a chain's two evaluators (and a
    report's rebuild) share them, and generating MNIST-1D takes seconds. Evaluators only read them."""
    from infonas.datasets import load_splits

    return tuple(load_splits(dataset, split_seed))


def _split_seed(spec: Mapping[str, Any]) -> int:
    """The seed that splits a spec's data set (the evaluators' rule: ``split_seed``, else ``seed``)."""
    seed = spec.get("split_seed")
    return int(spec.get("seed", 0) if seed is None else seed)


def _build_training(spec: Mapping[str, Any], space: SearchSpace) -> Evaluator:
    from infonas.datasets import DATASETS
    from infonas.evaluators.training import TrainingEvaluator  # deferred: loads torch

    dataset = spec.get("dataset", "digits")
    if dataset not in DATASETS:
        raise UnsupportedError(f"training spec names dataset {dataset!r}; the embedded data sets are {sorted(DATASETS)}")
    return TrainingEvaluator(_splits(dataset, _split_seed(spec)),
                             **{k: v for k, v in spec.items() if k not in ("kind", "dataset")})


def _build_supernet(spec: Mapping[str, Any], space: SearchSpace) -> Evaluator:
    from infonas.evaluators.supernet import SupernetEvaluator  # deferred: loads torch

    options = {k: v for k, v in spec.items() if k not in ("kind", "dataset")}
    if options.get("space", "nb201") != space.name:
        raise InvalidArgumentError(f"a supernet spec of space {options.get('space', 'nb201')!r} cannot score the "
                                   f"{space.name!r} architectures of this run: give the spec space={space.name!r}")
    return SupernetEvaluator(_splits(spec.get("dataset", "mnist1d"), _split_seed(spec)), **options)


def _build_chain(spec: Mapping[str, Any], space: SearchSpace) -> Evaluator:
    from infonas.evaluators.chain import FidelityChain

    return FidelityChain(build_evaluator(spec["cheap"], space), build_evaluator(spec["target"], space),
                         costs=spec["costs"], setup_cost=spec.get("setup_cost", 0.0), rename=spec.get("rename"))


def _build_mnasnet(spec: Mapping[str, Any], space: SearchSpace) -> Evaluator:
    from infonas.evaluators.derived import MnasNetReward
    from search_spaces.nb201.cost_tables import ArchitectureCosts

    return MnasNetReward(build_evaluator(spec["base"], space), ArchitectureCosts.from_json(spec["costs"], space),
                         accuracy=spec["accuracy"], target_ms=spec["target_ms"], exponent=spec.get("exponent", -0.07))


def sleep_spec(seconds: float, inner: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Spec of a ``SleepEvaluator``: ``seconds`` per evaluation, then ``inner``'s answer (or a synthetic score)."""
    return {"kind": "sleep", "seconds": float(seconds), "inner": None if inner is None else dict(inner)}


def faulty_spec(inner: Mapping[str, Any], rates: Mapping[str, float], *, seed: int = 0,
                once_dir: str | Path | None = None, hang_seconds: float = 3600.0) -> dict[str, Any]:
    """Spec of a ``FaultyEvaluator`` (injected faults at ``rates``; ``once_dir`` stored absolute)."""
    return {"kind": "faulty", "inner": dict(inner), "rates": dict(rates), "seed": int(seed),
            "once_dir": None if once_dir is None else str(Path(once_dir).resolve()), "hang_seconds": float(hang_seconds)}


def _build_sleep(spec: Mapping[str, Any], space: SearchSpace) -> Evaluator:
    from infonas.evaluators.synthetic import SleepEvaluator

    inner = spec.get("inner")
    return SleepEvaluator(spec["seconds"], None if inner is None else build_evaluator(inner, space))


def _build_faulty(spec: Mapping[str, Any], space: SearchSpace) -> Evaluator:
    from infonas.evaluators.synthetic import FaultyEvaluator

    return FaultyEvaluator(build_evaluator(spec["inner"], space), spec["rates"], seed=spec.get("seed", 0),
                           once_dir=spec.get("once_dir"), hang_seconds=spec.get("hang_seconds", 3600.0))


#: Evaluator kind -> builder from (spec, space). Extend with ``register_evaluator``.
EVALUATORS: dict[str, EvaluatorBuilder] = {"table": _build_table, "training": _build_training,
                                           "supernet": _build_supernet, "chain": _build_chain,
                                           "mnasnet": _build_mnasnet, "sleep": _build_sleep,
                                           "faulty": _build_faulty}

#: Kinds every process knows without registering anything: a worker process (a pool's, Ray's)
#: rebuilds these from their spec; an evaluator of another kind is sent to workers pickled.
BUILTIN_EVALUATOR_KINDS = frozenset(EVALUATORS)


def is_portable_spec(spec: Mapping[str, Any]) -> bool:
    """Whether a fresh process can rebuild ``spec`` (it and every nested spec are of built-in kinds)."""
    if not isinstance(spec, Mapping) or spec.get("kind") not in BUILTIN_EVALUATOR_KINDS:
        return False
    nested = [spec.get(name) for name in ("cheap", "target", "base", "inner") if isinstance(spec.get(name), Mapping)]
    return all(is_portable_spec(inner) for inner in nested)


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
