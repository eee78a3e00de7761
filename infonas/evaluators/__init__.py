"""Evaluators: ``evaluate(arch, fidelity) -> EvaluationResult``.

``TabularEvaluator`` looks results up in a table (``infonas.evaluators.tabular``);
``TrainingEvaluator`` trains the cell's network from scratch (``infonas.evaluators.training``);
``SupernetEvaluator`` scores it as a sub-network of a trained supernet (``infonas.evaluators.supernet``);
``FidelityChain`` makes two of them the cheap and target fidelities of one (``infonas.evaluators.chain``);
``MnasNetReward`` adds MnasNet's latency-aware reward as a derived objective (``infonas.evaluators.derived``);
``SleepEvaluator`` and ``FaultyEvaluator`` take a fixed time and inject faults, for measuring and
testing executors (``infonas.evaluators.synthetic``).
All are rebuilt from JSON specs by name (``build_evaluator``), which is how a run resumes.
"""

from infonas.evaluators.base import Evaluator, Fidelity
from infonas.evaluators.registry import (
    EVALUATORS,
    build_evaluator,
    chain_spec,
    faulty_spec,
    is_portable_spec,
    mnist1d_chain_spec,
    register_evaluator,
    sleep_spec,
    supernet_spec,
    table_spec,
    training_spec,
)
from infonas.evaluators.synthetic import FaultyEvaluator, SleepEvaluator

__all__ = ["EVALUATORS", "Evaluator", "FaultyEvaluator", "Fidelity", "SleepEvaluator", "build_evaluator",
           "chain_spec", "faulty_spec", "is_portable_spec", "mnist1d_chain_spec", "register_evaluator", "sleep_spec",
           "supernet_spec", "table_spec", "training_spec"]
