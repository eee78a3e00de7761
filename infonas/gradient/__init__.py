"""Gradient NAS over the supernet's mixed operations: the DARTS family, beside the Bayesian search.

``GradientSearch`` runs one bilevel search (``settings_for("darts-2")``, ``"gdas"``, ``"drnas"``...,
every knob a ``GradientSettings`` field, ``space`` choosing the NB201 cell or the macro space through
the adapters of ``GRADIENT_SPACES``), checkpointed per epoch; the one-shot baselines search a
trained single-path supernet (``random_search_with_weight_sharing``, RSPS, and
``evolution_with_weight_sharing`` per FLOPs or latency target). Names load their module on first
use (as ``infonas``'s do), so the command line can read the settings without importing torch.

Example:
    >>> from infonas.gradient import METHODS
    >>> sorted(METHODS)
    ['darts-1', 'darts-2', 'drnas', 'gdas', 'pdarts', 'snas']
"""

from __future__ import annotations

from infonas.lazy import lazy_exports

_PUBLIC = {
    "METHODS": "infonas.gradient.settings",
    "REMEDY_VARIANTS": "infonas.gradient.settings",
    "GradientSettings": "infonas.gradient.settings",
    "settings_for": "infonas.gradient.settings",
    "SPACE_OPTIONS": "infonas.gradient.settings",
    "GRADIENT_SPACES": "infonas.gradient.spaces",
    "GradientSpace": "infonas.gradient.spaces",
    "gradient_space": "infonas.gradient.spaces",
    "GradientResult": "infonas.gradient.search",
    "GradientSearch": "infonas.gradient.search",
    "RELAXATIONS": "infonas.gradient.relaxation",
    "Relaxation": "infonas.gradient.relaxation",
    "derive_choices": "infonas.gradient.relaxation",
    "make_relaxation": "infonas.gradient.relaxation",
    "dominant_hessian_eigenvalue": "infonas.gradient.hypergradient",
    "unrolled_hypergradient": "infonas.gradient.hypergradient",
    "ExpectedCost": "infonas.gradient.hardware",
    "hinge_squared_penalty": "infonas.gradient.hardware",
    "mnasnet_reward": "infonas.gradient.hardware",
    "pcgrad": "infonas.gradient.hardware",
    "OneShotResult": "infonas.gradient.one_shot",
    "evolution_with_weight_sharing": "infonas.gradient.one_shot",
    "random_search_with_weight_sharing": "infonas.gradient.one_shot",
}


__getattr__, __dir__, __all__ = lazy_exports("infonas.gradient", _PUBLIC, globals())
