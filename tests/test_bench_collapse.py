"""The collapse benchmark and the ground truth it judges cells by (the committed mnist1d table)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from infonas.bench.collapse import gradient_settings, run_collapse_benchmark
from infonas.bench.ground_truth import GroundTruth
from infonas.bench.methods import parse_method
from infonas.cli import main
from infonas.evaluators.tabular import TabularBenchmark
from infonas.exceptions import InvalidArgumentError
from infonas.gradient.hardware import network_costs
from infonas.gradient.settings import METHODS
from search_spaces import NB201Space

TABLE = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "nb201_mnist1d.csv"


@pytest.fixture(scope="module")
def small_table(tmp_path_factory):
    """The first 40 rows of the committed mnist1d table, its build JSON beside it."""
    directory = tmp_path_factory.mktemp("table")
    frame = pd.read_csv(TABLE).head(40)[["arch", "test_acc", "valid_acc"]]
    frame.to_csv(directory / "small.csv", index=False)
    shutil.copy(TABLE.with_suffix(".json"), directory / "small.json")
    return TabularBenchmark.from_csv(directory / "small.csv", NB201Space())


def test_a_cell_absent_from_the_table_is_trained_as_its_rows_were(small_table):
    truth = GroundTruth(small_table, "test_acc")
    full = TabularBenchmark.from_csv(TABLE, NB201Space())
    # A cell of the full table that the small one lacks: trained with the build's settings, it
    # comes out exactly as the full table recorded it (training is deterministic per cell).
    absent = next(arch for arch in full.archs if arch not in small_table)
    value, looked_up = truth.value(absent)
    assert not looked_up and value == full.value(absent, "test_acc")
    assert truth.value(absent) == (value, False)  # kept, not trained again
    kept = small_table.best("test_acc")[0]
    assert truth.value(kept) == (small_table.value(kept, "test_acc"), True)
    assert truth.best == small_table.best("test_acc")[1]


def test_a_table_without_its_build_json_cannot_train_absent_cells(tmp_path, small_table):
    shutil.copy(small_table.source, tmp_path / "bare.csv")
    bare = TabularBenchmark.from_csv(tmp_path / "bare.csv", NB201Space())
    absent = next(arch for arch in NB201Space().enumerate() if arch not in bare)
    with pytest.raises(InvalidArgumentError, match="provenance JSON"):
        GroundTruth(bare).value(absent)
    with pytest.raises(InvalidArgumentError, match="test_acc or valid_acc"):
        GroundTruth(bare, "flops")


def test_variant_options_reach_the_settings_and_the_relaxation():
    settings = gradient_settings(parse_method("gdas[temperature_end=0.5;max_skips=2]", METHODS), seed=3, epochs=4)
    assert settings.relaxation_options == {"temperature_start": 10.0, "temperature_end": 0.5}
    assert (settings.max_skips, settings.seed, settings.epochs, settings.method) == (2, 3, 4, "gdas")
    with pytest.raises(InvalidArgumentError, match="unknown method 'enas'"):
        parse_method("enas", METHODS)


def test_the_benchmark_reports_collapse_and_regret_per_seed(small_table, tmp_path):
    results = run_collapse_benchmark(small_table, ["darts-1", "darts-1[max_skips=0]"], seeds=1, epochs=1,
                                     channels=2, work_dir=str(tmp_path / "work"))
    assert results["best_in_table"] == small_table.best("test_acc")[1]
    capped = results["variants"]["darts-1[max_skips=0]"]
    assert capped["final_skip_share"] == [0.0] and "skip_connect" not in NB201Space().parse(capped["arch"][0]).ops
    costs = network_costs("mnist1d", num_cells=1, channels=2)
    for entry in results["variants"].values():
        assert entry["flops"][0] == costs.value(NB201Space().parse(entry["arch"][0]), "flops")
        assert entry["flops_budget"] == [None]
        assert len(entry["skip_share"][0]) == entry["epochs_done"][0] == 1
        assert entry["regret"][0] == pytest.approx(results["best_in_table"] - entry["test_acc"][0])
    # The searches were checkpointed: a rerun reads them back instead of searching again.
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["darts-1", "darts-1_max_skips_0"]


def test_the_command_writes_its_results(small_table, tmp_path):
    out = tmp_path / "collapse.json"
    result = CliRunner().invoke(main, ["bench", "collapse", "--table", str(small_table.source), "--variants",
                                       "darts-1[max_skips=0]", "--seeds", "1", "--epochs", "1", "--channels", "2",
                                       "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert list(written["variants"]) == ["darts-1[max_skips=0]"] and written["meta"]["command"].startswith("infonas")
    assert "collapsed" in result.output
    bad = CliRunner().invoke(main, ["bench", "collapse", "--table", str(small_table.source), "--variants", "enas"])
    assert bad.exit_code == 2 and "unknown method 'enas'" in bad.output


def test_a_cell_isomorphic_to_a_row_is_looked_up_not_trained(small_table, monkeypatch):
    by_key: dict = {}
    for arch in NB201Space().enumerate():
        by_key.setdefault(arch.key, []).append(arch)
    row, twin = next((row, other) for row in small_table.archs for other in by_key[row.key] if other != row)
    truth = GroundTruth(small_table, "test_acc")
    monkeypatch.setattr(GroundTruth, "train", lambda self, arch: pytest.fail("an isomorphic cell was trained"))
    assert truth.value(twin) == (small_table.value(row, "test_acc"), True)
    assert truth.lookup(twin)[1] == "an isomorphic row" and truth.lookup(row)[1] == "its row"
