"""What a ``Study`` is made of before it runs: its checked config, its search domain, its strategy.

``study_config`` checks every argument of ``Study.create`` and returns the frozen config; the
store is created only afterwards, so a bad argument leaves nothing behind. ``search_domain``
restricts the space to what the evaluator can evaluate (the rows of an incomplete table), and
``build_strategy`` makes the strategy a config describes over that domain, for a new study and
for a reloaded one alike.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from infonas.evaluators import Evaluator
from infonas.exceptions import InvalidArgumentError
from infonas.objectives import ComputedMetrics, Objective, parse_objectives
from infonas.storage.events import FORMAT_VERSION
from infonas.strategies import make_strategy
from infonas.strategies.base import Strategy
from search_spaces.base import SearchSpace
from search_spaces.subset import SubsetSpace

#: Spaces up to this size are enumerated to find the worst value of a computed objective.
ENUMERATION_LIMIT = 100_000


def computed_from_config(data: dict[str, Any] | None, space: SearchSpace) -> ComputedMetrics | None:
    """The computed metrics saved in a config (``None`` when it has none)."""
    if not data:
        return None
    from search_spaces.networks import costs_from_json

    return costs_from_json(data, space)


def search_domain(space: SearchSpace, evaluator: Evaluator) -> SearchSpace:
    """``space``, or its subset of the architectures ``evaluator.domain()`` names.

    A table that covers part of the space can answer only for its rows: strategies search those
    (a complete table, or a training evaluator, leaves the space as it is).

    Example:
        >>> from search_spaces import NB201Space
        >>> from infonas.evaluators.tabular import TabularBenchmark, TabularEvaluator
        >>> space = NB201Space()
        >>> cells = [space.from_categorical([0, 0, 0, 0, 0, i]) for i in range(3)]
        >>> table = TabularBenchmark(space, cells, {"acc": [70.0, 80.0, 90.0]})
        >>> search_domain(space, TabularEvaluator(table, "acc")).size
        3
    """
    cells = evaluator.domain()
    return space if cells is None else SubsetSpace(space, cells)


def check_seed(seed: object) -> int:
    """``seed`` as an int if it is a non-negative integer (NumPy seeds its generators with it)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InvalidArgumentError(f"seed must be a non-negative integer (it seeds NumPy's generators), got {seed!r}: "
                                   "use 0 or another whole number >= 0 (a run saved with a negative seed cannot "
                                   "continue: start it again)")
    return int(seed)


def build_strategy(config: Mapping[str, Any], domain: SearchSpace, evaluator: Evaluator,
                   objectives: Sequence[Objective], computed: ComputedMetrics | None) -> Strategy:
    """The strategy ``config`` names, over ``domain``, with the evaluator's fidelities cheapest first."""
    return make_strategy(config["strategy"], domain, objectives[0].name, seed=check_seed(config["seed"]),
                         maximize=objectives[0].maximize, objectives=tuple(objectives), computed=computed,
                         fidelities=sorted(evaluator.fidelities.values(), key=lambda f: f.level),
                         **config.get("strategy_options", {}))


def _reference_point(objectives: Sequence[Objective], given: Mapping[str, float] | None, evaluator: Evaluator,
                     computed: Any, domain: SearchSpace) -> dict[str, float]:
    """The given reference point, completed with the worst known value of each objective."""
    reference = dict(given or {})
    unknown = [name for name in reference if name not in {o.name for o in objectives}]
    if unknown:
        raise InvalidArgumentError(f"reference point names {unknown}, which are not objectives; name only "
                                   f"{[o.name for o in objectives]}")
    for name, value in reference.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise InvalidArgumentError(f"a reference point value must be a finite number, got {name}={value!r}")
    for o in objectives:
        if o.name in reference:
            continue
        if computed is not None and o.name in computed.names and domain.size <= ENUMERATION_LIMIT:
            values = computed.values(list(domain.enumerate()), o.name)
        else:
            values = evaluator.known_values(o.name)  # a table's column, read once
        if values is None:
            raise InvalidArgumentError(f"give a reference point for objective {o.name!r} (its worst acceptable value): "
                                       "it is neither a table column nor computed over an enumerable space")
        reference[o.name] = float(np.min(values) if o.maximize else np.max(values))
    return {o.name: float(reference[o.name]) for o in objectives}


