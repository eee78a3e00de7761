"""Plots of a run a person can read: natural units, axes fitted to what matters, a message when empty.

Units: accuracies in %, FLOPs in MFLOPs, parameters in millions, latencies in ms (``unit_of``).
Axes are fitted to the front (or the incumbent curve) and the region near it, not stretched by
far outliers such as untrainable cells at 10% accuracy; how many points fall outside is said in
the legend (``fitted_limits``). Multi-objective runs plot the hypervolume *ratio* (see
``infonas.results.HypervolumeScale``); multi-fidelity runs show their cheap evaluations with
their own marker. Matplotlib is imported only by the functions that draw.

Example:
    >>> unit_of("flops").label, unit_of("flops").scale
    ('FLOPs (MFLOPs)', 1e-06)
    >>> [round(v, 2) for v in fitted_limits([90.0, 94.0], [10.0, 89.5, 90.0, 94.0])]  # the 10% cell stays out
    [89.0, 94.12]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Unit", "fidelity_pairs", "fidelity_pairs_figure", "fitted_limits", "format_natural", "unit_of"]

#: How far axes reach beyond the front (or the incumbent curve), as a fraction of its span.
PAD = 0.25
_ACCURACY = re.compile(r"acc|(^|_)(valid|test|train)(_|$)", re.IGNORECASE)


@dataclass(frozen=True)
class Unit:
    """How a metric is shown: ``value * scale`` in ``symbol``; ``label`` names the axis with its unit."""

    label: str
    symbol: str = ""
    scale: float = 1.0

    def __call__(self, values: Any) -> np.ndarray:
        return np.asarray(values, dtype=np.float64) * self.scale


def unit_of(name: str, values: Sequence[float] | np.ndarray | None = None) -> Unit:
    """The natural unit of metric ``name``: ``flops`` in MFLOPs, ``params`` in millions,
    ``*_ms`` in ms, accuracies in % (scaled by 100 when every value in ``values`` is within
    [0, 1], i.e. stored as a fraction); any other metric as it is stored.

    Example:
        >>> unit_of("cifar10_test_200ep").label, unit_of("valid_accuracy", [0.5, 0.9]).scale
        ('cifar10_test_200ep (%)', 100.0)
    """
    if name == "flops":
        return Unit("FLOPs (MFLOPs)", "MFLOPs", 1e-6)
    if name == "params":
        return Unit("parameters (millions)", "M", 1e-6)
    if name == "latency_ms":
        return Unit("latency (ms)", "ms")
    if name.endswith("_ms"):
        return Unit(f"{name[:-3]} (ms)", "ms")
    if _ACCURACY.search(name) and "loss" not in name.lower():
        fraction = values is not None and len(values) > 0 and bool(np.all(np.abs(np.asarray(values)) <= 1.0))
        return Unit(f"{name} (%)", "%", 100.0 if fraction else 1.0)
    return Unit(name)


def format_natural(name: str, value: float, unit: Unit | None = None) -> str:
    """``value`` of metric ``name`` in its natural unit, e.g. ``"220.1 MFLOPs"``.

    Example:
        >>> format_natural("flops", 220119690.0), format_natural("cifar10_test_200ep", 94.37333)
        ('220.1 MFLOPs', '94.37 %')
    """
    unit = unit or unit_of(name)
    text = f"{float(value) * unit.scale:.4g}"
    return f"{text} {unit.symbol}" if unit.symbol else text


def fitted_limits(core: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray,
                  pad: float = PAD) -> tuple[float, float]:
    """Axis limits around ``core`` (the front, or the incumbent curve), reaching ``pad`` times its
    span further but never past the data in ``values``; a far outlier stays outside.

    ``[lo - p, hi + p]`` with ``lo, hi`` the extremes of ``core`` and ``p = pad * (hi - lo)``, each
    end cut back to the data's extreme (plus a hair) when the data do not reach that far. A core
    of one value gets ``p`` from the data's spread, or 5% of the value.
    """
    core_array = np.asarray(core, dtype=np.float64)
    data = np.concatenate([core_array, np.asarray(values, dtype=np.float64)])
    lo, hi = float(core_array.min()), float(core_array.max())
    span = hi - lo
    if span <= 0.0:
        spread = float(data.max() - data.min())
        span = 0.5 * spread if spread > 0.0 else max(abs(hi), 1.0) * 0.1
    reach = pad * span
    hair = 0.03 * span  # so that a point at the data's extreme is drawn whole
    return max(lo - reach, float(data.min()) - hair), min(hi + reach, float(data.max()) + hair)


def _outside(values: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
    return (values < limits[0]) | (values > limits[1])


def _with_count(label: str, outside: int) -> str:
    return f"{label} ({outside} outside the axes)" if outside else label


def message_figure(plt: Any, title: str, message: str) -> Any:
    """A figure that says why there is nothing to draw, instead of empty axes."""
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.set_axis_off()
    axis.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=12, transform=axis.transAxes)
    axis.set_title(title)
    return figure


def _cheap_rug(axis: Any, study: Any, cumulative: dict[int, float], by_evaluation: bool = False) -> None:
    """Ticks along the bottom edge where cheap-fidelity evaluations finished, one colour per fidelity."""
    target = study.evaluator.target_fidelity
    cheap = sorted((f for f in study.evaluator.fidelities.values() if f.name != target), key=lambda f: f.level)
    order = {row_number: i + 1 for i, row_number in enumerate(cumulative)}
    for k, fidelity in enumerate(cheap):
        numbers = [t.number for t in study.finished_trials() if t.fidelity == fidelity.name]
        if numbers:
            x = [order[n] if by_evaluation else cumulative[n] for n in numbers]
            axis.plot(x, [0.02] * len(x), "|", ms=12, mew=1.5, color=f"C{k + 1}", transform=axis.get_xaxis_transform(),
                      label=f"{len(x)} cheap evaluations: {fidelity.name} (cost {fidelity.cost:g})")


def _log_axis(axis: Any, values: Sequence[float] | np.ndarray) -> None:
    """A log y-axis labelled 0.1, 0.2, 0.5, 1, ... with room below the curve for the cheap-evaluation ticks."""
    from matplotlib import ticker

    values = np.asarray(values, dtype=np.float64)
    axis.set_yscale("log")
    axis.set_ylim(float(values.min()) / 3.0, float(values.max()) * 1.5)
    axis.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.yaxis.set_minor_formatter(ticker.NullFormatter())


def incumbent_figure(plt: Any, study: Any, rows: list[dict[str, Any]]) -> Any:
    """Single objective: every evaluation and the incumbent against cumulative cost, in the
    objective's unit; cheap-fidelity evaluations with their own marker and their best so far."""
    target, name = study.evaluator.target_fidelity, study.objective
    cumulative = {row["number"]: row["cost"] for row in rows}
    complete = [t for t in study.finished_trials() if t.is_complete and name in t.metrics]
    unit = unit_of(name, [t.metrics[name] for t in complete])
    sign = 1.0 if study.maximize else -1.0
    series, core = [], [unit([r["incumbent"] for r in rows if r["incumbent"] is not None])]
    fidelities = sorted(study.evaluator.fidelities.values(), key=lambda f: -f.level)
    for k, fidelity in enumerate(fidelities):
        trials = [t for t in complete if t.fidelity == fidelity.name]
        if not trials:
            continue
        x = np.array([cumulative[t.number] for t in trials])
        y = unit([t.metrics[name] for t in trials])
        series.append((fidelity, x, y, k))
        if fidelity.name != target:  # the cheap fidelity's best so far belongs in view too
            core.append(sign * np.maximum.accumulate(sign * y))
            series[-1] += (core[-1],)
    core_values = np.concatenate(core)
    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    everything = np.concatenate([item[2] for item in series])
    limits = fitted_limits(core_values if core_values.size else everything, everything)
    for fidelity, x, y, k, *best in series:
        outside = int(_outside(y, limits).sum())
        if fidelity.name == target:
            label = "evaluations" if len(fidelities) == 1 else f"{fidelity.name} evaluations (cost {fidelity.cost:g})"
            axis.scatter(x, y, s=12, color="0.6", label=_with_count(label, outside), zorder=2)
        else:
            axis.scatter(x, y, s=22, marker="x", color=f"C{k}", zorder=2,
                         label=_with_count(f"cheap: {fidelity.name} (cost {fidelity.cost:g})", outside))
            axis.step(x, best[0], where="post", color=f"C{k}", ls=":", lw=1.2, label=f"best {fidelity.name} so far")
    history = [r for r in rows if r["incumbent"] is not None]
    if history:
        axis.step([r["cost"] for r in history], unit([r["incumbent"] for r in history]), where="post", color="C0",
                  lw=1.8, label=f"incumbent ({target})", zorder=3)
    axis.set_ylim(*limits)
    axis.set_xlabel("cumulative evaluation cost (1 = one target evaluation)")
    label = unit.label if len(fidelities) == 1 else unit.label.replace(name, "value at each fidelity")
    axis.set_ylabel(f"{label}, {'higher' if study.maximize else 'lower'} is better")
    title = f"{study.store.config['strategy']}: incumbent versus cost"
    axis.set_title(title if history else f"{title}\nno evaluation at the target fidelity ({target}) succeeded yet")
    axis.legend(loc="best", fontsize=8)
    return figure


