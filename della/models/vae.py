"""The interface every model of DELLA-Bench implements, and the Gaussian algebra they share.

Two kinds of model:

* ``TextModel`` — a language model ``p(x)`` (or ``p(y | source)`` for the conditional tasks,
  with the source as a prefix of the decoder input). It implements ``decoder_logits``.
* ``LatentModel`` — a VAE ``p(x | z) p(z)`` with posterior ``q(z | x)``. Latents are organised
  as ``L`` groups of ``d`` dimensions: DELLA has one group per Transformer layer, the
  single-latent baselines have ``L = 1``. Everything the metrics need (IW-PPL, ELBO, KL, MI, AU)
  is computed from four methods — ``encode``, ``sample_posterior``, ``log_posterior_pairwise``,
  ``decoder_logits`` — so every latent model is evaluated by one code path
  (``della/evaluation/latent.py``) and decoded by one (``della/evaluation/decoding.py``).

Shapes: B batch, T tokens, V vocabulary, K importance samples, L latent groups, d latent size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from della.data.batching import Batch
from della.models.backbone import KVCache, ModelConfig
from della.models.options import Option, check_options

LOG_2PI = math.log(2 * math.pi)


# ----------------------------------------------------------------------------------------------
# Gaussian algebra
# ----------------------------------------------------------------------------------------------
def gaussian_kl(mean_q, logvar_q, mean_p=None, logvar_p=None) -> torch.Tensor:
    """Analytic KL(N(mean_q, exp(logvar_q)) || N(mean_p, exp(logvar_p))) per dimension.

    ``KL = 0.5 * (logvar_p - logvar_q + (var_q + (mean_q - mean_p)^2) / var_p - 1)``; with
    ``mean_p = logvar_p = None`` the prior is N(0, I). Same shape as the inputs (no reduction).
    """
    if mean_p is None:
        return 0.5 * (logvar_q.exp() + mean_q.pow(2) - 1.0 - logvar_q)
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mean_q - mean_p).pow(2)) / logvar_p.exp() - 1.0)


def gaussian_log_density(z, mean, logvar) -> torch.Tensor:
    """log N(z; mean, exp(logvar)) summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (z - mean).pow(2) / logvar.exp()).sum(-1)


def reparameterize(mean, logvar, k: int | None = None) -> torch.Tensor:
    """z = mean + exp(logvar / 2) * eps; with ``k`` draws ``[k, *mean.shape]``."""
    shape = mean.shape if k is None else (k, *mean.shape)
    return mean + (0.5 * logvar).exp() * torch.randn(shape, dtype=mean.dtype, device=mean.device)


class GaussianHead(nn.Module):
    """Linear map to a diagonal Gaussian (mean, log-variance).

    ``clamp``: DELLA's official code clamps both to [-5, 5]. ``batch_norm``: BN-VAE (Zhu et al.,
    2020) normalises the posterior means over the batch with a fixed scale gamma so that every
    dimension's KL is bounded below; pass ``bn_gamma``. ``bias``: False for Optimus' official
    ``encoder.linear`` (``nn.Linear(H, 2d, bias=False)``, Optimus modeling_bert.py:675).
    """

    def __init__(self, in_features: int, latent_size: int, clamp: float | None = None,
                 batch_norm: bool = False, bn_gamma: float = 0.5, bias: bool = True):
        super().__init__()
        self.proj = nn.Linear(in_features, 2 * latent_size, bias=bias)
        self.clamp = clamp
        self.bn = None
        if batch_norm:
            self.bn = nn.BatchNorm1d(latent_size, affine=False)
            self.bn_gamma = bn_gamma
            self.bn_beta = nn.Parameter(torch.zeros(latent_size))

    def forward(self, features: torch.Tensor):
        mean, logvar = self.proj(features).chunk(2, dim=-1)
        if self.bn is not None:
            flat = mean.reshape(-1, mean.shape[-1])
            mean = (self.bn(flat) * self.bn_gamma + self.bn_beta).reshape(mean.shape)
        if self.clamp is not None:
            mean = mean.clamp(-self.clamp, self.clamp)
            logvar = logvar.clamp(-self.clamp, self.clamp)
        return mean, logvar


