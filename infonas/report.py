"""Reports of a run directory: a summary table, its trials as JSON, and PNG plots.

Reports only read a run (``load_for_report``): a run whose journal is damaged is shown from the
events a repair would keep, with a warning, and nothing in it is changed.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from infonas.exceptions import InvalidArgumentError, RunStoreError
from infonas.plots import format_natural, unit_of
from infonas.report_fidelity import fidelity_correlation, fidelity_lines, fidelity_summary
from infonas.results import HypervolumeScale, objective_matrix
from infonas.storage import RunStore
from infonas.storage.events import FORMAT_VERSION
from infonas.storage.salvage import SalvagedStore
from infonas.study import Study

__all__ = ["fidelity_correlation", "fidelity_summary", "hypervolume_ratio", "hypervolume_scale", "load_for_report",
           "pareto_lines", "run_figures", "summary_json", "summary_text", "table_optimum", "trials_json", "write_plots"]


def load_for_report(run_dir: str | Path) -> tuple[Study, str | None]:
    """The study of ``run_dir`` for reading, and ``None`` or, for a damaged journal, a warning.

    A journal with a corrupted line (or events replay cannot use) is read through its salvage:
    the intact trials, a one-line warning naming the bad lines and ``infonas repair``, and a
    study that refuses every write. Any other error is raised as ``Study.load`` raises it.

    Example::

        study, warning = load_for_report("runs/a")
        print(warning or "journal intact", len(study.finished_trials()))
    """
    try:
        return Study.load(run_dir), None
    except RunStoreError as error:
        try:
            view = SalvagedStore.of(RunStore.open(run_dir))
        except RunStoreError:
            view = None
        if view is None or view.config.get("format_version") != FORMAT_VERSION:
            raise error from None
    from infonas.evaluators import build_evaluator
    from search_spaces import get_space

    space = get_space(view.config["space"])
    return Study(view, space, build_evaluator(view.config["evaluator"], space)), view.warning


def trials_json(study: Study) -> list[dict[str, Any]]:
    """Finished trials in order, as ``Study.trials()`` records: number, arch, fidelity, status, values
    (the metrics), cost, error, asked_at, finished_at."""
    return study.trials()


def table_optimum(study: Study) -> float | None:
    """The best value of the objective over the whole table, for runs on a tabular benchmark."""
    values = study.evaluator.known_values(study.objective)
    if values is None:
        return None
    return float(values.max() if study.maximize else values.min())


def failure_lines(finished: list[Any]) -> list[str]:
    """The failed trials by kind, with how many were retried, and the last one's reason (none: no line)."""
    failed = [t for t in finished if t.status.value == "failed"]
    if not failed:
        return []
    kinds: dict[str, int] = {}
    for trial in failed:
        kinds[trial.failure or "error"] = kinds.get(trial.failure or "error", 0) + 1
    retried = {t.retry_of for t in finished if t.retry_of is not None}
    last = failed[-1]
    reason = " ".join((last.error or "no reason recorded").split())
    line = (f"failures   {len(failed)} ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}), "
            f"{len(retried & {t.number for t in failed})} retried; last: trial {last.number}, "
            f"{reason[:100]}{'...' if len(reason) > 100 else ''}")
    return [line]


