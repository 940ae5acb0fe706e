"""Pretrained backbones from a folder or a hub name, and which parameters did NOT come from one.

Paper scale loads GPT-2 (DELLA, the LM, Embed / Memory / Softmax; ``model.pretrained``), BERT
(Optimus' encoder; ``model.options.encoder_pretrained``) and BART (``bart``, ``della`` with
``backbone: bart``; ``model.pretrained``) with transformers' ``from_pretrained``. A local
``save_pretrained`` folder works offline; a hub name needs the network.

Everything a model adds on top of a checkpoint — DELLA's posterior / prior heads, recurrence,
fusion factors and untied LM head, Optimus' latent maps, the rows appended to an embedding matrix
for our special tokens — starts from the model's own initialisation (for DELLA the official
code's: GPT-2's ``_init_weights``, N(0, 0.02) weights and zero biases, ``main.py`` loading only the
GPT-2 weights in ``init_para_frompretrained``). ``initialisation_report`` lists those parameters;
training prints them as "newly initialised" at the start of its log.
"""
from __future__ import annotations

from contextlib import contextmanager

from torch import nn

_LOADED_ATTR = "_della_pretrained"  # on a loaded module: (source, ids of its parameters, resize note)
_ARCHITECTURES: dict | None = None  # set by ``architectures_only``: source -> saved transformers config


@contextmanager
def architectures_only(configs: dict):
    """Within this block ``load_pretrained`` builds each checkpoint's architecture from its saved
    transformers config (``pretrained_configs``) with fresh weights instead of loading them:
    a trained model.pt is rebuilt this way (its own weights follow) without the checkpoint."""
    global _ARCHITECTURES
    previous, _ARCHITECTURES = _ARCHITECTURES, dict(configs)
    try:
        yield
    finally:
        _ARCHITECTURES = previous


def pretrained_configs(model: nn.Module) -> dict:
    """``{source: transformers config dict}`` of every module ``load_pretrained`` returned."""
    return {getattr(m, _LOADED_ATTR)[0]: m.config.to_dict() for _, m in model.named_modules()
            if getattr(m, _LOADED_ATTR, None) is not None}


def load_pretrained(model_cls, name: str, vocab_size: int | None = None, **kwargs) -> nn.Module:
    """``model_cls.from_pretrained(name, attn_implementation="sdpa", **kwargs)``; the input
    embeddings are resized to ``vocab_size`` (new rows: transformers' initialisation) and the
    loaded parameters are remembered for ``initialisation_report``."""
    if _ARCHITECTURES is not None and str(name) in _ARCHITECTURES:
        config = model_cls.config_class.from_dict(_ARCHITECTURES[str(name)])
        config._attn_implementation = "sdpa"
        module = model_cls(config, **kwargs)
        if vocab_size is not None and module.get_input_embeddings().weight.shape[0] != vocab_size:
            module.resize_token_embeddings(vocab_size)
        return module
    try:
        module = model_cls.from_pretrained(name, attn_implementation="sdpa", **kwargs)
    except (OSError, ValueError) as err:
        raise OSError(f"cannot load a pretrained {model_cls.__name__} from {name!r} (config 'model.pretrained' or "
                      f"'model.options.encoder_pretrained'): give a save_pretrained() folder or a hub name "
                      f"reachable from this machine. {err}") from err
    note = None
    if vocab_size is not None:
        old = module.get_input_embeddings().weight.shape[0]
        if old != vocab_size:
            module.resize_token_embeddings(vocab_size)
            note = f"input embeddings resized from {old} to {vocab_size} rows"
    loaded = {id(p) for p in module.parameters()}
    setattr(module, _LOADED_ATTR, (str(name), loaded, note))
    return module


def initialisation_report(model: nn.Module) -> dict:
    """``{"sources": [...], "loaded": [names], "new": [names], "notes": [...]}`` for a built model.

    A parameter counts as loaded when it is one of the tensors a ``load_pretrained`` call
    returned (identity, so modules that wrap or share loaded ones are judged by their own
    tensors). With no pretrained module at all, ``sources`` is empty and everything is new.
    """
    loaded_ids: set[int] = set()
    sources, notes = [], []
    for _, module in model.named_modules():
        info = getattr(module, _LOADED_ATTR, None)
        if info is not None:
            sources.append(info[0])
            loaded_ids |= info[1]
            if info[2]:
                notes.append(f"{info[0]}: {info[2]}")
    loaded, new = [], []
    for pname, param in model.named_parameters():
        (loaded if id(param) in loaded_ids else new).append(pname)
    return {"sources": sources, "loaded": loaded, "new": new, "notes": notes}


def format_initialisation(model: nn.Module) -> str:
    """Human-readable report for the training log (one line per newly initialised tensor)."""
    report = initialisation_report(model)
    params = dict(model.named_parameters())
    if not report["sources"]:
        return f"no pretrained weights: all {len(report['new'])} parameter tensors newly initialised"
    lines = [f"pretrained weights from {', '.join(report['sources'])}: {len(report['loaded'])} tensors loaded"]
    lines += [f"  note: {n}" for n in report["notes"]]
    n_new = sum(params[name].numel() for name in report["new"])
    lines.append(f"newly initialised: {len(report['new'])} tensors, {n_new} parameters")
    lines += [f"  newly initialised: {name} {tuple(params[name].shape)}" for name in report["new"]]
    return "\n".join(lines)

