"""What the ``infonas`` command groups share: option types and checks, one-line failures, JSON output, logging.

Only ``infonas.cli`` and ``infonas.cli_bench`` import this module; keeping it apart lets the
``bench`` group live in its own module without an import cycle between the two.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from infonas.exceptions import InfonasError

#: Errors a command reports as one line, without a traceback. ``ValueError`` stays for the
#: argument checks of the library that do not raise an ``InfonasError`` yet; ``OSError`` for
#: files that cannot be read or written.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (InfonasError, ValueError, OSError)


#: Objectives computed from the architecture (``ArchitectureCosts``) rather than read from a table.
COMPUTED_METRICS: tuple[str, ...] = ("flops", "params", "latency_ms")


class PositiveFloat(click.FloatRange):
    """A finite number above zero: ``nan`` and ``inf`` are no budget or cost (``FloatRange`` lets them by).

    Example:
        >>> PositiveFloat().convert("0.5", None, None)
        0.5
    """

    name = "positive number"

    def __init__(self) -> None:
        super().__init__(min=0, min_open=True)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number; give a number above 0, e.g. 10", param, ctx)
        return number


#: Option types of counts, seeds and amounts: bad values are usage errors before anything runs.
POSITIVE_INT = click.IntRange(min=1)
NON_NEGATIVE_INT = click.IntRange(min=0)
POSITIVE_FLOAT = PositiveFloat()


def parse_objectives_option(text: str, option: str = "--objectives") -> tuple[Any, ...]:
    """``--objectives NAME:max|min,...`` as ``Objective`` values; a malformed value is a usage error."""
    from infonas.objectives import parse_objectives

    try:
        return parse_objectives(parse_list(text))
    except (InfonasError, ValueError) as error:
        raise click.BadParameter(f"{error} (expected NAME:max or NAME:min, comma-separated)",
                                 param_hint=f"'{option}'") from None


def parse_reference_point(text: str) -> dict[str, float]:
    """``--reference-point NAME=VALUE,...`` as a dict of finite numbers; else a usage error."""
    reference: dict[str, float] = {}
    for item in parse_list(text):
        name, sep, value = (part.strip() for part in item.partition("="))
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not name or not math.isfinite(number) or name in reference:
            raise click.BadParameter(f"expected NAME=VALUE pairs with distinct names and finite values, e.g. "
                                     f"acc=0,flops=2e8; got {item!r} in {text!r}", param_hint="'--reference-point'")
        reference[name] = number
    return reference


class OptionError(click.ClickException):
    """Options that cannot run as given (settings that disagree, a run directory of another search,
    an unusable table, a strategy whose optional extra is missing): one line ``Error: ...`` and exit
    status 2, as click's own usage errors."""

    exit_code = 2


def check_strategy_names(names: list[str], option: str) -> None:
    """A usage error unless every name is a registered strategy, and an ``OptionError`` naming the
    extra to install for one that needs an optional package (``ax``)."""
    from infonas.exceptions import UnsupportedError
    from infonas.strategies import STRATEGIES, check_strategy_available

    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        noun = "method" if option == "--methods" else "strategy"  # what the option calls them
        raise click.BadParameter(f"unknown {noun} {', '.join(map(repr, unknown))}; choose from "
                                 f"{', '.join(sorted(STRATEGIES))}", param_hint=f"'{option}'")
    try:
        for name in names:
            check_strategy_available(name)
    except UnsupportedError as error:
        raise OptionError(str(error)) from None


# Every character str.splitlines() breaks at, as the escape repr() writes for it.
_LINE_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def fail(message: str) -> NoReturn:
    """End the command with ``Error: message`` on stderr and exit status 1, on one line: a line
    break inside ``message`` (a user's path may hold one) is written as its escape, ``\\n``.

    Example::

        fail(f"cannot read {path}: no such file")  # a newline in path shows as \\n
    """
    raise click.ClickException(message.translate(_LINE_BREAKS))


