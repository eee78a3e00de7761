"""The DARTS cell space: a normal and a reduction cell of 4 nodes, 8 operations per edge. The
space itself, its genotype format (``genotype``), its network builder (``network``) and its exact
cost tables (``cost_tables``); only the space and the genotypes are imported here, the other
modules load torch."""

from search_spaces.darts.genotype import DARTS_V1, DARTS_V2, PRIMITIVES, Genotype, format_genotype, parse_genotype
from search_spaces.darts.space import DARTS_CELLS, NODE_PAIRS, DartsSpace

__all__ = ["DARTS_CELLS", "DARTS_V1", "DARTS_V2", "NODE_PAIRS", "PRIMITIVES", "DartsSpace", "Genotype",
           "format_genotype", "parse_genotype"]