def summary_text(study: Study, top: int = 5) -> str:
    """A plain-text summary: counts, cost, incumbents and, on a table, the regret."""
    finished = study.finished_trials()
    by_status: dict[str, int] = {}
    for trial in finished:
        by_status[trial.status.value] = by_status.get(trial.status.value, 0) + 1
    config = study.store.config
    lines = [
        f"run        {study.store.path}",
        f"strategy   {config['strategy']} (seed {config['seed']})",
        f"objective  {study.objective} ({'max' if study.maximize else 'min'})",
        (f"trials     {len(finished)} finished ({', '.join(f'{k} {v}' for k, v in sorted(by_status.items()))}), "
         f"{len(study.pending)} pending"),
        f"cost       {study.spent_cost():.6g}",
    ]
    lines.extend(failure_lines(finished))
    fidelities = fidelity_summary(study)
    setup, seconds = fidelities["setup"]["cost"], fidelities["setup"]["seconds"]
    if setup > 0:
        measured = f", {seconds:.4g} s measured" if seconds else ""
        lines.append(f"setup      {setup:.6g} of that cost, charged once (training the supernet{measured})")
    if not study.best(1):
        lines.append(f"no trial succeeded at the target fidelity ({study.evaluator.target_fidelity}) yet: "
                     "nothing to rank")
    optimum = table_optimum(study)
    best = study.best(top)
    if best and optimum is not None:
        regret = (optimum - best[0].metrics[study.objective]) * (1 if study.maximize else -1)
        lines.append(f"regret     {regret:.6g} (table optimum {optimum:.6g})")
    lines.extend(fidelity_lines(study, fidelities))
    if study.is_multi_objective:
        lines.extend(pareto_lines(study))
        return "\n".join(lines)
    if not best:
        return "\n".join(lines)
    lines.append("")
    lines.append(f"{'rank':<6}{'trial':>6}{study.objective[:16]:>18}  architecture")
    for rank, trial in enumerate(best, start=1):
        lines.append(f"{rank:<6}{trial.number:>6}{trial.metrics[study.objective]:>18.6g}  {study.space.format(trial.arch)}")
    return "\n".join(lines)


def hypervolume_scale(study: Study) -> HypervolumeScale | None:
    """The bounds that turn the run's hypervolume into a ratio (``None`` with one objective).

    On a table whose columns (or computed metrics) give every objective, the true front is the
    table's and the ideal its best values; otherwise each objective's ideal is its best known
    value (a table column, a computed metric over an enumerable space), 100% for an accuracy, or
    else the best value seen in this run (which the ratio then says).

    Example::

        scale = hypervolume_scale(study)
        print(scale.against, scale.ratio_of_volume(study.hypervolume()))  # the true front (14 points) 0.99
    """
    if not study.is_multi_objective or study.reference_point is None:
        return None
    from infonas.evaluators.tabular import TabularEvaluator
    from infonas.pareto import pareto_mask
    from infonas.study_setup import ENUMERATION_LIMIT

    objectives = study.objectives
    if isinstance(study.evaluator, TabularEvaluator):
        try:
            Y = objective_matrix(study.evaluator.table, objectives, study.computed)
        except InvalidArgumentError:
            Y = None
        if Y is not None:
            ideal = {o.name: float(o.sign * Y[:, i].max()) for i, o in enumerate(objectives)}
            return HypervolumeScale(objectives, study.reference_point, ideal, Y[pareto_mask(Y).numpy()],
                                    {o.name: "the best over the table" for o in objectives})
    ideal, source = {}, {}
    seen = study.front_candidates()
    for o in objectives:
        values = study.evaluator.known_values(o.name)
        source[o.name] = "the best known value"
        if values is None and study.computed is not None and o.name in study.computed.names \
                and study.domain.size <= ENUMERATION_LIMIT:
            values, source[o.name] = study.computed.values(list(study.domain.enumerate()), o.name), \
                "the best over the space"
        if values is None and unit_of(o.name).symbol == "%":
            fraction = unit_of(o.name, [t.metrics[o.name] for t in seen]).scale > 1.0
            values, source[o.name] = np.array([(1.0 if fraction else 100.0) if o.maximize else 0.0]), "a perfect score"
        if values is None:
            values, source[o.name] = np.array([t.metrics[o.name] for t in seen]), "the best seen in this run"
        if len(values) == 0:
            return None
        ideal[o.name] = float(np.max(values) if o.maximize else np.min(values))
    return HypervolumeScale(objectives, study.reference_point, ideal, None, source)


def hypervolume_ratio(scale: HypervolumeScale | None, volume: float) -> tuple[float | None, str]:
    """``volume`` (raw units) as a ratio of ``scale``'s, or ``None`` and why no ratio is defined."""
    if scale is None:
        return None, "no bounds: the ideal point is unknown before any trial succeeds"
    try:
        return scale.ratio_of_volume(volume), ""
    except InvalidArgumentError as error:
        return None, str(error)


def _point_text(point: dict[str, float], units: dict[str, Any]) -> str:
    return ", ".join(f"{name} {format_natural(name, value, units[name])}" for name, value in point.items())


