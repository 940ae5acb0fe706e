"""Turning examples into padded tensors.

Layout of a decoder input (GPT-2 style; the official DELLA code feeds the condition as a prefix):

* unconditional:  ``<bos> x_1 .. x_n <eos>``;             scored: x_1 .. x_n, <eos>
* conditional:    ``<bos> s_1 .. s_m <sep> y_1 .. y_n <eos>``; scored: y_1 .. y_n, <eos>

Sequences are right-padded with ``<pad>``. ``labels`` follow transformers' convention (aligned
with ``input_ids``, shifted inside the loss, -100 = not scored), so the token denominator of every
per-token figure is the number of scored tokens: the target's tokens plus its ``<eos>``.
For the conditional tasks the source alone is also given as ``source_ids`` (``<bos> s <sep>``),
which models with a conditional prior encode.

A model whose encoder has its own tokenizer (Optimus with a pretrained BERT: the encoder reads BERT
WordPieces, the decoder GPT-2 BPE, as in Optimus' code) gets a second id sequence per example:
``encoder_ids`` = ``[CLS] x [SEP]`` (conditional: ``[CLS] s [SEP] y [SEP]``) and, for the
conditional prior, ``encoder_source_ids`` = ``[CLS] s [SEP]``, in BERT's template.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch


class TensorRecord:
    """A dataclass of batch-first tensors (or None): moved to a device and concatenated along the
    batch as a whole. ``Batch`` and the models' encodings (``DellaEncoding``, ``GaussianEncoding``)
    are such records."""

    def __len__(self) -> int:
        return next(v for v in self._values() if v is not None).shape[0]

    def _values(self):
        return (getattr(self, f.name) for f in fields(self))

    def to(self, device):
        return type(self)(*(None if v is None else v.to(device) for v in self._values()))

    @classmethod
    def cat(cls, records: list):
        columns = zip(*(r._values() for r in records))
        return cls(*(None if col[0] is None else torch.cat(col, 0) for col in columns))


@dataclass
class Batch(TensorRecord):
    input_ids: torch.Tensor  # [B, T]
    attention_mask: torch.Tensor  # [B, T], 1 = real token
    labels: torch.Tensor  # [B, T], -100 = not scored
    source_ids: torch.Tensor | None = None  # [B, S] (conditional tasks)
    source_mask: torch.Tensor | None = None  # [B, S]
    prompt_length: torch.Tensor | None = None  # [B] tokens before the first scored one (<bos> [s <sep>])
    encoder_ids: torch.Tensor | None = None  # [B, E] the encoder tokenizer's ids of the whole example
    encoder_mask: torch.Tensor | None = None  # [B, E]
    encoder_source_ids: torch.Tensor | None = None  # [B, F] the encoder tokenizer's ids of the source
    encoder_source_mask: torch.Tensor | None = None  # [B, F]

    @property
    def n_tokens(self) -> torch.Tensor:
        """Scored (predicted) tokens per sequence: ``[B]``."""
        return (self.labels[:, 1:] != -100).sum(-1)

    @property
    def target_mask(self) -> torch.Tensor:
        """1 where ``input_ids`` holds a scored token (the target and its <eos>): ``[B, T]``."""
        return (self.labels != -100).long()


def encode_for_encoder(encoder_tokenizer, target: str, source: str | None, max_length: int,
                       max_source_length: int):
    """Ids of one example for an encoder with its own (transformers, BERT-style) tokenizer: ``(ids
    of the whole example, ids of the source or None)`` in BERT's template (``[CLS] a [SEP]``,
    ``[CLS] a [SEP] b [SEP]``), each text truncated to the decoder's budget."""
    cls, sep = encoder_tokenizer.cls_token_id, encoder_tokenizer.sep_token_id
    if cls is None or sep is None:
        raise ValueError(f"encoder tokenizer {encoder_tokenizer.name_or_path!r} has no [CLS]/[SEP] tokens "
                         f"(a BERT tokenizer is expected)")

    def ids(text, budget):
        return encoder_tokenizer(text, add_special_tokens=False, truncation=True, max_length=budget)["input_ids"]

    target_ids = ids(target, max_length)
    if source is None:
        return [cls, *target_ids, sep], None
    source_ids = ids(source, max_source_length)
    return [cls, *source_ids, sep, *target_ids, sep], [cls, *source_ids, sep]


