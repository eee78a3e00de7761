"""Conformance suite for evaluators: fidelities, metric names and failure handling.

What every ``Evaluator`` must do, whatever it measures:

* ``fidelities`` maps each name to a ``Fidelity`` of that name, with distinct levels, a cost that
  is ``None`` or positive, and ``target_fidelity`` the one of highest level;
* a result at any fidelity is complete and carries every name in ``metric_names``, finite, at a
  finite non-negative cost;
* an evaluation that raises, or that returns a NaN metric, becomes a failed result, not a crash;
* an unknown fidelity is refused with a ``ValueError`` naming it;
* ``known_values(metric)`` is ``None`` or a non-empty array of finite numbers;
* ``domain()`` is ``None`` (any architecture) or a non-empty list of architectures it evaluates.

A test class subclasses ``EvaluatorConformance`` and provides two fixtures: ``evaluator`` and
``archs``, a few architectures the evaluator can evaluate (a table's rows, say).

Example:
    >>> import pytest
    >>> from search_spaces import NB201Space
    >>> from infonas.testing.fakes import FakeEvaluator
    >>> class TestFake(EvaluatorConformance):  # doctest: +SKIP
    ...     @pytest.fixture
    ...     def evaluator(self):
    ...         return FakeEvaluator(NB201Space(), cheap_cost=0.1)
    ...     @pytest.fixture
    ...     def archs(self):
    ...         return [NB201Space().make(["nor_conv_3x3"] * 6)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from infonas.evaluators.base import Evaluator, Fidelity
from infonas.trials import EvaluationResult, TrialStatus
from search_spaces.base import Architecture

__all__ = ["EvaluatorConformance"]


class EvaluatorConformance:
    """The evaluator contract, checked for the ``evaluator`` and ``archs`` fixtures of a subclass."""

    def test_fidelities_are_well_formed(self, evaluator: Evaluator) -> None:
        fidelities = evaluator.fidelities
        assert fidelities, "an evaluator offers at least one fidelity"
        for name, fidelity in fidelities.items():
            assert isinstance(fidelity, Fidelity) and fidelity.name == name
            assert fidelity.cost is None or (math.isfinite(fidelity.cost) and fidelity.cost > 0), fidelity
        levels = [f.level for f in fidelities.values()]
        assert len(set(levels)) == len(levels), f"two fidelities share a level: {fidelities}"
        assert evaluator.target_fidelity == max(fidelities.values(), key=lambda f: f.level).name
        assert evaluator.metric_names and len(set(evaluator.metric_names)) == len(evaluator.metric_names)

    def test_results_carry_every_metric(self, evaluator: Evaluator, archs: Sequence[Architecture]) -> None:
        for fidelity in evaluator.fidelities:
            result = evaluator.evaluate(archs[0], fidelity)
            assert result.status is TrialStatus.COMPLETE, f"{fidelity}: {result.error}"
            assert set(evaluator.metric_names) <= set(result.metrics), (fidelity, result.metrics)
            assert all(math.isfinite(v) for v in result.metrics.values()), result.metrics
            assert math.isfinite(result.cost) and result.cost >= 0, result.cost

    def test_default_fidelity_is_the_target(self, evaluator: Evaluator, archs: Sequence[Architecture]) -> None:
        result = evaluator.evaluate(archs[-1])
        assert result.status is TrialStatus.COMPLETE and set(evaluator.metric_names) <= set(result.metrics)
        if evaluator.fidelities[evaluator.target_fidelity].cost is not None:
            assert result.cost == pytest.approx(evaluator.fidelities[evaluator.target_fidelity].cost)

    def test_exception_becomes_failed_result(self, evaluator: Evaluator, archs: Sequence[Architecture],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
        def broken(arch: Architecture, fidelity: str) -> EvaluationResult:
            raise RuntimeError("out of memory")

        monkeypatch.setattr(evaluator, "_evaluate", broken)
        result = evaluator.evaluate(archs[0], evaluator.target_fidelity)
        assert result.status is TrialStatus.FAILED
        assert "out of memory" in (result.error or "") and result.metrics == {}

    def test_nan_becomes_failed_result(self, evaluator: Evaluator, archs: Sequence[Architecture],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
        def diverged(arch: Architecture, fidelity: str) -> EvaluationResult:
            return EvaluationResult({name: float("nan") for name in evaluator.metric_names}, cost=1.0)

        monkeypatch.setattr(evaluator, "_evaluate", diverged)
        result = evaluator.evaluate(archs[0], evaluator.target_fidelity)
        assert result.status is TrialStatus.FAILED and "non-finite" in (result.error or "")
        assert result.cost == 1.0, "a failed evaluation still cost what it cost"

    def test_unknown_fidelity_is_refused(self, evaluator: Evaluator, archs: Sequence[Architecture]) -> None:
        unknown = "no-such-fidelity"
        assert unknown not in evaluator.fidelities
        with pytest.raises(ValueError, match=unknown):
            evaluator.evaluate(archs[0], unknown)

    def test_known_values_are_none_or_finite(self, evaluator: Evaluator) -> None:
        for metric in (*evaluator.metric_names, "no-such-metric"):
            values = evaluator.known_values(metric)
            if values is None:
                continue
            values = np.asarray(values, dtype=np.float64)
            assert values.ndim == 1 and values.size > 0, (metric, values.shape)
            assert np.isfinite(values).all(), f"known values of {metric!r} hold non-finite numbers"

    def test_domain_is_none_or_evaluable(self, evaluator: Evaluator) -> None:
        domain = evaluator.domain()
        if domain is None:
            return
        assert len(domain) > 0, "a domain lists at least one architecture (None means: any)"
        for arch in list(domain)[:5]:
            result = evaluator.evaluate(arch)
            assert result.status is TrialStatus.COMPLETE, f"{arch} is in the domain but failed: {result.error}"