def pareto_lines(study: Study) -> list[str]:
    """The objectives, the hypervolume as a ratio with its bounds in natural units, and the front."""
    objectives = study.objectives
    front = sorted(study.pareto_front(), key=lambda t: [-o.sign * t.metrics[o.name] for o in objectives])
    candidates = study.front_candidates()
    units = {o.name: unit_of(o.name, [t.metrics[o.name] for t in candidates]) for o in objectives}
    volume = study.hypervolume()
    scale = hypervolume_scale(study)
    ratio, why = hypervolume_ratio(scale, volume)
    raw = ", ".join(f"{k}={v:.6g}" for k, v in (study.reference_point or {}).items())
    lines = ["", f"objectives {', '.join(str(o) for o in objectives)}"]
    if ratio is None:
        lines.append(f"hypervolume ratio: not defined ({why})")
    else:
        lines.append(f"hypervolume ratio {ratio:.4f} (HV of the found front / HV of {scale.against}), "
                     "objectives scaled to [0, 1] between:")
    lines.append(f"  reference point (0) {_point_text(dict(study.reference_point or {}), units)}")
    if scale is not None:
        sources = sorted(set((scale.ideal_source or {}).values()))
        lines.append(f"  ideal point (1)     {_point_text(dict(scale.ideal), units)} ({'; '.join(sources)})")
    lines += [f"hypervolume {volume:.6g} in raw units (reference point {raw})",
              f"Pareto front: {len(front)} trials" + ("" if candidates else " (no trial succeeded yet)"), ""]
    headers = [units[o.name].label for o in objectives]
    widths = [max(len(h), 10) + 2 for h in headers]
    lines.append(f"{'trial':>6}" + "".join(f"{h:>{w}}" for h, w in zip(headers, widths)) + "  architecture")
    for trial in front:
        values = "".join(f"{float(units[o.name](trial.metrics[o.name])):>{w}.6g}" for o, w in zip(objectives, widths))
        lines.append(f"{trial.number:>6}{values}  {study.space.format(trial.arch)}")
    return lines


def summary_json(study: Study) -> dict[str, Any]:
    """The summary as JSON: counts, cost, regret on a table and, with several objectives, the
    hypervolume, its ratio, and the reference and ideal points (raw and in natural units).

    Example::

        summary_json(study)["reference_point_natural"]  # {"flops": {"value": 220.1, "unit": "MFLOPs"}, ...}
    """
    finished = study.finished_trials()
    optimum, best = table_optimum(study), study.best(1)
    summary: dict[str, Any] = {
        "run": str(study.store.path), "strategy": study.store.config["strategy"], "seed": study.seed,
        "objectives": [str(o) for o in study.objectives], "finished": len(finished),
        "complete": sum(t.is_complete for t in finished), "pending": len(study.pending), "cost": study.spent_cost(),
        "setup_cost": study.evaluator.setup_cost(), **fidelity_summary(study),
        "table_optimum": optimum,
        "regret": None if not best or optimum is None
        else (optimum - best[0].metrics[study.objective]) * (1 if study.maximize else -1),
    }
    if study.is_multi_objective:
        scale = hypervolume_scale(study)
        candidates = study.front_candidates()
        units = {o.name: unit_of(o.name, [t.metrics[o.name] for t in candidates]) for o in study.objectives}

        def natural(point: dict[str, float]) -> dict[str, Any]:
            return {k: {"value": float(units[k](v)), "unit": units[k].symbol} for k, v in point.items()}

        volume = study.hypervolume()
        summary |= {"hypervolume": volume, "hypervolume_ratio": hypervolume_ratio(scale, volume)[0],
                    "hypervolume_ratio_of": scale.against if scale is not None else None,
                    "reference_point": dict(study.reference_point or {}),
                    "reference_point_natural": natural(dict(study.reference_point or {})),
                    "ideal_point": dict(scale.ideal) if scale is not None else None,
                    "ideal_point_natural": natural(dict(scale.ideal)) if scale is not None else None,
                    "pareto_front": [t.number for t in study.pareto_front()]}
    return summary


