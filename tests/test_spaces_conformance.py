"""The search-space conformance suite (infonas.testing.spaces) run over every search space."""

from __future__ import annotations

import pytest

from infonas.testing.spaces import SpaceConformance
from search_spaces import MacroSpace, NB201Space
from search_spaces.macro.space import MACRO_KERNELS, MACRO_MAX_DEPTH, STAGE_POSITIONS, depth_of
from search_spaces.nb201.space import NB201_OPS


class TestNB201Space(SpaceConformance):
    @pytest.fixture
    def space(self):
        return NB201Space()

    def equivalent(self, space, arch):
        # With no operation on edge 0 -> 1, node 1 outputs zero: the ops on the edges leaving it
        # (1 -> 2 at position 2, 1 -> 3 at position 4) compute nothing and may be anything.
        if arch.ops[0] != "none":
            return None
        ops = list(arch.ops)
        for position in (2, 4):
            ops[position] = NB201_OPS[(NB201_OPS.index(ops[position]) + 1) % len(NB201_OPS)]
        return space.make(ops)

    def test_key_is_the_benchmarks_not_graph_isomorphism(self, space):
        # Swapping nodes 1 and 2 of a cell whose edge 1 -> 2 is unused is a graph isomorphism that
        # the canonical key does not follow: it reproduces NAS-Bench-201's own partition, which
        # keeps zero terms in a node's sum. (The WL kernel does follow it: see the kernel suite.)
        arch = space.make(["nor_conv_3x3", "avg_pool_3x3", "none", "nor_conv_3x3", "skip_connect", "nor_conv_1x1"])
        swapped = space.make(["avg_pool_3x3", "nor_conv_3x3", "none", "nor_conv_3x3", "nor_conv_1x1", "skip_connect"])
        assert arch.key != swapped.key


class TestMacroSpace(SpaceConformance):
    """3^15 choice vectors: the suite's full enumeration skips it (``enumeration_limit``); the
    macro tests enumerate a prefix instead."""

    @pytest.fixture
    def space(self):
        return MacroSpace()

    def equivalent(self, space, arch):
        # A block that the stage's depth gates off runs no kernel: change every gated-off kernel.
        ops = list(arch.ops)
        for start in range(0, len(ops), STAGE_POSITIONS):
            for block in range(depth_of(ops[start]), MACRO_MAX_DEPTH):
                position = start + 2 + block
                ops[position] = MACRO_KERNELS[(MACRO_KERNELS.index(ops[position]) + 1) % len(MACRO_KERNELS)]
        return None if tuple(ops) == arch.ops else space.make(ops)
