"""``softmax``: z combined with the last hidden state right before the output projection
(Fang et al. 2021's "Softmax" variant; DELLA paper §5 baselines).

``logits_t = W_out (h_t + W_s z)`` where ``h_t`` is GPT-2's final hidden state (after ``ln_f``),
``W_s: d -> H`` (no bias) and ``W_out`` the LM head (tied to the token embeddings). Adding the
projected latent is the form of Fang et al.; z reaches no attention layer, so it can only shift
each step's output distribution. Posterior, prior: ``baselines/_single_latent.py``.
"""
from __future__ import annotations

from torch import nn

from baselines._single_latent import SingleLatentVAE, gpt2_init_
from della.models.backbone import ModelConfig
from della.models.registry import register_model


@register_model("softmax")
class SoftmaxVAE(SingleLatentVAE):
    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.z_to_output = gpt2_init_(nn.Linear(cfg.latent_size, self.n_embd, bias=False))

    def latent_output(self, hidden, z):
        return hidden + self.z_to_output(z)  # [B, T, H] + [B, 1, H]
