"""``infonas ax``: runs moved to and from Ax (the optional extra, ``pip install 'infonas[ax]'``).

``infonas ax export RUN_DIR --out experiment.json`` writes a run as an Ax experiment JSON (Ax's
``Client.load_from_json_file`` reads it); ``infonas ax import experiment.json --run-dir DIR``
makes a new run of its finished trials, which ``infonas resume DIR`` continues. A bad file, a
wrong space or a missing extra ends the command with one line and exit status 2.
"""

from __future__ import annotations

from typing import Any

import click

from infonas.cli_common import EXPECTED_ERRORS
from infonas.cli_common import OptionError as _BadInput


@click.group("ax")
def ax() -> None:
    """Move runs between infonas and Ax (needs: pip install 'infonas[ax]')."""


@ax.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The Ax experiment JSON to write.")
def ax_export(run_dir: str, out: str) -> None:
    """Write the run in RUN_DIR as an Ax experiment JSON."""
    from infonas.ax.transfer import export_run

    try:
        path = export_run(run_dir, out)
    except EXPECTED_ERRORS as error:
        raise _BadInput(_one_line(error)) from None
    click.echo(f"wrote the Ax experiment of {run_dir} to {path}")


@ax.command("import")
@click.argument("experiment", type=click.Path(dir_okay=False))
@click.option("--run-dir", required=True, type=click.Path(file_okay=False), help="The new run directory.")
@click.option("--space", "space_name", help="The search space (default: the one infonas ax export recorded).")
@click.option("--table", type=click.Path(dir_okay=False),
              help="Benchmark table (CSV) that evaluates the continued run (default: training, as infonas search).")
@click.option("--objective", help="The metric to optimise (default: the experiment's objectives).")
@click.option("--minimize", is_flag=True, help="Minimise --objective.")
@click.option("--strategy", default="bo-ei", show_default=True, help="The strategy that continues the run.")
@click.option("--seed", type=int, default=0, show_default=True)
def ax_import(experiment: str, run_dir: str, space_name: str | None, table: str | None, objective: str | None,
              minimize: bool, strategy: str, seed: int) -> None:
    """Make a run in --run-dir from the finished trials of an Ax EXPERIMENT JSON; infonas resume continues it."""
    from infonas.ax.transfer import import_experiment, recorded_objective, recorded_space
    from infonas.evaluators.registry import build_evaluator, table_spec, training_spec
    from search_spaces import get_space

    try:
        space = get_space(space_name or recorded_space(experiment))
        metric = objective or recorded_objective(experiment)
        spec: dict[str, Any] = table_spec(table, metric) if table else training_spec()
        evaluator = build_evaluator(spec, space)
        study = import_experiment(experiment, run_dir, evaluator, space=space, objective=objective,
                                  maximize=not minimize, strategy=strategy, seed=seed, evaluator_spec=spec)
    except EXPECTED_ERRORS as error:
        raise _BadInput(_one_line(error)) from None
    click.echo(f"imported {len(study.finished_trials())} trials into {run_dir}; continue with: infonas resume {run_dir}")


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())
