"""The immutable config of a run: normalisation, comparison with a given one, loading.

A config is compared as it reads back from ``config.json`` (tuples become lists, keys become
strings), value by value as JSON text: ``1`` and ``1.0`` (or ``True``) are different settings,
and NaN equals itself.

Example::

    normalize_config({"shape": (3, 4)})                 # {'shape': [3, 4]}
    config_mismatch({"seed": 0}, {"seed": 1}, run_dir)  # '... in keys seed: stored seed=0 vs given seed=1. ...'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infonas.exceptions import RunStoreError
from infonas.storage.journal import excerpt

__all__ = ["CONFIG_NAME", "config_mismatch", "encode_config", "load_config", "normalize_config"]

CONFIG_NAME = "config.json"

_MISSING = object()


def normalize_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as it will read back from config.json (tuples -> lists, keys -> str)."""
    if not isinstance(config, Mapping):
        raise RunStoreError(f"config must be a dict, got {type(config).__name__}")
    try:
        return json.loads(json.dumps(dict(config), sort_keys=True))
    except (TypeError, ValueError) as err:
        raise RunStoreError(
            f"config is not JSON-serializable ({err}); convert its values to str, int, float, "
            f"bool, None, lists or dicts before creating the run"
        ) from err


def encode_config(config: dict[str, Any]) -> bytes:
    """The bytes of ``config.json`` for a normalised config (indented, keys sorted)."""
    return (json.dumps(config, sort_keys=True, indent=2) + "\n").encode("utf-8")


def _canonical(value: Any) -> Any:
    # Compare JSON text rather than Python values: NaN equals itself there, and 1 vs 1.0 or
    # True vs 1 (which Python calls equal) count as different settings.
    return value if value is _MISSING else json.dumps(value, sort_keys=True)


def config_mismatch(stored: dict[str, Any], given: dict[str, Any], run_dir: Path) -> str | None:
    """``None`` if the configs are equal, else a message listing the differing keys and values."""
    keys = sorted(k for k in set(stored) | set(given)
                  if _canonical(stored.get(k, _MISSING)) != _canonical(given.get(k, _MISSING)))
    if not keys:
        return None

    def show(d: dict[str, Any]) -> str:
        return ", ".join(
            f"{k}={'<missing>' if k not in d else excerpt(json.dumps(d[k], sort_keys=True))}"
            for k in keys
        )

    return (
        f"config differs from the stored one in {run_dir / CONFIG_NAME} in keys "
        f"{', '.join(keys)}: stored {show(stored)} vs given {show(given)}. To resume this run, "
        f"pass its stored config (or none); to run the new config, use a new run directory."
    )


def load_config(run_dir: Path) -> dict[str, Any]:
    """The stored config of the run ``run_dir``; ``RunStoreError`` saying how to fix it if unreadable."""
    config_file = run_dir / CONFIG_NAME
    try:
        raw = config_file.read_bytes()
    except FileNotFoundError:
        raise RunStoreError(
            f"{run_dir} has no {CONFIG_NAME}, so it is not a run directory (or its creation "
            f"was interrupted before the config was written); create the run with "
            f"RunStore.create({str(run_dir)!r}, config)"
        ) from None
    except OSError as err:
        raise RunStoreError(f"cannot read {config_file}: {err}; check its permissions") from err
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise RunStoreError(
            f"{config_file} is unreadable ({err}); it is written atomically, so it was edited or "
            f"the disk is damaged: restore it from a backup or recreate the run"
        ) from err
    if not isinstance(config, dict):
        raise RunStoreError(
            f"{config_file} holds a {type(config).__name__}, not a JSON object; restore it from "
            f"a backup or recreate the run"
        )
    return config
