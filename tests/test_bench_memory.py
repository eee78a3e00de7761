"""Memory of training one cell against the supernet's two modes and DARTS steps (infonas.bench.memory, ``bench memory``)."""

from __future__ import annotations

import json

import pytest

from infonas.bench import memory

TINY = {"dataset": "digits", "channels": 2, "batch_size": 8, "steps": 2}


@pytest.fixture(scope="module")
def measured() -> dict[str, dict]:
    return {kind: memory.measure(kind, subprocess=False, **TINY) for kind in memory.KINDS}


def test_accounted_bytes_are_the_sum_of_their_parts(measured: dict[str, dict]) -> None:
    for row in measured.values():
        parts = row["parameter_bytes"] + row["gradient_bytes"] + row["optimizer_bytes"] + row["saved_activation_bytes"]
        assert row["accounted_bytes"] == parts
        assert row["parameter_bytes"] == 4 * row["parameters"]  # float32 weights
        assert row["saved_activation_bytes"] > 0


def test_the_mixed_operation_saves_more_activations_than_one_path(measured: dict[str, dict]) -> None:
    # Every operation's output is kept for the backward pass of the mixed operation.
    assert measured["mixed"]["saved_activation_bytes"] > measured["spos"]["saved_activation_bytes"]
    # Both supernet modes hold the same weights; a single path trains only some of them.
    assert measured["mixed"]["parameters"] == measured["spos"]["parameters"] > measured["cell"]["parameters"]
    assert measured["spos"]["gradient_bytes"] <= measured["mixed"]["gradient_bytes"]


def test_a_darts_step_holds_alpha_and_both_optimisers_and_the_unrolled_step_saves_more(
        measured: dict[str, dict]) -> None:
    # The supernet's weights plus alpha (6 edges x 5 operations), Adam's two moments of alpha.
    assert measured["darts-1"]["parameters"] == measured["mixed"]["parameters"] + 30
    assert measured["darts-1"]["optimizer_bytes"] >= measured["mixed"]["optimizer_bytes"] + 2 * 30 * 4
    assert measured["darts-2"]["saved_activation_bytes"] > measured["darts-1"]["saved_activation_bytes"]
    assert measured["darts-1"]["saved_activation_bytes"] >= measured["mixed"]["saved_activation_bytes"]


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        memory.measure("dense", subprocess=False, **TINY)


def test_cli_writes_the_ratios(tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from infonas.cli import main

    # In-process measurements keep the test fast; the command's wiring is what is checked here.
    real = memory.measure
    monkeypatch.setattr(memory, "measure", lambda kind, **options: real(kind, **{**options, "subprocess": False}))
    out = tmp_path / "memory.json"
    result = CliRunner().invoke(main, ["bench", "memory", "--data", "digits", "--channels", "2", "--batch-size", "8",
                                       "--steps", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    assert set(saved["measurements"]) == set(memory.KINDS)
    cell = saved["measurements"]["cell"]["accounted_bytes"]
    assert saved["ratio_to_cell"]["mixed"]["accounted"] == pytest.approx(
        saved["measurements"]["mixed"]["accounted_bytes"] / cell)
    assert "spos / one cell" in result.output and saved["meta"]["command"].startswith("infonas bench memory")
