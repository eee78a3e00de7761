"""Search strategies: each proposes architectures (``suggest``) and learns from trials (``observe``)."""

from __future__ import annotations

from typing import Any

from infonas.strategies.base import Strategy, Suggestion
from infonas.strategies.baselines import LocalSearch, RandomSearch, RegularizedEvolution
from search_spaces.base import SearchSpace

STRATEGIES: dict[str, type[Strategy]] = {
    "rs": RandomSearch,
    "rea": RegularizedEvolution,
    "ls": LocalSearch,
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
