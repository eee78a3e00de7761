"""How well cheap signals rank architectures: rank statistics of each column of a table against a target.

A signal (a supernet score, the accuracy after one epoch, the parameter count...) is useful to a
search when it *orders* cells as the expensive target does; all signals here are read as
"larger predicts better". Each signal is scored on the rows where both it and the target are
finite (``n`` of them):

* ``kendall_tau``: Kendall's tau-b, ``(concordant - discordant) / sqrt((n0 - ties_x)(n0 - ties_y))``
  over the ``n0 = n(n-1)/2`` pairs (``scipy.stats.kendalltau``);
* ``spearman``: Pearson correlation of the ranks, ties sharing their mean rank (``scipy.stats.spearmanr``);
* ``precision_topK`` (K = 5, 10): ``|top_K(signal) & top_K(target)| / k``, the share of the top K% of
  cells by the signal that are also in the top K% by the target, both sets of size
  ``k = max(1, floor(n * K / 100 + 1/2))`` (rounded half up). Ties are broken by row order (the
  earlier row ranks higher), so the sets are a function of the table alone.

A signal with fewer than ``MIN_ROWS`` such rows, or constant on them (or with a constant target
there), has no ranking: its statistics are ``None`` and its ``note`` says why.

The ``ceiling`` is the Kendall tau between the target and the same training run with another seed
(``test_acc_seed1``): no signal can be expected to rank the target better than the target ranks itself.

Example:
    >>> target = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    >>> score = score_signal(np.array([1.0, 3.0, 2.0, 4.0, 5.0, 6.0]), target)
    >>> round(score["kendall_tau"], 3), score["precision_top5"], score["n"]
    (0.867, 1.0, 6)
    >>> precision_at_top(np.array([2.0, 2.0, 0.0]), np.array([1.0, 2.0, 0.0]), 40)  # k = 1: row 0 wins the tie
    0.0
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from infonas.exceptions import InvalidArgumentError, TableError
from infonas.storage.files import atomic_write_bytes

__all__ = ["DEFAULT_EXCLUDED", "MIN_ROWS", "PRECISION_PERCENTS", "default_signals", "fidelity_report",
           "format_fidelity_table", "plot_fidelity", "precision_at_top", "read_table_columns", "score_signal",
           "top_set_size"]

logger = logging.getLogger(__name__)

#: Columns that are never cheap signals by default. ``test_acc``, ``valid_acc`` and
#: ``test_acc_seed1`` are final scores of the very training runs that define the ground truth
#: (``valid_acc`` is the same run's final score on another split, ``test_acc_seed1`` the same
#: training with another seed, used as the ceiling): they cost as much as the target itself.
#: ``test_acc_mean2`` is their mean. ``train_seconds`` measures the cost of that training, not the quality of the cell. Short
#: training (``valid_acc_ep1``, ``valid_acc_ep2``) and size (``params``, ``flops``) stay signals.
DEFAULT_EXCLUDED: tuple[str, ...] = ("test_acc", "valid_acc", "test_acc_seed1", "test_acc_mean2", "train_seconds")

#: The K of ``precision_topK``: the top K% of cells by signal and by target.
PRECISION_PERCENTS: tuple[int, ...] = (5, 10)

#: Fewer rows than this give no rank statistic (tau of two points is +-1 whatever the signal).
MIN_ROWS = 3


def read_table_columns(path: str | Path) -> dict[str, np.ndarray]:
    """The numeric columns of the CSV table at ``path``, by name, in file order.

    A column is numeric when every non-empty cell parses as a number; empty cells (values not
    measured) become ``nan``. Text columns (``arch``) are left out. The file is read as
    ``TabularBenchmark.from_csv`` reads it (UTF-8, a byte order mark dropped); a file that is
    missing, not UTF-8 or not well-formed CSV is one ``TableError`` naming it and the fix.
    """
    from infonas.evaluators.tabular import read_csv

    header, rows = read_csv(path, "a header row (arch,test_acc,...), as infonas bench table --out writes it")
    if not header or not any(header):
        raise TableError(f"a table needs a header row of column names; {path} has none: write it as "
                         "infonas bench table --out does (arch,test_acc,...)")
    columns: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        cells = [row[j].strip() if j < len(row) else "" for row in rows]
        try:
            columns[name] = np.array([float(cell) if cell else math.nan for cell in cells], dtype=np.float64)
        except ValueError:
            continue  # a text column: no signal
    return columns


def top_set_size(n: int, percent: float) -> int:
    """Cells in the top ``percent`` % of ``n``: ``max(1, n * percent / 100 rounded half up)``.

    Example:
        >>> top_set_size(50, 5), top_set_size(20, 10), top_set_size(7, 5)
        (3, 2, 1)
    """
    return max(1, math.floor(n * percent / 100 + 0.5))


def _top(values: np.ndarray, k: int) -> set[int]:
    # A stable sort of the negated values keeps equal values in row order: deterministic ties.
    return set(np.argsort(-values, kind="stable")[:k].tolist())


def precision_at_top(signal: np.ndarray, target: np.ndarray, percent: float) -> float:
    """Share of the top ``percent`` % of rows by ``signal`` that are also in the top ``percent`` %
    by ``target`` (both sets of ``top_set_size`` rows; ties broken by row order).

    Example:
        >>> precision_at_top(np.arange(20.0), np.r_[np.arange(18.0), 30.0, 0.0], 10)  # {19, 18} vs {18, 17}
        0.5
    """
    signal, target = np.asarray(signal, dtype=np.float64), np.asarray(target, dtype=np.float64)
    k = top_set_size(len(signal), percent)
    return len(_top(signal, k) & _top(target, k)) / k


def _no_ranking(n: int, note: str) -> dict[str, Any]:
    return {"n": n, "kendall_tau": None, "spearman": None,
            **{f"precision_top{k}": None for k in PRECISION_PERCENTS}, "note": note}


def score_signal(signal: np.ndarray, target: np.ndarray, bootstrap: int = 0, seed: int = 0) -> dict[str, Any]:
    """Kendall tau-b, Spearman and precision at the top 5% and 10% of ``signal`` against
    ``target``, on the rows where both are finite (see the module docstring).

    ``bootstrap > 0`` adds ``kendall_tau_ci90``: the 5th and 95th percentiles of tau over that
    many resamples of the rows (pairs kept together; ``scipy.stats.bootstrap``, percentile
    method), so that two signals' taus can be told apart from the noise of a finite table."""
    signal, target = np.asarray(signal, dtype=np.float64), np.asarray(target, dtype=np.float64)
    both = np.isfinite(signal) & np.isfinite(target)
    x, y = signal[both], target[both]
    n = int(both.sum())
    if n < MIN_ROWS:
        return _no_ranking(n, f"only {n} rows with both the signal and the target; a ranking needs {MIN_ROWS}")
    if np.all(x == x[0]):
        return _no_ranking(n, f"the signal is constant ({x[0]:g}) on its {n} rows: it ranks nothing")
    if np.all(y == y[0]):
        return _no_ranking(n, f"the target is constant ({y[0]:g}) on these {n} rows: there is no ranking to match")
    score: dict[str, Any] = {
        "n": n,
        "kendall_tau": float(stats.kendalltau(x, y, variant="b").statistic),
        "spearman": float(stats.spearmanr(x, y).statistic),
        **{f"precision_top{k}": precision_at_top(x, y, k) for k in PRECISION_PERCENTS}}
    if bootstrap > 0:
        interval = stats.bootstrap((x, y), lambda a, b: stats.kendalltau(a, b, variant="b").statistic, paired=True,
                                   vectorized=False, n_resamples=bootstrap, confidence_level=0.9,
                                   method="percentile", random_state=np.random.default_rng(seed)).confidence_interval
        score["kendall_tau_ci90"] = [float(interval.low), float(interval.high)]
    return score


