"""``lm``: the decoder alone, no latent (the paper's GPT-2 rows).

For the conditional tasks the source is a prefix of the decoder input and only the target is
scored (della/data/batching.py), so this is p(y | source) with the same backbone every other model uses.
"""
from __future__ import annotations

from torch import nn

from della.models.backbone import GPT2Backbone, ModelConfig
from della.models.registry import register_model
from della.models.vae import TextModel, scored_token_log_likelihood


@register_model("lm")
class LanguageModel(TextModel):
    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.backbone = GPT2Backbone(cfg)
        self.lm_head = nn.Linear(self.backbone.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.backbone.transformer.wte.weight  # GPT-2 ties its output projection

    def hidden_states(self, input_ids, key_padding=None, position_ids=None, cache=None):
        """Final hidden states ``[B, T, H]`` of the causal pass."""
        past = cache.get_seq_length() if cache is not None else 0
        hidden = self.backbone.embed(input_ids, position_ids, past)  # [B, T, H]
        return self.backbone(hidden, causal=True, key_padding=key_padding, cache=cache)[0]

    def decoder_logits(self, input_ids, *, z=None, key_padding=None, position_ids=None, cache=None):
        return self.lm_head(self.hidden_states(input_ids, key_padding, position_ids, cache))  # [B, T, V]

    def sequence_log_likelihood(self, input_ids, labels, z=None):
        # the LM head on scored positions only (same value as the full logits, less work)
        return scored_token_log_likelihood(self.hidden_states(input_ids), labels, self.lm_head)
