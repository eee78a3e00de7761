"""Ax (ax-platform) integration: Ax as a search strategy, infonas GPs inside Ax, runs moved between the two.

* ``AxStrategy`` (strategies ``"ax"`` and ``"ax-infonas"``): Ax's ``Client`` proposing architectures
  for an infonas ``Study``, with Ax's default generation strategy or with the infonas GP as its model.
* ``AxArchitectureGP`` / ``infonas_generation_strategy``: the WL + Hamming (+ additive) GP as the model
  of Ax's modular BoTorch generator, decoding Ax's encoded inputs back to cells (``ChoiceDecoder``).
* ``export_run`` / ``import_experiment``: an infonas run as an Ax experiment JSON, and back.

Everything here needs the optional extra (``pip install 'infonas[ax]'``). Importing this package
does no work (names load on first use, PEP 562), and each entry point that needs Ax raises a clear
``UnsupportedError`` naming the extra without it.
"""

from infonas.lazy import lazy_exports

_PUBLIC = {
    "AX_EXTRA": "infonas.ax.parameters",
    "from_parameterization": "infonas.ax.parameters",
    "parameter_names": "infonas.ax.parameters",
    "require_ax": "infonas.ax.parameters",
    "to_parameterization": "infonas.ax.parameters",
    "AxStrategy": "infonas.ax.strategy",
    "ax_client": "infonas.ax.strategy",
    "AxArchitectureGP": "infonas.ax.generator",
    "infonas_generation_strategy": "infonas.ax.generator",
    "infonas_model_config": "infonas.ax.generator",
    "register_ax_storage": "infonas.ax.generator",
    "ChoiceDecoder": "infonas.ax.decoding",
    "export_run": "infonas.ax.transfer",
    "import_experiment": "infonas.ax.transfer",
}

__getattr__, __dir__, __all__ = lazy_exports("infonas.ax", _PUBLIC, globals())