def parse_list(text: str) -> list[str]:
    """The non-empty items of a comma-separated option value."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise click.BadParameter("expected a comma-separated list")
    return items


def csv_header(path: str) -> list[str]:
    """The column names of a CSV file, ``arch`` excluded (empty for a missing or empty file: the
    table loader reports those errors properly)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:  # as TabularBenchmark.from_csv reads it
            return [name.strip() for name in next(csv.reader(handle), []) if name.strip() != "arch"]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def write_json(path: str | Path, payload: Any) -> None:
    """Write ``payload`` as indented JSON, atomically (a crash leaves the old file or none)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(payload, indent=2) + "\n")
    temporary.replace(path)


class _EchoHandler(logging.Handler):
    """Writes records with ``click.echo`` to the stderr of the moment, not the one at setup."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:  # a log line must never end a command
            self.handleError(record)


def configure_logging(level: int = logging.WARNING) -> None:
    """Show the library's log records of ``level`` and above as bare lines on stderr.

    The library only logs (``logging.getLogger(__name__)``); the CLI owns the process, so it
    decides where records go. Does nothing if the root logger already has handlers.
    """
    handler = _EchoHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


def check_objective_names(objectives: Sequence[Any], measured: Sequence[str], measured_as: str = "measured") -> None:
    """The first objective must be measured (``measured_as`` names how: "measured", "a table
    column"), the others measured or computed; checked before any cost is measured."""
    if not objectives:
        return
    listed = ", ".join(measured)
    if objectives[0].name not in measured:
        raise click.BadParameter(f"the first objective must be {measured_as}, got {objectives[0].name!r}; "
                                 f"{measured_as}: {listed}", param_hint="'--objectives'")
    unknown = [o.name for o in objectives if o.name not in measured and o.name not in COMPUTED_METRICS]
    if unknown:
        raise click.BadParameter(f"{', '.join(map(repr, unknown))} is neither {measured_as} ({listed}) nor computed "
                                 f"({', '.join(COMPUTED_METRICS)})", param_hint="'--objectives'")


def execution_options(command: Any) -> Any:
    """``--executor``, ``--workers``, ``--ray-address``, ``--trial-timeout``, ``--retries``,
    ``--max-failure-rate`` and ``--gpus-per-trial``: where a search's evaluations run and what
    it does when they fail (``search`` and ``resume`` share them; ``execution_from`` reads them)."""
    from infonas.execution.registry import EXECUTORS

    options = [
        click.option("--executor", type=click.Choice(list(EXECUTORS)), default="serial", show_default=True,
                     help="Where evaluations run: in this process, in local worker processes, or on Ray "
                          "(pip install 'infonas[ray]')."),
        click.option("--workers", type=POSITIVE_INT, default=1, show_default=True,
                     help="Evaluations run at once (pool and ray); a new trial is suggested as soon as one finishes."),
        click.option("--ray-address", help="Join a running Ray cluster (e.g. auto, or HOST:6379) instead of starting "
                                           "Ray on this machine."),
        click.option("--gpus-per-trial", type=click.FloatRange(min=0), default=0.0, show_default=True,
                     help="GPUs Ray reserves for each evaluation (ray)."),
        click.option("--trial-timeout", type=POSITIVE_FLOAT,
                     help="Stop an evaluation after this many seconds; it fails as a time-out (pool and ray)."),
        click.option("--retries", default="", help="Evaluations again after a failure, KIND=COUNT comma-separated, "
                                                   "kinds error, nan, timeout, worker_lost (default worker_lost=2, "
                                                   "others 0)."),
        click.option("--max-failure-rate", type=click.FloatRange(0, 1), default=0.5, show_default=True,
                     help="Stop with an error once at least 5 trials failed and they are more than this share."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def execution_from(executor: str, workers: int, ray_address: str | None, gpus_per_trial: float,
                   trial_timeout: float | None, retries: str, max_failure_rate: float) -> dict[str, Any]:
    """``Study.optimize`` keyword arguments from the ``execution_options``: checked before any work
    (``InvalidArgumentError`` / ``UnsupportedError``, shown as one line)."""
    from infonas.execution import FailureRateLimit, RetryPolicy, build_executor

    return {"executor": build_executor(executor, workers, trial_timeout, ray_address, gpus_per_trial),
            "retries": RetryPolicy.parse(retries), "failure_limit": FailureRateLimit(max_rate=max_failure_rate)}
