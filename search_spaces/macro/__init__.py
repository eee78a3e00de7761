"""The macro space: per stage a depth, a width and a kernel size per block. The space itself,
its network builder (``network``) and its exact cost tables (``cost_tables``); only the space is
imported here, the other modules load torch."""

from search_spaces.macro.space import (
    MACRO_DEPTHS,
    MACRO_KERNELS,
    MACRO_MAX_DEPTH,
    MACRO_STAGES,
    MACRO_WIDTHS,
    MacroSpace,
)

__all__ = ["MACRO_DEPTHS", "MACRO_KERNELS", "MACRO_MAX_DEPTH", "MACRO_STAGES", "MACRO_WIDTHS", "MacroSpace"]
