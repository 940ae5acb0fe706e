"""Models: the interface every model implements, the shared backbones, DELLA, the registry.

  vae.py         ``TextModel`` / ``LatentModel`` (the interface), Gaussian KL and log-densities
  options.py     ``Option``: how a model declares its ``model_config.options`` (checked at start-up)
  backbone.py    ``ModelConfig`` and the GPT-2 stack (transformers' blocks), causal or not
  bart.py        the BART stack (``bart`` baseline and DELLA on BART)
  della.py       DELLA's whole forward pass (and ``della-bart``)
  pretrained.py  loading pretrained weights, and what was newly initialised
  registry.py    ``@register_model``: models of this package and of ``baselines/`` by name
  __main__.py    ``python -m della.models``: the README's "Model options" table
"""

# What a baseline file needs (README "Add a baseline"); both modules are light (no torch).
from della.models.options import Option  # noqa: E402,F401
from della.models.registry import register_model  # noqa: E402,F401
