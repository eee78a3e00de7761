"""Benchmarks (quality, speed; never tests): search on a table (``search``), Pareto fronts
(``pareto``) and surrogate accuracy (``surrogate``). The search and Pareto benchmarks run each
(method, seed) as an in-memory ``Study``; ``common`` runs those jobs, in processes if asked."""
