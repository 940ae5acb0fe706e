"""Snakemake script: a byte-level BPE trained on the task's training split, or a pretrained
tokenizer (config `tokenizer.pretrained`, e.g. ../shared/tokenizers/gpt2), saved as tokenizer.json."""
import sys
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # noqa: F821

from della.data.readers import read_jsonl  # noqa: E402
from della.data.tokenizer import TextTokenizer  # noqa: E402
from della.paths import pretrained_location  # noqa: E402

settings = snakemake.params.tokenizer  # noqa: F821
if settings.get("pretrained"):
    # relative folders resolve against the project root (README, Configs)
    tokenizer = TextTokenizer.load(pretrained_location(settings["pretrained"], Path(snakemake.scriptdir).resolve().parents[1]))  # noqa: F821
else:
    examples = read_jsonl(snakemake.input.train)  # noqa: F821
    texts = [ex.target for ex in examples] + [ex.source for ex in examples if ex.source]
    tokenizer = TextTokenizer.train(texts, vocab_size=settings["vocab_size"])
print(f"vocabulary: {tokenizer.vocab_size} tokens; special ids {tokenizer.special_ids()}")
tokenizer.save(snakemake.output[0])  # noqa: F821