def _parse(objective: str | None, maximize: bool, objectives: Sequence[str | Objective] | str | None,
           evaluator: Evaluator, computed: Any) -> tuple[Objective, ...]:
    if not isinstance(maximize, (bool, np.bool_)):
        raise InvalidArgumentError(f"maximize must be True or False, got {maximize!r}")
    if objectives is None:
        if objective is None:
            raise InvalidArgumentError("give an objective (or objectives)")
        parsed: tuple[Objective, ...] = (Objective(objective, bool(maximize)),)
    else:
        parsed = parse_objectives(objectives)
        if objective is not None and objective != parsed[0].name:
            raise InvalidArgumentError(f"objective {objective!r} is not the first of objectives "
                                       f"{[str(o) for o in parsed]}: give one of the two, or list it first")
    computed_names = set(computed.names) if computed is not None else set()
    for o in parsed:
        if o.name not in evaluator.metric_names and o.name not in computed_names:
            raise InvalidArgumentError(f"objective {o.name!r} is neither a metric of the evaluator "
                                       f"{list(evaluator.metric_names)} nor a computed metric {sorted(computed_names)}")
    if parsed[0].name not in evaluator.metric_names:
        raise InvalidArgumentError(f"the first objective {parsed[0].name!r} must be measured by the evaluator: "
                                   f"{list(evaluator.metric_names)}")
    return parsed


def study_config(space: SearchSpace, evaluator: Evaluator, objective: str | None, *, strategy: str, seed: int,
                 maximize: bool, batch_size: int, strategy_options: dict[str, Any] | None,
                 evaluator_spec: dict[str, Any] | None, objectives: Sequence[str | Objective] | str | None,
                 computed: Any, reference_point: dict[str, float] | None) -> dict[str, Any]:
    """The frozen config of a new study, after checking every argument (nothing is created before).

    Example:
        >>> config = study_config(space, evaluator, "acc", strategy="rs", seed=-1, ...)  # doctest: +SKIP
        Traceback (most recent call last):
        InvalidArgumentError: seed must be a non-negative integer (it seeds NumPy's generators), got -1: ...
    """
    seed = check_seed(seed)
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be a whole number of at least 1, got {batch_size!r}")
    if not isinstance(strategy, str):
        raise InvalidArgumentError(f"strategy must be a registered name such as 'bo-ei', got {strategy!r}")
    if strategy_options is not None and not isinstance(strategy_options, Mapping):
        raise InvalidArgumentError(f"strategy_options must be a dict of keyword arguments, got {strategy_options!r}")
    if evaluator_spec is not None and not isinstance(evaluator_spec, Mapping):
        raise InvalidArgumentError(f"evaluator_spec must be a dict (e.g. table_spec(...)), got {evaluator_spec!r}")
    parsed = _parse(objective, maximize, objectives, evaluator, computed)
    domain = search_domain(space, evaluator)
    if len(parsed) > 1:
        reference_point = _reference_point(parsed, reference_point, evaluator, computed, domain)
    elif reference_point is not None:
        raise InvalidArgumentError(f"a reference point bounds the hypervolume of several objectives; this study has "
                                   f"one ({parsed[0]}), so leave reference_point out, got {reference_point!r}")
    config = {
        "format_version": FORMAT_VERSION,
        "space": space.name,
        "objective": parsed[0].name,
        "maximize": bool(parsed[0].maximize),
        "objectives": [o.to_json() for o in parsed],
        "reference_point": reference_point,
        "computed_metrics": computed.to_json() if computed is not None else None,
        "seed": seed,
        "strategy": strategy,
        "strategy_options": dict(strategy_options or {}),
        "batch_size": int(batch_size),
        "evaluator": dict(evaluator_spec) if evaluator_spec is not None else {"kind": "custom"},
        "fidelities": {name: f.cost for name, f in evaluator.fidelities.items()},
    }
    build_strategy(config, domain, evaluator, parsed, computed)  # its own checks of the options, before any store
    return config
