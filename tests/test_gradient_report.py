"""The collapse report of gradient searches on hand-made histories: detection, table, text, plot."""

import math

import pytest

from infonas.exceptions import InvalidArgumentError
from infonas.gradient.report import collapse_summary, collapse_table, format_collapse_report, plot_collapse


def history(skips, nones=None, **extra):
    """One record per epoch with ``skips[i]`` skip edges (and ``nones[i]`` none edges) of 6."""
    nones = nones or [0] * len(skips)
    return [{"epoch": i + 1, "train_loss": 1.0, "skip_share": s / 6, "none_share": n / 6, "arch": f"cell{i}",
             "supernet_valid_acc": 50.0 + i, **{k: v[i] for k, v in extra.items() if v[i] is not None}}
            for i, (s, n) in enumerate(zip(skips, nones))]


def test_collapse_is_the_first_epoch_at_the_most_skips():
    ramp = history([0, 1, 1, 2, 3, 3, 4, 4, 5, 5, 5, 6])
    assert collapse_summary(ramp) == "collapsed: 6/6 skip edges by epoch 12 (3+ from epoch 5)"
    assert collapse_summary(history([0, 6, 6, 2])) == "collapsed: 6/6 skip edges by epoch 2"
    assert collapse_summary(history([1, 2, 0])) == "no collapse: at most 2 skip edges"
    # The threshold is the count of skip edges from which a cell counts as collapsed.
    assert collapse_summary(history([1, 2, 0]), threshold=2) == "collapsed: 2/6 skip edges by epoch 2"
    assert collapse_summary(history([3]), threshold=4) == "no collapse: at most 3 skip edges"
    assert collapse_summary([]).startswith("no epochs yet")


def test_table_has_one_row_per_epoch_and_the_measured_columns():
    base = collapse_table(history([0, 3]))
    assert list(base.columns) == ["epoch", "skip_share", "none_share", "arch", "supernet_valid_acc"]
    assert base["epoch"].tolist() == [1, 2] and base["skip_share"].tolist() == [0.0, 0.5]
    measured = collapse_table(history([0, 3, 4], expected_flops=[2e5, 1.5e5, 1e5], eigenvalue=[None, 0.3, None]))
    assert list(measured.columns)[5:] == ["expected_flops", "eigenvalue"]
    assert measured["expected_flops"].tolist() == [2e5, 1.5e5, 1e5]
    eigen = measured["eigenvalue"].tolist()
    assert math.isnan(eigen[0]) and eigen[1] == 0.3 and math.isnan(eigen[2])
    assert len(collapse_table([])) == 0


def test_text_report_is_a_fixed_width_table_ending_with_the_verdict():
    records = history([1, 4], nones=[2, 0], expected_flops=[2.5e5, 1.25e5], conflict_fraction=[0.5, 0.25])
    lines = format_collapse_report(records).splitlines()
    assert lines[0].split() == ["epoch", "skip", "none", "valid", "acc", "%", "E[MFLOPs]", "conflicts", "%",
                                "argmax", "cell"]
    assert lines[1].split() == ["1", "1/6", "2/6", "50.00", "0.25", "50.0", "cell0"]
    assert lines[2].split() == ["2", "4/6", "0/6", "51.00", "0.125", "25.0", "cell1"]
    assert lines[-1] == "collapsed: 4/6 skip edges by epoch 2"
    # Fixed width: the cell column starts at the same place on every row.
    assert lines[0].index("argmax cell") == lines[1].index("cell0") == lines[2].index("cell1")


def test_records_missing_a_key_are_refused():
    broken = history([1])
    del broken[0]["none_share"]
    with pytest.raises(InvalidArgumentError, match="lacks \\['none_share'\\]"):
        format_collapse_report(broken)


def test_plot_writes_a_png(tmp_path):
    runs = {"darts-1": history([0, 2, 4, 6]), "darts-1 + l1": history([0, 1, 1, 1], nones=[1, 1, 0, 0])}
    path = plot_collapse(runs, tmp_path / "plots" / "collapse.png")
    data = path.read_bytes()
    assert path == tmp_path / "plots" / "collapse.png" and data.startswith(b"\x89PNG") and len(data) > 10_000
    empty = plot_collapse({"none yet": []}, tmp_path / "empty.png").read_bytes()
    assert empty.startswith(b"\x89PNG") and empty != data
