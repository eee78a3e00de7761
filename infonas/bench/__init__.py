"""Benchmarks (quality, speed; never tests): search on a table (``search``), Pareto fronts
(``pareto``) and surrogate accuracy (``surrogate``). Each drives ``Study`` objects."""
