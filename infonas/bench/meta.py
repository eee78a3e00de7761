"""Where a benchmark's numbers came from: the ``meta`` block of every ``infonas bench`` JSON file.

``meta`` records the command line with every option spelled out (defaults included), the git
commit of the code and whether the code differed from it, the UTC date, the machine's cores and
those this process may use, the worker processes, the library versions and the wall-clock time.
``benchmarks/render_readme.py`` prints it under each README table.

Example:
    >>> meta = benchmark_meta("infonas bench search --table t.csv", workers=1, wall_seconds=1.5)
    >>> meta["workers"], meta["wall_seconds"], meta["command"]
    (1, 1.5, 'infonas bench search --table t.csv')
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["CODE_PATHS", "benchmark_meta", "command_line", "git_state"]

#: What "the code" is when deciding whether a benchmark ran on a modified tree: result files,
#: partial logs and notes elsewhere in the repository do not change the numbers.
CODE_PATHS: tuple[str, ...] = ("infonas", "search_spaces", "pyproject.toml")

_ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=_ROOT, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state() -> dict[str, Any]:
    """``{"commit": HEAD or None, "dirty": True/False or None}`` of the repository holding this code.

    ``dirty``: a tracked or untracked (not ignored) file under ``CODE_PATHS`` differs from the
    commit; ``None`` outside git (an installed package) or without a ``git`` executable.
    """
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return {"commit": None, "dirty": None}
    status = _git("status", "--porcelain", "--", *CODE_PATHS)
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def command_line(ctx: Any, prog: str = "infonas bench") -> str:
    """The click command of ``ctx`` as one shell line with every option (defaults included), so
    that the exact run can be repeated even after a default changes.

    Example (``ctx`` of ``infonas bench search --table t.csv --objective acc``)::

        infonas bench search --table t.csv --objective acc --methods rs,rea,ls --seeds 10 ...
    """
    words = shlex.split(prog) + [ctx.info_name]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if getattr(param, "param_type_name", None) != "option" or value is None or value is False:
            continue
        words.append(param.opts[-1] if param.opts[-1].startswith("--") else param.opts[0])
        if not getattr(param, "is_flag", False):
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # "--budget 150", as typed, not "150.0"
            words.append(str(value))
    return shlex.join(words)


def benchmark_meta(command: str, workers: int, wall_seconds: float, resumed_jobs: int = 0,
                   total_jobs: int | None = None) -> dict[str, Any]:
    """The ``meta`` block: provenance of a benchmark's numbers (see the module docstring).

    ``resumed_jobs`` of ``total_jobs`` were read back from an interrupted earlier run of the same
    command (``OUT.partial.jsonl``); ``wall_seconds`` then covers this last run only.
    """
    import torch

    try:
        cores_used = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores_used = os.cpu_count()
    return {
        "command": command,
        **git_state(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpu_count": os.cpu_count(),
        "cores_used": cores_used,
        "workers": workers,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "botorch": _version("botorch"),
        "gpytorch": _version("gpytorch"),
        "wall_seconds": wall_seconds,
        "resumed_jobs": resumed_jobs,
        "total_jobs": total_jobs,
    }
