"""Candidate pools: the architectures an acquisition function scores at one step.

Enumerable spaces give their whole space, one representative per canonical key; larger ones give
random samples plus mutations of the incumbents. Evaluated and pending keys are never in a pool.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from search_spaces.base import Architecture, SearchSpace

ENUMERATION_LIMIT = 100_000


# A memo of a pure function (spaces are pure), keyed by the space's type and name so that every
# instance of a space shares one enumeration.
_REPRESENTATIVES: dict[tuple[type, str], tuple[Architecture, ...]] = {}


def canonical_representatives(space: SearchSpace) -> tuple[Architecture, ...]:
    """The first architecture (in enumeration order) of every canonical key of a space."""
    cache_key = (type(space), space.name)
    if cache_key not in _REPRESENTATIVES:
        seen: set[str] = set()
        representatives = []
        for arch in space.enumerate():
            if arch.key not in seen:
                seen.add(arch.key)
                representatives.append(arch)
        _REPRESENTATIVES[cache_key] = tuple(representatives)
    return _REPRESENTATIVES[cache_key]


def candidate_pool(space: SearchSpace, exclude_keys: set[str], rng: np.random.Generator,
                   incumbents: Sequence[Architecture] = (), num_samples: int = 2000,
                   mutations_per_incumbent: int = 50) -> list[Architecture]:
    """Architectures to score, none of whose canonical key is in ``exclude_keys``.

    Example:
        >>> from search_spaces import NB201Space
        >>> len(candidate_pool(NB201Space(), set(), np.random.default_rng(0)))
        6466
    """
    if space.size <= ENUMERATION_LIMIT:
        return [a for a in canonical_representatives(space) if a.key not in exclude_keys]
    chosen: dict[str, Architecture] = {}

    def offer(archs: Iterable[Architecture]) -> None:
        for arch in archs:
            if arch.key not in exclude_keys and arch.key not in chosen:
                chosen[arch.key] = arch

    for incumbent in incumbents:
        offer(space.neighbours(incumbent))
        mutant = incumbent
        for _ in range(mutations_per_incumbent):
            mutant = space.mutate(mutant, rng)
            offer([mutant])
    offer(space.sample(rng) for _ in range(num_samples))
    return list(chosen.values())
