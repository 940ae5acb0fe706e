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
USER_PACKAGES = ("baselines",)  # where one broken file must not stop runs of the other models
# a baselines/ module that could not be imported -> why ("baselines/x.py: SyntaxError: ... (line 3)")
BROKEN: dict[str, str] = {}


def _why(module: str, err: BaseException) -> str:
    path = module.replace(".", "/") + ".py"
    line = getattr(err, "lineno", None)
    if line is None and err.__traceback__ is not None:  # the deepest frame in that file
        import traceback

        line = next((frame.lineno for frame in reversed(traceback.extract_tb(err.__traceback__))
                     if frame.filename.endswith(path)), None)
    where = f" (line {line})" if line else ""
    message = getattr(err, "msg", None) or str(err)
    return f"{path}: {type(err).__name__}: {message}{where}"


def load_all() -> None:
    """Import every module of ``MODEL_PACKAGES`` (each model registers itself when its module is
    imported). A module of ``baselines/`` that fails to import is recorded in ``BROKEN`` and skipped:
    one broken file does not stop the runs of every other model; asking for a model that is not
    registered names the broken files (``get_model_class``)."""
    for package_name in MODEL_PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.iter_modules(package.__path__):
            if module.name == "__main__":  # ``python -m della.models`` prints; importing it must not
                continue
            name = f"{package_name}.{module.name}"
            if package_name not in USER_PACKAGES:
                importlib.import_module(name)
                continue
            if name in BROKEN:
                continue
            try:
                importlib.import_module(name)
            except Exception as err:  # noqa: BLE001 (any error of a user's file: syntax, import, a raise)
                BROKEN[name] = _why(name, err)


def broken_modules() -> list[str]:
    """Why each ``baselines/`` module that failed to import did (start-up prints them)."""
    load_all()
    return sorted(BROKEN.values())


def available_models() -> list[str]:
    load_all()
    return sorted(_REGISTRY)


def get_model_class(name: str) -> type:
    load_all()
    if name not in _REGISTRY:
        broken = f"; these files could not be imported (one may define it): {'; '.join(sorted(BROKEN.values()))}" \
            if BROKEN else ""
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}{broken}")
    return _REGISTRY[name]


def build_model(name: str, cfg):
    """Instantiate the registered model ``name`` from a ``ModelConfig``."""
    return get_model_class(name)(cfg)
