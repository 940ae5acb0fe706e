"""The GPT-2 stack every model of DELLA-Bench is built on.

We reuse transformers' `GPT2Model` (its embeddings, `GPT2Block`s and final layer norm) and only
drive the blocks ourselves, one by one, so that a model can act between layers (DELLA reads each
layer's hidden states for its posterior and fuses a different latent into each decoder layer).
The same weights run in two modes (as in the official DELLA code, "one GPT-2 is both encoder and decoder"):

* ``causal=True``  — the decoder pass (GPT-2's usual causal self-attention);
* ``causal=False`` — the encoder pass: the same blocks without the causal mask, keys masked
  only where the input is padding.

Shapes: B batch, T new tokens, P cached tokens, H hidden size, L layers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from transformers import GPT2Config, GPT2Model
from transformers.models.gpt2.modeling_gpt2 import GPT2Block
from transformers.activations import ACT2FN

from della.models.pretrained import load_pretrained


@dataclass
class ModelConfig:
    """Size of a model and the special token ids; ``options`` holds model-specific switches."""

    vocab_size: int
    n_layer: int = 4
    n_embd: int = 128
    n_head: int = 4
    n_positions: int = 512
    dropout: float = 0.1
    latent_size: int = 32
    pretrained: str | None = None  # a local folder or hub name of a GPT-2 (BART) checkpoint (paper scale)
    backbone: str = "gpt2"  # gpt2 | bart (DELLA on BART: the della-bart model, della/models/della.py)
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    sep_id: int = 3
    options: dict = field(default_factory=dict)


def build_model_config(model_kwargs: dict, tokenizer) -> ModelConfig:
    """ModelConfig for a tokenizer; with a pretrained GPT-2 / BART its sizes come from the checkpoint's config
    (so that the saved config rebuilds the same shapes without the checkpoint)."""
    kwargs = dict(model_kwargs)
    if kwargs.get("pretrained"):
        from transformers import AutoConfig

        pre = AutoConfig.from_pretrained(kwargs["pretrained"])
        if pre.model_type == "bart":  # BART: d_model, encoder/decoder layers and heads
            kwargs.update(n_layer=pre.decoder_layers, n_embd=pre.d_model, n_head=pre.decoder_attention_heads,
                          n_positions=pre.max_position_embeddings)
        else:  # GPT-2
            kwargs.update(n_layer=pre.n_layer, n_embd=pre.n_embd, n_head=pre.n_head, n_positions=pre.n_positions)
    return ModelConfig(vocab_size=tokenizer.vocab_size, **tokenizer.special_ids(), **kwargs)


def cache_kwarg(forward) -> str:
    """The keyword under which a transformers layer takes the key/value cache: ``cache`` since
    transformers 5.2x (``past_key_values`` is deprecated there and removed in 5.40), else
    ``past_key_values``."""
    import inspect

    return "cache" if "cache" in inspect.signature(forward).parameters else "past_key_values"


GPT2_CACHE_KWARG = cache_kwarg(GPT2Block.forward)


class KVCache:
    """Key/value cache for incremental decoding.

    transformers' attention layers call ``cache.update(key, value, layer_idx)`` and attend over what
    it returns; that one method is all they need. ``reorder`` serves beam search.
    Keys and values are ``[B, heads, P, head_dim]``.
    """

    def __init__(self) -> None:
        self.keys: dict[int, torch.Tensor] = {}
        self.values: dict[int, torch.Tensor] = {}

    def update(self, key, value, layer_idx, *args, **kwargs):
        if layer_idx in self.keys:
            key = torch.cat([self.keys[layer_idx], key], dim=-2)
            value = torch.cat([self.values[layer_idx], value], dim=-2)
        self.keys[layer_idx], self.values[layer_idx] = key, value
        return key, value

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.keys[layer_idx].shape[-2] if layer_idx in self.keys else 0

    def reorder(self, index: torch.Tensor) -> None:
        for i in self.keys:
            self.keys[i] = self.keys[i].index_select(0, index)
            self.values[i] = self.values[i].index_select(0, index)


def attention_mask_4d(key_padding: torch.Tensor, query_length: int, causal: bool) -> torch.Tensor:
    """Boolean ``[B, 1, T, P+T]`` mask (True = may attend) for transformers' SDPA attention.

    ``key_padding`` is ``[B, P+T]`` with 1 for real tokens. The last ``T`` keys are the queries
    themselves. Padded keys are masked for EVERY query, a padded query's own key included, as the
    official DELLA encoder's additive mask does (model.py:667-672: ``(1 - mask) * -10000`` on every
    key): a padded position of the encoder attends to the real tokens only. A query that may see
    no key at all (a left-padded position of a causal pass, a fully padded row) attends to itself
    instead, so that its softmax never turns into NaN (such positions are padding and never read).
    """
    batch, total = key_padding.shape
    device = key_padding.device
    allowed = key_padding.bool()[:, None, None, :].expand(batch, 1, query_length, total)
    query_pos = torch.arange(total - query_length, total, device=device)[:, None]  # [T, 1]
    key_pos = torch.arange(total, device=device)[None, :]  # [1, P+T]
    if causal:
        allowed = allowed & (key_pos <= query_pos)
    sees_nothing = ~allowed.any(-1, keepdim=True)  # [B, 1, T, 1]
    return allowed | (sees_nothing & (key_pos == query_pos))


class GPT2Backbone(nn.Module):
    """transformers' GPT-2, run block by block.

    ``forward`` returns the final hidden states (after ``ln_f``) and, when asked, the output of
    every block (before ``ln_f``), which DELLA's posterior pools layer by layer.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.pretrained:
            # Paper scale: a real GPT-2 checkpoint from a local folder or the hub.
            self.transformer = load_pretrained(GPT2Model, cfg.pretrained, vocab_size=cfg.vocab_size)
        else:
            config = GPT2Config(
                vocab_size=cfg.vocab_size,
                n_positions=cfg.n_positions,
                n_embd=cfg.n_embd,
                n_layer=cfg.n_layer,
                n_head=cfg.n_head,
                resid_pdrop=cfg.dropout,
                embd_pdrop=cfg.dropout,
                attn_pdrop=cfg.dropout,
                bos_token_id=cfg.bos_id,
                eos_token_id=cfg.eos_id,
                pad_token_id=cfg.pad_id,
            )
            config._attn_implementation = "sdpa"  # the backbone relies on SDPA's is_causal switch
            self.transformer = GPT2Model(config)
        self.config = self.transformer.config
        if self.config.activation_function == "gelu_new":
            # transformers' "gelu_new" runs GPT-2's tanh-approximate GELU as 7 separate element-wise ops;
            # "gelu_pytorch_tanh" is the same function (to ~2e-7) as one fused kernel, ~10x faster
            # forward + backward on CPU. Same weights, same config (checkpoints load unchanged).
            for block in self.transformer.h:
                block.mlp.act = ACT2FN["gelu_pytorch_tanh"]
        self.n_layer = self.config.n_layer
        self.n_embd = self.config.n_embd

    @property
    def blocks(self) -> nn.ModuleList:
        return self.transformer.h

    def embed(self, input_ids: torch.Tensor, position_ids: torch.Tensor | None = None, past_length: int = 0):
        """Token + position embeddings with dropout: ``[B, T] -> [B, T, H]``."""
        if position_ids is None:
            position_ids = torch.arange(past_length, past_length + input_ids.shape[1], device=input_ids.device)
            position_ids = position_ids.unsqueeze(0)
        hidden = self.transformer.wte(input_ids) + self.transformer.wpe(position_ids)
        return self.transformer.drop(hidden)

    def forward(
        self,
        hidden: torch.Tensor,
        *,
        causal: bool,
        key_padding: torch.Tensor | None = None,
        cache: KVCache | None = None,
        return_layers: bool = False,
    ):
        """Run all blocks on embedded inputs ``hidden`` ``[B, T, H]``.

        ``key_padding`` ``[B, P+T]`` (1 = real token) covers the cached keys and the new ones;
        ``None`` means "no padding anywhere, or right padding in a causal pass", where padded
        positions can only influence padded positions and the fast ``is_causal`` kernel is exact.
        Returns ``(final [B, T, H], layers)`` where ``layers`` is a list of L block outputs
        (``[B, T, H]`` each) or ``None``.
        """
        query_length = hidden.shape[1]
        if key_padding is None and cache is not None and cache.get_seq_length() > 0:
            past = cache.get_seq_length()
            key_padding = torch.ones(hidden.shape[0], past + query_length, dtype=torch.long, device=hidden.device)
        if key_padding is None and not causal:
            key_padding = torch.ones(hidden.shape[:2], dtype=torch.long, device=hidden.device)
        if key_padding is not None:
            mask = attention_mask_4d(key_padding, query_length, causal)
            attn_kwargs = {"attention_mask": mask, "is_causal": False}
        else:
            attn_kwargs = {"attention_mask": None, "is_causal": True}
        layers = [] if return_layers else None
        for block in self.blocks:
            hidden = block(hidden, **{GPT2_CACHE_KWARG: cache}, use_cache=cache is not None, **attn_kwargs)
            if isinstance(hidden, tuple):  # older transformers return (hidden, ...)
                hidden = hidden[0]
            if return_layers:
                layers.append(hidden)
        return self.transformer.ln_f(hidden), layers
