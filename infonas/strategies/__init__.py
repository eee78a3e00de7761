"""Search strategies: each proposes architectures (``suggest``) and learns from trials (``observe``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infonas.strategies.base import Strategy, Suggestion
from infonas.strategies.baselines import LocalSearch, RandomSearch, RegularizedEvolution
from search_spaces.base import SearchSpace


def _bayesian(**preset: Any) -> Callable[..., Strategy]:
    # Imported lazily: the GP stack (botorch) is only loaded when a Bayesian strategy is used.
    def build(*args: Any, **options: Any) -> Strategy:
        from infonas.strategies.bayesian import BayesianStrategy

        return BayesianStrategy(*args, **{**preset, **options})

    return build


def _lazy(module: str, cls_name: str, **preset: Any) -> Callable[..., Strategy]:
    # Strategies whose modules load heavy dependencies (botorch, pymoo) are imported on first use.
    def build(*args: Any, **options: Any) -> Strategy:
        from importlib import import_module

        return getattr(import_module(module), cls_name)(*args, **{**preset, **options})

    return build


STRATEGIES: dict[str, Callable[..., Strategy]] = {
    "rs": RandomSearch,
    "rea": RegularizedEvolution,
    "ls": LocalSearch,
    "bo-mes": _bayesian(kernel="wl+hamming+additive", acquisition="mes"),
    "bo-ei": _bayesian(kernel="wl+hamming+additive", acquisition="log-ei"),
    "bo-ts": _bayesian(kernel="wl+hamming+additive", acquisition="ts"),
    # The peer a user would otherwise pick: BoTorch's defaults on one-hot codes, with LogEI.
    "gp-onehot": _bayesian(kernel="onehot-rbf", acquisition="log-ei", warp="none"),
    # Multi-fidelity: information gain about the target's optimum per unit cost.
    "bo-mf": _lazy("infonas.strategies.cost_aware", "MultiFidelityStrategy"),
    # Multi-objective: BoTorch's qLogNEHVI, and information gain about the Pareto front.
    "bo-ehvi": _lazy("infonas.strategies.multi_objective", "ParetoStrategy", acquisition="log-nehvi"),
    "bo-mesmo": _lazy("infonas.strategies.multi_objective", "ParetoStrategy", acquisition="pfes"),
    # Multi-objective peer: NSGA-II (pymoo) with mutation over the categorical encoding.
    "nsga2": _lazy("infonas.strategies.nsga2", "NSGA2Strategy"),
}


def make_strategy(name: str, space: SearchSpace, objective: str, seed: int = 0, maximize: bool = True,
                  **options: Any) -> Strategy:
    """The strategy registered under ``name``, bound to a space, an objective and a seed."""
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; available: {sorted(STRATEGIES)}") from None
    return cls(space, objective, seed=seed, maximize=maximize, **options)


__all__ = ["STRATEGIES", "LocalSearch", "RandomSearch", "RegularizedEvolution", "Strategy", "Suggestion",
           "make_strategy"]
