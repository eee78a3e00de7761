"""The collapse report of gradient searches: per epoch, how much of the argmax cell is skip and none.

DARTS's failure mode (Zela et al., ICLR 2020) is a cell that drifts to parameter-free operations:
the argmax cell's ``skip_share`` (skip edges / 6) grows epoch by epoch. A search *collapsed*
when its argmax cell reached ``threshold`` skip edges (default 3, half the cell) in some epoch;
the report says how many at most and from which epoch. The input is ``GradientResult.history``
(or the ``history`` of a run's ``gradient.json``): one dict per epoch as ``GradientSearch`` writes.

Example:
    >>> history = [{"epoch": 1, "skip_share": 1 / 6, "none_share": 0.0, "arch": "a", "supernet_valid_acc": 40.0},
    ...            {"epoch": 2, "skip_share": 4 / 6, "none_share": 0.0, "arch": "b", "supernet_valid_acc": 55.0}]
    >>> collapse_summary(history)
    'collapsed: 4/6 skip edges by epoch 2'
    >>> collapse_summary(history[:1])
    'no collapse: at most 1 skip edges'
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from search_spaces.nb201 import NB201_EDGES

__all__ = ["COLLAPSE_SKIPS", "collapse_summary", "collapse_table", "format_collapse_report", "plot_collapse",
           "skip_edges"]

#: Skip edges of the argmax cell from which a search counts as collapsed: half the cell.
COLLAPSE_SKIPS = 3
#: The columns every epoch record has, in the table's order; the optional ones follow when measured.
BASE_COLUMNS = ("epoch", "skip_share", "none_share", "arch", "supernet_valid_acc")
OPTIONAL_COLUMNS = ("expected_flops", "derived_flops", "eigenvalue", "conflict_fraction")

History = Sequence[Mapping[str, Any]]


def skip_edges(record: Mapping[str, Any], key: str = "skip_share") -> int:
    """The number of edges behind a share: ``round(share * 6)``.

    Example:
        >>> skip_edges({"skip_share": 0.5}), skip_edges({"none_share": 1 / 6}, "none_share")
        (3, 1)
    """
    return round(float(record[key]) * len(NB201_EDGES))


def _optional_columns(history: History) -> list[str]:
    return [name for name in OPTIONAL_COLUMNS if any(name in record for record in history)]


def collapse_table(history: History) -> Any:
    """The history as a pandas DataFrame, one row per epoch: ``BASE_COLUMNS``, then ``expected_flops``,
    ``eigenvalue``, ``conflict_fraction`` where any epoch measured them (NaN in the others).

    Needs pandas (``pip install 'infonas[pandas]'``).

    Example:
        >>> table = collapse_table([{"epoch": 1, "skip_share": 0.5, "none_share": 0.0, "arch": "a",
        ...                          "supernet_valid_acc": 50.0, "eigenvalue": 0.2}])
        >>> list(table.columns)
        ['epoch', 'skip_share', 'none_share', 'arch', 'supernet_valid_acc', 'eigenvalue']
    """
    try:
        import pandas as pd
    except ImportError:
        from infonas.exceptions import UnsupportedError

        raise UnsupportedError("collapse_table needs pandas, which is not installed; "
                               "pip install 'infonas[pandas]'") from None
    columns = list(BASE_COLUMNS) + _optional_columns(history)
    _check_records(history)
    return pd.DataFrame([{name: record.get(name, float("nan")) for name in columns} for record in history],
                        columns=columns)


def _check_records(history: History) -> None:
    for index, record in enumerate(history):
        missing = [name for name in BASE_COLUMNS if name not in record]
        if missing:
            from infonas.exceptions import InvalidArgumentError

            raise InvalidArgumentError(f"epoch record {index} of the history lacks {missing}; every record needs "
                                       f"{list(BASE_COLUMNS)}: pass GradientResult.history or a gradient.json's")


def collapse_summary(history: History, threshold: int = COLLAPSE_SKIPS) -> str:
    """One line: ``collapsed: K/6 skip edges by epoch E`` (K the most skip edges of any epoch's argmax
    cell, E the first epoch with K; collapsed when ``K >= threshold``), else ``no collapse: at most K skip edges``.
    """
    if not history:
        return "no epochs yet: nothing to report"
    _check_records(history)
    counts = [skip_edges(record) for record in history]
    most = max(counts)
    if most < threshold:
        return f"no collapse: at most {most} skip edges"
    first = next(record for record, count in zip(history, counts) if count == most)
    line = f"collapsed: {most}/{len(NB201_EDGES)} skip edges by epoch {first['epoch']}"
    onset = next(record for record, count in zip(history, counts) if count >= threshold)
    if onset["epoch"] != first["epoch"]:
        line += f" ({threshold}+ from epoch {onset['epoch']})"
    return line


def format_collapse_report(history: History, threshold: int = COLLAPSE_SKIPS) -> str:
    """A fixed-width text table of the epochs (skip and none edges of the argmax cell, the supernet's
    validation accuracy in %, the optional measurements, the argmax cell), then ``collapse_summary``.

    Example:
        >>> print(format_collapse_report([{"epoch": 1, "skip_share": 0.5, "none_share": 0.0, "arch": "(0)@x",
        ...                                "supernet_valid_acc": 50.0}]))
        epoch  skip  none  valid acc %  argmax cell
            1   3/6   0/6        50.00  (0)@x
        collapsed: 3/6 skip edges by epoch 1
    """
    if not history:
        return collapse_summary(history, threshold)
    _check_records(history)
    optional = _optional_columns(history)
    # Header text and how each optional value is written, in natural units (FLOPs in MFLOPs).
    headers = {"expected_flops": "E[MFLOPs]", "derived_flops": "argmax MFLOPs", "eigenvalue": "eigenvalue",
               "conflict_fraction": "conflicts %"}
    formats = {"expected_flops": lambda v: f"{v * 1e-6:.4g}", "derived_flops": lambda v: f"{v * 1e-6:.4g}",
               "eigenvalue": lambda v: f"{v:.4g}",
               "conflict_fraction": lambda v: f"{100 * v:.1f}"}
    edges = len(NB201_EDGES)
    lines = ["epoch  skip  none  valid acc %" + "".join(f"  {headers[name]:>11}" for name in optional)
             + "  argmax cell"]
    for record in history:
        cells = "".join(f"  {formats[name](float(record[name])) if name in record else '-':>11}" for name in optional)
        skip, none = f"{skip_edges(record)}/{edges}", f"{skip_edges(record, 'none_share')}/{edges}"
        lines.append(f"{record['epoch']:>5}  {skip:>4}  {none:>4}  {float(record['supernet_valid_acc']):>11.2f}{cells}"
                     f"  {record['arch']}")
    lines.append(collapse_summary(history, threshold))
    return "\n".join(lines)


def plot_collapse(histories: Mapping[str, History], path: str | Path, threshold: int = COLLAPSE_SKIPS) -> Path:
    """A PNG at ``path``: skip and none edges of the argmax cell per epoch, one line per labelled run,
    the collapse threshold dashed; a figure that says so when no run has an epoch. Returns the path.

    Example:
        >>> plot_collapse({"darts-1": history}, "out/collapse.png")  # doctest: +SKIP
        PosixPath('out/collapse.png')
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    from infonas.plots import message_figure

    for history in histories.values():
        _check_records(history)
    edges = len(NB201_EDGES)
    if not any(histories.values()):
        figure = message_figure(plt, "collapse of gradient searches", "No run has a finished epoch yet.")
    else:
        figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True, sharey=True)
        for axis, key, name in ((axes[0], "skip_share", "skip_connect"), (axes[1], "none_share", "none")):
            for index, (label, history) in enumerate(histories.items()):
                if history:
                    axis.plot([r["epoch"] for r in history], [skip_edges(r, key) for r in history], "o-", ms=3,
                              color=f"C{index}", label=label)
            if key == "skip_share":
                axis.axhline(threshold, ls="--", color="0.5", lw=1, label=f"collapse ({threshold}+ skip edges)")
            axis.set_xlabel("epoch")
            axis.set_ylabel(f"{name} edges in the argmax cell (of {edges})")
            axis.set_ylim(-0.3, edges + 0.3)
            axis.set_yticks(range(edges + 1))
            axis.grid(alpha=0.3)
            axis.set_title(f"{name} edges per epoch")
        axes[0].legend(fontsize=8)
        figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(buffer.getvalue())
    temporary.replace(path)  # a crash leaves the old plot or none, never half a PNG
    return path