def regret_figure(plt: Any, study: Any, rows: list[dict[str, Any]], optimum: float) -> Any:
    """Single objective on a table: simple regret ``|optimum - incumbent|`` (log) against cost."""
    history = [r for r in rows if r["incumbent"] is not None]
    unit = unit_of(study.objective, [optimum] + [r["incumbent"] for r in history])
    sign = 1.0 if study.maximize else -1.0
    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    regrets = [max(unit.scale * sign * (optimum - r["incumbent"]), 1e-6) for r in history]
    axis.step([r["cost"] for r in history], regrets, where="post", color="C0", label="regret of the incumbent")
    _cheap_rug(axis, study, {r["number"]: r["cost"] for r in rows})
    _log_axis(axis, regrets)
    points = "percentage points" if unit.symbol == "%" else unit.symbol or "objective units"
    axis.set_xlabel("cumulative evaluation cost (1 = one target evaluation)")
    axis.set_ylabel(f"regret, {points} (log)")
    axis.set_title(f"simple regret of {study.objective} versus cost\n(table optimum "
                   f"{format_natural(study.objective, optimum, unit)}; regret 0 drawn at 1e-6)")
    axis.legend(loc="best", fontsize=8)
    return figure


def ratio_figures(plt: Any, study: Any, rows: list[dict[str, Any]], ratios: list[float], against: str
                  ) -> tuple[Any, Any]:
    """Several objectives: the hypervolume ratio against evaluations (the run's incumbent) and its
    gap ``1 - ratio`` (log) against cumulative cost (its regret)."""
    evaluations = np.arange(1, len(rows) + 1)
    cumulative = {r["number"]: r["cost"] for r in rows}
    values = np.asarray(ratios, dtype=np.float64)
    first, axis = plt.subplots(figsize=(6.5, 4.2))
    axis.step(evaluations, values, where="post", color="C2", lw=1.8, label="hypervolume ratio of the found front")
    axis.axhline(1.0, color="0.5", ls="--", lw=1, label=f"1 = {against}")
    _cheap_rug(axis, study, cumulative, by_evaluation=True)
    low = max(fitted_limits(np.append(values, 1.0), values)[0], 0.0)
    axis.set_ylim(low, 1.0 + 0.04 * (1.0 - low))
    axis.set_xlabel("evaluations")
    axis.set_ylabel("hypervolume ratio (HV found / HV reference)")
    axis.set_title(f"{study.store.config['strategy']}: hypervolume ratio versus evaluations")
    axis.legend(loc="lower right", fontsize=8)
    second, axis = plt.subplots(figsize=(6.5, 4.2))
    gaps = np.maximum(1.0 - values, 1e-6)
    axis.step([r["cost"] for r in rows], gaps, where="post", color="C2", label="1 - hypervolume ratio")
    _cheap_rug(axis, study, cumulative)
    _log_axis(axis, gaps)
    axis.set_xlabel("cumulative evaluation cost (1 = one target evaluation)")
    axis.set_ylabel("hypervolume gap, 1 - ratio (log)")
    axis.set_title(f"gap to {against} versus cost (gap 0 drawn at 1e-6)")
    axis.legend(loc="best", fontsize=8)
    return first, second


