"""Benchmarks (quality, speed; never tests): search on a table (``search``), Pareto fronts
(``pareto``) and surrogate accuracy (``surrogate``). The search and Pareto benchmarks run each
(method, seed) as an in-memory ``Study``; ``common`` runs those jobs, in processes if asked;
``resume`` keeps finished jobs so that a killed benchmark resumes; ``stats`` holds the medians,
tail percentiles and model-based suggestion times the tables print; ``meta`` the provenance
every result file records."""
