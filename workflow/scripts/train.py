"""Snakemake script: train one run (task x recipe x seed)."""
import json
import sys
import time
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # noqa: F821

from della.config import with_resolved_pretrained  # noqa: E402
from della.data import read_jsonl  # noqa: E402
from della.objectives import ObjectiveConfig  # noqa: E402
from della.tokenizer import TextTokenizer  # noqa: E402
from della.train import train_run  # noqa: E402

# CPU seconds from interpreter start to here: the per-job import overhead (benchmarks/bench_default_run.py)
print(f"[timing] imports_cpu_s={time.process_time():.3f}")

run = snakemake.params.run  # noqa: F821
print(json.dumps(run, indent=2))
train_run(
    model_name=run["model"],
    model_kwargs=with_resolved_pretrained(run["model_kwargs"], Path(snakemake.scriptdir).resolve().parents[1]),  # noqa: F821
    objective=ObjectiveConfig.from_dict(run["objective"]),
    train_cfg=run["train"],
    tokenizer=TextTokenizer.load(run.get("tokenizer") or snakemake.input.tokenizer),  # noqa: F821 (recipe's own first)
    train_examples=read_jsonl(snakemake.input.train),  # noqa: F821
    valid_examples=read_jsonl(snakemake.input.valid),  # noqa: F821
    out_dir=Path(snakemake.output.model).parent,  # noqa: F821
    seed=int(snakemake.wildcards.seed),  # noqa: F821
    threads=snakemake.threads,  # noqa: F821
    code_version=snakemake.params.code,  # noqa: F821 (part of the checkpoint's fingerprint)
)
print(f"[timing] cpu_s={time.process_time():.3f}")  # the whole job, in this process
