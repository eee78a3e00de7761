"""The immutable config of a run: normalisation, comparison with a given one, loading, freezing.

A config is compared as it reads back from ``config.json`` (tuples become lists, keys become
strings), value by value as JSON text: ``1`` and ``1.0`` (or ``True``) are different settings,
and NaN equals itself.

At creation, ``config.frozen.json`` records the SHA-256 of the canonical config and a copy of
it; opening the run checks ``config.json`` against it, so an edited config (whose trials were
made under another) is refused, naming the changed keys. Runs made before the file existed
open unchecked.

Example::

    normalize_config({"shape": (3, 4)})                 # {'shape': [3, 4]}
    config_mismatch({"seed": 0}, {"seed": 1}, run_dir)  # '... in keys seed: stored seed=0 vs given seed=1. ...'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infonas.exceptions import IncompatibleRunError, RunStoreError
from infonas.storage.files import atomic_write_bytes, makedirs_durable
from infonas.storage.journal import JOURNAL_NAME, excerpt

__all__ = ["CONFIG_NAME", "FROZEN_NAME", "check_frozen", "config_mismatch", "create_run_files", "encode_config",
           "encode_frozen", "load_config", "normalize_config", "stored_config"]

CONFIG_NAME = "config.json"
FROZEN_NAME = "config.frozen.json"

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


def config_digest(config: dict[str, Any]) -> str:
    """SHA-256 of the canonical bytes of ``config`` (sorted keys, fixed indentation): formatting
    changes to ``config.json`` keep it, changed values do not."""
    return hashlib.sha256(encode_config(config)).hexdigest()


def encode_frozen(config: dict[str, Any]) -> bytes:
    """The bytes of ``config.frozen.json``: the digest and a copy of the config at creation."""
    frozen = {"sha256": config_digest(config), "config": config,
              "note": f"written once when the run was created; {CONFIG_NAME} must keep this config"}
    return (json.dumps(frozen, sort_keys=True, indent=1) + "\n").encode("utf-8")


def check_frozen(run_dir: Path, config: dict[str, Any]) -> None:
    """``IncompatibleRunError`` if ``config`` (read from ``config.json``) is not the config the run
    was created with; nothing for runs without ``config.frozen.json`` (made before it existed)."""
    try:
        frozen = json.loads((run_dir / FROZEN_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (OSError, ValueError) as err:
        raise RunStoreError(f"{run_dir / FROZEN_NAME} is unreadable ({err}); it is written once at creation, "
                            f"so it was edited or the disk is damaged: restore it from a backup") from err
    digest = frozen.get("sha256") if isinstance(frozen, dict) else None
    if config_digest(config) == digest:
        return
    fix = (f"A run's config is frozen: its trials were made under the original. Restore {CONFIG_NAME}, or start "
           f"a new run in another directory for the new config")
    original = frozen.get("config") if isinstance(frozen, dict) else None
    if isinstance(original, dict) and config_digest(original) == digest:
        keys = sorted(k for k in set(original) | set(config)
                      if _canonical(original.get(k, _MISSING)) != _canonical(config.get(k, _MISSING)))
        shown = ", ".join(f"{k}: {_show(original, k)} -> {_show(config, k)}" for k in keys)
        raise IncompatibleRunError(
            f"{run_dir / CONFIG_NAME} was edited after the run was created, in keys {', '.join(keys)} "
            f"({shown}). {fix} (the original is the \"config\" of {FROZEN_NAME}).")
    raise IncompatibleRunError(
        f"{run_dir / CONFIG_NAME} was edited after the run was created: its SHA-256 {config_digest(config)} is not "
        f"the {digest!r} recorded in {FROZEN_NAME}. {fix}.")


def _show(config: dict[str, Any], key: str) -> str:
    return "<missing>" if key not in config else excerpt(json.dumps(config[key], sort_keys=True))


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


def create_run_files(run_dir: Path, given: dict[str, Any]) -> bool:
    """Write the config files of a new run at ``run_dir``; ``False`` if a run exists there."""
    try:
        if run_dir.exists() and not run_dir.is_dir():
            raise RunStoreError(f"{run_dir} exists and is not a directory; choose another path")
        if (run_dir / CONFIG_NAME).exists():
            return False
    except OSError as err:  # a name too long, a parent without permission
        raise RunStoreError(f"cannot create run directory {run_dir} ({err.strerror}); choose another path") from None
    if (run_dir / JOURNAL_NAME).exists():
        # A journal without a config is not something this package leaves behind; adopting
        # it under a new config would mislabel its events.
        raise RunStoreError(
            f"{run_dir} holds a {JOURNAL_NAME} but no {CONFIG_NAME}; restore the config or "
            f"move the journal away before creating a run there"
        )
    try:
        makedirs_durable(run_dir)
    except OSError as err:
        raise RunStoreError(f"cannot create run directory {run_dir}: {err}") from err
    try:
        atomic_write_bytes(run_dir / CONFIG_NAME, encode_config(given), exclusive=True)
    except FileExistsError:  # another process created the run at the same moment
        return False
    # Written after the config won the race, so it always describes this config; a crash in
    # between leaves a run that opens unchecked, like those made before the file existed.
    try:
        atomic_write_bytes(run_dir / FROZEN_NAME, encode_frozen(given))
    except OSError as err:
        raise RunStoreError(f"cannot write {run_dir / FROZEN_NAME}: {err}") from err
    return True


def stored_config(run_dir: Path, config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The config of the existing run ``run_dir``, checked against its frozen copy and ``config``."""
    try:
        exists = run_dir.exists()
    except OSError as err:  # a name too long, a directory without permission: not "does not exist"
        raise RunStoreError(f"cannot open run directory {run_dir} ({err.strerror}); check the path") from None
    if not exists:
        raise RunStoreError(
            f"run directory {run_dir} does not exist; check the path, or create the run "
            f"with RunStore.create({str(run_dir)!r}, config)"
        )
    if not run_dir.is_dir():
        raise RunStoreError(f"{run_dir} is not a directory; a run is a directory")
    stored = load_config(run_dir)
    check_frozen(run_dir, stored)
    if config is not None:
        message = config_mismatch(stored, normalize_config(config), run_dir)
        if message:
            raise IncompatibleRunError(message)
    return stored
