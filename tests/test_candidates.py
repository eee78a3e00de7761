import numpy as np

from infonas.acquisition.candidates import candidate_pool, canonical_representatives
from search_spaces import NB201Space


def test_enumerable_pool_is_one_per_key_minus_excluded(space):
    pool = candidate_pool(space, set(), np.random.default_rng(0))
    assert len(pool) == len({a.key for a in pool}) == 6466
    assert canonical_representatives(space) is canonical_representatives(space)  # memoised on the space
    assert canonical_representatives(NB201Space()) == canonical_representatives(space)
    excluded = {pool[0].key, pool[5].key}
    smaller = candidate_pool(space, excluded, np.random.default_rng(0))
    assert len(smaller) == 6464 and not excluded & {a.key for a in smaller}


class BigSpace(NB201Space):
    """NB201 pretending to be too large to enumerate."""

    name = "nb201"

    @property
    def size(self):
        return 10**9


def test_sampled_pool_includes_incumbent_neighbours():
    space = BigSpace()
    incumbent = space.sample(np.random.default_rng(1))
    pool = candidate_pool(space, {incumbent.key}, np.random.default_rng(0), incumbents=[incumbent], budget=100)
    keys = {a.key for a in pool}
    assert incumbent.key not in keys and len(keys) == len(pool) == 100  # no guide: the initial set, filled
    assert {n.key for n in space.neighbours(incumbent)} - {incumbent.key} <= keys


class TruncatedSpace(NB201Space):
    """NB201 enumerating only its first ``limit`` cells: one type and name, several parameters."""

    def __init__(self, limit):
        super().__init__()
        self.limit = limit

    def enumerate(self):
        from itertools import islice

        return islice(super().enumerate(), self.limit)


def test_parameterised_spaces_do_not_share_representatives():
    small, large = TruncatedSpace(10), TruncatedSpace(40)
    assert len(canonical_representatives(small)) < len(canonical_representatives(large))
    assert len(canonical_representatives(TruncatedSpace(10))) == len(canonical_representatives(small))
