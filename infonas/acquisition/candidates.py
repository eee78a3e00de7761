"""Candidate pools: the architectures an acquisition function scores at one step.

Enumerable spaces give their whole space, one representative per canonical key; larger ones give
random samples plus mutations of the incumbents. Evaluated and pending keys are never in a pool.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from search_spaces.base import Architecture, SearchSpace

ENUMERATION_LIMIT = 100_000


#: The attribute of a space instance that holds its canonical representatives.
_REPRESENTATIVES_ATTRIBUTE = "_infonas_canonical_representatives"


def canonical_representatives(space: SearchSpace) -> tuple[Architecture, ...]:
    """The first architecture (in enumeration order) of every canonical key of a space.

    Example:
        >>> from search_spaces import NB201Space
        >>> len(canonical_representatives(NB201Space()))
        6466
    """
    # Memoised on the space instance itself: the memo lives and dies with its space (no global
    # cache to grow), and two spaces sharing a type and name but not parameters never collide.
    cached = getattr(space, _REPRESENTATIVES_ATTRIBUTE, None)
    if cached is None:
        seen: set[str] = set()
        representatives = []
        for arch in space.enumerate():
            if arch.key not in seen:
                seen.add(arch.key)
                representatives.append(arch)
        cached = tuple(representatives)
        setattr(space, _REPRESENTATIVES_ATTRIBUTE, cached)
    return cached


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
