"""Conformance suites and fakes that every new kernel, strategy, evaluator, search space or store is tested with.

Each suite is a base class whose tests a new implementation inherits (they need pytest, from the
``[dev]`` extra):

- ``infonas.testing.kernels.KernelConformance``: GPyTorch's ``BaseKernelTestCase`` on encoded
  cells, plus symmetry, positive semi-definiteness and isomorphism invariance.
- ``infonas.testing.strategies.StrategyConformance``: same seed same trajectory, another seed
  differs, no duplicate canonical keys, stop-and-resume (and a crash after ``ask``) equals an
  uninterrupted run.
- ``infonas.testing.evaluators.EvaluatorConformance``: fidelities, metric names, failures as results.
- ``infonas.testing.spaces.SpaceConformance``: strings, canonical keys, seeded moves, validation.
- ``infonas.testing.stores.StoreConformance``: run stores (``RunStore``, ``InMemoryStore``).
- ``infonas.testing.fakes.FakeEvaluator``: a fast, seeded, non-additive benchmark over a space.
- ``infonas.testing.processes.sigkill_when``: kill a child with SIGKILL once it reaches a chosen
  point, for crash-and-resume tests.
"""
