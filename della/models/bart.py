"""The BART stack: transformers' ``BartForConditionalGeneration`` behind this project's model
interface, shared by the ``bart`` baseline (``baselines/bart.py``: the ``lm`` baseline in
encoder-decoder form) and DELLA on BART (``della-bart``, ``della/models/della.py``; the paper used
BART-base on CNN/DM and Quora, paper §4). Conditional tasks only.

Built from a small ``BartConfig`` of ``cfg``'s size (``n_layer`` encoder and ``n_layer`` decoder
layers) or loaded from ``cfg.pretrained`` (config ``model.pretrained`` of the recipe: a local folder
or hub name, e.g. ``facebook/bart-base``; the embeddings are resized to ``cfg.vocab_size``). The
task's tokenizer must then be BART's own (``tokenizer.pretrained`` = the same folder): the ids
index BART's embedding rows.

Our batches keep the GPT-2 layout ``<bos> s <sep> y <eos>`` (della/data/batching.py), so this model
splits each row at its first ``<sep>``:
  * encoder input: ``<bos> s <sep>`` (moved to the left of the row, positions 0..);
  * decoder input: ``<sep> y <eos>`` — ``<sep>`` is the decoder start token, decoder positions
    count from it (0 at ``<sep>``); ``position_ids`` passed by callers are therefore ignored.
``decoder_logits`` returns ``[B, T, V]`` aligned with ``input_ids`` like every other model: the
logits at a target position come from the decoder; those before ``<sep>`` are zeros (never scored).

Incremental decoding: the first call with an empty ``KVCache`` must contain the prompt (every
row's ``<sep>`` in the same column, i.e. prompts left-padded, as batched generation does); it
stores the encoder output in the cache (under the key ``"bart_encoder"``, so ``KVCache.reorder``
reorders it with the rest for beam search) and the decoder's self-attention keys/values per
layer. Later calls carry new target tokens only. Cross-attention keys/values are recomputed
from the cached encoder output at every step (simple; O(S·H²) per step and layer).
"""
from __future__ import annotations

import torch
from torch import nn
from transformers import BartConfig, BartForConditionalGeneration

from della.models.backbone import ModelConfig, attention_mask_4d, cache_kwarg
from della.models.pretrained import load_pretrained
from della.models.vae import TextModel

ENCODER_KEY = "bart_encoder"


def _shift_rows(ids: torch.Tensor, start: torch.Tensor, length: torch.Tensor, fill: int):
    """Row b of the result is ``ids[b, start_b : start_b + length_b]``, right-padded with ``fill``."""
    width = int(length.max())
    offsets = torch.arange(width, device=ids.device)[None]  # [1, W]
    index = (start[:, None] + offsets).clamp(max=ids.shape[1] - 1)
    valid = offsets < length[:, None]
    return torch.where(valid, ids.gather(1, index), torch.full_like(index, fill)), valid.long()


