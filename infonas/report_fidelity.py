"""What a report says about a run's fidelities and its time: evaluations, cost and seconds per
fidelity, the one-off setup, the inter-fidelity correlation a multi-fidelity GP learns from the
journal, and the share of the run's working time its strategy spent suggesting.

Everything is derived from the journal and the evaluator (the store holds no model): the
correlation is a fresh ``MultiFidelitySurrogate`` fit to the complete trials' objective values.

Example::

    summary = fidelity_summary(study)
    summary["fidelities"][0]["evaluations"], summary["suggest"]["share"]  # 212, 0.31
"""

from __future__ import annotations

from typing import Any

import numpy as np

from infonas.storage.events import replay
from infonas.study import Study


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


def _trial_seconds(trial: Any, measured: bool) -> float | None:
    """A trial's measured seconds: its ``seconds`` metric, or its cost where the cost is seconds."""
    if "seconds" in trial.metrics:
        return float(trial.metrics["seconds"])
    return float(trial.cost) if measured else None


def suggest_time(study: Study) -> dict[str, Any]:
    """Seconds spent suggesting (each ask counted once: the trials of one ask share its
    ``suggest_seconds``), seconds spent evaluating and training the supernet, and the share of
    their sum spent suggesting: ``share = suggest / (suggest + evaluate + setup)``. ``elapsed``
    is the wall-clock from the first ask to the last result (pauses between sessions included).

    Example::

        suggest_time(study)["share"]  # 0.12
    """
    suggest, previous = 0.0, None
    events = study.store.events()
    for event in events:
        if event.get("event") != "asked":
            previous = None
            continue
        seconds = event.get("suggest_seconds")
        if seconds is not None and seconds != previous:  # a batch's asked lines follow each other
            suggest += float(seconds)
        previous = seconds
    measured = {name: f.cost is None for name, f in study.evaluator.fidelities.items()}
    known = [_trial_seconds(t, measured.get(t.fidelity, False)) for t in study.finished_trials()]
    evaluate = float(sum(s for s in known if s is not None))
    setup = getattr(study.evaluator, "setup_seconds", None)
    setup_seconds = float(setup()) if setup is not None else 0.0
    busy = suggest + evaluate + setup_seconds
    state = replay(events)
    starts = [e.time for e in state.asked.values() if e.time is not None]
    ends = [e.time for e in state.finished if e.time is not None]
    return {"suggest_seconds": suggest, "evaluate_seconds": evaluate, "setup_seconds": setup_seconds,
            "share": suggest / busy if busy > 0 else None,
            "evaluations_timed": sum(s is not None for s in known),
            "elapsed_seconds": (max(ends) - min(starts)) if starts and ends else None}


def fidelity_summary(study: Study) -> dict[str, Any]:
    """Per fidelity (cheapest first): price, evaluations, complete ones, cost and measured seconds;
    the setup's cost and seconds; the learned correlation (``None`` until there is enough data);
    and ``suggest_time``."""
    fidelities = sorted(study.evaluator.fidelities.values(), key=lambda f: f.level)
    rows = []
    for fidelity in fidelities:
        trials = [t for t in study.finished_trials() if t.fidelity == fidelity.name]
        seconds = [_trial_seconds(t, fidelity.cost is None) for t in trials]
        rows.append({"name": fidelity.name, "level": fidelity.level, "price": fidelity.cost,
                     "evaluations": len(trials), "complete": sum(t.is_complete for t in trials),
                     "cost": float(sum(t.cost for t in trials)),
                     "seconds": float(sum(s for s in seconds if s is not None)) if trials and None not in seconds
                     else None})
    correlation = fidelity_correlation(study) if len(fidelities) > 1 else None
    setup = getattr(study.evaluator, "setup_seconds", None)
    return {"fidelities": rows,
            "setup": {"cost": study.evaluator.setup_cost(), "seconds": float(setup()) if setup is not None else None},
            "correlation": None if correlation is None else np.asarray(correlation).tolist(),
            "suggest": suggest_time(study)}


def fidelity_lines(study: Study, summary: dict[str, Any] | None = None) -> list[str]:
    """The summary's lines: one per fidelity, the learned correlation, the time suggesting (the
    setup has its line beside the total cost)."""
    summary = fidelity_summary(study) if summary is None else summary
    lines = [""]
    rows = summary["fidelities"]
    if len(rows) > 1:
        for row in rows:
            seconds = "" if row["seconds"] is None else f", {row['seconds']:.4g} s measured"
            price = "" if row["price"] is None else f" at {row['price']:.3g} each"
            lines.append(f"fidelity   {row['name']}: {row['evaluations']} evaluations{price}, cost {row['cost']:.6g}"
                         f"{seconds}")
        correlation = summary["correlation"]
        names = [row["name"] for row in rows]
        if correlation is None:
            lines.append("learned inter-fidelity correlation: not enough data yet (two distinct results per fidelity)")
        else:
            lines.append(f"learned inter-fidelity correlation ({', '.join(names)}):")
            lines.extend("  " + " ".join(f"{v:7.3f}" for v in row) for row in correlation)
    time = summary["suggest"]
    if time["share"] is not None:
        elapsed = "" if time["elapsed_seconds"] is None else f"; {time['elapsed_seconds']:.4g} s from first ask to " \
                                                             "last result"
        lines.append(f"suggesting {time['suggest_seconds']:.4g} s, {100 * time['share']:.1f}% of the run's working "
                     f"time (suggesting {time['suggest_seconds']:.4g} s + evaluating {time['evaluate_seconds']:.4g} s"
                     f" + setup {time['setup_seconds']:.4g} s){elapsed}")
    return lines if len(lines) > 1 else []