def default_signals(names: Sequence[str], target: str, ceiling_column: str | None = None) -> list[str]:
    """The numeric columns ``names`` scored by default: all but the target, the ceiling column,
    ``DEFAULT_EXCLUDED``, every ``test_acc*`` column and the last ``valid_acc_ep<k>`` (the final epoch is ``valid_acc``
    itself: a full training, not a cheap signal), in table order.

    Example:
        >>> default_signals(["test_acc", "valid_acc", "valid_acc_ep1", "valid_acc_ep2", "params", "test_acc_seed1"],
        ...                 "test_acc")
        ['valid_acc_ep1', 'params']
    """
    epochs = [int(name[len("valid_acc_ep"):]) for name in names
              if name.startswith("valid_acc_ep") and name[len("valid_acc_ep"):].isdigit()]
    excluded = {target, *DEFAULT_EXCLUDED, *([ceiling_column] if ceiling_column else []),
                *([f"valid_acc_ep{max(epochs)}"] if epochs else [])}
    # Every test_acc* column is the target measured again (another seed, a mean over seeds).
    return [name for name in names if name not in excluded and not name.startswith("test_acc")]


def _ceiling(columns: Mapping[str, np.ndarray], target: str, column: str | None) -> dict[str, Any]:
    if not column or column not in columns:
        return {"column": column, "kendall_tau": None, "n": 0,
                "note": f"no numeric column {column!r}: the seed-to-seed ceiling is unknown"}
    score = score_signal(columns[column], columns[target])
    ceiling = {"column": column, "kendall_tau": score["kendall_tau"], "n": score["n"]}
    return {**ceiling, "note": score["note"]} if "note" in score else ceiling


