"""Search strategies: each proposes architectures (``suggest``) and learns from trials (``observe``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infonas.exceptions import InvalidArgumentError
from infonas.strategies.base import Strategy, Suggestion
from infonas.strategies.baselines import GivenOrder, LocalSearch, RandomSearch, RegularizedEvolution
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
    # A fixed list of cells in order: ground-truth tables built as resumable studies.
    "list": GivenOrder,
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
    # Both: information about the Pareto front per unit cost, over (architecture, fidelity) pairs.
    "bo-mf-pareto": _lazy("infonas.strategies.mf_pareto", "MultiFidelityParetoStrategy"),
    # Multi-objective peer: NSGA-II (pymoo) with mutation over the categorical encoding.
    "nsga2": _lazy("infonas.strategies.nsga2", "NSGA2Strategy"),
    # Ax (optional extra): its default generation strategy, and Ax driving the infonas GP.
    "ax": _lazy("infonas.ax.strategy", "AxStrategy"),
    "ax-infonas": _lazy("infonas.ax.strategy", "AxStrategy", generation_strategy="infonas"),
}


#: Strategies that need an optional extra: name -> (module whose ``require`` function checks it, function).
_EXTRAS = {"ax": ("infonas.ax.parameters", "require_ax"), "ax-infonas": ("infonas.ax.parameters", "require_ax")}


def check_strategy_available(name: str) -> None:
    """Raise ``UnsupportedError`` naming the extra to install when strategy ``name`` needs an
    optional package that is missing (``ax``: ``pip install 'infonas[ax]'``); else nothing."""
    if name in _EXTRAS:
        from importlib import import_module

        module, function = _EXTRAS[name]
        getattr(import_module(module), function)(f"strategy {name!r}")


def register_strategy(name: str, factory: Callable[..., Strategy]) -> None:
    """Make ``name`` usable by ``make_strategy``, ``Study.create(strategy=name)`` and ``Study.load``.

    ``factory(space, objective, seed=..., maximize=..., **options)`` returns a new ``Strategy``;
    a ``Strategy`` subclass is one. Run ``infonas.testing.strategies.StrategyConformance`` on it.

    Example:
        >>> from infonas.strategies.baselines import RandomSearch
        >>> register_strategy("rs", RandomSearch)  # the same factory again: nothing to do
        >>> register_strategy("rs", LocalSearch)
        Traceback (most recent call last):
        ...
        ValueError: strategy 'rs' is already registered (to RandomSearch); register LocalSearch under another name
    """
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise InvalidArgumentError(f"a strategy name must be a non-empty string without surrounding spaces, got {name!r}")
    if not callable(factory):
        raise TypeError(f"factory for strategy {name!r} must be callable (a Strategy subclass, say), got {factory!r}")
    registered = STRATEGIES.get(name)
    if registered is not None and registered is not factory:
        raise InvalidArgumentError(f"strategy {name!r} is already registered (to {_describe(registered)}); "
                         f"register {_describe(factory)} under another name")
    STRATEGIES[name] = factory


def _describe(factory: Callable[..., Strategy]) -> str:
    return getattr(factory, "__qualname__", repr(factory))


def make_strategy(name: str, space: SearchSpace, objective: str, seed: int = 0, maximize: bool = True,
                  **options: Any) -> Strategy:
    """The strategy registered under ``name``, bound to a space, an objective and a seed."""
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise InvalidArgumentError(f"unknown strategy {name!r}; choose one of {sorted(STRATEGIES)} "
                                   "(or add one with register_strategy)") from None
    return cls(space, objective, seed=seed, maximize=maximize, **options)


__all__ = ["STRATEGIES", "GivenOrder", "LocalSearch", "RandomSearch", "RegularizedEvolution", "Strategy", "Suggestion",
           "check_strategy_available", "make_strategy", "register_strategy"]
