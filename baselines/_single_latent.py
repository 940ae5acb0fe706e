"""What the single-latent baselines share (``embed``, ``memory``, ``softmax``, ``optimus``).

Not a model: nothing here registers itself (the registry imports every module of ``baselines/``).

``SingleLatentVAE`` is a VAE with ONE Gaussian latent ``z`` of ``d = cfg.latent_size`` dimensions
(``L = 1`` group in della/models/vae.py's terms) and a GPT-2 decoder (``GPT2Backbone``, causal, LM head
tied to the input embeddings as in GPT-2 and ``baselines/lm.py``). A subclass only says how z
reaches the decoder, by overriding any of three hooks:

* ``latent_embedding(z) -> [B, 1, H]``  added to every token embedding (before dropout);
* ``latent_memory``                     a ``LatentMemory`` module: z becomes one extra key/value
                                        slot in every layer, prepended to the attention keys;
* ``latent_output(hidden, z)``          changes the last hidden state before the LM head.

Posterior and prior
-------------------
* ``q(z | x) = N(mu, diag sigma^2)`` with ``(mu, log sigma^2) = GaussianHead(pool(x))``; by default
  ``pool`` runs the decoder's own backbone bidirectionally (``causal=False``, keys masked only at
  padding) over the whole decoder input and averages the final hidden states over real tokens
  (Optimus overrides ``pool`` with its BERT encoder). ``cfg.options["bn"]``: BN-VAE on the
  posterior means (``cfg.options["bn_gamma"]``, default 0.5).
* ``p(z) = N(0, I)`` for the unconditional tasks. For the conditional tasks (the batch has
  ``source_ids``) the prior is conditional (CVAE): ``p(z | s) = N(GaussianHead'(pool(source)))``
  and the posterior encodes the full decoder input ``<bos> s <sep> y <eos>``.
  The prior head always exists; it gets no gradient on unconditional data (use
  ``find_unused_parameters`` under DDP there).

Decoder calls and the KV cache
------------------------------
``decoder_logits(input_ids, z=[B, 1, d], key_padding, position_ids, cache)``. A memory slot is
written into the cache on the FIRST call (when the cache is empty); later calls must not add it
again, so a model with memory needs ``z`` on the first call only, while the embedding and
softmax paths need ``z`` on every call. ``key_padding`` covers the text tokens only; a 1 is
prepended for the memory slot. Text positions do not shift because of the memory slot (0..T-1),
unless a model sets ``text_position_offset`` (Optimus' official convention: 1..T behind the slot).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from della.data.batching import Batch, TensorRecord
from della.models.backbone import GPT2Backbone, KVCache, ModelConfig
from della.models.options import Option
from della.models.vae import (GaussianHead, LatentModel, LatentSample, gaussian_log_density, reparameterize,
                              scored_token_log_likelihood)


INIT_STD = 0.02  # GPT-2's initializer_range


def gpt2_init_(linear: nn.Linear, output_std: float | None = None) -> nn.Linear:
    """GPT-2's initialisation N(0, 0.02) (transformers' ``_init_weights``; Optimus' latent layers get it
    through ``init_weights()``). PyTorch's default for a ``Linear(d, H)`` is ~10x larger.

    ``output_std``: scale the weights instead so that ``W z`` with z ~ N(0, I) has this std per
    output dimension (std ``output_std / sqrt(d)``). The embedding path uses it with GPT-2's
    embedding scale (0.02): z added to every token embedding must not drown the tokens, which a
    model trained from scratch (token embeddings N(0, 0.02)) cannot undo with noisy gradients."""
    std = INIT_STD if output_std is None else output_std / linear.in_features ** 0.5
    nn.init.normal_(linear.weight, std=std)
    if linear.bias is not None:
        nn.init.zeros_(linear.bias)
    return linear


# ----------------------------------------------------------------------------------------------
# The encoding
# ----------------------------------------------------------------------------------------------
@dataclass
class GaussianEncoding(TensorRecord):
    """What ``encode`` returns: the posterior's and the prior's parameters, all ``[B, 1, d]``.

    ``mean``/``logvar`` are None for an encoding of sources only (``encode_source``, generation);
    ``prior_mean``/``prior_logvar`` are None for the N(0, I) prior (unconditional tasks).
    All fields are batch-first, so encodings of several batches can be concatenated (``cat``).
    """

    mean: torch.Tensor | None
    logvar: torch.Tensor | None
    prior_mean: torch.Tensor | None = None
    prior_logvar: torch.Tensor | None = None


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``hidden`` ``[B, T, H]`` over real tokens (``mask`` ``[B, T]``, 1 = real): ``[B, H]``."""
    if mask is None:
        return hidden.mean(1)
    mask = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


# ----------------------------------------------------------------------------------------------
# The memory slot (memory, optimus)
# ----------------------------------------------------------------------------------------------
MEMORY_KV_OPTION = Option(str, "shared", "the memory slot's key and value: one vector for both (Optimus), or "
                          "`separate` maps", choices=("shared", "separate"))


