"""Checkpoints of a training run, and what makes one safe to resume.

A checkpoint (``checkpoint.pt``, written atomically every ``train.checkpoint_every`` steps and at
every epoch end) holds the model, optimiser, scheduler, step / epoch / batch position, RNG states,
the best validation figure so far and the log rows so far. It carries a **fingerprint** of
everything that shapes training (``run_fingerprint``); a job resumes from it only when every part
matches (``resume_state``), else it moves it aside (``checkpoint.stale-<hash>.pt``, not deleted: it
may be hours of training under other settings), says why, and training starts afresh.

The checkpoint is not deleted when training ends: at the last step it is what lets a train job
killed or failing after training (while writing ``model.pt``, or in the evaluation that follows in
the same process) be rerun without an optimiser step (della/run_folder.py says who removes it).

``model.pt`` (the finished run: weights plus the configs that rebuild the model without any
pretrained checkpoint) is read back by ``load_trained``; ``initial_model`` rebuilds the same model as it
was before its first step (the factor probe's control, della/evaluation/probes.py).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import torch

from della.models.backbone import ModelConfig
from della.models.pretrained import architectures_only
from della.models.registry import build_model
from della.run_folder import BEST
from della.training.distributed import pick_device

# settings that decide when state is saved or how often a job prints progress, not what is trained:
# ``train.checkpoint_every`` and the top-level ``progress_seconds`` (della/progress.py). Left out of the
# checkpoint fingerprint, of model.pt's recorded settings and of every rule's params (della/config.py
# train_spec; the summary rule takes the runs' configs, not the whole config), so changing one neither
# restarts a resumable run nor reruns a finished one: the jobs read them from the invocation's config
NOT_RESULT_SHAPING = ("checkpoint_every", "progress_seconds")


def digest(obj) -> str:
    """A short, order-independent hash of a JSON-able object."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_fingerprint(*, model_name, model_kwargs, objective, cfg, encoded, seed, code_version,
                    valid_encoded=()) -> dict:
    """A hash per part of what shapes training; a checkpoint is resumed only when every part matches.
    ``valid``: the encoded validation split, on which the best checkpoint so far was chosen (its
    figure travels in the checkpoint; the selection settings ``valid_metric`` and ``validate_every``
    are in ``train``). ``NOT_RESULT_SHAPING`` settings are left out."""
    return {"model": digest([model_name, model_kwargs]), "objective": digest(objective.to_dict()),
            "train": digest({k: v for k, v in cfg.items() if k not in NOT_RESULT_SHAPING}),
            "data": _data_digest(encoded), "valid": _data_digest(valid_encoded), "seed": str(seed),
            "code": code_version}


def _data_digest(encoded) -> str:
    sha = hashlib.sha256()
    for example in encoded:  # one example at a time: the training set can be large
        sha.update(repr(example).encode())
    return sha.hexdigest()[:16]


def fingerprint_mismatch(saved: dict | None, now: dict) -> str | None:
    """Why a checkpoint with fingerprint ``saved`` must not be resumed under ``now`` (None: it may)."""
    if saved is None:
        return "it has no fingerprint (written by an older version)"
    changed = [part for part in now if saved.get(part) != now[part]]
    return f"{', '.join(changed)} changed since it was written" if changed else None


def resume_state(ckpt_path: Path, fingerprint: dict, device, *, move_stale: bool, who: str) -> dict | None:
    """The checkpoint at ``ckpt_path`` when it exists, can be read, matches ``fingerprint`` and has
    its ``best.pt`` beside it (when it has a best-so-far); else None. A checkpoint that does not match is moved aside when ``move_stale`` (process 0 only), with
    a line saying why (``who`` names the run in it)."""
    if not ckpt_path.exists():
        return None
    try:
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        saved = state.get("fingerprint")
        reason = fingerprint_mismatch(saved, fingerprint)
    except Exception as err:  # a torn or foreign file: not something to resume from
        saved, reason = None, f"it cannot be read ({type(err).__name__}: {err})"
    if reason is None and state.get("best_valid") is not None and not (ckpt_path.parent / BEST).exists():
        # its best-so-far figure refers to weights that are gone: resuming would end without them
        reason = f"{BEST}, the best weights on validation it refers to, is missing"
    if reason is None:
        return state
    if move_stale:
        stale = ckpt_path.with_name(f"checkpoint.stale-{digest(saved)[:8]}.pt")
        os.replace(ckpt_path, stale)
        print(f"{who}: not resuming from {ckpt_path}: {reason}; moved it to {stale.name} and starting afresh",
              flush=True)
    return None


def load_trained(model_path: Path, device=None):
    """Rebuild a trained model from ``model.pt`` (weights and the ModelConfig it was built with)."""
    device = device or pick_device()
    state = torch.load(model_path, map_location=device, weights_only=False)
    cfg = ModelConfig(**state["model_config"])
    # the weights are in state_dict: rebuild pretrained backbones from their saved configs, not the checkpoint
    with architectures_only(state.get("pretrained_configs", {})):
        model = build_model(state["model_name"], cfg).to(device)
    model.load_state_dict(state["state_dict"])
    model.eval()
    return model, state


def seed_everything(seed: int) -> None:
    """The RNG state a run starts from (training.loop seeds it right before building the model)."""
    random.seed(seed)
    torch.manual_seed(seed)


def initial_model(state: dict, seed: int, device=None):
    """The model of ``model.pt``'s run as training built it, before its first step: the same seed,
    config and build (``build_model_config`` gives back the saved ``model_config``; a pretrained
    backbone is loaded again from ``model_config["pretrained"]``, as training did)."""
    device = device or pick_device()
    seed_everything(seed)
    model = build_model(state["model_name"], ModelConfig(**state["model_config"])).to(device)
    model.eval()
    return model