def front_figure(plt: Any, study: Any, caption: str, true_front: np.ndarray | None = None) -> Any:
    """All complete trials and the Pareto front, one panel per pair (the first objective against
    each other one), in natural units; axes fitted to the front (and the true front, drawn when
    known and there are two objectives); the legend counts the trials left outside."""
    trials = study.front_candidates()
    front = {t.number for t in study.pareto_front()}
    objectives = study.objectives
    units = {o.name: unit_of(o.name, [t.metrics[o.name] for t in trials]) for o in objectives}
    first, others = objectives[0], objectives[1:]
    figure, axes = plt.subplots(1, len(others), figsize=(6 * len(others), 4.6), squeeze=False)
    for axis, other in zip(axes[0], others):
        x_all, y_all = units[other.name]([t.metrics[other.name] for t in trials]), \
            units[first.name]([t.metrics[first.name] for t in trials])
        on_front = np.array([t.number in front for t in trials])
        x_core, y_core = x_all[on_front], y_all[on_front]
        reference = None
        if true_front is not None and len(objectives) == 2:
            i, j = objectives.index(other), objectives.index(first)
            reference = (units[other.name](other.sign * true_front[:, i]),
                         units[first.name](first.sign * true_front[:, j]))
            x_core, y_core = np.concatenate([x_core, reference[0]]), np.concatenate([y_core, reference[1]])
        xlim, ylim = fitted_limits(x_core, x_all), fitted_limits(y_core, y_all)
        outside = _outside(x_all, xlim) | _outside(y_all, ylim)
        axis.scatter(x_all[~on_front], y_all[~on_front], s=10, color="0.7",
                     label=_with_count("other trials", int((outside & ~on_front).sum())))
        if reference is not None:
            order = np.argsort(reference[0])
            axis.step(reference[0][order], reference[1][order], where="pre" if other.maximize == first.maximize
                      else "post", color="0.35", ls="--", lw=1, label=f"true front ({len(order)} points)")
        order = np.argsort(x_all[on_front])
        xs, ys = x_all[on_front][order], y_all[on_front][order]
        axis.scatter(xs, ys, s=30, color="C3", zorder=3,
                     label=_with_count(f"Pareto front ({len(xs)} trials)", int((outside & on_front).sum())))
        if len(objectives) == 2:
            axis.step(xs, ys, where="pre" if other.maximize == first.maximize else "post", color="C3", lw=1)
        axis.set_xlim(*xlim)
        axis.set_ylim(*ylim)
        axis.set_xlabel(f"{units[other.name].label}, {'higher' if other.maximize else 'lower'} is better")
        axis.set_ylabel(f"{units[first.name].label}, {'higher' if first.maximize else 'lower'} is better")
        axis.legend(loc="best", fontsize=8)
    figure.suptitle(caption, fontsize=10)
    return figure


