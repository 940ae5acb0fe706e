"""Paths in the config: relative to the project root, and pretrained names that may be hub ids.

Kept apart from ``della.config`` (which imports every model, torch and transformers) so that the
data and tokenizer jobs start in a fraction of a second.
"""
from __future__ import annotations

import re
from pathlib import Path


def resolve_path(value, root):
    """A path from the config: relative paths resolve against the project root ``root``, not the
    working directory."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(root) / path


def is_hub_name(value: str) -> bool:
    """``gpt2`` or ``org/name``: a Hugging Face hub id rather than a folder (a value starting with
    ``.``, ``/`` or ``~`` is always a folder)."""
    return not value.startswith((".", "/", "~")) and re.fullmatch(r"[\w.-]+(/[\w.-]+)?", value) is not None


def pretrained_location(value, root):
    """A ``pretrained`` config value as transformers should load it: the folder under the project
    root when it exists, else the value itself (a hub name)."""
    if not value:
        return value
    path = resolve_path(value, root)
    return str(path) if path.exists() else value


def shown_path(value, root) -> str | None:
    """How a configured path appears in result files (info.json, metrics.json, tables, run configs):
    never absolute, so that two checkouts of the project give the same bytes and no local path
    lands in a paper table. A relative value is kept as configured (it is relative to the project
    root already); an absolute one becomes relative to the project root when inside it, else the
    folder's own name (``/data/della`` -> ``della``)."""
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        return str(value)
    try:
        return str(path.resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return path.name
