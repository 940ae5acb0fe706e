"""Snakemake script: a byte-level BPE trained on the task's training split, or a pretrained
tokenizer (config `tokenizer.pretrained`, e.g. ../shared/tokenizers/gpt2), saved as tokenizer.json."""
import sys
from pathlib import Path

REPO = Path(snakemake.scriptdir).resolve().parents[1]  # noqa: F821
sys.path.insert(0, str(REPO))

from della.progress import job_console  # noqa: E402

with job_console(snakemake, "tokenizer"):  # noqa: F821 (its terminal line only if it fails)
    from della.data.readers import read_jsonl
    from della.data.tokenizer import TextTokenizer
    from della.paths import pretrained_location

    settings = snakemake.params.tokenizer  # noqa: F821
    if settings.get("pretrained"):
        # relative folders resolve against the project root (README, Configs)
        tokenizer = TextTokenizer.load(pretrained_location(settings["pretrained"], REPO))
    else:
        examples = read_jsonl(snakemake.input.train)  # noqa: F821
        texts = [ex.target for ex in examples] + [ex.source for ex in examples if ex.source]
        tokenizer = TextTokenizer.train(texts, vocab_size=settings["vocab_size"])
    print(f"vocabulary: {tokenizer.vocab_size} tokens; special ids {tokenizer.special_ids()}")
    tokenizer.save(snakemake.output[0])  # noqa: F821
