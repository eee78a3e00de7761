"""Runs moved between infonas and Ax: a run's journal as an Ax experiment JSON, and back.

``export_run`` writes every trial of a run as an Ax trial (``Client.attach_trial`` with the
architecture's parameterisation): a complete target-fidelity trial is completed with all its
metrics, a complete cheaper look with its metrics named ``metric@fidelity`` (so Ax's objective sees
only target values), a failed or infeasible one is marked failed, a pending one stays running.
Each Ax trial keeps the infonas record (number, architecture, fidelity, status, metrics, cost,
error, failure kind, times) in its run metadata, and the experiment keeps the run's space and
objectives in its properties, so ``import_experiment`` restores the trials exactly. Ax reads the
file with ``Client.load_from_json_file`` and analyses it (``client.summarize()``...).

``import_experiment`` makes a new infonas run whose journal holds the finished Ax trials (complete
and failed; running ones are left out): ``infonas resume`` (or ``Study.load(...).optimize``) then
continues the search from them. A trial of an experiment infonas did not write takes its
architecture from its parameters (``infonas.ax.parameters``) and its metrics from Ax's data.

Example:
    >>> path = export_run("runs/my-run", "experiment.json")  # doctest: +SKIP
    >>> study = import_experiment(path, "runs/continued", evaluator=evaluator)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infonas.ax.parameters import from_parameterization, require_ax, to_parameterization
from infonas.ax.strategy import ax_client, quiet_ax
from infonas.evaluators.base import Evaluator
from infonas.exceptions import InvalidArchitectureError, InvalidArgumentError
from infonas.objectives import Objective
from infonas.storage import RunStore
from infonas.storage.events import TrialAsked, TrialFinished, replay
from infonas.study import DEFAULT_STRATEGY, Study
from infonas.trials import TrialStatus
from search_spaces import get_space
from search_spaces.base import SearchSpace

__all__ = ["export_run", "import_experiment", "recorded_objective", "recorded_space"]

logger = logging.getLogger(__name__)

#: Key of the infonas record in an Ax trial's run metadata, and of the run's description in the
#: Ax experiment's properties.
RECORD_KEY = "infonas"


def _objectives(config: Mapping[str, Any]) -> list[Objective]:
    default = [{"name": config["objective"], "maximize": config["maximize"]}]
    return [Objective.from_json(o) for o in config.get("objectives", default)]


def export_run(run: str | Path | Study, path: str | Path) -> Path:
    """Write the run ``run`` (a run directory, or a ``Study`` with one) as an Ax experiment JSON at ``path``."""
    require_ax("exporting a run to Ax")
    if isinstance(run, Study) and not isinstance(run.store, RunStore):
        raise InvalidArgumentError("export_run exports a run kept in a run directory; this study is in memory: "
                                   "create it with a run directory (Study.create(path, ...))")
    run_dir = Path(run.store.path if isinstance(run, Study) else run)
    store = RunStore.open(run_dir)
    config = store.config
    space = get_space(config["space"])
    state = replay(store.events())
    finished = {event.trial: event for event in state.finished}
    target = _target_fidelity(config)
    objectives = _objectives(config)
    with quiet_ax():
        client = ax_client(space, objectives[0].name, objectives[0].maximize, seed=None, objectives=objectives)
        experiment = client._experiment  # the Client API has no setter for properties or run metadata
        experiment._properties[RECORD_KEY] = {"space": config["space"], "objectives": [o.to_json() for o in objectives],
                                              "target_fidelity": target, "run_dir": str(run_dir)}
        for number in sorted(state.asked):
            asked = state.asked[number]
            done = finished.get(number)
            arch = space.parse(asked.arch)
            index = client.attach_trial(parameters=to_parameterization(space, arch))
            record = {"number": number, "arch": asked.arch, "fidelity": asked.fidelity, "asked_at": asked.time,
                      "suggest_seconds": asked.suggest_seconds, "retry_of": asked.retry_of}
            if done is not None:
                record.update(status=done.status.value, metrics=dict(done.metrics), cost=done.cost, error=done.error,
                              failure=done.failure, finished_at=done.time)
            experiment.trials[index].update_run_metadata({RECORD_KEY: record})
            if done is None:
                continue  # asked, never told: left running, as in the run
            if done.status is TrialStatus.COMPLETE:
                names = {name: name if asked.fidelity == target else f"{name}@{asked.fidelity}" for name in done.metrics}
                client.complete_trial(index, raw_data={names[k]: float(v) for k, v in done.metrics.items()})
            else:
                client.mark_trial_failed(index, failed_reason=done.error or done.status.value)
        path = Path(path)
        client.save_to_json_file(str(path))
    return path


def _target_fidelity(config: Mapping[str, Any]) -> str:
    """The run's target fidelity: the costliest of the evaluator's (the config maps each to its cost)."""
    fidelities = config.get("fidelities") or {}
    return max(fidelities, key=fidelities.get) if fidelities else config["objective"]


def _load(path: str | Path) -> Any:
    """The Ax client of an experiment JSON; ``InvalidArgumentError`` for a file Ax cannot read."""
    from ax.api import Client

    try:
        with quiet_ax():
            return Client.load_from_json_file(str(path))
    except FileNotFoundError:
        raise InvalidArgumentError(f"no Ax experiment file at {path}: give the JSON Client.save_to_json_file "
                                   "(or infonas ax export) wrote") from None
    except (ValueError, KeyError, TypeError, AttributeError) as error:  # json.JSONDecodeError is a ValueError
        raise InvalidArgumentError(f"{path} is not an Ax experiment JSON that Ax {_ax_version()} can read "
                                   f"({type(error).__name__}: {error}); give the file Client.save_to_json_file "
                                   "(or infonas ax export) wrote") from None


def _ax_version() -> str:
    from importlib.metadata import version

    return version("ax-platform")


def _trial_data(experiment: Any, index: int) -> dict[str, float]:
    frame = experiment.lookup_data(trial_indices=[index]).df
    return {str(row.metric_name): float(row.mean) for row in frame.itertuples()}


def _rows(experiment: Any, space: SearchSpace, target: str) -> list[dict[str, Any]]:
    """One infonas record per finished Ax trial, in trial order (running and abandoned ones left out)."""
    from ax.core.trial_status import TrialStatus as AxStatus

    rows = []
    for index in sorted(experiment.trials):
        trial = experiment.trials[index]
        arch = from_parameterization(space, trial.arm.parameters)
        record = trial.run_metadata.get(RECORD_KEY)
        if record is not None and "status" in record:
            if space.parse(record["arch"]) != arch:
                raise InvalidArgumentError(f"Ax trial {index} holds the infonas cell {record['arch']!r} but the "
                                           f"parameters of another: the file was edited; export the run again")
            rows.append(dict(record))
        elif trial.status is AxStatus.COMPLETED:
            rows.append({"arch": space.format(arch), "fidelity": target, "status": TrialStatus.COMPLETE.value,
                         "metrics": _trial_data(experiment, index)})
        elif trial.status is AxStatus.FAILED:
            rows.append({"arch": space.format(arch), "fidelity": target, "status": TrialStatus.FAILED.value,
                         "error": trial.status_reason or "failed in Ax", "failure": "error"})
        else:
            logger.info("Ax trial %d is %s: not imported (only complete and failed trials are)", index,
                        trial.status.name)
    return rows


def import_experiment(path: str | Path, run_dir: str | Path, evaluator: Evaluator, *, space: str | SearchSpace | None = None,
                      objective: str | None = None, maximize: bool = True, strategy: str = DEFAULT_STRATEGY,
                      seed: int = 0, evaluator_spec: dict[str, Any] | None = None,
                      strategy_options: dict[str, Any] | None = None) -> Study:
    """A new run in ``run_dir`` whose journal holds the finished trials of the Ax experiment at ``path``.

    ``space``: the experiment's search space (default: the one ``export_run`` recorded; an Ax
    experiment from elsewhere needs it). ``objective``/``maximize``: what the new run optimises
    (default: the experiment's objectives). ``evaluator`` (and ``evaluator_spec``, from which
    ``Study.load`` rebuilds it) evaluates the new run's trials; its fidelities must include the
    imported ones.
    """
    require_ax("importing an Ax experiment")
    client = _load(path)
    experiment = client._experiment  # the Client API does not list trials: read the experiment
    described = experiment._properties.get(RECORD_KEY, {})
    if space is None:
        space = recorded_space(path)
    space = get_space(space) if isinstance(space, str) else space
    objectives = _imported_objectives(experiment, described, objective, maximize)
    target = evaluator.target_fidelity
    try:
        rows = _rows(experiment, space, described.get("target_fidelity", target))
    except InvalidArchitectureError as error:
        raise InvalidArgumentError(f"{path} does not hold {space.name} cells ({error})") from None
    unknown = sorted({row["fidelity"] for row in rows} - set(evaluator.fidelities))
    if unknown:
        raise InvalidArgumentError(f"{path} holds trials at fidelities {unknown} that the evaluator lacks "
                                   f"(it has {sorted(evaluator.fidelities)}): give an evaluator with them")
    numbered = all("number" in row for row in rows)
    study = Study.create(run_dir, space, evaluator, objectives[0].name if len(objectives) == 1 else None,
                         maximize=objectives[0].maximize, strategy=strategy, seed=seed,
                         objectives=objectives if len(objectives) > 1 else None, evaluator_spec=evaluator_spec,
                         strategy_options=strategy_options)
    for position, row in enumerate(rows):
        number = int(row["number"]) if numbered else position
        study.store.append(TrialAsked(number, space.format(space.parse(row["arch"])), row["fidelity"],
                                      row.get("asked_at"), row.get("suggest_seconds"), row.get("retry_of")).to_json())
        study.store.append(TrialFinished(number, TrialStatus(row["status"]), _finite(row.get("metrics", {})),
                                         float(row.get("cost", 0.0)), row.get("error"), row.get("finished_at"),
                                         row.get("failure")).to_json())
    study.store.close()
    return Study.load(run_dir, evaluator)


def _finite(metrics: Mapping[str, Any]) -> dict[str, float]:
    return {str(k): float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}


def _imported_objectives(experiment: Any, described: Mapping[str, Any], objective: str | None,
                         maximize: bool) -> list[Objective]:
    if objective is not None:
        return [Objective(objective, maximize)]
    if "objectives" in described:
        return [Objective.from_json(o) for o in described["objectives"]]
    ax_objective = experiment.optimization_config.objective
    metrics = getattr(ax_objective, "objectives", [ax_objective])
    return [Objective(o.metric_names[0], not o.minimize) for o in metrics]


def _described(path: str | Path) -> dict[str, Any]:
    """The infonas description an experiment JSON holds (empty for one infonas did not write)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidArgumentError(f"no Ax experiment file at {path}: give the JSON Client.save_to_json_file "
                                   "(or infonas ax export) wrote") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidArgumentError(f"{path} is not JSON ({error}): give the Ax experiment JSON "
                                   "Client.save_to_json_file (or infonas ax export) wrote") from None
    experiment = data.get("experiment") if isinstance(data, dict) else None
    properties = experiment.get("properties") if isinstance(experiment, dict) else None
    described = properties.get(RECORD_KEY) if isinstance(properties, dict) else None
    return described if isinstance(described, dict) else {}


def recorded_space(path: str | Path) -> str:
    """The name of the search space ``export_run`` recorded in the experiment JSON at ``path``."""
    described = _described(path)
    if "space" not in described:
        raise InvalidArgumentError(f"{path} was not written by infonas ax export, so it names no infonas search "
                                   "space: give the space (--space nb201, say)")
    return str(described["space"])


def recorded_objective(path: str | Path) -> str:
    """The (first) objective of the experiment JSON at ``path``."""
    described = _described(path)
    if "objectives" in described:
        return str(described["objectives"][0]["name"])
    require_ax("importing an Ax experiment")
    return _imported_objectives(_load(path)._experiment, {}, None, True)[0].name
