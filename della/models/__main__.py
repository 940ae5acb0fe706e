"""``python -m della.models``: print the README's "Model options" table from the registered
models' declarations (della/models/options.py)."""
from della.models.options import options_table
from della.models.registry import _REGISTRY, load_all

load_all()
print(options_table(dict(_REGISTRY)), end="")
