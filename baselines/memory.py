"""``memory``: z as one extra key/value slot that every token attends to, in every layer
(Optimus' "latent as GPT memory", Fang et al. 2021's "Memory" variant).

``[m_1; ..; m_L] = W_m z`` (``W_m: d -> L*H``, no bias); in layer l the attention keys and values
are ``[m_l ; K_l]`` and ``[m_l ; V_l]`` (``m_l`` split into heads, used as both key and value as in
Optimus; option ``memory_kv: separate`` gives z its own key and value maps). The slot
is not a token: it has no position, and text positions are unchanged. Posterior, prior and the
cache handling: ``baselines/_single_latent.py``.
"""
from __future__ import annotations

from baselines._single_latent import MEMORY_KV_OPTION, SingleLatentVAE
from della.models.backbone import ModelConfig
from della.models.registry import register_model


@register_model("memory")
class MemoryVAE(SingleLatentVAE):
    memory_slots = 1
    OPTIONS = {"memory_kv": MEMORY_KV_OPTION}

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.latent_memory = self.make_memory()
