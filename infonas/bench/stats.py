"""Summaries the benchmark tables print: medians and tail percentiles over seeds, and the seconds of
model-based suggestions at given numbers of observations.

Percentiles interpolate linearly between order statistics (numpy's default, so the median of an
even count is the mean of the two middle values). A seed that never reached the optimum counts
as an infinitely late one: the median or 90th percentile is ``None`` ("never") once such seeds
reach that rank.

Example:
    >>> percentile([10, 20, None, 30], 0.5), percentile([10, 20, None, 30], 0.9)
    (25.0, None)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["OBSERVATION_POINTS", "TIMING_WINDOW", "StepRecorder", "percentile", "step_seconds_summary", "timing_cells"]

#: Observation counts at which suggestion times are reported, and the half-width of the window
#: of steps pooled around each (a suggestion made with ``n - 2 .. n + 2`` finished trials).
OBSERVATION_POINTS: tuple[int, ...] = (50, 100, 150)
TIMING_WINDOW = 2


def percentile(values: Sequence[float | None], q: float) -> float | None:
    """The ``q``-quantile (0 <= q <= 1) of ``values``, ``None`` counting as +infinity.

    Returns ``None`` when the quantile is infinite (it falls among the ``None`` values) or when
    there are no values.
    """
    ordered = sorted(math.inf if v is None else float(v) for v in values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    weight = position - low
    if weight == 0 or ordered[low] == ordered[high]:
        value = ordered[low]
    elif math.isinf(ordered[high]):
        value = math.inf  # any weight on an infinite neighbour makes the quantile infinite
    else:
        value = ordered[low] + weight * (ordered[high] - ordered[low])
    return None if math.isinf(value) else value


class StepRecorder:
    """A ``Study.optimize`` callback noting, per told trial, whether its suggestion fitted a model.

    A step is model-based when the strategy's ``surrogate`` (the model it last fitted) is a new
    object since the previous trial: the initial design (``n_init`` random picks of a Bayesian
    strategy, and ``n_init_target`` more of ``bo-mf``) fits none, so it is told apart without
    knowing each strategy's schedule. Strategies without a model (``rs``, ``ls``...) have no
    model-based step. Valid for one trial per ``ask``, as the benchmarks run.

    Example:
        >>> recorder = StepRecorder()
        >>> study.optimize(20, callbacks=[recorder])  # doctest: +SKIP
        >>> recorder.model_based[:6]  # doctest: +SKIP
        [False, False, False, False, False, True]
    """

    def __init__(self) -> None:
        self.model_based: list[bool] = []
        self._last: Any = None  # held, so that a new model can never reuse the old one's identity

    def __call__(self, study: Any, trial: Any) -> None:
        model = getattr(study.strategy, "surrogate", None)
        self.model_based.append(model is not None and model is not self._last)
        self._last = model


def _stats(seconds: list[float]) -> dict[str, Any]:
    return {"median": percentile(seconds, 0.5), "p90": percentile(seconds, 0.9), "count": len(seconds)}


def step_seconds_summary(seconds: Sequence[Sequence[float]], model_based: Sequence[Sequence[bool]],
                         points: Sequence[int] = OBSERVATION_POINTS, window: int = TIMING_WINDOW) -> dict[str, Any]:
    """Median, 90th percentile and count of seconds per suggestion over model-based steps.

    ``seconds[s][t]`` and ``model_based[s][t]``: seed ``s``'s ``t``-th trial, whose suggestion
    was made with ``t`` finished trials (one trial per ask). ``at_observations[n]`` pools, over
    seeds, the model-based steps with ``n - window .. n + window`` observations; seeds that
    stopped earlier (at the optimum) add nothing there. A strategy that never fitted a model is
    summarised over all its steps (``"steps": "all (no model)"``).

    Example:
        >>> summary = step_seconds_summary([[0.0, 0.0, 1.0, 3.0]], [[False, False, True, True]], points=[3], window=1)
        >>> summary["model_based"], summary["at_observations"]["3"]["count"]
        ({'median': 2.0, 'p90': 2.8, 'count': 2}, 2)
    """
    any_model = any(flag for flags in model_based for flag in flags)
    keep = [[bool(flag) or not any_model for flag in flags] for flags in model_based]
    steps = [(t, s) for per_seed, flags in zip(seconds, keep) for t, (s, k) in enumerate(zip(per_seed, flags)) if k]
    return {
        "steps": "model-based" if any_model else "all (no model)",
        "window": window,
        "model_based": _stats([s for _, s in steps]),
        "at_observations": {str(n): _stats([s for t, s in steps if abs(t - n) <= window]) for n in points},
    }


def timing_cells(summary: dict[str, Any] | None) -> tuple[str, str]:
    """``median/p90`` seconds of model-based steps, and the medians at each observation count
    (``-`` where no seed made such a step), as the text tables print them.

    Example:
        >>> timing_cells(step_seconds_summary([[0.0, 0.5, 1.5]], [[False, True, True]], points=[2, 9], window=0))
        ('1.000/1.400', '1.50/-')
    """
    if not summary:
        return "n/a", "n/a"

    def shown(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    overall = summary["model_based"]
    points = "/".join(shown(cell["median"], ".2f") for cell in summary["at_observations"].values())
    return f"{shown(overall['median'], '.3f')}/{shown(overall['p90'], '.3f')}", points