def encode_example(tokenizer, target: str, source: str | None, max_length: int, max_source_length: int,
                   encoder_tokenizer=None):
    """Token ids of one example, truncated: returns (decoder ids, prompt length, source ids or None,
    encoder-tokenizer ids or None (see ``encode_for_encoder``)).

    A target longer than ``max_length`` tokens is cut WITHOUT ``<eos>``: the cut is not the end of
    the sentence, so neither training nor scoring may teach or reward ending it there."""
    target_ids = tokenizer.encode(target)
    cut = len(target_ids) > max_length
    target_ids = target_ids[: max_length]
    if source is None:
        prompt = [tokenizer.bos_id]
        source_ids = None
    else:
        source_ids = [tokenizer.bos_id] + tokenizer.encode(source)[: max_source_length] + [tokenizer.sep_id]
        prompt = source_ids
    encoder = None
    if encoder_tokenizer is not None:
        encoder = encode_for_encoder(encoder_tokenizer, target, source, max_length, max_source_length)
    return prompt + target_ids + ([] if cut else [tokenizer.eos_id]), len(prompt), source_ids, encoder


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


def collate(encoded: list[tuple], pad_id: int, encoder_pad_id: int = 0) -> Batch:
    """Pad a list of ``encode_example`` outputs into a Batch (``encoder_pad_id``: the encoder
    tokenizer's padding id, when the examples carry encoder ids)."""
    ids = [e[0] for e in encoded]
    input_ids = _pad(ids, pad_id)
    attention_mask = _pad([[1] * len(r) for r in ids], 0)
    labels = input_ids.clone()
    positions = torch.arange(input_ids.shape[1])[None, :]
    prompt_length = torch.tensor([e[1] for e in encoded])
    # the first scored token is the one right after the prompt
    labels[(positions < prompt_length[:, None]) | (attention_mask == 0)] = -100
    source_ids = source_mask = None
    if encoded[0][2] is not None:
        source_ids = _pad([e[2] for e in encoded], pad_id)
        source_mask = _pad([[1] * len(e[2]) for e in encoded], 0)
    enc = [e[3] if len(e) > 3 else None for e in encoded]
    encoder_ids = encoder_mask = encoder_source_ids = encoder_source_mask = None
    if enc[0] is not None:
        encoder_ids = _pad([e[0] for e in enc], encoder_pad_id)
        encoder_mask = _pad([[1] * len(e[0]) for e in enc], 0)
        if enc[0][1] is not None:
            encoder_source_ids = _pad([e[1] for e in enc], encoder_pad_id)
            encoder_source_mask = _pad([[1] * len(e[1]) for e in enc], 0)
    return Batch(input_ids, attention_mask, labels, source_ids, source_mask, prompt_length,
                 encoder_ids, encoder_mask, encoder_source_ids, encoder_source_mask)


def encode_examples(tokenizer, examples, max_length: int, max_source_length: int, encoder_tokenizer=None):
    """Every example's ids (``encode_example``). ``encoder_tokenizer``: the model's own encoder
    tokenizer (``model.encoder_tokenizer``, e.g. Optimus with a pretrained BERT), which adds a second
    id sequence per example."""
    return [encode_example(tokenizer, ex.target, ex.source, max_length, max_source_length, encoder_tokenizer)
            for ex in examples]


def make_batches(encoded, batch_size: int, pad_id: int, order=None, encoder_pad_id: int = 0) -> list[Batch]:
    """Consecutive ``batch_size`` slices of ``encoded`` in ``order`` (default: as given), each collated."""
    order = range(len(encoded)) if order is None else order
    order = list(order)
    return [collate([encoded[i] for i in order[s:s + batch_size]], pad_id, encoder_pad_id)
            for s in range(0, len(order), batch_size)]


def encoder_pad_id(model) -> int:
    """Padding id of the model's own encoder tokenizer (0 when it has none; then unused)."""
    enc_tok = getattr(model, "encoder_tokenizer", None)
    return enc_tok.pad_token_id if enc_tok is not None and enc_tok.pad_token_id is not None else 0
