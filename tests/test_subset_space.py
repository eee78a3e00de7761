"""A table of part of a space: strategies search its rows (search_spaces.subset.SubsetSpace).

Every strategy proposes only cells of the table (so no trial fails as "not in table"), a search
that runs out of cells stops with a reason, a resumed run asks what an uninterrupted one asks,
and a complete table changes nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

from infonas.evaluators.registry import build_evaluator, table_spec
from infonas.exceptions import InvalidArchitectureError, InvalidArgumentError
from infonas.study import Study
from infonas.testing.spaces import SpaceConformance
from search_spaces import NB201Space
from search_spaces.subset import SubsetSpace

BASE = NB201Space()


def some_cells(n: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return sorted({BASE.sample(rng) for _ in range(n)}, key=BASE.to_categorical)


class TestSubsetSpaceConformance(SpaceConformance):
    """The space contract, less the two rules that define moves by one position (see below)."""

    samples = 30

    @pytest.fixture
    def space(self):
        return SubsetSpace(NB201Space(), some_cells(300))

    def test_mutate_is_valid_seeded_and_local(self, space):
        for arch in self.sample(space, seed=4, n=20):
            mutant = space.mutate(arch, np.random.default_rng(5))
            assert mutant == space.mutate(arch, np.random.default_rng(5))
            assert space.validate(mutant) is mutant and mutant in space.neighbours(arch)

    def test_neighbours_are_valid_distinct_and_ordered(self, space):
        for arch in self.sample(space, seed=6, n=10):
            neighbours = space.neighbours(arch)
            assert neighbours == space.neighbours(arch) and neighbours and arch not in neighbours
            distances = [sum(a != b for a, b in zip(arch.ops, n.ops)) for n in neighbours]
            others = [sum(a != b for a, b in zip(arch.ops, m.ops)) for m in space.members if m != arch]
            assert set(distances) == {min(others)}  # the nearest members, all of them
            assert len(neighbours) == others.count(min(others))


def test_a_subset_keeps_the_base_forms_and_moves_only_among_its_members():
    cells = some_cells(40)
    subset = SubsetSpace(BASE, reversed(cells))
    assert subset.name == BASE.name and subset.size == len(cells) == len(set(subset.members))
    assert list(subset.enumerate()) == cells  # the base's order, whatever order the cells came in
    assert all(arch in cells for arch in (subset.sample(np.random.default_rng(s)) for s in range(50)))
    outside = next(a for a in BASE.enumerate() if a not in subset)
    with pytest.raises(InvalidArchitectureError, match="not one of the 40 architectures"):
        subset.validate(outside)
    with pytest.raises(InvalidArchitectureError):
        subset.parse(BASE.format(outside))
    assert subset.format(cells[0]) == BASE.format(cells[0]) and subset.to_graph(cells[0]).nodes
    assert subset.make(outside.ops) == outside  # building is the base's; belonging is validate's


def test_from_categorical_decodes_to_the_nearest_member():
    cells = some_cells(40)
    subset = SubsetSpace(BASE, cells)
    codes = np.array([BASE.to_categorical(c) for c in cells])
    for arch in cells[:5]:
        assert subset.from_categorical(BASE.to_categorical(arch)) == arch
    rng = np.random.default_rng(1)
    for _ in range(20):
        point = rng.integers(5, size=6)
        decoded = subset.from_categorical(point)
        nearest = int((codes != point).sum(axis=1).min())
        assert decoded in cells and sum(np.array(BASE.to_categorical(decoded)) != point) == nearest
    with pytest.raises(InvalidArchitectureError):
        subset.from_categorical([5] * 6)


def test_lone_and_empty_subsets():
    lone = SubsetSpace(BASE, some_cells(1))
    arch = lone.members[0]
    assert lone.neighbours(arch) == [] and lone.mutate(arch, np.random.default_rng(0)) == arch
    with pytest.raises(InvalidArgumentError, match="at least one architecture"):
        SubsetSpace(BASE, [])


def test_only_an_incomplete_table_restricts_the_search(tiny_table_file, synthetic_table_file, space):
    tiny = build_evaluator(table_spec(tiny_table_file, "acc"), space)
    assert len(tiny.domain()) == 60
    full = build_evaluator(table_spec(synthetic_table_file, "acc"), space)
    assert full.domain() is None
    assert Study.create(None, space, full, "acc", strategy="rs").domain is space


# ----- every strategy on a table of 60 cells -----

STRATEGY_OPTIONS = {
    "rs": {}, "ls": {}, "rea": {"population_size": 5, "sample_size": 2},
    "bo-ei": {"n_init": 4, "maxiter": 10, "h_values": [1]},
    "nsga2": {"population_size": 6},
}


@pytest.fixture(scope="module")
def flops_costs():
    from search_spaces.nb201.cost_tables import ArchitectureCosts
    from search_spaces.nb201.network import NetworkConfig

    return ArchitectureCosts.measure(NB201Space(), NetworkConfig.for_dataset("cifar10"), latency=False)


def _create(path, table_file, space, strategy, costs):
    spec = table_spec(table_file, "acc")
    objectives = {"objectives": "acc:max,flops:min", "computed": costs} if strategy == "nsga2" else {"objective": "acc"}
    return Study.create(path, space, build_evaluator(spec, space), strategy=strategy, seed=3, evaluator_spec=spec,
                        strategy_options=STRATEGY_OPTIONS[strategy], **objectives)


def _asked(study):
    return [(study.space.format(t.arch), t.fidelity) for t in sorted(study.finished_trials(), key=lambda t: t.number)]


@pytest.mark.parametrize("strategy", sorted(STRATEGY_OPTIONS))
def test_strategies_ask_only_cells_of_the_table_and_resume_identically(tmp_path, tiny_table_file, space, strategy,
                                                                       flops_costs):
    table = {line.split(",")[0] for line in tiny_table_file.read_text().splitlines()[1:]}
    budget = 9 if strategy == "bo-ei" else 16
    whole = _create(tmp_path / "whole", tiny_table_file, space, strategy, flops_costs).optimize(budget)
    assert whole.stop_reason is None and len(whole.finished_trials()) == budget
    assert all(t.is_complete for t in whole.finished_trials()), [t.error for t in whole.finished_trials()]
    assert {arch for arch, _ in _asked(whole)} <= table
    part = _create(tmp_path / "part", tiny_table_file, space, strategy, flops_costs).optimize(budget - 4)
    resumed = Study.load(part.store.path).optimize(budget)
    assert _asked(resumed) == _asked(whole)


@pytest.mark.parametrize("strategy", ["rs", "ls", "rea", "nsga2"])
def test_a_search_that_runs_out_of_cells_says_so(tiny_table_file, space, strategy, flops_costs):
    study = _create(None, tiny_table_file, space, strategy, flops_costs).optimize(200)
    keys = {a.key for a in build_evaluator(table_spec(tiny_table_file, "acc"), space).domain()}
    assert study.stop_reason is not None and "exhausted" in study.stop_reason
    assert {t.arch.key for t in study.finished_trials()} == keys  # every cell, once per canonical key
    assert all(t.is_complete for t in study.finished_trials())


def test_a_subsets_representative_is_its_first_member_of_the_class():
    base = NB201Space()
    late = base.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|nor_conv_3x3~0|skip_connect~1|nor_conv_3x3~2|")
    first = base.representative(late)
    assert first != late
    assert SubsetSpace(base, [late, first]).representative(late) == first
    assert SubsetSpace(base, [late]).representative(late) == late  # the base's first twin is no member
