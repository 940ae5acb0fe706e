"""Writing files so that a kill never leaves a torn one (README "Reliability").

Every output is written to a temporary name in its own folder and renamed into place
(``os.replace`` is atomic on POSIX): a reader sees the old file or the new one, never half of
one. torch is imported only by ``atomic_torch_save``, so data and table jobs stay light.
"""
from __future__ import annotations

import json
import os
from pathlib import Path


def temporary_path(path: Path) -> Path:
    """``path``'s temporary name beside it (same folder, so the rename does not cross a filesystem)."""
    return path.with_name(path.name + ".tmp")


def atomic_write_text(path, text: str, encoding: str | None = None) -> None:
    """Write ``text`` to ``path`` atomically, creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    tmp.write_text(text, encoding=encoding)
    os.replace(tmp, path)


def write_json(path, obj) -> None:
    """``obj`` as indented JSON with sorted keys (byte-stable for equal objects), atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_torch_save(obj, path) -> None:
    """``torch.save`` atomically (checkpoints, ``model.pt``)."""
    import torch

    path = Path(path)
    tmp = temporary_path(path)
    torch.save(obj, tmp)
    os.replace(tmp, path)
