"""``optimus``: Li et al. 2020, "Optimus: Organizing Sentences via Pre-trained Modeling of a
Latent Space" — a BERT encoder and a GPT-2 decoder joined by one latent z (32 dimensions).

Encoder: transformers' ``BertModel``; its pooler (``tanh(W h_[CLS])``, the first token) →
``GaussianHead`` → ``(mu, log sigma^2)``. Small runs build BERT from a ``BertConfig`` of the
decoder's size (layers, width, heads of ``cfg``) reading the decoder's token ids (our ``<bos>``
plays [CLS]). ``cfg.options["encoder_pretrained"]`` (a local folder or hub name) loads a real BERT
AND its tokenizer, as Optimus does (``BertTokenizer`` for the encoder, ``GPT2Tokenizer`` for the
decoder): the encoder then reads BERT WordPieces (``[CLS] x [SEP]``; conditional tasks ``[CLS] s
[SEP] y [SEP]`` for the posterior and ``[CLS] s [SEP]`` for the prior), carried by each batch next
to the decoder's ids (della/data/batching.py ``encoder_ids``), so BERT's word embeddings keep their meaning.

Decoder: GPT-2 receiving z through both of Optimus' paths, each with its own map (no bias):
  * embedding: ``e_t = wte(x_t) + wpe(t) + W_e z``  (``W_e: d -> H``);
  * memory:    ``[m_1; ..; m_L] = W_m z`` (``W_m: d -> L*H``), ``m_l`` prepended as one past
    key AND value in layer l (Optimus uses the same vector for both), attended by every token.

``cfg.options["convention"]``: ``principled`` (default) or ``official``. Two differences, both
reproduced to round-off by ``official`` against the official code's golden fixture
(tests/test_parity_official.py):
  * text positions: the official decoder puts the text at positions 1..T behind the memory slot
    (Optimus modeling_gpt2.py:412, 418-420: ``past_length = 1``, so ``wpe`` row 0 is never used);
    ``principled`` keeps GPT-2's positions 0..T-1 (a pretrained GPT-2 reads ``<bos>`` at position 0
    as in its pretraining; the memory slot is not a token). With ``wpe`` rows shifted by one the two
    are the same function (``ours[t] = official[t + 1]``);
  * posterior head bias: the official ``encoder.linear`` is ``nn.Linear(H, 2d, bias=False)``
    (modeling_bert.py:675); ``principled`` keeps the bias of the ``GaussianHead`` every
    single-latent baseline shares, so that the baselines differ only in how z reaches the decoder.

Recipe (Optimus' training): β = 0 for the first half of training, linear to 1 over the next
quarter, then 1 (``frange_cycle_zero_linear``, utils.py:996-1010); free bits λ = 0.5 per
sentence AND dimension: a dimension's KL term of a sentence is left out of the objective when it is
not above λ (vae.py:126-128: ``kl_mask = (loss_kl > dim_target_kl)`` on the ``[B, d]`` KL, not on
its batch mean). The schedules and the mask live in della/training/objectives.py. Evaluation uses 100
importance samples for the paper columns, as the official ``calc_iwnll`` (utils.py:1083).
"""
from __future__ import annotations

import torch
from torch import nn
from transformers import BertConfig, BertModel

from baselines._single_latent import INIT_STD, MEMORY_KV_OPTION, SingleLatentVAE, gpt2_init_
from della.models.backbone import ModelConfig
from della.models.options import Option, check_options
from della.models.pretrained import load_pretrained
from della.models.registry import register_model


def build_bert(cfg: ModelConfig) -> BertModel:
    """A pretrained BERT (``options.encoder_pretrained``) or a small one of the decoder's shape."""
    name = cfg.options.get("encoder_pretrained")
    if name:
        return load_pretrained(BertModel, name, add_pooling_layer=True)
    config = BertConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.n_embd,
        num_hidden_layers=cfg.n_layer,
        num_attention_heads=cfg.n_head,
        intermediate_size=4 * cfg.n_embd,
        max_position_embeddings=cfg.n_positions,
        hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout,
        pad_token_id=cfg.pad_id,
    )
    return BertModel(config, add_pooling_layer=True)


CONVENTIONS = ("principled", "official")


@register_model("optimus")
class Optimus(SingleLatentVAE):
    default_recipe = {"beta_schedule": "optimus", "free_bits": 0.5, "free_bits_mode": "dimension"}
    memory_slots = 1
    official_iw_samples = 100  # official calc_iwnll: loss_iw(x0, x1, nsamples=100, ns=5), utils.py:1083
    OPTIONS = {
        "convention": Option(str, "principled", "`official`: text at positions 1..T behind the memory slot and no "
                             "posterior-head bias, as Optimus' code (tests/test_parity_official.py)",
                             choices=CONVENTIONS),
        "encoder_pretrained": Option(str, None, "a BERT folder or hub name: the encoder and its tokenizer "
                                     "(Optimus' bert-base-cased); null: a small BERT of the decoder's shape",
                                     nullable=True),
        "memory_kv": MEMORY_KV_OPTION,
    }

    def __init__(self, cfg: ModelConfig):
        official = check_options(type(self), cfg.options)["convention"] == "official"  # before the heads exist
        encoder = build_bert(cfg)
        super().__init__(cfg, feature_size=encoder.config.hidden_size, posterior_bias=not official)
        self.text_position_offset = self.memory_slots if official else 0
        self.encoder = encoder
        # a pretrained BERT reads its own WordPieces (train / evaluate build them with this tokenizer)
        self.encoder_tokenizer = None
        if self.options["encoder_pretrained"]:
            from transformers import AutoTokenizer

            self.encoder_tokenizer = AutoTokenizer.from_pretrained(self.options["encoder_pretrained"])
        self.z_to_embedding = gpt2_init_(nn.Linear(cfg.latent_size, self.n_embd, bias=False), output_std=INIT_STD)
        self.latent_memory = self.make_memory()

    def encoder_inputs(self, batch):
        """The batch's encoder ids when it carries them (a pretrained BERT's WordPieces, or any
        encoder vocabulary of the caller's), else the decoder's own ids."""
        if batch.encoder_ids is not None:
            return batch.encoder_ids, batch.encoder_mask, batch.encoder_source_ids, batch.encoder_source_mask
        if self.encoder_tokenizer is not None:
            raise ValueError("optimus with a pretrained BERT (options.encoder_pretrained) needs batches with BERT ids "
                             "(encoder_ids): build them with encode_examples(..., model.encoder_tokenizer)")
        return super().encoder_inputs(batch)

    def pool(self, input_ids: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """BERT's pooled first token: ``[B, T] -> [B, H_bert]``. Used for the posterior (the whole
        decoder input) and, on conditional tasks, for the prior (the source)."""
        return self.encoder(input_ids=input_ids, attention_mask=mask).pooler_output

    def latent_embedding(self, z):
        return self.z_to_embedding(z)  # [B, 1, d] -> [B, 1, H]
