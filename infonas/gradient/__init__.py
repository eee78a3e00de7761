"""Gradient NAS over the supernet's mixed operations: the DARTS family, beside the Bayesian search.

``GradientSearch`` runs one bilevel search (``settings_for("darts-2")``, ``"gdas"``, ``"drnas"``...,
every knob a ``GradientSettings`` field), checkpointed per epoch; the one-shot baselines search a
trained single-path supernet (``random_search_with_weight_sharing``, RSPS, and
``evolution_with_weight_sharing`` per FLOPs or latency target).

Example:
    >>> sorted(METHODS)
    ['darts-1', 'darts-2', 'drnas', 'gdas', 'pdarts', 'snas']
"""

from infonas.gradient.hardware import ExpectedCost, hinge_squared_penalty, mnasnet_reward, pcgrad
from infonas.gradient.hypergradient import dominant_hessian_eigenvalue, unrolled_hypergradient
from infonas.gradient.one_shot import OneShotResult, evolution_with_weight_sharing, random_search_with_weight_sharing
from infonas.gradient.relaxation import RELAXATIONS, Relaxation, derive_choices, make_relaxation
from infonas.gradient.search import GradientResult, GradientSearch
from infonas.gradient.settings import METHODS, GradientSettings, settings_for

__all__ = [
    "METHODS",
    "RELAXATIONS",
    "ExpectedCost",
    "GradientResult",
    "GradientSearch",
    "GradientSettings",
    "OneShotResult",
    "Relaxation",
    "derive_choices",
    "dominant_hessian_eigenvalue",
    "evolution_with_weight_sharing",
    "hinge_squared_penalty",
    "make_relaxation",
    "mnasnet_reward",
    "pcgrad",
    "random_search_with_weight_sharing",
    "settings_for",
    "unrolled_hypergradient",
]
