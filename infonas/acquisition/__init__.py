"""Acquisition functions over a discrete pool of candidate architectures, and the pools.

One table (``PROBLEM_ACQUISITIONS``) maps a problem kind (single or multi-objective, single or
multi-fidelity) to the acquisitions that apply; strategies look their acquisition up there and
never compute one themselves.
"""

from infonas.acquisition.single import (ACQUISITIONS, PROBLEM_ACQUISITIONS, PoolPosterior, acquisition_for,
                                        fidelity_information_gain, log_expected_improvement, max_value_entropy,
                                        max_value_samples, thompson_sample)

__all__ = ["ACQUISITIONS", "PROBLEM_ACQUISITIONS", "PoolPosterior", "acquisition_for", "fidelity_information_gain",
           "log_expected_improvement", "max_value_entropy", "max_value_samples", "thompson_sample"]