def loss_dtype(logits: torch.Tensor) -> torch.Tensor:
    """``logits`` in the dtype the losses are computed in: the model's own, at least float32 (a bf16
    or fp16 output under autocast is upcast; a float64 model keeps float64, as the official code)."""
    return logits.to(torch.promote_types(logits.dtype, torch.float32))


def token_log_likelihood(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed log p(token) per sequence: ``[B, T, V], [B, T] -> [B]``.

    transformers' convention: ``labels`` are aligned with the inputs and shifted here; -100 marks
    positions that are not predicted (padding, the conditional source). Computed in ``loss_dtype``.
    """
    shift_logits = loss_dtype(logits[:, :-1])
    shift_labels = labels[:, 1:]
    nll = F.cross_entropy(shift_logits.reshape(-1, shift_logits.shape[-1]), shift_labels.reshape(-1),
                          ignore_index=-100, reduction="none")
    return -nll.view(shift_labels.shape).sum(-1)


def scored_token_log_likelihood(hidden: torch.Tensor, labels: torch.Tensor, head) -> torch.Tensor:
    """``token_log_likelihood(head(hidden), labels)`` with the output projection run on the scored
    positions only: ``[B, T, H], [B, T] -> [B]``. No logits for padding, the source or the last
    position, and no copy of shifted ``[B, T, V]`` logits (a third of a small model's step)."""
    targets = labels[:, 1:]
    keep = targets != -100  # [B, T-1]
    row = keep.nonzero()[:, 0]  # the sequence of each scored position
    logits = loss_dtype(head(hidden[:, :-1][keep]))  # [N_scored, V]
    token_ll = -F.cross_entropy(logits, targets[keep], reduction="none")
    return torch.zeros(labels.shape[0], dtype=token_ll.dtype, device=token_ll.device).index_add(0, row, token_ll)


# ----------------------------------------------------------------------------------------------
# What models return
# ----------------------------------------------------------------------------------------------
@dataclass
class ModelOutput:
    """One training forward pass. ``rec``: summed token NLL per sequence ``[B]``;
    ``kl``: analytic KL per dimension ``[B, L, d]`` (None for LMs); ``z``: the sample ``[B, L, d]``."""

    rec: torch.Tensor
    kl: torch.Tensor | None = None
    z: torch.Tensor | None = None
    post_mean: torch.Tensor | None = None
    bow_ll: torch.Tensor | None = None  # bag-of-words log-likelihood [B] (models built with options.bow)


@dataclass
class LatentSample:
    """K posterior samples for a batch. All ``[K, B, L, d]``.

    For hierarchical models (DELLA) the prior of group l depends on the sampled lower groups,
    so ``prior_mean``/``prior_logvar`` are per sample too; for N(0, I) priors they are zeros.
    """

    z: torch.Tensor
    post_mean: torch.Tensor
    post_logvar: torch.Tensor
    prior_mean: torch.Tensor
    prior_logvar: torch.Tensor
    # the posterior mean before any clamp (DELLA clamps it to [-5, 5]; the official calc_au reads it
    # unclamped, model.py:760-761); None: no clamp, the same as post_mean
    post_mean_unclamped: torch.Tensor | None = None

    def __getitem__(self, index) -> "LatentSample":
        """The samples ``index`` (a slice or index of the K axis) of every field."""
        return LatentSample(*(None if v is None else v[index] for v in
                              (self.z, self.post_mean, self.post_logvar, self.prior_mean, self.prior_logvar,
                               self.post_mean_unclamped)))

    def log_q(self) -> torch.Tensor:
        """log q(z_l | z_<l, x) per group: ``[K, B, L]``."""
        return gaussian_log_density(self.z, self.post_mean, self.post_logvar)

    def log_prior(self) -> torch.Tensor:
        """log p(z_l | z_<l) per group: ``[K, B, L]``."""
        return gaussian_log_density(self.z, self.prior_mean, self.prior_logvar)

    def kl(self) -> torch.Tensor:
        """Analytic KL per dimension: ``[K, B, L, d]``."""
        return gaussian_kl(self.post_mean, self.post_logvar, self.prior_mean, self.prior_logvar)


# ----------------------------------------------------------------------------------------------
# The interface
# ----------------------------------------------------------------------------------------------
class TextModel(nn.Module):
    """A (conditional) language model. Subclasses implement ``decoder_logits``.

    Class attributes a subclass sets:
      ``name``           registry name (``@register_model`` sets it)
      ``has_latent``     False here, True for ``LatentModel``
      ``default_recipe`` objective settings used when a config names the bare model
                         (see della/training/objectives.py: ``beta_schedule``, ``free_bits``, ...)
      ``conditional_only`` True for models that need a source (encoder-decoders): the DAG
                         runs them on the conditional tasks only
      ``OPTIONS``        the model's own switches (``model_config.options``), ``{name: Option}``
                         (della/models/options.py); a subclass inherits its parents'

    ``self.options`` holds ``cfg.options`` checked against them and completed with the defaults.
    """

    name: ClassVar[str] = "?"
    has_latent: ClassVar[bool] = False
    default_recipe: ClassVar[dict] = {}
    conditional_only: ClassVar[bool] = False
    OPTIONS: ClassVar[dict] = {}

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.options = check_options(type(self), cfg.options)

    def decoder_logits(self, input_ids: torch.Tensor, *, z: torch.Tensor | None = None,
                       key_padding: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                       cache: KVCache | None = None) -> torch.Tensor:
        """Next-token logits ``[B, T, V]`` for decoder inputs ``input_ids`` ``[B, T]``.

        ``z`` ``[B, L, d]`` (latent models). ``key_padding`` ``[B, P+T]`` (1 = real) covers the
        cached and the new tokens (None: no padding, or right padding only). ``position_ids``
        ``[B, T]`` (None: ``P .. P+T-1``). ``cache``: filled on the first call, extended after.
        A model that adds key/value slots of its own (a latent "memory") adds them to the cache
        on the first call and accounts for them in the mask itself.
        """
        raise NotImplementedError

    def sequence_log_likelihood(self, input_ids: torch.Tensor, labels: torch.Tensor,
                                z: torch.Tensor | None = None) -> torch.Tensor:
        """log p(scored tokens [| z]) per sequence ``[B]`` (right-padded inputs, no cache). A model
        may override it to run its output layer on the scored positions only
        (``scored_token_log_likelihood``)."""
        return token_log_likelihood(self.decoder_logits(input_ids, z=z), labels)

    def forward(self, batch: Batch) -> ModelOutput:
        return ModelOutput(rec=-self.sequence_log_likelihood(batch.input_ids, batch.labels))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @classmethod
    def positions_needed(cls, target_tokens: int, source_tokens: int | None = None) -> int:
        """The positions (``n_positions``) one example of ``target_tokens`` target tokens, after a
        source of ``source_tokens`` (None: unconditional), takes in this model: one sequence
        ``<bos> [source <sep>] target <eos>`` (della/data/batching.py). The config is checked
        against it before any job runs (della/config.py); an encoder-decoder overrides it."""
        return 1 + (0 if source_tokens is None else source_tokens + 1) + target_tokens + 1


class LatentModel(TextModel):
    """A VAE over text. ``n_groups`` (L) latent groups of ``latent_size`` (d) dimensions.

    ``official_iw_samples``: the number of importance samples of the model's official evaluation
    code (DELLA's ``calc_iwnll``: 30, Optimus' ``loss_iw``: 100). The paper-convention columns
    (``ppl_paper``, ``neg_elbo_paper``, ``kl_paper``; della/evaluation/latent.py) use it whatever
    ``evaluate.iw_samples`` says; None: a model without official code, ``evaluate.iw_samples``.
    """

    has_latent: ClassVar[bool] = True
    official_iw_samples: ClassVar[int | None] = None
    OPTIONS: ClassVar[dict] = {
        "bow": Option(bool, False, "a bag-of-words head on z (Zhao et al. 2017), trained when the objective's "
                      "`bow_weight` > 0 (set automatically then)"),
    }

    def __init__(self, cfg: ModelConfig, n_groups: int = 1):
        super().__init__(cfg)
        self.n_groups = n_groups
        self.latent_size = cfg.latent_size
        # Bag-of-words head (Zhao et al., 2017), used only when the objective asks for it.
        self.bow_head = nn.Linear(n_groups * cfg.latent_size, cfg.vocab_size) if self.options["bow"] else None

    # -- posterior and prior -------------------------------------------------------------------
    def encode(self, batch: Batch) -> Any:
        """Everything of q(z | x) (and, for CVAEs, of the conditional prior) that does not depend
        on z: computed once and shared by all K samples and by every pair in MI."""
        raise NotImplementedError

    def sample_posterior(self, enc: Any, k: int = 1, use_mean: bool = False,
                         eps: torch.Tensor | None = None) -> LatentSample:
        """Draw ``k`` samples of z ~ q(z | x) in one batched pass (``use_mean``: z = the mean,
        layer by layer, for active units), with the prior's parameters at those samples.
        ``eps`` ``[k, B, L, d]``: the standard-normal draws to use instead of fresh ones
        (``z = mean + std * eps``; the parity tests replay the official code's noise with it)."""
        raise NotImplementedError

    def log_posterior_pairwise(self, z: torch.Tensor, enc: Any) -> torch.Tensor:
        """log q(z_i | x_j) per group for every pair: z ``[N, L, d]`` (one sample per x_i) and
        the encoding of M sentences x_j → ``[N, M, L]``. For hierarchical models group l is the
        conditional factor q(z_l | z_{i,<l}, x_j); their sum over l is the joint log density."""
        raise NotImplementedError

    def sample_prior(self, n: int, enc: Any | None = None) -> torch.Tensor:
        """z ~ p(z) ``[n, L, d]``; for CVAEs, ``enc`` of the sources and ``n`` = their count."""
        raise NotImplementedError

    # -- generic parts -------------------------------------------------------------------------
    def forward(self, batch: Batch, eps: torch.Tensor | None = None) -> ModelOutput:
        """One training pass; ``eps`` ``[B, L, d]``: the posterior noise to use (default: fresh)."""
        enc = self.encode(batch)
        sample = self.sample_posterior(enc, k=1, eps=None if eps is None else eps[None])
        z = sample.z[0]
        return ModelOutput(rec=-self.sequence_log_likelihood(batch.input_ids, batch.labels, z), kl=sample.kl()[0],
                           z=z, post_mean=sample.post_mean[0], bow_ll=self.maybe_bow(z, batch))

    def maybe_bow(self, z: torch.Tensor, batch: Batch) -> torch.Tensor | None:
        """The BoW log-likelihood when the model was built with ``options.bow`` (inside ``forward``,
        so that every trained parameter is reached from the forward pass, as DDP requires)."""
        return self.bow_log_likelihood(z, batch) if self.options["bow"] else None

    def log_px_given_z(self, batch: Batch, z: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
        """log p(x | z) for K latents per sentence in batched decoder passes: z ``[K, B, L, d]``
        → ``[K, B]``. The K copies of the batch run as one batch of K·B (``chunk`` copies at a time)."""
        k, b = z.shape[:2]
        chunk = chunk or k
        out = []
        for start in range(0, k, chunk):
            zc = z[start:start + chunk]
            kc = zc.shape[0]
            ll = self.sequence_log_likelihood(batch.input_ids.repeat(kc, 1), batch.labels.repeat(kc, 1),
                                              zc.reshape(kc * b, *zc.shape[2:]))
            out.append(ll.view(kc, b))
        return torch.cat(out, 0)

    def bow_log_likelihood(self, z: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Bag-of-words log-likelihood of the scored tokens given z (Zhao et al., 2017): ``[B]``."""
        log_probs = self.bow_head(z.reshape(z.shape[0], -1)).log_softmax(-1)  # [B, V]
        targets = batch.labels[:, 1:]
        mask = targets != -100
        picked = log_probs.gather(1, targets.clamp(min=0))
        return (picked * mask).sum(-1)
