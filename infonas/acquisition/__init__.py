"""Acquisition functions over a discrete pool of candidate architectures, and the pools.

One table (``PROBLEM_ACQUISITIONS``) maps a problem kind (single or multi-objective, single or
multi-fidelity) to the acquisitions that apply, the default first; every name in it is a key of
``ACQUISITIONS``. Strategies choose an acquisition with ``acquisition_for`` and never compute one
themselves. The modules: ``single`` (LogEI, MES, Thompson sampling), ``multi_fidelity`` (MF-MES
over (architecture, fidelity) pairs), ``pareto`` (PFES and qLogNEHVI), ``mf_pareto`` (PFES over
(architecture, fidelity) pairs, per unit cost), ``gaussian`` (the MES
formula and joint draws they share), ``information`` (the gain of a noisy or cheaper look, for
noisy MES and MF-MES), ``candidates`` (the pools), ``tabulated`` (a GP posterior over one step's
inputs, computed once, for BoTorch acquisitions that score candidates batch by batch).

Example:
    >>> acquisitions_for("multi-objective", "single-fidelity")
    ('pfes', 'log-nehvi')
    >>> acquisition_for("mes") is max_value_entropy
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from infonas.acquisition.information import fidelity_information_gain, hermite_nodes, observation_correlation
from infonas.acquisition.mf_pareto import multi_fidelity_pareto_entropy
from infonas.acquisition.multi_fidelity import multi_fidelity_mes
from infonas.acquisition.pareto import log_nehvi, pareto_front_entropy, screen_for_front
from infonas.acquisition.single import (
    PoolPosterior,
    log_augmented_expected_improvement,
    log_expected_improvement,
    max_value_entropy,
    max_value_samples,
    thompson_sample,
)
from infonas.acquisition.tabulated import TabulatedModel, row_numbers
from infonas.exceptions import InvalidArgumentError, UnsupportedError

__all__ = [
    "ACQUISITIONS",
    "MULTI_FIDELITY",
    "MULTI_OBJECTIVE",
    "PROBLEM_ACQUISITIONS",
    "SINGLE_FIDELITY",
    "SINGLE_OBJECTIVE",
    "PoolPosterior",
    "TabulatedModel",
    "acquisition_for",
    "acquisitions_for",
    "fidelity_information_gain",
    "hermite_nodes",
    "log_augmented_expected_improvement",
    "log_expected_improvement",
    "log_nehvi",
    "max_value_entropy",
    "max_value_samples",
    "multi_fidelity_mes",
    "multi_fidelity_pareto_entropy",
    "observation_correlation",
    "pareto_front_entropy",
    "register_acquisition",
    "row_numbers",
    "screen_for_front",
    "thompson_sample",
]

SINGLE_OBJECTIVE, MULTI_OBJECTIVE = "single-objective", "multi-objective"
SINGLE_FIDELITY, MULTI_FIDELITY = "single-fidelity", "multi-fidelity"

#: Every acquisition by name. Signatures differ by problem kind: single-objective ones score a
#: ``PoolPosterior``; ``mf-mes`` ranks (architecture, fidelity) pairs; ``pfes`` and ``log-nehvi``
#: score candidates for a Pareto front, ``mf-pfes`` (architecture, fidelity) pairs for one (see
#: their modules).
#: Read-only views; ``register_acquisition`` is the one way to add to them.
_ACQUISITIONS: dict[str, Callable] = {
    "mes": max_value_entropy,
    "log-ei": log_expected_improvement,
    "log-aei": log_augmented_expected_improvement,
    "ts": thompson_sample,
    "mf-mes": multi_fidelity_mes,
    "pfes": pareto_front_entropy,
    "log-nehvi": log_nehvi,
    "mf-pfes": multi_fidelity_pareto_entropy,
}
ACQUISITIONS: Mapping[str, Callable] = MappingProxyType(_ACQUISITIONS)

#: (objectives, fidelities) -> acquisitions that apply, the default first.
_PROBLEM_ACQUISITIONS: dict[tuple[str, str], tuple[str, ...]] = {
    (SINGLE_OBJECTIVE, SINGLE_FIDELITY): ("mes", "log-ei", "log-aei", "ts"),
    (SINGLE_OBJECTIVE, MULTI_FIDELITY): ("mf-mes",),
    (MULTI_OBJECTIVE, SINGLE_FIDELITY): ("pfes", "log-nehvi"),
    (MULTI_OBJECTIVE, MULTI_FIDELITY): ("mf-pfes",),
}
PROBLEM_ACQUISITIONS: Mapping[tuple[str, str], tuple[str, ...]] = MappingProxyType(_PROBLEM_ACQUISITIONS)


def register_acquisition(name: str, function: Callable, objectives: str = SINGLE_OBJECTIVE,
                         fidelities: str = SINGLE_FIDELITY) -> None:
    """Add acquisition ``name`` for a problem kind (after the kind's default).

    ``function`` has the signature of the kind's acquisitions: a single-objective one scores a
    ``PoolPosterior`` as ``function(posterior, best_f, generator) -> scores`` (larger is better).
    A Bayesian strategy then uses it with ``strategy_options={"acquisition": name}``.

    Example:
        >>> register_acquisition("ucb-2", lambda posterior, best_f, generator: posterior.mean + 2 * posterior.std)
        >>> "ucb-2" in acquisitions_for("single-objective", "single-fidelity")
        True
    """
    kind = (objectives, fidelities)
    if kind not in _PROBLEM_ACQUISITIONS:
        raise UnsupportedError(f"problem kind {kind} is not one of {list(_PROBLEM_ACQUISITIONS)}")
    if name in _ACQUISITIONS and _ACQUISITIONS[name] is not function:
        raise InvalidArgumentError(f"acquisition {name!r} is already registered; choose another name")
    _ACQUISITIONS[name] = function
    if name not in _PROBLEM_ACQUISITIONS[kind]:
        _PROBLEM_ACQUISITIONS[kind] = (*_PROBLEM_ACQUISITIONS[kind], name)


def acquisitions_for(objectives: str = SINGLE_OBJECTIVE, fidelities: str = SINGLE_FIDELITY) -> tuple[str, ...]:
    """The acquisitions that apply to a problem kind, the default first.

    Raises ``UnsupportedError`` for a kind not in ``PROBLEM_ACQUISITIONS`` (e.g. multi-objective
    and multi-fidelity at once), naming the kinds that are supported.
    """
    try:
        return PROBLEM_ACQUISITIONS[(objectives, fidelities)]
    except KeyError:
        supported = [f"{o}, {f}" for o, f in PROBLEM_ACQUISITIONS]
        raise UnsupportedError(f"no acquisition applies to {objectives}, {fidelities} problems; supported problem "
                               f"kinds are {supported}: drop the extra objectives or fidelities") from None


def acquisition_for(name: str, objectives: str = SINGLE_OBJECTIVE, fidelities: str = SINGLE_FIDELITY) -> Callable:
    """The acquisition ``name``, checked against the problem kind it is asked for.

    Raises ``UnsupportedError`` naming the acquisitions that apply when ``name`` is not one of them.
    """
    allowed = acquisitions_for(objectives, fidelities)
    if name not in allowed:
        raise UnsupportedError(f"acquisition {name!r} does not apply to {objectives}, {fidelities} problems; "
                               f"choose one of {list(allowed)}")
    return ACQUISITIONS[name]