class LatentMemory(nn.Module):
    """z as one extra key/value position in every layer (Optimus' "latent as GPT memory").

    ``m = W z`` with ``W: d -> L*H`` (no bias), split into one vector ``m_l`` (``H`` wide) per layer
    and into heads. Optimus uses ``m_l`` as both the key and the value of the extra position
    (``kv="shared"``, the default); ``kv="separate"`` maps z to its own key and value instead
    (``W: d -> 2*L*H``). The vectors go straight into the attention's key/value space, bypassing
    the layer's ``c_attn`` projection, exactly like a past key/value.
    """

    def __init__(self, latent_size: int, n_layer: int, n_embd: int, n_head: int, kv: str = "shared"):
        super().__init__()
        if kv not in ("shared", "separate"):
            raise ValueError(f"memory kv must be 'shared' or 'separate', got {kv!r}")
        self.n_layer, self.n_embd, self.n_head, self.kv = n_layer, n_embd, n_head, kv
        self.proj = gpt2_init_(nn.Linear(latent_size, n_layer * n_embd * (2 if kv == "separate" else 1), bias=False))

    def forward(self, z: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """z ``[B, 1, d]`` -> per layer ``(key, value)``, each ``[B, heads, 1, head_dim]``."""
        batch = z.shape[0]
        m = self.proj(z.reshape(batch, -1))  # [B, L*H] or [B, 2*L*H]
        m = m.view(batch, -1, self.n_head, 1, self.n_embd // self.n_head)  # [B, L or 2L, heads, 1, hd]
        if self.kv == "shared":
            return [(m[:, l], m[:, l]) for l in range(self.n_layer)]
        return [(m[:, 2 * l], m[:, 2 * l + 1]) for l in range(self.n_layer)]

    def prefill(self, cache: KVCache, z: torch.Tensor) -> None:
        """Write the memory slot into an empty cache (layer by layer, as the blocks would)."""
        for layer, (key, value) in enumerate(self(z)):
            cache.update(key, value, layer)


# ----------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------
class SingleLatentVAE(LatentModel):
    """One Gaussian latent (L = 1), a GPT-2 decoder, and hooks for how z enters it."""

    #: extra key/value positions the model puts in front of the text (1 with a ``LatentMemory``)
    memory_slots: ClassVar[int] = 0
    OPTIONS: ClassVar[dict] = {
        "bn": Option(bool, False, "batch-normalised posterior means (BN-VAE, Zhu et al. 2020)"),
        "bn_gamma": Option(float, 0.5, "BN-VAE's fixed scale gamma of the normalised means"),
    }
    #: added to every text position id (0: text at positions 0..T-1 whatever the memory slots)
    text_position_offset: int = 0

    def __init__(self, cfg: ModelConfig, feature_size: int | None = None, posterior_bias: bool = True):
        super().__init__(cfg, n_groups=1)
        self.backbone = GPT2Backbone(cfg)
        self.n_embd = self.backbone.n_embd
        self.lm_head = nn.Linear(self.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.backbone.transformer.wte.weight  # GPT-2 ties its output projection
        feature_size = feature_size or self.n_embd
        self.posterior_head = GaussianHead(feature_size, cfg.latent_size, batch_norm=self.options["bn"],
                                           bn_gamma=float(self.options["bn_gamma"]), bias=posterior_bias)
        self.prior_head = GaussianHead(feature_size, cfg.latent_size)  # conditional tasks only
        self.latent_memory: LatentMemory | None = None

    def make_memory(self) -> LatentMemory:
        """A ``LatentMemory`` sized for this decoder (option ``memory_kv``: shared | separate)."""
        config = self.backbone.config
        return LatentMemory(self.cfg.latent_size, config.n_layer, config.n_embd, config.n_head,
                            kv=self.options["memory_kv"])

    # -- injection hooks (subclasses override) -------------------------------------------------
    def latent_embedding(self, z: torch.Tensor) -> torch.Tensor | None:
        """``[B, 1, d] -> [B, 1, H]`` added to every token embedding, or None."""
        return None

    def latent_output(self, hidden: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The last hidden state ``[B, T, H]`` as the LM head sees it."""
        return hidden

    # -- encoder -------------------------------------------------------------------------------
    def pool(self, input_ids: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Features of a sequence for the Gaussian heads: ``[B, T] -> [B, F]``. Default: the
        decoder's backbone run bidirectionally, final hidden states averaged over real tokens."""
        hidden = self.backbone.embed(input_ids)
        hidden, _ = self.backbone(hidden, causal=False, key_padding=mask)
        return masked_mean(hidden, mask)

    def encode_source(self, source_ids: torch.Tensor, source_mask: torch.Tensor | None = None) -> GaussianEncoding:
        """The conditional prior p(z | source) alone (generation for the conditional tasks)."""
        prior_mean, prior_logvar = self.prior_head(self.pool(source_ids, source_mask))
        return GaussianEncoding(None, None, prior_mean.unsqueeze(1), prior_logvar.unsqueeze(1))

    def encoder_inputs(self, batch: Batch):
        """What the encoder reads: ``(ids, mask, source ids, source mask)`` (the last two None on
        unconditional data). Default: the decoder's own ids; Optimus with a pretrained BERT reads
        the batch's ``encoder_*`` ids (della/data/batching.py)."""
        return batch.input_ids, batch.attention_mask, batch.source_ids, batch.source_mask

    def encode(self, batch: Batch) -> GaussianEncoding:
        ids, mask, source_ids, source_mask = self.encoder_inputs(batch)
        mean, logvar = self.posterior_head(self.pool(ids, mask))  # [B, d]
        enc = GaussianEncoding(mean.unsqueeze(1), logvar.unsqueeze(1))
        if source_ids is not None:
            prior = self.encode_source(source_ids, source_mask)
            enc.prior_mean, enc.prior_logvar = prior.prior_mean, prior.prior_logvar
        return enc

    # -- latent algebra ------------------------------------------------------------------------
    def sample_posterior(self, enc: GaussianEncoding, k: int = 1, use_mean: bool = False,
                         eps: torch.Tensor | None = None) -> LatentSample:
        mean, logvar = enc.mean, enc.logvar  # [B, 1, d]
        shape = (k, *mean.shape)
        if eps is not None and tuple(eps.shape) != shape:
            raise ValueError(f"{type(self).__name__}: eps must be [K, B, 1, d] = {shape}, got {tuple(eps.shape)}")
        if use_mean:
            z = mean.expand(shape)
        elif eps is not None:
            z = mean + (0.5 * logvar).exp() * eps
        else:
            z = reparameterize(mean, logvar, k)
        if enc.prior_mean is None:
            prior_mean = prior_logvar = torch.zeros(shape, dtype=mean.dtype, device=mean.device)
        else:
            prior_mean, prior_logvar = enc.prior_mean.expand(shape), enc.prior_logvar.expand(shape)
        return LatentSample(z=z, post_mean=mean.expand(shape), post_logvar=logvar.expand(shape),
                            prior_mean=prior_mean, prior_logvar=prior_logvar)

    def log_posterior_pairwise(self, z: torch.Tensor, enc: GaussianEncoding) -> torch.Tensor:
        # z [N, 1, d] against M posteriors [M, 1, d] -> [N, M, 1]
        return gaussian_log_density(z[:, None], enc.mean[None], enc.logvar[None])

    def sample_prior(self, n: int, enc: GaussianEncoding | None = None) -> torch.Tensor:
        if enc is not None and enc.prior_mean is not None:
            if n != enc.prior_mean.shape[0]:
                raise ValueError(f"sample_prior: n={n} but the encoding holds {enc.prior_mean.shape[0]} sources")
            return reparameterize(enc.prior_mean, enc.prior_logvar)  # [n, 1, d]
        return torch.randn(n, 1, self.latent_size, device=self.device)

    # -- decoder -------------------------------------------------------------------------------
    def decoder_logits(self, input_ids, *, z=None, key_padding=None, position_ids=None, cache=None):
        return self.lm_head(self.output_states(input_ids, z, key_padding, position_ids, cache))  # [B, T, V]

    def sequence_log_likelihood(self, input_ids, labels, z=None):
        # the LM head on scored positions only (same value as the full logits, less work)
        return scored_token_log_likelihood(self.output_states(input_ids, z), labels, self.lm_head)

    def output_states(self, input_ids, z, key_padding=None, position_ids=None, cache=None):
        """What the LM head reads: the causal pass with z injected, ``[B, T, H]``."""
        if z is None:
            raise ValueError(f"{type(self).__name__}.decoder_logits needs z [B, 1, d]")
        slots = self.memory_slots
        cached = cache.get_seq_length() if cache is not None else 0
        if slots:
            if cache is None:
                cache = KVCache()  # holds only the memory for this one pass
            if cached == 0:
                self.latent_memory.prefill(cache, z)
            else:
                cached -= slots  # text tokens already cached
            if key_padding is not None:  # covers the text only: the memory slot is always visible
                key_padding = torch.cat([key_padding.new_ones(key_padding.shape[0], slots), key_padding], 1)
            # key_padding None: GPT2Backbone builds an explicit all-ones mask because the cache is non-empty
        if position_ids is None:
            position_ids = torch.arange(cached, cached + input_ids.shape[1], device=input_ids.device)[None]
        position_ids = position_ids + self.text_position_offset
        tr = self.backbone.transformer
        hidden = tr.wte(input_ids) + tr.wpe(position_ids)  # [B, T, H]
        extra = self.latent_embedding(z)
        if extra is not None:
            hidden = hidden + extra  # [B, 1, H] broadcast over T
        hidden = tr.drop(hidden)
        hidden, _ = self.backbone(hidden, causal=True, key_padding=key_padding, cache=cache)
        return self.latent_output(hidden, z)
