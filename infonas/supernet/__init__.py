"""Weight-sharing supernets over the NB201 cell space (and the macro space): the network, its training
and BN recalibration.

``Supernet`` holds every operation on every edge (``MacroSupernet``, built of ``MacroSupernetBlock``
modules, every option of every macro position); ``SupernetTrainer`` trains it single-path
(uniform over canonical classes) or as DARTS's mixed operation, with checkpoints; the BN helpers
recompute a sub-network's statistics. ``infonas.evaluators.supernet.SupernetEvaluator`` scores
cells on a trained supernet (the cheap fidelity); gradient NAS shares the same modules.
"""

from infonas.supernet.calibration import (
    batch_norm_layers,
    batch_norm_state,
    recalibrate_batch_norm,
    restore_batch_norm,
)
from infonas.supernet.macro import MacroSupernet, MacroSupernetBlock
from infonas.supernet.network import MixedEdge, Supernet, SupernetCell
from infonas.supernet.training import MODES, CanonicalSampler, SupernetSettings, SupernetTrainer

__all__ = ["MODES", "CanonicalSampler", "MacroSupernet", "MacroSupernetBlock", "MixedEdge", "Supernet", "SupernetCell",
           "SupernetSettings", "SupernetTrainer", "batch_norm_layers", "batch_norm_state", "recalibrate_batch_norm",
           "restore_batch_norm"]
