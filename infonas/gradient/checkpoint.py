"""A gradient search's checkpoint: written atomically after every epoch, read back on resume.

``gradient.pt`` holds the model, alpha, the mask of pruned operations, both optimisers, the
schedule and the history; ``gradient.json`` (written after it) the settings, the history and the
derived architecture, readable without torch. Settings that differ from the stored ones are
refused; a setting the stored ones lack (written before it existed, such as ``space``) counts as
its default.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

import torch

from infonas.exceptions import IncompatibleRunError
from infonas.gradient.hardware import ConflictCounter
from infonas.storage.files import atomic_write_bytes

if TYPE_CHECKING:
    from infonas.gradient.search import GradientSearch

__all__ = ["CHECKPOINT_NAME", "STATE_NAME", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_NAME = "gradient.pt"
STATE_NAME = "gradient.json"


def save_checkpoint(search: GradientSearch) -> None:
    """Write ``search``'s state after an epoch: the torch checkpoint, then a JSON state file beside it."""
    assert search.checkpoint_dir is not None
    search.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"model": search.supernet.state_dict(), "alpha": search.alpha.detach().clone(), "mask": search.mask,
                "weight_optimizer": search.weight_optimizer.state_dict(), "scheduler": search.scheduler.state_dict(),
                "arch_optimizer": search.arch_optimizer.state_dict(), "epochs_done": search.epochs_done,
                "seconds": search.seconds, "first_eigenvalue": search.first_eigenvalue,
                "steps_conflicting": [search.conflicts.conflicts, search.conflicts.steps], "history": search.history,
                "stopped_early": search.stopped_early}, buffer)
    atomic_write_bytes(search.checkpoint_dir / CHECKPOINT_NAME, buffer.getvalue())
    # The state file (settings and the history, readable without torch) follows the checkpoint.
    state = {"settings": search.settings.to_json(), "epochs_done": search.epochs_done, "seconds": search.seconds,
             "stopped_early": search.stopped_early, "history": search.history,
             "arch": search.adapter.space.format(search.derived())}
    atomic_write_bytes(search.checkpoint_dir / STATE_NAME, json.dumps(state, indent=1).encode())


def load_checkpoint(search: GradientSearch) -> None:
    """Restore ``search`` from its directory, if it holds a checkpoint; refuse other settings."""
    assert search.checkpoint_dir is not None
    state_path = search.checkpoint_dir / STATE_NAME
    if not state_path.exists():
        return
    state = json.loads(state_path.read_text())
    asked = search.settings.to_json()
    # A setting added after the checkpoint was written: it ran with that setting's default.
    defaults = type(search.settings)().to_json()
    stored = {**{name: defaults[name] for name in asked if name not in (state.get("settings") or {})},
              **(state.get("settings") or {})}
    if stored != asked:
        changed = [f"{name}: {stored.get(name)!r} -> {asked.get(name)!r}" for name in sorted(set(stored) | set(asked))
                   if stored.get(name) != asked.get(name)]
        raise IncompatibleRunError(f"{search.checkpoint_dir} holds a gradient search with other settings "
                                   f"({'; '.join(changed)}): use the same settings to resume it, or another "
                                   "directory")
    # The checkpoint holds everything (the history too); a crash between the two writes leaves
    # the state file behind it, never ahead.
    checkpoint = torch.load(search.checkpoint_dir / CHECKPOINT_NAME, weights_only=True)
    search.supernet.load_state_dict(checkpoint["model"])
    with torch.no_grad():
        search.alpha.copy_(checkpoint["alpha"])
    search.mask = checkpoint["mask"]
    search.weight_optimizer.load_state_dict(checkpoint["weight_optimizer"])
    search.scheduler.load_state_dict(checkpoint["scheduler"])
    search.arch_optimizer.load_state_dict(checkpoint["arch_optimizer"])
    search.epochs_done, search.seconds = int(checkpoint["epochs_done"]), float(checkpoint["seconds"])
    search.first_eigenvalue = checkpoint["first_eigenvalue"]
    conflicts, steps = checkpoint["steps_conflicting"]
    search.conflicts = ConflictCounter(steps=int(steps), conflicts=int(conflicts))
    search.history = list(checkpoint["history"])
    search.stopped_early = checkpoint["stopped_early"]