def run_figures(study: Study, plt: Any) -> list[tuple[str, Any]]:
    """The run's figures by file name (``infonas.plots`` draws them; ``write_plots`` saves them).

    One objective: ``incumbent.png`` (every evaluation, cheap fidelities marked, and the
    incumbent against cost) and, on a table, ``regret.png``. Several fidelities add
    ``fidelities.png`` (cheap against target values of the architectures evaluated at both). Several: ``pareto.png`` (the front,
    axes fitted to it), ``incumbent.png`` (hypervolume ratio against evaluations) and
    ``hypervolume.png`` (``1 - ratio`` against cost). With no successful trial, ``incumbent.png``
    says so instead of drawing empty axes.

    Example::

        for name, figure in run_figures(study, matplotlib.pyplot):
            figure.savefig(f"out/{name}")
    """
    from infonas import plots

    finished = study.finished_trials()
    strategy = study.store.config["strategy"]
    if not any(t.is_complete for t in finished):
        return [("incumbent.png", plots.message_figure(plt, f"{strategy}: nothing to plot",
                                                       _no_success_text(finished)))]
    return _objective_figures(study, plt) + _fidelity_figures(study, plt)


def _fidelity_figures(study: Study, plt: Any) -> list[tuple[str, Any]]:
    """``fidelities.png``: each cheap fidelity's value against the target's, for the architectures
    evaluated at both (none with one fidelity or no such architecture)."""
    from infonas import plots

    pairs = plots.fidelity_pairs(study)
    return [("fidelities.png", plots.fidelity_pairs_figure(plt, study, pairs))] if pairs else []


def _objective_figures(study: Study, plt: Any) -> list[tuple[str, Any]]:
    from infonas import plots

    strategy = study.store.config["strategy"]
    rows = study.history()
    if not study.is_multi_objective:
        figures = [("incumbent.png", plots.incumbent_figure(plt, study, rows))]
        optimum = table_optimum(study)
        if optimum is not None and any(r["incumbent"] is not None for r in rows):
            figures.append(("regret.png", plots.regret_figure(plt, study, rows, optimum)))
        return figures
    scale = hypervolume_scale(study)
    ratio, why = hypervolume_ratio(scale, study.hypervolume())
    candidates = study.front_candidates()
    units = {o.name: unit_of(o.name, [t.metrics[o.name] for t in candidates]) for o in study.objectives}
    caption = (f"{strategy}: {len(study.pareto_front())} of {len(candidates)} trials on the front; "
               + (f"hypervolume ratio {ratio:.4f} of {scale.against}" if ratio is not None else f"no ratio: {why}")
               + f"\nreference point {_point_text(dict(study.reference_point or {}), units)}")
    if candidates:
        figures = [("pareto.png", plots.front_figure(plt, study, caption,
                                                     scale.true_front if scale is not None else None))]
    else:
        figures = [("pareto.png", plots.message_figure(plt, caption, "No evaluation at the target fidelity "
                                                                     "succeeded yet."))]
    if ratio is None:
        return figures + [("incumbent.png", plots.message_figure(plt, f"{strategy}: hypervolume",
                                                                 f"No hypervolume ratio: {why}"))]
    progress, gap = plots.ratio_figures(plt, study, rows, [scale.ratio_of_volume(r["hypervolume"]) for r in rows],
                                        scale.against)
    return figures + [("incumbent.png", progress), ("hypervolume.png", gap)]


def write_plots(study: Study, out_dir: str | Path | None = None) -> list[Path]:
    """PNG plots of the run (``run_figures``), written atomically into the run directory's
    ``plots/`` (or ``out_dir``); returns the paths."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    written: list[Path] = []
    target = Path(out_dir) if out_dir is not None else None
    for name, figure in run_figures(study, plt):
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
        plt.close(figure)
        if target is None:
            written.append(study.store.write_bytes_atomic(f"plots/{name}", buffer.getvalue()))
        else:
            target.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(buffer.getvalue())
            written.append(target / name)
    return written


def _no_success_text(finished: list[Any]) -> str:
    if not finished:
        return "No trial has finished yet."
    errors = [t.error for t in finished if t.error]
    first = f"\nfirst error: {errors[0][:90]}{'...' if len(errors[0]) > 90 else ''}" if errors else ""
    return f"No trial succeeded: {len(finished)} finished, none complete.{first}"