def fidelity_report(columns: Mapping[str, np.ndarray], target: str, signals: Sequence[str] | None = None,
                    ceiling_column: str | None = "test_acc_seed1", bootstrap: int = 0) -> dict[str, Any]:
    """Every signal's rank statistics against ``target``, and the seed-to-seed ceiling.

    ``columns``: numeric columns by name (``read_table_columns``); ``signals``: the columns to
    score, by default ``default_signals``. Returns ``{"target", "n" (rows with a finite target),
    "signals": {name: score_signal(...)}, "ceiling": {"kendall_tau", "n", "column"}}``.

    Example:
        >>> table = {"test_acc": np.array([1.0, 2, 3, 4]), "params": np.array([4.0, 3, 2, 1])}
        >>> report = fidelity_report(table, "test_acc")
        >>> report["signals"]["params"]["kendall_tau"], report["ceiling"]["kendall_tau"]
        (-1.0, None)
    """
    numeric = list(columns)
    if target not in columns:
        raise InvalidArgumentError(f"the target must be a numeric column of the table, got {target!r}; "
                                   f"choose one of {numeric} with --target")
    if signals is None:
        signals = default_signals(numeric, target, ceiling_column)
    else:
        signals = list(dict.fromkeys(signals))
        unknown = [name for name in signals if name not in columns]
        if unknown or not signals:
            raise InvalidArgumentError(f"signals must be numeric columns of the table, got {unknown or signals}; "
                                       f"choose among {numeric} with --signals a,b,c")
        if target in signals:
            raise InvalidArgumentError(f"the target {target!r} cannot also be a signal (it ranks itself "
                                       f"perfectly); leave it out of --signals {','.join(signals)}")
    scores = {name: score_signal(columns[name], columns[target], bootstrap) for name in signals}
    for name, score in scores.items():
        if "note" in score:
            logger.info("signal %s: %s", name, score["note"])
    finite = columns[target][np.isfinite(columns[target])]
    spread = ({f"p{q}": float(np.percentile(finite, q)) for q in (0, 10, 50, 90, 100)}
              if len(finite) else {})
    return {"target": target, "n": len(finite), "signals": scores,
            "ceiling": _ceiling(columns, target, ceiling_column), "target_spread": spread}


