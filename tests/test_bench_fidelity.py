"""``infonas bench fidelity``: rank statistics of cheap signals against a ground-truth table."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from infonas.bench.fidelity import (
    fidelity_report,
    format_fidelity_table,
    precision_at_top,
    read_table_columns,
    score_signal,
    top_set_size,
)
from infonas.exceptions import InvalidArgumentError

COLUMNS = ["arch", "test_acc", "valid_acc", "valid_acc_ep1", "valid_acc_ep2", "valid_acc_ep3", "test_acc_seed1",
           "params", "flops", "train_seconds", "supernet_spos_recal", "supernet_spos_norecal",
           "supernet_spos_batchstats", "supernet_mixed_recal", "supernet_mixed_norecal", "supernet_mixed_batchstats"]


def write_csv(path, columns: dict[str, list]) -> None:
    names = list(columns)
    rows = len(columns[names[0]])
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for i in range(rows):
            writer.writerow(["" if isinstance(v, float) and math.isnan(v) else v for v in (c[i] for c in columns.values())])


def table_like_write_table(n: int = 40, seed: int = 0, repeat: int = 10) -> dict[str, list]:
    """The columns ``infonas bench table`` writes, on ``n`` fake cells: supernet scores noisy in the
    test accuracy, the second seed present for the first ``repeat`` cells only."""
    rng = np.random.default_rng(seed)
    acc = rng.uniform(40, 90, n)

    def noisy(scale: float) -> np.ndarray:
        return acc + rng.normal(0, scale, n)

    table: dict[str, list] = {"arch": [f"cell{i}" for i in range(n)], "test_acc": acc.tolist()}
    table["valid_acc"] = noisy(1).tolist()
    for epoch, scale in zip((1, 2, 3), (15, 8, 1)):
        table[f"valid_acc_ep{epoch}"] = noisy(scale).tolist()
    table["test_acc_seed1"] = [*noisy(2)[:repeat].tolist(), *[math.nan] * (n - repeat)]
    table["params"] = (1000 + 50 * acc + rng.normal(0, 400, n)).round().tolist()
    table["flops"] = (1e5 + 2000 * acc + rng.normal(0, 3e4, n)).round().tolist()
    table["train_seconds"] = rng.uniform(5, 10, n).tolist()
    for name in COLUMNS[10:]:
        table[name] = noisy(10).tolist()
    assert list(table) == COLUMNS
    return table


def test_a_perfect_signal_and_a_reversed_one():
    target = np.random.default_rng(1).normal(size=50)
    perfect = score_signal(3 * target + 7, target)
    assert perfect == {"n": 50, "kendall_tau": pytest.approx(1.0), "spearman": pytest.approx(1.0),
                       "precision_top5": 1.0, "precision_top10": 1.0}
    reversed_ = score_signal(-target, target)
    assert reversed_["kendall_tau"] == pytest.approx(-1.0) and reversed_["spearman"] == pytest.approx(-1.0)
    assert reversed_["precision_top5"] == 0.0 and reversed_["precision_top10"] == 0.0


def test_a_noisy_signal_lies_between_and_more_noise_ranks_worse():
    rng = np.random.default_rng(2)
    target = rng.normal(size=400)
    taus = [score_signal(target + rng.normal(0, noise, 400), target)["kendall_tau"] for noise in (0.3, 1.0, 3.0)]
    assert 0.0 < taus[2] < taus[1] < taus[0] < 1.0


def test_rows_without_both_values_are_skipped_and_counted():
    target = np.array([1.0, 2.0, math.nan, 4.0, 5.0, 6.0, 7.0])
    signal = np.array([1.0, math.nan, 30.0, 4.0, math.inf, 6.0, 7.0])
    score = score_signal(signal, target)
    assert score["n"] == 4 and score["kendall_tau"] == pytest.approx(1.0)
    # Without the skip the 30.0 (no target) or the inf would be the top cell and cost precision.
    assert score["precision_top10"] == 1.0


@pytest.mark.parametrize(("signal", "says"), [([1.0, 2.0, math.nan, math.nan], "only 2 rows"),
                                              ([5.0, 5.0, 5.0, 5.0], "the signal is constant")])
def test_a_signal_without_a_ranking_gets_nulls_and_a_note(signal, says):
    score = score_signal(np.array(signal), np.array([1.0, 2.0, 3.0, 4.0]))
    assert says in score["note"]
    assert score["kendall_tau"] is None and score["spearman"] is None and score["precision_top5"] is None
    assert score["n"] == (2 if "only" in says else 4)


def test_precision_at_the_top_on_a_hand_computed_example():
    # 40 cells: top 5% is 2 cells, top 10% is 4 cells.
    assert (top_set_size(40, 5), top_set_size(40, 10)) == (2, 4)
    # Half up: 50 * 5% = 2.5 -> 3; never below one cell.
    assert (top_set_size(50, 5), top_set_size(30, 5), top_set_size(5, 5)) == (3, 2, 1)
    target = np.arange(40.0)  # top 2: rows 39, 38; top 4: rows 39..36
    signal = target.copy()
    signal[38] = -1.0  # row 38 leaves the signal's top: its top 2 is {39, 37}, top 4 {39, 37, 36, 35}
    assert precision_at_top(signal, target, 5) == 0.5
    assert precision_at_top(signal, target, 10) == 0.75
    # Ties are broken by row order: rows 0 and 3 tie at the top of the signal, row 0 wins.
    tied_signal = np.array([9.0, 1.0, 2.0, 9.0, 3.0])
    assert precision_at_top(tied_signal, np.array([0.0, 1.0, 2.0, 5.0, 3.0]), 5) == 0.0
    assert precision_at_top(tied_signal, np.array([5.0, 1.0, 2.0, 0.0, 3.0]), 5) == 1.0


def test_default_signals_leave_out_the_target_measured_otherwise(tmp_path):
    path = tmp_path / "table.csv"
    write_csv(path, table_like_write_table())
    columns = read_table_columns(path)
    assert "arch" not in columns and list(columns) == COLUMNS[1:]
    report = fidelity_report(columns, "test_acc")
    # The last epoch's curve value is valid_acc itself (the whole training): not a cheap signal.
    assert list(report["signals"]) == ["valid_acc_ep1", "valid_acc_ep2", "params", "flops", *COLUMNS[10:]]
    assert report["n"] == 40 and all(s["n"] == 40 for s in report["signals"].values())
    # Short training ranks better the longer it ran (noise 15, 8, 1 around the target).
    chosen_curve = fidelity_report(columns, "test_acc", [f"valid_acc_ep{e}" for e in (1, 2, 3)])
    taus = [chosen_curve["signals"][f"valid_acc_ep{e}"]["kendall_tau"] for e in (1, 2, 3)]
    assert taus[0] < taus[1] < taus[2]
    chosen = fidelity_report(columns, "test_acc", ["valid_acc", "params"])
    assert list(chosen["signals"]) == ["valid_acc", "params"]


def test_the_ceiling_is_the_target_against_its_second_seed(tmp_path):
    table = table_like_write_table(n=40, repeat=10)
    columns = {k: np.array(v, dtype=float) for k, v in table.items() if k != "arch"}
    ceiling = fidelity_report(columns, "test_acc")["ceiling"]
    from scipy.stats import kendalltau

    expected = kendalltau(columns["test_acc"][:10], columns["test_acc_seed1"][:10]).statistic
    assert ceiling["n"] == 10 and ceiling["kendall_tau"] == pytest.approx(expected) and 0.5 < expected < 1.0
    del columns["test_acc_seed1"]
    absent = fidelity_report(columns, "test_acc")["ceiling"]
    assert absent["kendall_tau"] is None and absent["n"] == 0
    other = fidelity_report(columns, "test_acc", ceiling_column="valid_acc")
    assert other["ceiling"]["n"] == 40 and "valid_acc" not in other["signals"]


@pytest.mark.parametrize(("target", "signals", "says"), [
    ("test_accuracy", None, "the target must be a numeric column of the table, got 'test_accuracy'"),
    ("arch", None, "got 'arch'"),
    ("test_acc", ["params", "supernet"], "signals must be numeric columns of the table, got ['supernet']"),
    ("test_acc", ["test_acc"], "cannot also be a signal"),
])
def test_unknown_columns_are_invalid_arguments(tmp_path, target, signals, says):
    path = tmp_path / "table.csv"
    write_csv(path, table_like_write_table(n=8))
    with pytest.raises(InvalidArgumentError, match="choose|leave it out") as caught:
        fidelity_report(read_table_columns(path), target, signals)
    assert says in str(caught.value)


def test_the_text_table_shows_every_signal_and_the_ceiling_last():
    columns = {"test_acc": np.arange(10.0), "params": np.arange(10.0)[::-1], "flops": np.ones(10),
               "test_acc_seed1": np.arange(10.0)}
    text = format_fidelity_table(fidelity_report(columns, "test_acc"))
    lines = text.splitlines()
    assert lines[1].split() == ["signal", "n", "tau", "tau", "90%", "spearman", "P@5%", "P@10%"]
    assert lines[2].split() == ["params", "10", "-1.000", "-", "-1.000", "0.000", "0.000"]
    assert lines[3].split() == ["flops", "10", "-", "-", "-", "-", "-"]
    assert lines[-1] == "ceiling (test_acc vs test_acc_seed1): tau 1.000 on 10 cells"
    with_interval = format_fidelity_table(fidelity_report(columns, "test_acc", ["params"], bootstrap=20))
    assert with_interval.splitlines()[2].split()[3] == "-1.000..-1.000"


def test_the_bootstrap_interval_contains_the_estimate_and_is_seeded():
    rng = np.random.default_rng(4)
    target = rng.normal(size=200)
    signal = target + rng.normal(size=200)
    first = score_signal(signal, target, bootstrap=100)
    low, high = first["kendall_tau_ci90"]
    assert low < first["kendall_tau"] < high and high - low < 0.3
    assert score_signal(signal, target, bootstrap=100)["kendall_tau_ci90"] == [low, high]
    assert "kendall_tau_ci90" not in score_signal(signal, target)


def test_the_cli_writes_json_and_a_plot(tmp_path):
    from click.testing import CliRunner

    from infonas.cli import main

    path = tmp_path / "table.csv"
    write_csv(path, table_like_write_table())
    out, png = tmp_path / "f.json", tmp_path / "plots" / "f.png"
    result = CliRunner().invoke(main, ["bench", "fidelity", "--table", str(path), "--target", "test_acc",
                                       "--out", str(out), "--plot", str(png)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["target"] == "test_acc" and payload["n"] == 40
    assert set(payload["signals"]["supernet_spos_recal"]) >= {"kendall_tau", "spearman", "precision_top5",
                                                              "precision_top10", "n"}
    assert payload["ceiling"]["n"] == 10 and -1.0 <= payload["ceiling"]["kendall_tau"] <= 1.0
    assert payload["plot"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert payload["meta"]["command"].startswith("infonas bench fidelity --table")
    assert "ceiling (test_acc vs test_acc_seed1)" in result.output.splitlines()[-2]
    chosen = CliRunner().invoke(main, ["bench", "fidelity", "--table", str(path), "--signals", "params,flops"])
    assert chosen.exit_code == 0 and "supernet" not in chosen.output, chosen.output


def test_the_cli_fails_on_an_unknown_target(tmp_path):
    from click.testing import CliRunner

    from infonas.cli import main

    path = tmp_path / "table.csv"
    write_csv(path, table_like_write_table(n=8))
    out = tmp_path / "f.json"
    result = CliRunner().invoke(main, ["bench", "fidelity", "--table", str(path), "--target", "accuracy",
                                       "--out", str(out)])
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert result.exit_code == 1 and len(errors) == 1, result.output
    assert "got 'accuracy'" in errors[0] and "--target" in errors[0] and "test_acc" in errors[0]
    assert not out.exists()


@pytest.mark.parametrize(("data", "says"), [
    ("test_acc,params\n1,2\n".encode("utf-16"), r"not UTF-8 text \(byte 0xff at offset 0\); save it as UTF-8 CSV"),
    (b"test_acc,note\n1,caf\xe9\n", r"not UTF-8 text \(byte 0xe9 at offset 19\)"),
    (b"test_acc,params\n" + b"x" * 200_000 + b",1\n", r"not a well-formed CSV file \(line 2: field larger than"),
    (None, "does not exist or is not a file"),
])
def test_an_unreadable_table_is_one_table_error_naming_it(tmp_path, data, says):
    """Regression: a file in another encoding raised a bare ``UnicodeDecodeError`` message naming no
    file, and a malformed CSV escaped as a ``csv.Error`` traceback."""
    from click.testing import CliRunner

    from infonas.cli import main
    from infonas.exceptions import TableError

    path = tmp_path / "table.csv"
    if data is not None:
        path.write_bytes(data)
    with pytest.raises(TableError, match=says):
        read_table_columns(path)
    out = tmp_path / "f.json"
    result = CliRunner().invoke(main, ["bench", "fidelity", "--table", str(path), "--out", str(out)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exc_info
    assert len(result.output.splitlines()) == 1 and str(path) in result.output, result.output
    assert result.output.startswith("Error: ") and "Traceback" not in result.output and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == (["table.csv"] if data is not None else [])


def test_a_table_with_a_byte_order_mark_reads_its_first_column(tmp_path):
    """Regression: Excel's "CSV UTF-8" byte order mark was read into the first column's name, so
    ``test_acc`` was no column (``'\\ufefftest_acc'`` was)."""
    path = tmp_path / "table.csv"
    path.write_bytes("test_acc,params\n1,4\n2,3\n3,2\n4,1\n".encode("utf-8-sig"))
    columns = read_table_columns(path)
    assert list(columns) == ["test_acc", "params"] and columns["test_acc"].tolist() == [1, 2, 3, 4]
    assert fidelity_report(columns, "test_acc")["signals"]["params"]["kendall_tau"] == -1.0
