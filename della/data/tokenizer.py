"""Tokenisers: a byte-level BPE trained on a task's training split (the offline demo), or a
pretrained one (GPT-2's) loaded from a folder or hub name. Both become the same ``TextTokenizer``
with four special tokens of our own: ``<pad> <bos> <eos> <sep>`` (appended to a pretrained
vocabulary, whose embedding matrix the models resize)."""
from __future__ import annotations

import os
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIAL_TOKENS = ["<pad>", "<bos>", "<eos>", "<sep>"]


class TextTokenizer:
    def __init__(self, tokenizer: Tokenizer):
        missing = [t for t in SPECIAL_TOKENS if tokenizer.token_to_id(t) is None]
        if missing:
            tokenizer.add_special_tokens(missing)
        self.tokenizer = tokenizer
        self.pad_id, self.bos_id, self.eos_id, self.sep_id = (tokenizer.token_to_id(t) for t in SPECIAL_TOKENS)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def special_ids(self) -> dict[str, int]:
        return {"pad_id": self.pad_id, "bos_id": self.bos_id, "eos_id": self.eos_id, "sep_id": self.sep_id}

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids) -> str:
        """Text of ``ids``, cut at the first <eos>, special tokens dropped."""
        ids = list(ids)
        if self.eos_id in ids:
            ids = ids[: ids.index(self.eos_id)]
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

    @classmethod
    def train(cls, texts, vocab_size: int = 2000, min_frequency: int = 2) -> "TextTokenizer":
        """Byte-level BPE (GPT-2's scheme) trained on ``texts`` with the `tokenizers` library."""
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                      special_tokens=SPECIAL_TOKENS,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      # its progress bar writes to the process's own stdout, past the job log,
                                      # onto the terminal of the run (blank lines there)
                                      show_progress=False)
        tok.train_from_iterator(texts, trainer=trainer)
        return cls(tok)

    @classmethod
    def load(cls, name_or_path: str | os.PathLike) -> "TextTokenizer":
        """A ``tokenizer.json`` we saved, or a pretrained tokenizer (folder or hub name) via
        transformers' AutoTokenizer, e.g. ``../shared/tokenizers/gpt2`` (works offline)."""
        path = Path(name_or_path)
        if path.is_file():
            return cls(Tokenizer.from_file(str(path)))
        if (path / "tokenizer.json").is_file() and not (path / "vocab.json").exists():
            return cls(Tokenizer.from_file(str(path / "tokenizer.json")))
        from transformers import AutoTokenizer

        pretrained = AutoTokenizer.from_pretrained(str(name_or_path))
        return cls(pretrained.backend_tokenizer)

    def save(self, path: str | os.PathLike) -> None:
        """Write ``tokenizer.json`` atomically."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        self.tokenizer.save(str(tmp))
        os.replace(tmp, path)
