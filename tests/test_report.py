"""Reports a person can read: hypervolume ratios with stated bounds, natural units, fitted axes,
cheap-fidelity evaluations marked, and a message instead of empty axes (figures are inspected
through matplotlib's objects on the Agg backend, never compared pixel by pixel)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from infonas.evaluators.tabular import TabularBenchmark, TabularEvaluator
from infonas.plots import fitted_limits, format_natural, unit_of
from infonas.report import (
    hypervolume_scale,
    pareto_lines,
    run_figures,
    summary_json,
    summary_text,
    write_plots,
)
from infonas.storage.events import TrialAsked, TrialFinished
from infonas.study import Study
from infonas.testing.fakes import FakeEvaluator
from infonas.trials import EvaluationResult, TrialStatus

OUTLIER_ACC = 10.0


@pytest.fixture
def plt():
    """pyplot on the Agg backend (files only, no display), every figure closed afterwards."""
    matplotlib.use("Agg")
    from matplotlib import pyplot

    yield pyplot
    pyplot.close("all")


@pytest.fixture
def flops_table(tmp_path, space) -> TabularBenchmark:
    """40 cells: accuracy (%) and FLOPs (counts, 8M to 230M) both rise with the conv count, so
    they trade off; one cell is untrainable (10%) and heavy, dominated far below the front."""
    rng = np.random.default_rng(3)
    archs = sorted({space.sample(rng) for _ in range(60)}, key=space.format)[:40]
    lines = ["arch,acc,flops"]
    for k, arch in enumerate(archs):
        convs = sum(op.startswith("nor_conv") for op in arch.ops)
        acc = OUTLIER_ACC if k == 0 else 85.0 + 1.5 * convs + rng.normal(0, 0.5)
        flops = 2.3e8 if k == 0 else 8e6 + 3.5e7 * convs + rng.uniform(0, 5e6)
        lines.append(f"{space.format(arch)},{acc:.4f},{flops:.0f}")
    path = tmp_path / "flops.csv"
    path.write_text("\n".join(lines) + "\n")
    return TabularBenchmark.from_csv(path, space)


def _table_study(table: TabularBenchmark, space, budget: int) -> Study:
    evaluator = TabularEvaluator(table, "acc", extra_metrics=["flops"])
    return Study.create(None, space, evaluator, strategy="rs", seed=0,
                        objectives="acc:max,flops:min").optimize(budget, progress=False)


def _texts(figure) -> str:
    """Every string a figure shows: titles, labels, legend entries and free text."""
    parts = [t.get_text() for t in figure.findobj(matplotlib.text.Text)]
    return "\n".join(parts)


def test_units_of_metrics() -> None:
    assert unit_of("flops").label == "FLOPs (MFLOPs)" and unit_of("flops").scale == 1e-6
    assert unit_of("params").symbol == "M" and unit_of("latency_ms").label == "latency (ms)"
    assert unit_of("cifar10_test_200ep").symbol == "%" and unit_of("cifar10_test_200ep").scale == 1.0
    assert unit_of("valid_accuracy", [0.2, 0.95]).scale == 100.0  # stored as a fraction
    assert unit_of("valid_accuracy", [20.0, 95.0]).scale == 1.0
    assert unit_of("train_loss").symbol == "" and unit_of("train_loss").scale == 1.0
    assert format_natural("flops", 7783050) == "7.783 MFLOPs" and format_natural("note", 2.5) == "2.5"


def test_fitted_limits_leave_a_far_outlier_out() -> None:
    front = np.array([86.0, 90.0, 93.0])
    values = np.array([OUTLIER_ACC, 84.0, 85.5, 88.0, 86.0, 90.0, 93.0])
    low, high = fitted_limits(front, values)
    assert OUTLIER_ACC < low < 86.0 and 93.0 < high < 94.0  # near the front, the outlier outside
    assert low == pytest.approx(86.0 - 0.25 * 7.0)
    # Data that do not reach the padding cut it back (no empty band beyond every point).
    assert fitted_limits(front, front)[0] == pytest.approx(86.0 - 0.03 * 7.0)
    # A front of one value still gets a window.
    low, high = fitted_limits([90.0], [90.0])
    assert low < 90.0 < high


def test_hypervolume_ratio_is_one_on_the_true_front_and_below_otherwise(flops_table, space) -> None:
    whole = _table_study(flops_table, space, len(flops_table))
    scale = hypervolume_scale(whole)
    assert scale is not None and scale.true_front is not None
    assert scale.ideal == {"acc": pytest.approx(flops_table.column("acc").max()),
                           "flops": pytest.approx(flops_table.column("flops").min())}
    assert scale.ratio_of_volume(whole.hypervolume()) == pytest.approx(1.0, rel=1e-9)
    record = summary_json(whole)
    assert record["hypervolume_ratio"] == pytest.approx(1.0, rel=1e-9)
    assert record["reference_point"] == {"acc": OUTLIER_ACC, "flops": flops_table.column("flops").max()}
    assert record["reference_point_natural"]["flops"] == {"value": pytest.approx(230.0), "unit": "MFLOPs"}
    assert "hypervolume ratio 1.0000" in "\n".join(pareto_lines(whole))
    part = _table_study(flops_table, space, 6)
    ratio = summary_json(part)["hypervolume_ratio"]
    assert 0.0 < ratio < 1.0
    assert ratio == pytest.approx(part.hypervolume() / whole.hypervolume(), rel=1e-9)


def test_pareto_text_states_the_bounds_in_natural_units(flops_table, space) -> None:
    text = summary_text(_table_study(flops_table, space, 12))
    reference = next(line for line in text.splitlines() if "reference point (0)" in line)
    ideal = next(line for line in text.splitlines() if "ideal point (1)" in line)
    assert "acc 10 %" in reference and "flops 230 MFLOPs" in reference
    assert "%" in ideal and "MFLOPs" in ideal and "the best over the table" in ideal
    assert "FLOPs (MFLOPs)" in text and "acc (%)" in text  # the front's columns


def test_front_plot_is_fitted_to_the_front_in_natural_units(flops_table, space, plt) -> None:
    study = _table_study(flops_table, space, len(flops_table))
    figures = dict(run_figures(study, plt))
    assert set(figures) == {"pareto.png", "incumbent.png", "hypervolume.png"}
    (axis,) = figures["pareto.png"].axes
    assert "MFLOPs" in axis.get_xlabel() and "(%)" in axis.get_ylabel()
    front = study.pareto_front()
    low, high = axis.get_ylim()
    assert high >= max(t.metrics["acc"] for t in front)
    assert low > OUTLIER_ACC + 20 and low <= min(t.metrics["acc"] for t in front)
    xlow, xhigh = axis.get_xlim()
    assert xhigh < 1000 and xlow <= min(t.metrics["flops"] for t in front) * 1e-6  # MFLOPs, not counts
    assert "1 outside the axes" in _texts(figures["pareto.png"])
    assert "hypervolume ratio 1.0000" in _texts(figures["pareto.png"])
    (progress,) = figures["incumbent.png"].axes
    assert "hypervolume ratio" in progress.get_ylabel()
    curve = progress.lines[0].get_ydata()
    assert curve[-1] == pytest.approx(1.0) and np.all(np.diff(curve) >= 0) and np.all(curve <= 1.0 + 1e-12)


class _TwoMetrics(FakeEvaluator):
    """A measured accuracy and a measured size, with no table behind them."""

    def __init__(self, space) -> None:
        super().__init__(space)
        self.metric_names = ("acc", "size")

    def _evaluate(self, arch, fidelity):
        value = self.value(self.space.validate(arch))
        return EvaluationResult({"acc": value, "size": 100.0 - value}, cost=1.0)


def test_ratio_without_a_table_uses_a_perfect_score_and_the_best_seen(space) -> None:
    study = Study.create(None, space, _TwoMetrics(space), strategy="rs", seed=0, objectives="acc:max,size:min",
                         reference_point={"acc": 0.0, "size": 100.0}).optimize(8, progress=False)
    scale = hypervolume_scale(study)
    assert scale.true_front is None and scale.ideal["acc"] == 100.0
    assert scale.ideal["size"] == min(t.metrics["size"] for t in study.finished_trials())
    assert "the best seen in this run" in summary_text(study) and "a perfect score" in summary_text(study)
    assert 0.0 < summary_json(study)["hypervolume_ratio"] < 1.0


def _multi_fidelity_study(space) -> Study:
    """Eight cheap evaluations then two at the target, journalled as a bo-mf run would."""
    evaluator = FakeEvaluator(space, cheap_cost=0.1)
    study = Study.create(None, space, evaluator, "acc", strategy="rs", seed=0)
    rng = np.random.default_rng(1)
    for number in range(10):
        arch, fidelity = space.sample(rng), "acc_cheap" if number < 8 else "acc"
        result = evaluator.evaluate(arch, fidelity)
        study.store.append(TrialAsked(number, space.format(arch), fidelity, 0.0, 0.0).to_json())
        study.store.append(TrialFinished(number, result.status, result.metrics, result.cost).to_json())
    return Study(study.store, space, evaluator)


def test_incumbent_plot_marks_cheap_fidelity_evaluations(space, plt) -> None:
    study = _multi_fidelity_study(space)
    (name, figure), = run_figures(study, plt)
    assert name == "incumbent.png"
    text = _texts(figure)
    assert "cheap: acc_cheap (cost 0.1)" in text and "acc evaluations (cost 1)" in text
    assert "incumbent (acc)" in text
    (axis,) = figure.axes
    cheap = [c for c in axis.collections if "cheap" in c.get_label()]
    assert len(cheap) == 1 and len(cheap[0].get_offsets()) == 8


class _Broken(FakeEvaluator):
    def _evaluate(self, arch, fidelity):
        raise RuntimeError("CUDA out of memory")


def test_no_successful_trial_gives_a_message_not_empty_axes(space, tmp_path, plt) -> None:
    study = Study.create(None, space, _Broken(space), "acc", strategy="rs", seed=0).optimize(3, progress=False)
    assert all(t.status is TrialStatus.FAILED for t in study.finished_trials())
    (name, figure), = run_figures(study, plt)
    assert name == "incumbent.png"
    text = _texts(figure)
    assert "No trial succeeded: 3 finished" in text and "CUDA out of memory" in text
    assert not figure.axes[0].axison  # no empty axes
    assert "no trial succeeded at the target fidelity (acc) yet" in summary_text(study)
    (path,) = write_plots(study, tmp_path / "plots")
    assert path.name == "incumbent.png" and path.stat().st_size > 0


def _paired_study(space) -> Study:
    """Six architectures at the cheap fidelity, four of them also at the target; one ask of three
    trials (0.5 s, shared), then asks of 0.25 s; each result measured ``seconds`` beside its cost."""
    evaluator = FakeEvaluator(space, cheap_cost=0.1)
    study = Study.create(None, space, evaluator, "acc", strategy="rs", seed=0)
    rng = np.random.default_rng(2)
    archs = [space.sample(rng) for _ in range(6)]
    plan = [(arch, "acc_cheap") for arch in archs] + [(arch, "acc") for arch in archs[:4]]
    for number, (arch, fidelity) in enumerate(plan):
        seconds = 0.5 if number < 3 else 0.25
        study.store.append(TrialAsked(number, space.format(arch), fidelity, 0.0, seconds).to_json())
        if number in (0, 1):
            continue  # trials 0-2 were asked together: their results come after the third asked line
        for told in ((0, 1, 2) if number == 2 else (number,)):
            arch_told, fidelity_told = plan[told]
            result = evaluator.evaluate(arch_told, fidelity_told)
            study.store.append(TrialFinished(told, result.status, {**result.metrics, "seconds": 2.0 * result.cost},
                                             result.cost).to_json())
    return Study(study.store, space, evaluator)


def test_fidelity_summary_counts_cost_seconds_and_each_ask_once(space) -> None:
    from infonas.report_fidelity import fidelity_summary, suggest_time

    study = _paired_study(space)
    timing = suggest_time(study)
    assert timing["suggest_seconds"] == pytest.approx(0.5 + 7 * 0.25)  # the batch of three counted once
    assert timing["evaluate_seconds"] == pytest.approx(2.0 * (6 * 0.1 + 4 * 1.0))
    assert timing["share"] == pytest.approx(2.25 / (2.25 + 9.2))
    summary = fidelity_summary(study)
    rows = {row["name"]: row for row in summary["fidelities"]}
    assert (rows["acc_cheap"]["evaluations"], rows["acc"]["evaluations"]) == (6, 4)
    assert rows["acc_cheap"]["cost"] == pytest.approx(0.6) and rows["acc"]["seconds"] == pytest.approx(8.0)
    correlation = np.asarray(summary["correlation"])
    assert correlation.shape == (2, 2) and np.allclose(np.diag(correlation), 1.0)
    text = summary_text(study)
    assert "fidelity   acc_cheap: 6 evaluations at 0.1 each, cost 0.6, 1.2 s measured" in text
    assert "suggesting 2.25 s, 19.7% of the run's working time" in text
    assert summary_json(study)["suggest"]["share"] == pytest.approx(timing["share"])


def test_the_fidelity_plot_pairs_cheap_and_target_values_of_one_architecture(space, plt) -> None:
    study = _paired_study(space)
    figures = dict(run_figures(study, plt))
    assert set(figures) == {"incumbent.png", "fidelities.png"}
    (axis,) = figures["fidelities.png"].axes
    (points,) = axis.collections
    at_target = {t.arch.key: t.metrics["acc"] for t in study.finished_trials() if t.fidelity == "acc"}
    expected = sorted((t.metrics["acc"], at_target[t.arch.key]) for t in study.finished_trials()
                      if t.fidelity == "acc_cheap" and t.arch.key in at_target)
    drawn = sorted(map(tuple, points.get_offsets().tolist()))
    assert len(expected) == 4 and np.allclose(drawn, expected)
    assert "acc_cheap: 4 architectures, Spearman" in _texts(figures["fidelities.png"])
    assert "acc at acc_cheap" in axis.get_xlabel() and "acc at acc" in axis.get_ylabel()
