"""Candidate pools: the architectures an acquisition function scores at one step.

Two kinds (a strategy's ``pool`` option, ``pool_mode``):

* ``"enumerate"``: the whole space, one representative per canonical key (spaces of at most
  ``ENUMERATION_LIMIT`` architectures; the default there).
* ``"sampled"``: acquisition optimisation by local search within a budget of scored candidates
  (as BANANAS and NAS-BOWL optimise theirs): an initial set of the incumbents' neighbours and
  mutants plus random samples, scored by the strategy's pointwise guide, then, round after round,
  the unscored neighbours of the best-scoring candidates not yet expanded (best first, about a
  quarter of the rest of the budget a round), until ``budget`` candidates are scored. Every
  candidate the guide scores counts, refinement included. Each class is offered as its
  ``SearchSpace.representative``, the twin the enumerated pool holds (twins can differ in a
  table's rows and in their raw encodings).

Evaluated and pending keys (``exclude_keys``) are never in a pool, nor is any key twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

from infonas.exceptions import InvalidArgumentError
from search_spaces.base import Architecture, SearchSpace

ENUMERATION_LIMIT = 100_000
#: Candidates a sampled pool scores per suggestion, unless a strategy's ``pool_budget`` says otherwise.
DEFAULT_POOL_BUDGET = 2000
POOL_MODES = ("enumerate", "sampled")
#: Share of a sampled pool's budget spent on its initial set (the rest refines it), of which at
#: most half goes to the incumbents' moves, so random samples keep exploring the space.
INITIAL_SHARE = 0.5
#: Mutants of each incumbent two mutations away (its one-position neighbours are all taken).
MUTANTS_PER_INCUMBENT = 10
#: Refinement rounds a budget is spread over: each scores the neighbours of the best candidates not
#: yet expanded, in order, until it holds its share; few rounds keep the guide's per-call costs
#: (a kernel against the data, a GP solve) small, yet the search still climbs several steps.
REFINEMENT_ROUNDS = 4
#: The spawn key of the sampled pool's own random stream (``pool_stream``).
_POOL_STREAM = 0x9001

Guide = Callable[[list[Architecture]], "np.ndarray | torch.Tensor"]

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


def pool_mode(space: SearchSpace, pool: str | None = None) -> str:
    """The pool a strategy scores: ``pool`` checked, or by default ``"enumerate"`` where the space
    has at most ``ENUMERATION_LIMIT`` architectures and ``"sampled"`` otherwise.

    Example:
        >>> from search_spaces import NB201Space
        >>> pool_mode(NB201Space()), pool_mode(NB201Space(), "sampled")
        ('enumerate', 'sampled')
    """
    if pool is None:
        return "enumerate" if space.size <= ENUMERATION_LIMIT else "sampled"
    if pool not in POOL_MODES:
        raise InvalidArgumentError(f"a candidate pool is one of {list(POOL_MODES)}, got pool={pool!r}: give 'enumerate' "
                                   "(the whole space) or 'sampled' (local search within pool_budget)")
    if pool == "enumerate" and space.size > ENUMERATION_LIMIT:
        raise InvalidArgumentError(f"pool='enumerate' scores the whole space, which needs at most {ENUMERATION_LIMIT:,} "
                                   f"architectures; {space.name!r} has {space.size:,}: use pool='sampled' (the "
                                   "default there)")
    return pool


def check_pool_budget(budget: int) -> int:
    """``budget`` as an int if it is a whole number of at least 1, else ``InvalidArgumentError``."""
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise InvalidArgumentError(f"pool_budget counts the candidates a sampled pool scores per suggestion, a whole "
                                   f"number of at least 1; got {budget!r}: use e.g. {DEFAULT_POOL_BUDGET}")
    return int(budget)


def pool_stream(rng: np.random.Generator) -> np.random.Generator:
    """A generator of the sampled pool's own, a child of ``rng``'s seed sequence: nothing is drawn
    from ``rng``, so the model's draws after it are those of an enumerated pool's step.

    Example:
        >>> rng = np.random.default_rng([0, 7])
        >>> a, b = pool_stream(rng).integers(10**6), pool_stream(rng).integers(10**6)
        >>> bool(a == b), int(rng.integers(10**6)) == int(np.random.default_rng([0, 7]).integers(10**6))
        (True, True)
    """
    seed = rng.bit_generator.seed_seq
    return np.random.default_rng(np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, _POOL_STREAM)))


def candidate_pool(space: SearchSpace, exclude_keys: set[str], rng: np.random.Generator,
                   incumbents: Sequence[Architecture] = (), *, pool: str | None = None, score: Guide | None = None,
                   budget: int = DEFAULT_POOL_BUDGET) -> list[Architecture]:
    """Architectures to score, none of whose canonical key is in ``exclude_keys``.

    ``pool``: ``"enumerate"``, ``"sampled"`` or ``None`` (``pool_mode``'s default). A sampled pool
    draws from ``pool_stream(rng)``; with a guide ``score`` (larger is better, one value per
    architecture of a batch) it is refined by local search, else it is the initial set alone.
    Sampled pools come in the order they were scored, at most ``budget`` candidates.

    Example:
        >>> from search_spaces import NB201Space
        >>> space, rng = NB201Space(), np.random.default_rng(0)
        >>> len(candidate_pool(space, set(), rng))
        6466
        >>> convs = lambda batch: [sum(op == "nor_conv_3x3" for op in a.ops) for a in batch]
        >>> best = candidate_pool(space, set(), rng, pool="sampled", score=convs, budget=300)
        >>> len(best), max(convs(best))
        (300, 6)
    """
    if pool_mode(space, pool) == "enumerate":
        return [a for a in canonical_representatives(space) if a.key not in exclude_keys]
    return _sampled_pool(space, set(exclude_keys), pool_stream(rng), incumbents, score, check_pool_budget(budget))


def _moves(space: SearchSpace, incumbents: Sequence[Architecture], rng: np.random.Generator) -> Iterable[Architecture]:
    """The incumbents' one-position neighbours (local moves), then mutants two mutations away
    (evolutionary moves), each incumbent in turn."""
    for incumbent in incumbents:
        yield from space.neighbours(incumbent)
    for incumbent in incumbents:
        for _ in range(MUTANTS_PER_INCUMBENT):
            yield space.mutate(space.mutate(incumbent, rng), rng)


def _sampled_pool(space: SearchSpace, seen: set[str], rng: np.random.Generator, incumbents: Sequence[Architecture],
                  score: Guide | None, budget: int) -> list[Architecture]:
    pool: list[Architecture] = []

    def take(archs: Iterable[Architecture], limit: int) -> list[Architecture]:
        """Fresh keys of ``archs`` (marked seen), at most ``limit`` of them, each as its class's
        ``representative``: the twin an enumerated pool would offer."""
        fresh: list[Architecture] = []
        for arch in archs:
            if len(fresh) >= limit:
                break
            if arch.key not in seen:
                seen.add(arch.key)
                fresh.append(space.representative(arch))
        return fresh

    initial = max(1, math.ceil(INITIAL_SHARE * budget)) if score is not None else budget
    pool += take(_moves(space, incumbents, rng), initial // 2)
    # A bounded number of draws: a nearly exhausted space yields fewer fresh samples, not a hang.
    pool += take((space.sample(rng) for _ in range(4 * initial)), initial - len(pool))
    if score is None or not pool:
        return pool
    values = _guide_values(score, pool)
    expanded: set[str] = set()
    share = math.ceil((budget - len(pool)) / REFINEMENT_ROUNDS)
    while len(pool) < budget:
        children: list[Architecture] = []
        for index in np.argsort(-values, kind="stable"):
            parent = pool[int(index)]
            if len(children) >= min(share, budget - len(pool)):
                break
            if parent.key not in expanded:
                expanded.add(parent.key)
                children += take(space.neighbours(parent), budget - len(pool) - len(children))
        if not children:
            break  # every scored candidate's neighbourhood is scored: nothing left to refine
        pool += children
        values = np.concatenate([values, _guide_values(score, children)])
    return pool


def _guide_values(score: Guide, batch: list[Architecture]) -> np.ndarray:
    values = score(batch)
    values = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.shape != (len(batch),):
        raise InvalidArgumentError(f"a pool's guide scores each architecture of its batch once: {len(batch)} "
                                   f"scores expected, got {values.shape[0]}: return one number per architecture")
    return np.where(np.isnan(values), -np.inf, values)  # a NaN never outranks a number


def front_gain(vectors: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """How far each row of ``vectors`` (``n x m``, signed: larger is better) lies beyond the front of
    ``observed`` (``k x m``): the additive epsilon indicator (Zitzler et al., 2003) of that front
    relative to the vector, ``min_p max_i (v_i - p_i) / s_i`` over its members ``p``, ``s_i`` the
    spread of ``observed`` in objective ``i`` (1 where none): by how much the front must improve
    to cover ``v``.

    Positive where no member dominates the vector (it would join the front), at most zero where
    one does. Pareto strategies guide their sampled pools with it, on optimistic vectors
    ``(mu + 3 sigma, computed)``: a score per candidate, unlike a non-dominated sorting.

    Example:
        >>> observed = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
        >>> vectors = torch.tensor([[1.0, 1.0], [0.5, 0.5], [0.0, 0.0], [-1.0, -1.0]], dtype=torch.float64)
        >>> front_gain(vectors, observed).tolist()
        [1.0, 0.5, 0.0, -1.0]
    """
    from infonas.pareto import pareto_mask

    vectors, observed = vectors.to(torch.float64), observed.to(torch.float64)
    if observed.shape[0] == 0:
        return torch.zeros(vectors.shape[0], dtype=torch.float64)
    spread = observed.amax(dim=0) - observed.amin(dim=0)
    front = observed[pareto_mask(observed)] / torch.where(spread > 0, spread, torch.ones_like(spread))
    scaled = vectors / torch.where(spread > 0, spread, torch.ones_like(spread))
    return (scaled.unsqueeze(1) - front.unsqueeze(0)).amax(dim=-1).amin(dim=-1)