class BartSeq2Seq(TextModel):
    """BART as a text model of this project (not registered itself: ``bart`` and ``della-bart`` are)."""

    conditional_only = True  # an encoder-decoder needs a source: cnndm, wp, quora

    @classmethod
    def positions_needed(cls, target_tokens: int, source_tokens: int | None = None) -> int:
        """The encoder's ``<bos> s <sep>`` and the decoder's ``<sep> y <eos>`` count their positions
        apart (the module docstring)."""
        return max((source_tokens or 0) + 2, target_tokens + 2)

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        if cfg.pretrained:
            self.bart = load_pretrained(BartForConditionalGeneration, cfg.pretrained, vocab_size=cfg.vocab_size)
        else:
            config = BartConfig(
                vocab_size=cfg.vocab_size, d_model=cfg.n_embd, encoder_layers=cfg.n_layer,
                decoder_layers=cfg.n_layer, encoder_attention_heads=cfg.n_head, decoder_attention_heads=cfg.n_head,
                encoder_ffn_dim=4 * cfg.n_embd, decoder_ffn_dim=4 * cfg.n_embd,
                max_position_embeddings=cfg.n_positions, dropout=cfg.dropout, attention_dropout=cfg.dropout,
                activation_dropout=0.0, pad_token_id=cfg.pad_id, bos_token_id=cfg.bos_id, eos_token_id=cfg.eos_id,
                decoder_start_token_id=cfg.sep_id, forced_eos_token_id=None,
            )
            config._attn_implementation = "sdpa"
            self.bart = BartForConditionalGeneration(config)

    def _encode(self, input_ids, key_padding, sep_pos):
        """Encoder over each row's ``<bos> s <sep>``: ``(hidden [B, S, H], mask [B, S])``."""
        if key_padding is None:
            start = torch.zeros_like(sep_pos)
        else:
            start = key_padding[:, : input_ids.shape[1]].argmax(1)  # first real token (left padding)
        ids, mask = _shift_rows(input_ids, start, sep_pos - start + 1, self.cfg.pad_id)
        hidden = self.bart.model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        return hidden, mask

    def _decode(self, ids, mask, enc_hidden, enc_mask, cache, past):
        """Run the decoder on ``ids`` ``[B, T]`` (``mask`` ``[B, past+T]``): ``[B, T, V]``."""
        decoder = self.bart.model.decoder
        hidden = decoder.embed_tokens(ids) + decoder.embed_positions(ids, past)
        hidden = decoder.layernorm_embedding(hidden)
        hidden = nn.functional.dropout(hidden, p=decoder.dropout, training=self.training)
        self_mask = attention_mask_4d(mask, ids.shape[1], causal=True)  # [B, 1, T, past+T]
        cross_mask = enc_mask.bool()[:, None, None, :].expand(-1, 1, ids.shape[1], -1)
        for layer in decoder.layers:  # BartDecoderLayer.forward, with our cache on self-attention only
            residual = hidden
            hidden, _ = layer.self_attn(hidden, **{cache_kwarg(layer.self_attn.forward): cache},
                                        attention_mask=self_mask)
            hidden = layer.self_attn_layer_norm(residual + nn.functional.dropout(hidden, layer.dropout, self.training))
            residual = hidden
            hidden, _ = layer.encoder_attn(hidden, key_value_states=enc_hidden, attention_mask=cross_mask)
            hidden = layer.encoder_attn_layer_norm(residual + nn.functional.dropout(hidden, layer.dropout,
                                                                                   self.training))
            residual = hidden
            hidden = layer.activation_fn(layer.fc1(hidden))
            hidden = nn.functional.dropout(hidden, layer.activation_dropout, self.training)
            hidden = nn.functional.dropout(layer.fc2(hidden), layer.dropout, self.training)
            hidden = layer.final_layer_norm(residual + hidden)
        return self.bart.lm_head(hidden) + self.bart.final_logits_bias

    def decoder_logits(self, input_ids, *, z=None, key_padding=None, position_ids=None, cache=None):
        batch, length = input_ids.shape
        if cache is not None and ENCODER_KEY in cache.keys:  # later call: target tokens only
            past = cache.get_seq_length()
            mask = torch.ones(batch, past + length, dtype=torch.long, device=input_ids.device)
            if key_padding is not None:  # covers prompt + target; the decoder sees from <sep> on
                mask = key_padding[:, -(past + length):]
            return self._decode(input_ids, mask, cache.keys[ENCODER_KEY], cache.values[ENCODER_KEY], cache, past)

        is_sep = input_ids == self.cfg.sep_id
        if not is_sep.any(1).all():
            raise ValueError("bart is a seq2seq baseline: every row needs a <sep> after its source")
        sep_pos = is_sep.long().argmax(1)  # [B], first <sep>
        enc_hidden, enc_mask = self._encode(input_ids, key_padding, sep_pos)
        dec_ids, dec_mask = _shift_rows(input_ids, sep_pos, length - sep_pos, self.cfg.pad_id)
        if key_padding is not None:  # keep padding marked inside the decoder part
            dec_mask = dec_mask * _shift_rows(key_padding.long()[:, -length:], sep_pos, length - sep_pos, 0)[0]
        if cache is not None:
            if bool((sep_pos != sep_pos[0]).any()):
                raise ValueError("bart: with a cache, every prompt's <sep> must be in the same column (left-pad)")
            cache.keys[ENCODER_KEY], cache.values[ENCODER_KEY] = enc_hidden, enc_mask
        # a causal decoder with right padding: padded keys are only seen by padded queries
        logits = self._decode(dec_ids, dec_mask, enc_hidden, enc_mask, cache, 0)  # [B, T - min sep, V]
        # back to input_ids' columns: column t holds decoder step t - sep_b
        steps = torch.arange(length, device=input_ids.device)[None] - sep_pos[:, None]  # [B, T]
        gathered = logits.gather(1, steps.clamp(min=0)[..., None].expand(-1, -1, logits.shape[-1]))
        return gathered * (steps >= 0)[..., None].to(gathered.dtype)
