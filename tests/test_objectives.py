"""Objectives: parsing, signs, JSON, and the computed-metrics protocol."""

from __future__ import annotations

import json

import numpy as np
import pytest

from infonas.objectives import ComputedMetrics, Objective, parse_objectives, signed_values


@pytest.mark.parametrize("text, expected", [
    ("acc:max", Objective("acc", True)),
    ("acc:min", Objective("acc", False)),
    ("acc", Objective("acc", True)),
    ("  flops : MIN ", Objective("flops", False)),
    (" latency_ms:  max", Objective("latency_ms", True)),
    ("acc:", Objective("acc", True)),
])
def test_objective_parse(text: str, expected: Objective) -> None:
    assert Objective.parse(text) == expected


@pytest.mark.parametrize("text, message", [
    ("acc:maximise", "direction"),
    ("acc:up", "direction"),
    (":max", "no metric name"),
    ("", "no metric name"),
    ("   ", "no metric name"),
])
def test_objective_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Objective.parse(text)


def test_sign_and_str() -> None:
    assert Objective("acc").maximize and Objective("acc").sign == 1.0
    assert Objective("flops", maximize=False).sign == -1.0
    assert str(Objective("acc")) == "acc:max"
    assert str(Objective("flops", False)) == "flops:min"
    for text in ("acc:max", "flops:min"):
        assert str(Objective.parse(text)) == text
        assert Objective.parse(str(Objective.parse(text))) == Objective.parse(text)


def test_parse_objectives_forms() -> None:
    expected = (Objective("acc", True), Objective("flops", False))
    assert parse_objectives("acc:max,flops:min") == expected
    assert parse_objectives(" acc , flops:min ") == expected
    assert parse_objectives("acc:max,flops:min,") == expected  # a trailing comma is harmless
    assert parse_objectives(["acc:max", "flops:min"]) == expected
    assert parse_objectives([Objective("acc"), "flops:min"]) == expected
    assert parse_objectives(expected) == expected
    assert isinstance(parse_objectives(["acc"]), tuple)


@pytest.mark.parametrize("text, message", [
    ("", "at least one"),
    (" , ", "at least one"),
    ([], "at least one"),
    ("acc:max,acc:min", "named twice"),
    (["flops:min", Objective("flops")], "named twice"),
    ("acc:max,flops:fast", "direction"),
])
def test_parse_objectives_errors(text, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_objectives(text)


def test_signed_values() -> None:
    objectives = parse_objectives("acc:max,flops:min,params:min")
    values = signed_values({"acc": 93.5, "flops": 120, "params": 1.25, "unused": 7.0}, objectives)
    assert values.dtype == np.float64
    assert values.tolist() == [93.5, -120.0, -1.25]
    # Order follows the objectives, not the mapping.
    assert signed_values({"acc": 1.0, "flops": 2.0}, parse_objectives("flops:min,acc")).tolist() == [-2.0, 1.0]
    with pytest.raises(KeyError):
        signed_values({"acc": 1.0}, objectives)


def test_json_round_trip() -> None:
    for objective in parse_objectives("acc:max,flops:min"):
        data = json.loads(json.dumps(objective.to_json()))
        assert data == {"name": objective.name, "maximize": objective.maximize}
        assert Objective.from_json(data) == objective


def test_architecture_costs_are_computed_metrics() -> None:
    from search_spaces import NB201Space
    from search_spaces.nb201.cost_tables import ArchitectureCosts
    from search_spaces.nb201.network import NetworkConfig

    space = NB201Space()
    costs = ArchitectureCosts.measure(space, NetworkConfig.for_dataset("cifar10"), latency=False)
    assert isinstance(costs, ComputedMetrics)
    assert set(costs.names) == {"flops", "params"}
    archs = [space.sample(np.random.default_rng(seed)) for seed in range(3)]
    assert costs.values(archs, "flops").shape == (3,)
    assert not isinstance(object(), ComputedMetrics)
