"""The macro space: a network of three stages, each choosing its depth, its width and the kernel
size of every block, as in MnasNet's and FBNet's stage-wise spaces scaled to the embedded tasks.

Per stage ``s`` (in order): a depth in ``MACRO_DEPTHS`` (``d1`` .. ``d3``: the stage's first block
always runs, blocks 2 and 3 are gated on or off), a width in ``MACRO_WIDTHS`` (a multiplier of the
stage's base channels ``C * 2^s``), and a kernel in ``MACRO_KERNELS`` for each of its three blocks.
That is 15 positions, 3 options each: 3^15 = 14,348,907 choice vectors. The kernel of a block that
is gated off changes nothing, so the canonical key writes it as ``*``: 117^3 = 1,601,613 distinct
networks (117 = 3 widths x (3 + 9 + 27) kernel settings per stage).

The string form lists the stages between bars, each as ``depth,width,kernel,kernel,kernel``:
``|d2,x0.75,k3,k5,k7|d1,x1,k5,k3,k3|d3,x0.5,k7,k7,k7|``.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx

from search_spaces.base import Architecture, InvalidArchitectureError, SearchSpace

MACRO_STAGES = 3
MACRO_MAX_DEPTH = 3
MACRO_DEPTHS: tuple[str, ...] = ("d1", "d2", "d3")
MACRO_WIDTHS: tuple[str, ...] = ("x0.5", "x0.75", "x1")
MACRO_KERNELS: tuple[str, ...] = ("k3", "k5", "k7")
#: Positions per stage: its depth, its width, then one kernel per block.
STAGE_POSITIONS = 2 + MACRO_MAX_DEPTH
#: The placeholder the canonical key writes for the kernel of a block that is gated off.
OFF = "*"


def depth_of(token: str) -> int:
    """``"d2"`` -> 2."""
    return int(token[1:])


def width_multiplier(token: str) -> float:
    """``"x0.75"`` -> 0.75."""
    return float(token[1:])


def kernel_size(token: str) -> int:
    """``"k5"`` -> 5."""
    return int(token[1:])


class MacroSpace(SearchSpace):
    """Three stages, each a depth (1-3 blocks), a width (0.5x, 0.75x, 1x) and a kernel (3, 5, 7) per block.

    ``stages(arch)`` reads an architecture as ``(depth, width multiplier, kernels of its live
    blocks)`` per stage, which is what the network builder and the cost tables need.

    Example:
        >>> space = MacroSpace()
        >>> arch = space.parse("|d2,x0.75,k3,k5,k7|d1,x1,k5,k3,k3|d3,x0.5,k7,k7,k7|")
        >>> space.stages(arch)[0]
        (2, 0.75, (3, 5))
        >>> arch.key
        '|d2,x0.75,k3,k5,*|d1,x1,k5,*,*|d3,x0.5,k7,k7,k7|'
        >>> space.size
        14348907
    """

    name = "macro"

    @property
    def choices(self) -> tuple[tuple[str, ...], ...]:
        return ((MACRO_DEPTHS, MACRO_WIDTHS) + (MACRO_KERNELS,) * MACRO_MAX_DEPTH) * MACRO_STAGES

    @staticmethod
    def _stage_ops(ops: Sequence[str]) -> list[Sequence[str]]:
        return [ops[s * STAGE_POSITIONS:(s + 1) * STAGE_POSITIONS] for s in range(MACRO_STAGES)]

    def canonical_key(self, ops: Sequence[str]) -> str:
        """The string form with the kernels of gated-off blocks written as ``*``."""
        parts = []
        for depth, width, *kernels in self._stage_ops(ops):
            live = depth_of(depth)
            parts.append(",".join([depth, width, *kernels[:live], *[OFF] * (MACRO_MAX_DEPTH - live)]))
        return "|" + "|".join(parts) + "|"

    def stages(self, arch: Architecture) -> list[tuple[int, float, tuple[int, ...]]]:
        """Per stage ``(depth, width multiplier, kernel sizes of its live blocks)``."""
        self.validate(arch)
        return [(depth_of(depth), width_multiplier(width), tuple(kernel_size(k) for k in kernels[:depth_of(depth)]))
                for depth, width, *kernels in self._stage_ops(arch.ops)]

    def parse(self, text: str) -> Architecture:
        if not isinstance(text, str):
            raise InvalidArchitectureError(f"a macro arch string must be a str, got {type(text).__name__}")
        stripped = text.strip()
        example = "|d2,x0.75,k3,k5,k7|d1,x1,k5,k3,k3|d3,x0.5,k7,k7,k7|"
        if len(stripped) < 2 or not (stripped.startswith("|") and stripped.endswith("|")):
            raise InvalidArchitectureError(f"malformed macro arch string {text!r}: it must start and end with '|', "
                                           f"e.g. {example}")
        stages = stripped[1:-1].split("|")
        if len(stages) != MACRO_STAGES:
            raise InvalidArchitectureError(f"malformed macro arch string {text!r}: expected {MACRO_STAGES} stages "
                                           f"between '|', found {len(stages)}; e.g. {example}")
        ops: list[str] = []
        for number, stage in enumerate(stages, start=1):
            tokens = stage.split(",")
            if len(tokens) != STAGE_POSITIONS:
                raise InvalidArchitectureError(
                    f"malformed macro arch string {text!r}: stage {number} {stage!r} needs {STAGE_POSITIONS} "
                    f"comma-separated choices (depth, width, {MACRO_MAX_DEPTH} kernels), found {len(tokens)}")
            ops.extend(token.strip() for token in tokens)
        return self.make(ops)

    def format(self, arch: Architecture) -> str:
        self.validate(arch)
        return "|" + "|".join(",".join(stage) for stage in self._stage_ops(arch.ops)) + "|"

    def to_graph(self, arch: Architecture, prune: bool = True) -> nx.DiGraph:
        """The network as a chain: input, the blocks in order, output.

        A block node is labelled ``k<kernel>/x<width>``, with ``/down`` on a stage's first block
        after the first stage (it halves the resolution); with ``prune=False`` the gated-off
        blocks stay in the chain, labelled ``off``.
        """
        self.validate(arch)
        graph = nx.DiGraph()
        graph.add_node(0, op="input")
        previous = 0
        for s, (depth, width, *kernels) in enumerate(self._stage_ops(arch.ops)):
            for b, kernel in enumerate(kernels):
                live = b < depth_of(depth)
                if not live and prune:
                    continue
                node = graph.number_of_nodes()
                label = f"{kernel}/{width}" + ("/down" if s > 0 and b == 0 else "") if live else "off"
                graph.add_node(node, op=label)
                graph.add_edge(previous, node)
                previous = node
        output = graph.number_of_nodes()
        graph.add_node(output, op="output")
        graph.add_edge(previous, output)
        return graph
