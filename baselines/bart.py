"""``bart``: the ``lm`` baseline in encoder-decoder form for the seq2seq tasks (the paper used
BART-base on CNN/DM and Quora; paper §4). Conditional tasks only.

The model is the project's BART stack as it is (``della/models/bart.py``: how a row ``<bos> s <sep>
y <eos>`` is split into encoder and decoder input, pretrained loading, incremental decoding), which
DELLA on BART (``della-bart``) builds on too.
"""
from __future__ import annotations

from della.models.bart import BartSeq2Seq
from della.models.registry import register_model


@register_model("bart")
class BartLM(BartSeq2Seq):
    """transformers' ``BartForConditionalGeneration``: source into the encoder, target out of the decoder."""
