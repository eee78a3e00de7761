"""Reports of a run directory: a summary table, its trials as JSON, and PNG plots.

Reports only read a run (``load_for_report``): a run whose journal is damaged is shown from the
events a repair would keep, with a warning, and nothing in it is changed.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from infonas.exceptions import RunStoreError
from infonas.storage import RunStore
from infonas.storage.events import FORMAT_VERSION
from infonas.storage.salvage import SalvagedStore
from infonas.study import Study


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
    optimum = table_optimum(study)
    best = study.best(top)
    if best and optimum is not None:
        regret = (optimum - best[0].metrics[study.objective]) * (1 if study.maximize else -1)
        lines.append(f"regret     {regret:.6g} (table optimum {optimum:.6g})")
    lines.extend(_fidelity_lines(study))
    if study.is_multi_objective:
        lines.extend(pareto_lines(study))
        return "\n".join(lines)
    lines.append("")
    lines.append(f"{'rank':<6}{'trial':>6}{study.objective[:16]:>18}  architecture")
    for rank, trial in enumerate(best, start=1):
        lines.append(f"{rank:<6}{trial.number:>6}{trial.metrics[study.objective]:>18.6g}  {study.space.format(trial.arch)}")
    return "\n".join(lines)


def fidelity_correlation(study: Study) -> np.ndarray | None:
    """The inter-fidelity correlation a multi-fidelity GP learns from the run's journal (``None``
    with one fidelity, or too little data: two distinct results per fidelity are needed)."""
    fidelities = sorted(study.evaluator.fidelities.values(), key=lambda f: f.level)
    if len(fidelities) < 2:
        return None
    index = {f.name: j for j, f in enumerate(fidelities)}
    data = [(t.arch, t.metrics[study.objective], index[t.fidelity]) for t in study.finished_trials()
            if t.is_complete and study.objective in t.metrics and t.fidelity in index]
    for j in range(len(fidelities)):
        if len({round(v, 12) for _, v, f in data if f == j}) < 2:
            return None
    from infonas.surrogates import MultiFidelitySurrogate

    archs, values, groups = zip(*data)
    model = MultiFidelitySurrogate(study.space, "wl+hamming", num_fidelities=len(fidelities), seed=study.seed)
    return model.fit(list(archs), list(values), list(groups)).fidelity_correlation()


def _fidelity_lines(study: Study) -> list[str]:
    """Per fidelity: evaluations and cost; the learned inter-fidelity correlation."""
    fidelities = sorted(study.evaluator.fidelities.values(), key=lambda f: f.level)
    if len(fidelities) < 2:
        return []
    lines = [""]
    for fidelity in fidelities:
        trials = [t for t in study.finished_trials() if t.fidelity == fidelity.name]
        lines.append(f"fidelity   {fidelity.name}: {len(trials)} evaluations, cost {sum(t.cost for t in trials):.6g}")
    correlation = fidelity_correlation(study)
    if correlation is None:
        lines.append("learned inter-fidelity correlation: not enough data yet (two distinct results per fidelity)")
    else:
        names = [f.name for f in fidelities]
        lines.append(f"learned inter-fidelity correlation ({', '.join(names)}):")
        lines.extend("  " + " ".join(f"{v:7.3f}" for v in row) for row in correlation)
    return lines


def pareto_lines(study: Study) -> list[str]:
    front = sorted(study.pareto_front(), key=lambda t: [-o.sign * t.metrics[o.name] for o in study.objectives])
    reference = ", ".join(f"{k}={v:.6g}" for k, v in (study.reference_point or {}).items())
    lines = ["", f"objectives {', '.join(str(o) for o in study.objectives)}",
             f"hypervolume {study.hypervolume():.6g} (reference point {reference})",
             f"Pareto front: {len(front)} trials", ""]
    header = "".join(f"{o.name[:16]:>18}" for o in study.objectives)
    lines.append(f"{'trial':>6}{header}  architecture")
    for trial in front:
        values = "".join(f"{trial.metrics[o.name]:>18.6g}" for o in study.objectives)
        lines.append(f"{trial.number:>6}{values}  {study.space.format(trial.arch)}")
    return lines


def _front_figure(plt: Any, study: Study) -> Any:
    """All complete trials in grey and the Pareto front highlighted, one panel per objective pair
    (the first objective against each other one)."""
    trials = study.front_candidates()
    front = {t.number for t in study.pareto_front()}
    first, others = study.objectives[0], study.objectives[1:]
    figure, axes = plt.subplots(1, len(others), figsize=(5.5 * len(others), 4), squeeze=False)
    for axis, other in zip(axes[0], others):
        axis.scatter([t.metrics[other.name] for t in trials], [t.metrics[first.name] for t in trials],
                     s=10, color="0.75", label="trials")
        members = sorted((t for t in trials if t.number in front), key=lambda t: t.metrics[other.name])
        axis.scatter([t.metrics[other.name] for t in members], [t.metrics[first.name] for t in members],
                     s=28, color="C3", label="Pareto front", zorder=3)
        if len(study.objectives) == 2:
            axis.step([t.metrics[other.name] for t in members], [t.metrics[first.name] for t in members],
                      where="pre" if other.maximize == first.maximize else "post", color="C3", lw=1)
        axis.set_xlabel(f"{other.name} ({'max' if other.maximize else 'min'})")
        axis.set_ylabel(f"{first.name} ({'max' if first.maximize else 'min'})")
        axis.legend(loc="best")
    figure.suptitle(f"{study.store.config['strategy']}: {len(front)} of {len(trials)} trials on the front")
    return figure


def write_plots(study: Study, out_dir: str | Path | None = None) -> list[Path]:
    """PNG plots of the run: incumbent versus cost, regret versus cost on a table benchmark and,
    with several objectives, the Pareto front (``pareto.png``) and hypervolume versus cost.

    Written atomically into the run directory's ``plots/`` (or ``out_dir``); returns the paths.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    rows = study.history()
    cumulative = {row["number"]: row["cost"] for row in rows}
    history = [row for row in rows if row["incumbent"] is not None]
    written: list[Path] = []
    target = Path(out_dir) if out_dir is not None else None

    def save(figure: Any, name: str) -> None:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
        plt.close(figure)
        if target is None:
            written.append(study.store.write_bytes_atomic(f"plots/{name}", buffer.getvalue()))
        else:
            target.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(buffer.getvalue())
            written.append(target / name)

    costs = [h["cost"] for h in history]
    incumbents = [h["incumbent"] for h in history]
    figure, axis = plt.subplots(figsize=(6, 4))
    trials = [t for t in study.finished_trials() if t.is_complete and t.fidelity == study.evaluator.target_fidelity]
    axis.scatter([cumulative[t.number] for t in trials], [t.metrics[study.objective] for t in trials],
                 s=10, color="0.7", label="trials")
    axis.step(costs, incumbents, where="post", color="C0", label="incumbent")
    axis.set_xlabel("cumulative evaluation cost")
    axis.set_ylabel(study.objective)
    axis.set_title(f"{study.store.config['strategy']}: incumbent versus cost")
    axis.legend(loc="lower right" if study.maximize else "upper right")
    save(figure, "incumbent.png")

    if study.is_multi_objective:
        save(_front_figure(plt, study), "pareto.png")
        figure, axis = plt.subplots(figsize=(6, 4))
        axis.step([row["cost"] for row in rows], [row["hypervolume"] for row in rows], where="post", color="C2")
        axis.set_xlabel("cumulative evaluation cost")
        axis.set_ylabel("hypervolume")
        axis.set_title("hypervolume of the front versus cost")
        save(figure, "hypervolume.png")

    optimum = table_optimum(study)
    if optimum is not None and history:
        sign = 1.0 if study.maximize else -1.0
        regrets = [max(sign * (optimum - v), 1e-6) for v in incumbents]
        figure, axis = plt.subplots(figsize=(6, 4))
        axis.step(costs, regrets, where="post", color="C1")
        axis.set_yscale("log")
        axis.set_xlabel("cumulative evaluation cost")
        axis.set_ylabel(f"regret of {study.objective} (log)")
        axis.set_title("simple regret versus cost (regret 0 drawn at 1e-6)")
        save(figure, "regret.png")
    return written