def fidelity_pairs(study: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per cheap fidelity, the objective's values there and at the target for the architectures
    evaluated at both (complete trials only; fidelities with no such architecture are left out)."""
    target, name = study.evaluator.target_fidelity, study.objective
    complete = [t for t in study.finished_trials() if t.is_complete and name in t.metrics]
    at_target = {t.arch.key: t.metrics[name] for t in complete if t.fidelity == target}
    pairs = {}
    for fidelity in sorted(study.evaluator.fidelities.values(), key=lambda f: f.level):
        if fidelity.name == target:
            continue
        cheap = {t.arch.key: t.metrics[name] for t in complete if t.fidelity == fidelity.name}
        both = [key for key in cheap if key in at_target]
        if both:
            pairs[fidelity.name] = (np.array([cheap[k] for k in both]), np.array([at_target[k] for k in both]))
    return pairs


def fidelity_pairs_figure(plt: Any, study: Any, pairs: dict[str, tuple[np.ndarray, np.ndarray]]) -> Any:
    """Cheap against target values of the objective, one marker per cheap fidelity, in natural units;
    the legend gives each pair's Spearman rank correlation (scipy) when three or more points allow it."""
    from scipy.stats import spearmanr

    target, name = study.evaluator.target_fidelity, study.objective
    figure, axis = plt.subplots(figsize=(5.5, 4.6))
    for k, (fidelity, (cheap, at_target)) in enumerate(pairs.items()):
        unit = unit_of(name, np.concatenate([cheap, at_target]))
        rho = float(spearmanr(cheap, at_target).statistic) if len(cheap) >= 3 and np.ptp(cheap) > 0 \
            and np.ptp(at_target) > 0 else float("nan")
        label = f"{fidelity}: {len(cheap)} architectures" + ("" if np.isnan(rho) else f", Spearman {rho:.2f}")
        axis.scatter(unit(cheap), unit(at_target), s=18, color=f"C{k + 1}", label=label)
        axis.set_xlabel(f"{unit.label.replace(name, f'{name} at {fidelity}')}")
        axis.set_ylabel(f"{unit.label.replace(name, f'{name} at {target}')}")
    axis.legend(loc="best", fontsize=8)
    axis.set_title(f"{study.store.config['strategy']}: cheap against target, architectures evaluated at both",
                   fontsize=10)
    return figure
