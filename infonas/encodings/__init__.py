"""Encodings: every map from architectures to tensors the surrogates read.

``CategoricalEncoding`` (decision indices, for Hamming kernels), ``OneHotEncoding`` (the
baseline's input), ``PathEncoding``, ``graph_of`` (a labelled DAG), ``WLFeaturizer``
(Weisfeiler-Lehman label counts, for the graph kernel) and ``ArchitectureEncoder``, which joins
them into one model input laid out by an ``InputLayout`` and caches them per canonical key.
"""

from infonas.encodings.categorical import CategoricalEncoding, OneHotEncoding
from infonas.encodings.inputs import ArchitectureEncoder, InputLayout
from infonas.encodings.wl import WLFeaturizer, WLVocabulary

__all__ = ["ArchitectureEncoder", "CategoricalEncoding", "InputLayout", "OneHotEncoding", "WLFeaturizer",
           "WLVocabulary"]
