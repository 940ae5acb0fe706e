"""``embed``: z added to every token embedding (Li et al. 2020 "Optimus" / Fang et al. 2021's
"Embedding" variant of a Transformer VAE).

Decoder input at position t: ``e_t = wte(x_t) + wpe(t) + W_e z`` (``W_e: d -> H``, no bias),
then GPT-2's embedding dropout and the causal blocks. Posterior, prior (N(0, I), or p(z | source)
for the conditional tasks) and everything else: ``baselines/_single_latent.py``.
"""
from __future__ import annotations

from torch import nn

from baselines._single_latent import INIT_STD, SingleLatentVAE, gpt2_init_
from della.models.backbone import ModelConfig
from della.models.registry import register_model


@register_model("embed")
class EmbedVAE(SingleLatentVAE):
    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.z_to_embedding = gpt2_init_(nn.Linear(cfg.latent_size, self.n_embd, bias=False), output_std=INIT_STD)

    def latent_embedding(self, z):
        return self.z_to_embedding(z)  # [B, 1, d] -> [B, 1, H]