def format_fidelity_table(results: Mapping[str, Any]) -> str:
    """The report as a text table: signal, n, tau, Spearman, P@5%, P@10%; the ceiling last."""

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    names = list(results["signals"])
    width = max([len("signal"), *map(len, names)])
    precisions = [f"P@{k}%" for k in PRECISION_PERCENTS]
    lines = [f"rank quality against {results['target']} ({results['n']} cells with a target)",
             f"{'signal':<{width}}  {'n':>5}  {'tau':>6}  {'tau 90%':>13}  {'spearman':>8}  "
             + "  ".join(f"{p:>6}" for p in precisions)]
    for name in names:
        score = results["signals"][name]
        interval = score.get("kendall_tau_ci90")
        span = "-" if not interval else f"{interval[0]:.3f}..{interval[1]:.3f}"
        lines.append(f"{name:<{width}}  {score['n']:>5}  {cell(score['kendall_tau']):>6}  {span:>13}  "
                     f"{cell(score['spearman']):>8}  "
                     + "  ".join(f"{cell(score[f'precision_top{k}']):>6}" for k in PRECISION_PERCENTS))
    ceiling = results["ceiling"]
    if ceiling.get("column"):
        lines.append(f"ceiling ({results['target']} vs {ceiling['column']}): tau {cell(ceiling['kendall_tau'])} "
                     f"on {ceiling['n']} cells")
    return "\n".join(lines)


def _axis_label(name: str, values: np.ndarray) -> tuple[str, float]:
    """Axis label and scale of column ``name`` in natural units (accuracies in %, parameters in
    thousands or millions: the embedded tasks' cells have thousands)."""
    from infonas.plots import unit_of

    finite = values[np.isfinite(values)]
    if name.startswith("supernet_"):
        return "supernet score (%)", unit_of("accuracy", finite).scale
    if name == "params":
        large = finite.size > 0 and float(np.abs(finite).max()) >= 1e6
        return ("parameters (millions)", 1e-6) if large else ("parameters (thousands)", 1e-3)
    words = {"test_acc": "test accuracy", "valid_acc": "validation accuracy", "test_acc_seed1": "test accuracy, seed 1"}
    if name in words or name.startswith("valid_acc_ep"):
        text = words.get(name) or f"validation accuracy after epoch {name.removeprefix('valid_acc_ep')}"
        return f"{text} (%)", unit_of("accuracy", finite).scale
    unit = unit_of(name, finite)
    return unit.label, unit.scale


def plot_fidelity(columns: Mapping[str, np.ndarray], results: Mapping[str, Any], path: str | Path) -> Path:
    """A PNG grid of scatter panels, target against each supernet column and the parameter count
    (every scored signal when the report has none of those), each titled with its Kendall tau."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    scored = list(results["signals"])
    names = [n for n in scored if n.startswith("supernet_")] + [n for n in scored if n == "params"] or scored
    target = results["target"]
    y_label, y_scale = _axis_label(target, columns[target])
    ncols = min(3, max(1, len(names)))
    nrows = max(1, math.ceil(len(names) / ncols))
    figure, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.8 * nrows), squeeze=False)
    for axis in axes.flat[len(names):]:
        axis.set_axis_off()
    if not names:
        axes[0, 0].text(0.5, 0.5, "no signal was scored", ha="center", va="center", transform=axes[0, 0].transAxes)
    for axis, name in zip(axes.flat, names):
        score = results["signals"][name]
        x_label, x_scale = _axis_label(name, columns[name])
        both = np.isfinite(columns[name]) & np.isfinite(columns[target])
        axis.scatter(columns[name][both] * x_scale, columns[target][both] * y_scale, s=8, alpha=0.5, linewidths=0)
        tau = "-" if score["kendall_tau"] is None else f"{score['kendall_tau']:.3f}"
        axis.set_title(f"{name}\nKendall tau {tau} (n={score['n']})", fontsize=10)
        axis.set_xlabel(x_label)
        axis.set_ylabel(y_label)
        axis.grid(alpha=0.3)
        if not both.any():
            axis.set_xticks([])
            axis.set_yticks([])
        if "note" in score:
            axis.text(0.5, 0.5, score["note"], ha="center", va="center", wrap=True, fontsize=8,
                      transform=axis.transAxes)
    ceiling = results["ceiling"]["kendall_tau"]
    figure.suptitle(f"Cheap signals against {target}"
                    + (f" (seed-to-seed ceiling: Kendall tau {ceiling:.3f})" if ceiling is not None else ""))
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=120)
    plt.close(figure)
    atomic_write_bytes(path, image.getvalue())
    return path
