"""DELLA (Hu et al., NAACL 2022): a variational Transformer with layer-wise latents fused deeply.

The whole model in one file. Paper §3 (Hu et al., NAACL 2022); faithful to the official code (github.com/OpenVLG/DELLA,
``model.py``: ``LMFLayer``, ``AverageSelfAttention``, ``GPT2VAEEncoder``, ``GPT2VAEDecoderWithLMHead``,
``Della``; ``dist.py``: ``Normal``; ``main.py``: ``init_para_frompretrained``). Each divergence is a
documented switch in ``cfg.options`` (declared in ``Della.OPTIONS``).

Shapes: B batch, T tokens, S source tokens, H hidden, V vocab, L decoder layers, G latent groups
(G = L, or 1 with ``layerwise: false``), d latent size per group, K posterior samples, R rank.

The model, layer by layer (l = 1..G)
------------------------------------
* **Encoder** = the decoder's own GPT-2 stack run bidirectionally (``causal=False``, keys masked at
  padding) over the full decoder input ``<bos> [s <sep>] y <eos>``. Layer l's block output
  ``E_l [B, T, H]`` (before ``ln_f``, official ``GPT2VAEEncoder.forward``) is pooled by attention:
  ``a_t = softmax_t(act(E_l[t] · w_l))``, ``pool_l = Σ_t a_t E_l[t]``   (``AverageSelfAttention``).
* **Recurrent summary** of the lower latents (official ``_recurrent_latent``; both maps are
  ``nn.Linear(d, d)`` with bias, one pair per layer):
  ``h_l = tanh(W_hh^l h_{l-1} + b_hh^l + W_ih^l z_{l-1} + b_ih^l)``, ``h_0 = z_0 = 0``
  (so ``h_1 = tanh(b_hh^1 + b_ih^1)`` is a learned constant and p(z_1) does not depend on x).
* **Prior**  ``p(z_l | z_<l) = N(Linear_p^l(h_l))``  (``prior_network``, ``Linear(d, 2d)``);
  conditional tasks: ``N(Linear_p^l([h_l ; c_l]))`` with ``c_l`` the layer-l pooled state of the
  source, encoded by the same stack and the same pooling (official ``Della.forward``:
  ``self.encoder(condition, compute_kl=False).hidden_states``).
* **Posterior** ``q(z_l | z_<l, x) = N(Linear_q^l([pool_l ; h_l]))`` (``recog_network``,
  ``Linear(H + d, 2d)``). Means and log-variances are clamped to [-5, 5] (``dist.Normal``);
  ``z_l = mu + exp(logvar / 2) * eps``, passed up.
* **Decoder**: the same stack, causal; in layer l the attention VALUES are replaced by the
  low-rank tensor product with z_l (``LMFLayer``; queries and keys untouched):
  ``v' = (Σ_r A_r [v ; 1] + a_r) ⊙ (Σ_r B_r [z_l ; 1] + b_r)``. The LM head is an untied
  ``nn.Linear(H, V, bias=False)``.
* **KL** per dimension, analytic, ``KL(q(z_l|z_<l,x) || p(z_l|z_<l))`` at the sampled lower latents,
  returned unreduced ``[B, G, d]`` (the objective reduces: official = mean over layers).

How the rank sum is computed
----------------------------
Because the rank sum is a sum of linear maps (official ``LMFLayer.forward`` sums the factor
OUTPUTS), it equals one linear map with the summed weights: ``Ã = Σ_r A_r``, ``B̃ = Σ_r B_r``. We
sum the r weight matrices first (one matmul, not r). In the decoder the value's text factor
``Ã v + ã`` with ``v = x W_v + b_v`` is folded into GPT-2's own qkv projection
(``W_v Ã^T``: one matmul for q, k and the fused value) when there are more tokens than hidden
units (training, evaluation); during incremental decoding (few tokens) v is projected separately.
Both are the same function (tests/test_della.py checks it against the explicit per-rank formula).

Mechanism: every decoder block's ``attn.c_attn`` (transformers' GPT2Attention always computes
``q, k, v = self.c_attn(x).split(...)``) is wrapped by ``FusedQKV``, which applies the fusion
only while ``Della.decoder_logits`` has set the layer's latent factor (never in the encoder pass).
New tokens' values are fused with the same z under the KV cache, so cached decoding is exact.

Switches (``cfg.options``) — official behaviour marked (official)
------------------------------------------------------------------
``convention: "principled" | "official"``  one switch for the official code's behaviour:
                                ``official`` sets the defaults of the switches below to the official
                                code's (today ``pool_mask_padding: false``); an option given
                                explicitly still wins. With ``official`` the model reproduces the
                                official code's numbers to round-off in float64
                                (tests/test_parity_official.py, on its golden fixture).
``rank: 4``                     LMF rank (official ``--latent_lmf_rank``).
``pool_mask_padding: true``     mask padding in the attention pooling; ``false`` = (official), which
                                lets padding tokens take part in the pooling softmax (official
                                model.py:730 calls the pooling without the mask: a sentence's
                                posterior then depends on how much padding its batch gave it).
``fusion: "lowrank" | "add"``   table-4 ablation "w/o tensor product": ``add`` replaces the tensor
                                product by ``v' = v + W_l z_l + b_l``.
``layerwise: true | false``     table-4 "w/o layer-wise latents": ONE latent group, inferred
                                like the top layer's latent (pooled last-layer state, h_1 from
                                h_0 = z_0 = 0, i.e. a learned constant prior, or the source's
                                last-layer state for CVAEs), fused into EVERY decoder layer
                                (each layer keeps its own fusion weights).
``recurrence: true | false``    table-4 "independent per-layer latents": no h_l; ``q(z_l|x) =
                                N(Linear(pool_l))``; prior N(0, I) (unconditional) or
                                ``N(Linear(c_l))`` (conditional).
``bow: false``                  bag-of-words head as in the official code: ``lm_head(mlp_bow(z_G))``
                                from the LAST group's latent (``mlp_bow = Linear(d, H)``); the
                                objective weighs it (``bow_weight``).
``lm_head_init: "copy" | "random"``  with ``cfg.pretrained``: ``copy`` initialises the (untied) LM
                                head from the pretrained input embeddings; ``random`` = (official:
                                ``main.py`` never loads it, so it keeps nn.Linear's default init).
                                From scratch the head is N(0, 0.02) either way.
``compose_qkv: true``           fold the text factor into c_attn's value weights when profitable
                                (speed only; ``false`` always projects v separately).
KL on the first / last layer only is an objective switch (della/training/objectives.py ``kl_groups``).
Not ported: the official ``begin_layer`` / ``end_layer`` (latents on a sub-range of layers) and
``kl_threshold`` (a per-layer KL floor, an objective trick here).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from transformers.activations import ACT2FN

from della.data.batching import Batch, TensorRecord
from della.models.backbone import GPT2Backbone, ModelConfig
from della.models.bart import BartSeq2Seq
from della.models.options import Option, check_options
from della.models.registry import register_model
from della.models.vae import (LatentModel, LatentSample, ModelOutput, gaussian_log_density, loss_dtype,
                              scored_token_log_likelihood, token_log_likelihood)

# what ``convention: official`` changes in the defaults of ``Della.OPTIONS`` (explicit options still win)
OFFICIAL_OPTIONS = {"pool_mask_padding": False}
CLAMP = 5.0  # official dist.Normal clamps mean and log-variance to [-5, 5]
INIT_STD = 0.02  # official GPT2PreTrainedModel._init_weights (config.initializer_range)


def _options(model_cls, given: dict) -> dict:
    """``Della.OPTIONS`` checked and completed; ``convention: official`` sets the defaults of
    ``OFFICIAL_OPTIONS`` (an option given explicitly still wins)."""
    opts = check_options(model_cls, given)
    if opts["convention"] == "official":
        opts.update({key: value for key, value in OFFICIAL_OPTIONS.items() if key not in given})
    return opts


def _normal(*shape: int) -> nn.Parameter:
    return nn.Parameter(torch.randn(*shape) * INIT_STD)


def _zeros(*shape: int) -> nn.Parameter:
    return nn.Parameter(torch.zeros(*shape))


# ----------------------------------------------------------------------------------------------
# Fusion of z into the attention values
# ----------------------------------------------------------------------------------------------
class LowRankFusion(nn.Module):
    """Official ``LMFLayer``: ``v' = (Σ_r A_r [v;1] + a_r) ⊙ (Σ_r B_r [z;1] + b_r)``.

    Parameters keep the official layout (r separate ``Linear(H+1, H)`` / ``Linear(d+1, H)``
    factors, stacked): ``text_weight [R, H, H+1]``, ``text_bias [R, H]``, ``latent_weight
    [R, H, d+1]``, ``latent_bias [R, H]``. ``mode="add"`` (ablation) has one ``Linear(d, H)`` and
    gives ``v' = v + W z + b``.
    """

    def __init__(self, hidden: int, latent: int, rank: int, mode: str = "lowrank"):
        super().__init__()
        self.mode = mode
        self.hidden = hidden
        if mode == "lowrank":
            self.text_weight = _normal(rank, hidden, hidden + 1)
            self.text_bias = _zeros(rank, hidden)
            self.latent_weight = _normal(rank, hidden, latent + 1)
            self.latent_bias = _zeros(rank, hidden)
        else:
            self.add_weight = _normal(hidden, latent)
            self.add_bias = _zeros(hidden)

    def text_map(self):
        """The summed text factor as one affine map on v: ``(Ã [H, H], ã [H])``."""
        w = self.text_weight.sum(0)  # [H, H+1]: Σ_r A_r
        return w[:, :-1], w[:, -1] + self.text_bias.sum(0)

    def latent_factor(self, z: torch.Tensor) -> torch.Tensor:
        """``[B, d] -> [B, H]``: Σ_r B_r [z;1] + b_r (lowrank) or W z + b (add)."""
        if self.mode == "lowrank":
            w = self.latent_weight.sum(0)  # [H, d+1]
            return F.linear(z, w[:, :-1], w[:, -1] + self.latent_bias.sum(0))
        return F.linear(z, self.add_weight, self.add_bias)

    def forward(self, v: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
        """Fuse values ``v [B, T, H]`` with a latent factor ``[B, H]`` (from ``latent_factor``)."""
        if self.mode == "lowrank":
            a, a0 = self.text_map()
            return F.linear(v, a, a0) * factor[:, None, :]
        return v + factor[:, None, :]


class FusedQKV(nn.Module):
    """Wraps a GPT-2 block's ``attn.c_attn`` (a transformers ``Conv1D``: ``x @ W + b``, W ``[H, 3H]``)
    so that the value third is fused with the current latent. Inactive while ``factor`` is None
    (the encoder pass, or a plain call); ``Della.decoder_logits`` sets ``factor [B, H]``.
    """

    def __init__(self, proj: nn.Module, fusion: LowRankFusion, compose: bool = True):
        super().__init__()
        self.proj = proj
        self.fusion = fusion
        self.compose = compose
        self.factor: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, H] -> [B, T, 3H]
        if self.factor is None:
            return self.proj(x)
        h = self.fusion.hidden
        factor = self.factor  # [B, H]
        if self.fusion.mode == "add":
            qkv = self.proj(x)
            shift = torch.cat([factor.new_zeros(factor.shape[0], 2 * h), factor], -1)  # [B, 3H]
            return qkv + shift[:, None, :]
        a, a0 = self.fusion.text_map()  # Ã [H, H], ã [H]
        w, b = self.proj.weight, self.proj.bias  # [H, 3H], [3H]
        n_tokens = x.shape[0] * x.shape[1]
        if self.compose and n_tokens >= h:
            # v'_pre = Ã (x W_v + b_v) + ã = x (W_v Ã^T) + (Ã b_v + ã): one matmul for q, k, v
            w_v = w[:, 2 * h:] @ a.t()  # [H, H]
            b_v = F.linear(b[2 * h:], a, a0)  # [H]
            qkv = torch.addmm(torch.cat([b[:2 * h], b_v]), x.reshape(-1, h), torch.cat([w[:, :2 * h], w_v], 1))
            qkv = qkv.view(*x.shape[:2], 3 * h)
        else:
            qkv = self.proj(x)
            qkv = torch.cat([qkv[..., :2 * h], F.linear(qkv[..., 2 * h:], a, a0)], -1)
        gate = torch.cat([factor.new_ones(factor.shape[0], 2 * h), factor], -1)  # [B, 3H]: q, k untouched
        return qkv * gate[:, None, :]


# ----------------------------------------------------------------------------------------------
# What encode returns
# ----------------------------------------------------------------------------------------------
@dataclass
class DellaEncoding(TensorRecord):
    """z-independent parts of q(z | x) (and of the conditional prior), batch-first.

    ``pooled [B, G, H]``: pooled encoder states of the full input (None for a sources-only
    encoding); ``post_x [B, G, 2d]``: the posterior linear's pooled-state part ``W_pool pool_l + b``;
    ``cond_pooled [B, G, H]`` / ``prior_c [B, G, 2d]``: the same for the source (CVAE), else None.
    """

    pooled: torch.Tensor | None
    post_x: torch.Tensor | None
    cond_pooled: torch.Tensor | None = None
    prior_c: torch.Tensor | None = None


# ----------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------
@register_model("della")
class Della(LatentModel):
    default_recipe: ClassVar[dict] = {}
    official_iw_samples: ClassVar[int] = 30  # official main.py --sample_times default, passed to calc_iwnll
    OPTIONS: ClassVar[dict] = {  # the switches of the module docstring; official behaviour noted
        "convention": Option(str, "principled", "`official`: the official code's defaults (OFFICIAL_OPTIONS: "
                             "padding pooled), reproducing its numbers (tests/test_parity_official.py)",
                             choices=("principled", "official")),
        "rank": Option(int, 4, "LMF rank of the tensor-product fusion (official --latent_lmf_rank 4)"),
        "pool_mask_padding": Option(bool, True, "mask padding in the attention pooling (official: false)"),
        "fusion": Option(str, "lowrank", "how z_l enters the values: low-rank tensor product, or `add` "
                         "(table 4 'w/o tensor product')", choices=("lowrank", "add")),
        "layerwise": Option(bool, True, "one latent per layer; false: ONE latent fused into every layer "
                            "(table 4 'w/o layer-wise latents')"),
        "recurrence": Option(bool, True, "p(z_l | z_<l) through the recurrent summary; false: independent "
                             "per-layer latents (table 4)"),
        "bow": Option(bool, False, "bag-of-words head from the last layer's latent (official mlp_bow)"),
        "lm_head_init": Option(str, "copy", "with `pretrained`: LM head copied from the input embeddings, or "
                               "`random` (official)", choices=("copy", "random")),
        "compose_qkv": Option(bool, True, "fold the text factor into c_attn's value weights (speed only)"),
    }

    def __init__(self, cfg: ModelConfig):
        if cfg.backbone != "gpt2":
            raise ValueError(f"della: backbone {cfg.backbone!r} is built by its own class (della-{cfg.backbone}); "
                             f"select it with model_config.backbone in a recipe (della/config.py)")
        opts = _options(type(self), cfg.options)
        backbone = GPT2Backbone(cfg)
        n_layer = backbone.n_layer
        super().__init__(cfg, n_groups=n_layer if opts["layerwise"] else 1)
        self.bow_head = None  # LatentModel's generic BoW head; DELLA has its own (mlp_bow, below)
        self.backbone = backbone
        act = backbone.config.activation_function  # GPT-2: gelu_new = the fused gelu_pytorch_tanh
        self._init_latent_networks(opts, backbone.n_embd, n_layer, n_layer,
                                   "gelu_pytorch_tanh" if act == "gelu_new" else act)

        # -- generative network: fusion into every decoder layer's values, untied LM head -------
        self._fused: list[FusedQKV] = []
        for block, fusion in zip(backbone.blocks, self.fusions):
            block.attn.c_attn = FusedQKV(block.attn.c_attn, fusion, compose=opts["compose_qkv"])
            self._fused.append(block.attn.c_attn)
        h = self.hidden_size
        self.lm_head = nn.Linear(h, cfg.vocab_size, bias=False)
        if cfg.pretrained and opts["lm_head_init"] == "copy":
            with torch.no_grad():
                self.lm_head.weight.copy_(backbone.transformer.wte.weight)
        elif cfg.pretrained:
            pass  # official: nn.Linear's default init, never loaded from the checkpoint
        else:
            nn.init.normal_(self.lm_head.weight, std=INIT_STD)
        self._init_bow()

    def _init_latent_networks(self, opts: dict, h: int, n_encoder_layers: int, n_layer: int, act: str) -> None:
        """The inference network (official ``GPT2VAEEncoder``: pooling, recog / prior networks,
        recurrence) and one fusion per decoder layer, initialised as the official code does:
        GPT-2's ``_init_weights`` (N(0, 0.02) weights, zero biases). Group g pools encoder layer
        ``pool_layers[g]`` and is fused into decoder layers ``l`` with ``group_of[l] == g``."""
        self.opts = opts
        d, g = self.cfg.latent_size, self.n_groups
        self.hidden_size = h
        # encoder layer whose pooled state feeds group g (several encoder layers per decoder layer: the
        # top one of each block; equal depths: layer l); decoder layer l uses group group_of[l]
        self.pool_layers = ([(l + 1) * n_encoder_layers // n_layer - 1 for l in range(n_layer)] if opts["layerwise"]
                            else [n_encoder_layers - 1])
        self.group_of = list(range(n_layer)) if opts["layerwise"] else [0] * n_layer
        self.act = ACT2FN[act]

        # -- inference network (official GPT2VAEEncoder), stacked over groups ------------------
        self.pool_weight = _normal(g, h)  # AverageSelfAttention.attention_weights, one per layer
        self.post_pool_weight = _normal(g, 2 * d, h)  # recog_network, the [pool_l] columns
        self.post_bias = _zeros(g, 2 * d)
        if opts["recurrence"]:
            self.post_h_weight = _normal(g, 2 * d, d)  # recog_network, the [h_l] columns
            self.rnn_hh_weight, self.rnn_hh_bias = _normal(g, d, d), _zeros(g, d)  # reccurnt_cell_weight_hh
            self.rnn_ih_weight, self.rnn_ih_bias = _normal(g, d, d), _zeros(g, d)  # reccurnt_cell_weight_ih
            self.prior_h_weight = _normal(g, 2 * d, d)  # prior_network, the [h_l] columns
        self.prior_bias = _zeros(g, 2 * d)
        # conditional prior: prior_network's [c_l] columns (used only when the batch has a source)
        self.prior_c_weight = _normal(g, 2 * d, h)

        # -- generative network: one fusion of z into the attention values per decoder layer ---
        self.fusions = nn.ModuleList(LowRankFusion(h, d, opts["rank"], opts["fusion"]) for _ in range(n_layer))

    def _init_bow(self) -> None:
        """Official ``GPT2VAEDecoderWithLMHead.mlp_bow`` (``options.bow``)."""
        self.mlp_bow = nn.Linear(self.cfg.latent_size, self.hidden_size) if self.opts["bow"] else None
        if self.mlp_bow is not None:
            nn.init.normal_(self.mlp_bow.weight, std=INIT_STD)
            nn.init.zeros_(self.mlp_bow.bias)

    # ------------------------------------------------------------------------------------------
    # Encoder
    # ------------------------------------------------------------------------------------------
    def _pool(self, input_ids: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Bidirectional pass + attention pooling of each latent layer: ``[B, T] -> [B, G, H]``."""
        hidden = self.backbone.embed(input_ids)
        _, layers = self.backbone(hidden, causal=False, key_padding=mask, return_layers=True)
        return self._attention_pool(layers, mask)

    def _attention_pool(self, layers, mask: torch.Tensor | None) -> torch.Tensor:
        """Official ``AverageSelfAttention`` over each latent group's encoder layer: L x ``[B, T, H]``
        → ``[B, G, H]``."""
        states = torch.stack([layers[i] for i in self.pool_layers], 1)  # [B, G, T, H]
        scores = self.act(torch.einsum("bgth,gh->bgt", states, self.pool_weight))  # [B, G, T]
        if mask is not None and self.opts["pool_mask_padding"]:
            scores = scores.masked_fill(mask[:, None, :] == 0, float("-inf"))
        weights = scores.softmax(-1)
        return torch.einsum("bgt,bgth->bgh", weights, states)  # [B, G, H]

    def encode_source(self, source_ids: torch.Tensor, source_mask: torch.Tensor | None = None) -> DellaEncoding:
        """The conditional prior's x-independent input alone (generation for the conditional tasks)."""
        cond = self._pool(source_ids, source_mask)  # [B, G, H]
        prior_c = torch.einsum("bgh,gkh->bgk", cond, self.prior_c_weight) + self.prior_bias  # [B, G, 2d]
        return DellaEncoding(pooled=None, post_x=None, cond_pooled=cond, prior_c=prior_c)

    def encode(self, batch: Batch) -> DellaEncoding:
        pooled = self._pool(batch.input_ids, batch.attention_mask)  # [B, G, H]
        post_x = torch.einsum("bgh,gkh->bgk", pooled, self.post_pool_weight) + self.post_bias  # [B, G, 2d]
        enc = DellaEncoding(pooled=pooled, post_x=post_x)
        if batch.source_ids is not None:
            src = self.encode_source(batch.source_ids, batch.source_mask)
            enc.cond_pooled, enc.prior_c = src.cond_pooled, src.prior_c
        return enc

    # ------------------------------------------------------------------------------------------
    # The layer-by-layer latent recurrence
    # ------------------------------------------------------------------------------------------
    def _recur(self, h: torch.Tensor, z_prev: torch.Tensor, l: int) -> torch.Tensor:
        """``h_l = tanh(W_hh h_{l-1} + b_hh + W_ih z_{l-1} + b_ih)`` (official ``_recurrent_latent``)."""
        return torch.tanh(F.linear(h, self.rnn_hh_weight[l], self.rnn_hh_bias[l])
                          + F.linear(z_prev, self.rnn_ih_weight[l], self.rnn_ih_bias[l]))

    def _prior_params(self, enc: DellaEncoding | None, h: torch.Tensor | None, l: int, shape) -> torch.Tensor:
        """Prior (mean; logvar) of group l, ``[..., B, 2d]`` (unclamped)."""
        base = enc.prior_c[:, l] if enc is not None and enc.prior_c is not None else None  # [B, 2d]
        if h is not None:
            out = F.linear(h, self.prior_h_weight[l])
            return out + (base if base is not None else self.prior_bias[l])
        if base is not None:
            return base.expand(*shape)
        return torch.zeros(shape, device=self.prior_bias.device, dtype=self.prior_bias.dtype)  # N(0, I)

    @staticmethod
    def _split(params: torch.Tensor):
        mean, logvar = params.chunk(2, -1)
        return mean.clamp(-CLAMP, CLAMP), logvar.clamp(-CLAMP, CLAMP)

    def sample_posterior(self, enc: DellaEncoding, k: int = 1, use_mean: bool = False,
                         eps: torch.Tensor | None = None) -> LatentSample:
        """K samples through the recurrence in one batched pass: every field ``[K, B, G, d]``.

        ``eps`` ``[K, B, G, d]`` (optional): the standard-normal draws to use (tests). The posterior
        means are also returned unclamped (``post_mean_unclamped``, what the official ``calc_au``
        reads); sampling, KL and densities use the clamped ones (official dist.Normal).
        """
        b, g, d = enc.post_x.shape[0], self.n_groups, self.latent_size
        if eps is None and not use_mean:
            eps = torch.randn(k, b, g, d, device=enc.post_x.device, dtype=enc.post_x.dtype)
        elif eps is not None and tuple(eps.shape) != (k, b, g, d):
            raise ValueError(f"della: eps must be [K, B, G, d] = {(k, b, g, d)}, got {tuple(eps.shape)}")
        shape = (k, b, 2 * d)
        h = z = enc.post_x.new_zeros(k, b, d)  # h_0 = z_0 = 0
        zs, post, prior, means_unclamped = [], [], [], []
        for l in range(g):
            if self.opts["recurrence"]:
                h = self._recur(h, z, l)  # [K, B, d]
                q = enc.post_x[:, l] + F.linear(h, self.post_h_weight[l])  # [K, B, 2d]
                p = self._prior_params(enc, h, l, shape)
            else:
                q = enc.post_x[:, l].expand(*shape)
                p = self._prior_params(enc, None, l, shape)
            q_mean, q_logvar = self._split(q)
            means_unclamped.append(q[..., :d])
            z = q_mean if use_mean else q_mean + (0.5 * q_logvar).exp() * eps[:, :, l]
            zs.append(z)
            post.append((q_mean, q_logvar))
            prior.append(self._split(p))
        stack = lambda items, i: torch.stack([it[i] for it in items], 2)  # noqa: E731 -> [K, B, G, d]
        return LatentSample(z=torch.stack(zs, 2), post_mean=stack(post, 0), post_logvar=stack(post, 1),
                            prior_mean=stack(prior, 0), prior_logvar=stack(prior, 1),
                            post_mean_unclamped=torch.stack(means_unclamped, 2))

    def _summaries(self, z: torch.Tensor) -> torch.Tensor:
        """``h_l`` for every group given the latents themselves: z ``[N, G, d]`` → ``[N, G, d]``."""
        h = torch.zeros_like(z[:, 0])
        prev = torch.zeros_like(z[:, 0])
        out = []
        for l in range(self.n_groups):
            h = self._recur(h, prev, l)
            out.append(h)
            prev = z[:, l]
        return torch.stack(out, 1)

    def log_posterior_pairwise(self, z: torch.Tensor, enc: DellaEncoding, chunk: int = 256) -> torch.Tensor:
        """log q(z_{i,l} | z_{i,<l}, x_j) for every pair: z ``[N, G, d]``, enc of M → ``[N, M, G]``.

        The posterior linear on ``[pool_l ; h_l]`` splits into ``W_pool pool_l(x_j) + b`` (in
        ``enc.post_x``) plus ``W_h h_l(z_{i,<l})`` (from z alone), so no pair re-runs the encoder.
        """
        if self.opts["recurrence"]:
            hz = torch.einsum("ngd,gkd->ngk", self._summaries(z), self.post_h_weight)  # [N, G, 2d]
        else:
            hz = z.new_zeros(*z.shape[:2], 2 * self.latent_size)
        out = []
        for s in range(0, z.shape[0], chunk):
            params = hz[s:s + chunk, None] + enc.post_x[None]  # [n, M, G, 2d]
            mean, logvar = self._split(params)
            out.append(gaussian_log_density(z[s:s + chunk, None], mean, logvar))  # [n, M, G]
        return torch.cat(out, 0)

    def sample_prior(self, n: int, enc: DellaEncoding | None = None) -> torch.Tensor:
        """z ~ p(z) layer by layer ``[n, G, d]`` (official ``GPT2VAEEncoder.get_prior``); for CVAEs
        ``enc`` (from ``encode`` or ``encode_source``) gives the sources, one per row."""
        if enc is not None and enc.prior_c is None:
            enc = None  # an unconditional encoding: the prior does not look at x
        if enc is not None and len(enc) != n:
            raise ValueError(f"sample_prior: n={n} but the encoding holds {len(enc)} sources")
        d = self.latent_size
        h = z = self.post_bias.new_zeros(1, n, d)
        zs = []
        for l in range(self.n_groups):
            h = self._recur(h, z, l) if self.opts["recurrence"] else None
            mean, logvar = self._split(self._prior_params(enc, h, l, (1, n, 2 * d)))
            z = mean + (0.5 * logvar).exp() * torch.randn_like(mean)
            zs.append(z[0])
        return torch.stack(zs, 1)

    # ------------------------------------------------------------------------------------------
    # Decoder
    # ------------------------------------------------------------------------------------------
    def _decode_hidden(self, input_ids, z, key_padding=None, position_ids=None, cache=None) -> torch.Tensor:
        """Final hidden states ``[B, T, H]`` of the causal pass with z fused into every layer's values."""
        if z is None:
            raise ValueError("della: decoder_logits needs z [B, G, d] (sample_posterior / sample_prior)")
        if z.dim() != 3 or z.shape[1] != self.n_groups:
            raise ValueError(f"della: z must be [B, {self.n_groups}, {self.latent_size}], got {tuple(z.shape)}")
        past = cache.get_seq_length() if cache is not None else 0
        hidden = self.backbone.embed(input_ids, position_ids, past)  # [B, T, H]
        try:
            for layer, wrapper in enumerate(self._fused):
                wrapper.factor = wrapper.fusion.latent_factor(z[:, self.group_of[layer]])  # [B, H]
            hidden, _ = self.backbone(hidden, causal=True, key_padding=key_padding, cache=cache)
        finally:
            for wrapper in self._fused:
                wrapper.factor = None
        return hidden

    def decoder_logits(self, input_ids, *, z=None, key_padding=None, position_ids=None, cache=None):
        return self.lm_head(self._decode_hidden(input_ids, z, key_padding, position_ids, cache))  # [B, T, V]

    def sequence_log_likelihood(self, input_ids, labels, z):
        """log p(scored tokens | z) ``[B]``: the causal pass (right padding: the fast path) and the LM
        head on scored positions only. ``forward`` and ``log_px_given_z`` (della/models/vae.py) use it."""
        return scored_token_log_likelihood(self._decode_hidden(input_ids, z), labels, self.lm_head)

    def forward(self, batch: Batch, eps: torch.Tensor | None = None) -> ModelOutput:
        """One training pass: encoder once, one posterior sample, decoder; KL unreduced ``[B, G, d]``.
        ``eps`` ``[B, G, d]``: the posterior noise to use (default: fresh draws)."""
        sample = self.sample_posterior(self.encode(batch), k=1, eps=None if eps is None else eps[None])
        z = sample.z[0]  # [B, G, d]
        return ModelOutput(rec=-self.sequence_log_likelihood(batch.input_ids, batch.labels, z), kl=sample.kl()[0],
                           z=z, post_mean=sample.post_mean[0], bow_ll=self.maybe_bow(z, batch))

    def bow_log_likelihood(self, z: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Official BoW: ``log_softmax(lm_head(mlp_bow(z_G)))`` scored at every target token: ``[B]``."""
        if self.mlp_bow is None:
            raise ValueError("della: the BoW loss needs cfg.options.bow = true")
        log_probs = loss_dtype(self.lm_head(self.mlp_bow(z[:, -1]))).log_softmax(-1)  # [B, V]
        targets = batch.labels[:, 1:]
        picked = log_probs.gather(1, targets.clamp(min=0))
        return (picked * (targets != -100)).sum(-1)


# ----------------------------------------------------------------------------------------------
# DELLA on BART (paper table 2: CNN/DM and Quora)
# ----------------------------------------------------------------------------------------------
class FusedValue(nn.Module):
    """Wraps a BART decoder layer's ``self_attn.v_proj`` so that its values are fused with the
    current latent, exactly as ``FusedQKV`` fuses GPT-2's values: ``v' = fusion(v, z_l)``.
    Inactive while ``factor`` is None."""

    def __init__(self, proj: nn.Module, fusion: LowRankFusion):
        super().__init__()
        self.proj = proj
        self.fusion = fusion
        self.factor: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, H] -> [B, T, H]
        v = self.proj(x)
        return v if self.factor is None else self.fusion(v, self.factor)


@register_model("della-bart")
class DellaBart(Della):
    """DELLA with a BART backbone (``model: della`` + ``model_config: {backbone: bart}``; the paper
    ran DELLA on BART for CNN/DM and Quora, table 2). Conditional tasks only.

    The seq2seq plumbing (source / target split at ``<sep>``, BART's decoder with our KV cache,
    pretrained loading from ``cfg.pretrained``) is the BART stack's (``della/models/bart.py``, as
    for the ``bart`` baseline), held as ``self.seq2seq``. DELLA's latent part is the GPT-2 model's, unchanged:

    * **Posterior**: BART's (bidirectional) encoder reads the whole example ``<bos> s <sep> y <eos>``;
      group l pools encoder layer ``pool_layers[l]`` (layer l when encoder and decoder are equally
      deep, as in BART-base) with the same attention pooling, then the same recurrence and
      ``recog_network``.
    * **Prior**: the same pooling over the encoder's layers for the source ``<bos> s <sep>`` alone
      gives ``c_l`` (the conditional prior ``Linear_p([h_l ; c_l])``).
    * **Decoder**: BART's decoder reads ``<sep> y <eos>`` with cross-attention to the encoded source
      (as BART does); in decoder layer l the self-attention values are fused with z_l by the same
      low-rank tensor product (``FusedValue`` around ``v_proj``).
    * The LM head is BART's own (tied to its embeddings, with ``final_logits_bias``); the BoW head
      (``options.bow``) projects through it.
    """

    conditional_only = True

    def __init__(self, cfg: ModelConfig):
        opts = _options(type(self), cfg.options)
        seq2seq = BartSeq2Seq(cfg)  # the seq2seq plumbing shared with the bart baseline
        bart_cfg = seq2seq.bart.config
        n_layer = bart_cfg.decoder_layers
        LatentModel.__init__(self, cfg, n_groups=n_layer if opts["layerwise"] else 1)
        self.bow_head = None
        self.seq2seq = seq2seq
        self._init_latent_networks(opts, bart_cfg.d_model, bart_cfg.encoder_layers, n_layer,
                                   bart_cfg.activation_function)
        self._fused: list[FusedValue] = []
        for layer, fusion in zip(seq2seq.bart.model.decoder.layers, self.fusions):
            layer.self_attn.v_proj = FusedValue(layer.self_attn.v_proj, fusion)
            self._fused.append(layer.self_attn.v_proj)
        self.lm_head = seq2seq.bart.lm_head
        self._init_bow()

    def _pool(self, input_ids: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """BART's encoder over ``input_ids`` (right-padded) + attention pooling: ``[B, T] -> [B, G, H]``."""
        if mask is None:
            mask = torch.ones_like(input_ids)
        out = self.seq2seq.bart.model.encoder(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
        return self._attention_pool(out.hidden_states[1:], mask)  # hidden_states[0]: the embeddings

    def decoder_logits(self, input_ids, *, z=None, key_padding=None, position_ids=None, cache=None):
        if z is None:
            raise ValueError("della-bart: decoder_logits needs z [B, G, d] (sample_posterior / sample_prior)")
        if z.dim() != 3 or z.shape[1] != self.n_groups:
            raise ValueError(f"della-bart: z must be [B, {self.n_groups}, {self.latent_size}], got {tuple(z.shape)}")
        try:
            for layer, wrapper in enumerate(self._fused):
                wrapper.factor = wrapper.fusion.latent_factor(z[:, self.group_of[layer]])  # [B, H]
            return self.seq2seq.decoder_logits(input_ids, key_padding=key_padding, position_ids=position_ids,
                                               cache=cache)
        finally:
            for wrapper in self._fused:
                wrapper.factor = None

    def sequence_log_likelihood(self, input_ids, labels, z):
        return token_log_likelihood(self.decoder_logits(input_ids, z=z), labels)
