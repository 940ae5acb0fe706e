"""Kept so that ``from della.registry import register_model`` (the import of earlier baselines)
still works: the registry lives in ``della/models/registry.py``."""
from della.models.registry import available_models, build_model, get_model_class, register_model  # noqa: F401
