"""Evaluators: ``evaluate(arch, fidelity) -> EvaluationResult``.

``TabularEvaluator`` looks results up in a table (``infonas.evaluators.tabular``);
``TrainingEvaluator`` trains the cell's network from scratch (``infonas.evaluators.training``);
``SupernetEvaluator`` scores it as a sub-network of a trained supernet (``infonas.evaluators.supernet``);
``FidelityChain`` makes two of them the cheap and target fidelities of one (``infonas.evaluators.chain``);
``MnasNetReward`` adds MnasNet's latency-aware reward as a derived objective (``infonas.evaluators.derived``).
All are rebuilt from JSON specs by name (``build_evaluator``), which is how a run resumes.
"""

from infonas.evaluators.base import Evaluator, Fidelity
from infonas.evaluators.registry import (
    EVALUATORS,
    build_evaluator,
    chain_spec,
    mnist1d_chain_spec,
    register_evaluator,
    supernet_spec,
    table_spec,
    training_spec,
)

__all__ = ["EVALUATORS", "Evaluator", "Fidelity", "build_evaluator", "chain_spec", "mnist1d_chain_spec",
           "register_evaluator", "supernet_spec", "table_spec", "training_spec"]
