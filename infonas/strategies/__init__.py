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


STRATEGIES: dict[str, Callable[..., Strategy]] = {
    "rs": RandomSearch,
    "rea": RegularizedEvolution,
    "ls": LocalSearch,
    "bo-mes": _bayesian(kernel="wl+hamming+additive", acquisition="mes"),
    "bo-ei": _bayesian(kernel="wl+hamming+additive", acquisition="log-ei"),
    "bo-ts": _bayesian(kernel="wl+hamming+additive", acquisition="ts"),
    # The peer a user would otherwise pick: BoTorch's defaults on one-hot codes, with LogEI.
    "gp-onehot": _bayesian(kernel="onehot-rbf", acquisition="log-ei", warp="none"),
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
