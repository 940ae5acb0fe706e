"""Model registry: every model registers itself by name; the DAG trains whatever the config lists.

Adding a model is one file under ``baselines/`` with a class decorated by
``@register_model("my-name")``; ``load_all`` imports every module of ``della.models`` (DELLA) and of
``baselines`` the same way, so nothing else needs to change (see README, "Add a baseline").
"""
from __future__ import annotations

import importlib
import pkgutil

_REGISTRY: dict[str, type] = {}


def register_model(name: str):
    """Class decorator: ``@register_model("embed")``."""

    def wrap(cls):
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} is registered twice: {_REGISTRY[name]} and {cls}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


MODEL_PACKAGES = ("della.models", "baselines")  # DELLA's home and the users' one, discovered alike


def load_all() -> None:
    """Import every module of ``MODEL_PACKAGES`` (each model registers itself when its module is
    imported)."""
    for package_name in MODEL_PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.iter_modules(package.__path__):
            if module.name != "__main__":  # ``python -m della.models`` prints; importing it must not
                importlib.import_module(f"{package_name}.{module.name}")


def available_models() -> list[str]:
    load_all()
    return sorted(_REGISTRY)


def get_model_class(name: str) -> type:
    load_all()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def build_model(name: str, cfg):
    """Instantiate the registered model ``name`` from a ``ModelConfig``."""
    return get_model_class(name)(cfg)
