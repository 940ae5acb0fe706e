"""Snakemake script: train one run (task x recipe x seed), then evaluate it in the same process.

The evaluation goes to ``train_job_evaluation/`` with a stamp of what it was computed from; the
evaluate rule copies it when nothing changed since (workflow/scripts/evaluate.py). One process per
run instead of two saves the ~5 s of torch + transformers imports of a second one (issue 9).
"""
import json
import sys
import time
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821
REPO = Path(snakemake.scriptdir).resolve().parents[1]  # noqa: F821
sys.path.insert(0, str(REPO))

from della.config import run_spec, with_resolved_pretrained  # noqa: E402
from della.data.readers import read_jsonl  # noqa: E402
from della.data.tokenizer import TextTokenizer  # noqa: E402
from della.evaluation.evaluate import evaluate_saved_run  # noqa: E402
from della.models.registry import get_model_class  # noqa: E402
from della.provenance import evaluation_stamp, run_code_hash  # noqa: E402
from della.training.loop import train_run  # noqa: E402
from della.training.objectives import ObjectiveConfig  # noqa: E402

# CPU seconds from interpreter start to here: the per-job import overhead (benchmarks/bench_default_run.py)
print(f"[timing] imports_cpu_s={time.process_time():.3f}")

inp, out, wc = snakemake.input, snakemake.output, snakemake.wildcards  # noqa: F821
run = snakemake.params.run  # noqa: F821
print(json.dumps(run, indent=2))
tokenizer = TextTokenizer.load(run.get("tokenizer") or inp.tokenizer)  # the recipe's own first
train_run(
    model_name=run["model"],
    model_kwargs=with_resolved_pretrained(run["model_kwargs"], REPO),
    objective=ObjectiveConfig.from_dict(run["objective"]),
    train_cfg=run["train"],
    tokenizer=tokenizer,
    train_examples=read_jsonl(inp.train),
    valid_examples=read_jsonl(inp.valid),
    out_dir=Path(out.model).parent,
    seed=int(wc.seed),
    threads=snakemake.threads,  # noqa: F821
    code_version=snakemake.params.code,  # noqa: F821 (part of the checkpoint's fingerprint)
)
print(f"[timing] train_cpu_s={time.process_time():.3f}")

# The evaluate rule's spec and code hash, computed here from the config rather than passed as this
# rule's params: an `evaluate:` change must not retrain (the evaluate rule sees it).
eval_run = run_spec(snakemake.config, wc.recipe)  # noqa: F821
eval_code = run_code_hash(REPO, "workflow/scripts/evaluate.py", get_model_class(run["model"]))
evaluate_saved_run(model_path=out.model, test_path=inp.test, info_path=inp.info, tokenizer=tokenizer,
                   task=wc.task, recipe=wc.recipe, run=eval_run, seed=int(wc.seed), threads=snakemake.threads,  # noqa: F821
                   metrics_path=out.eval_metrics, samples_path=out.eval_samples, timing_path=out.eval_timing)
stamp = evaluation_stamp(eval_run, eval_code, model=out.model, test=inp.test, info=inp.info,
                         tokenizer=inp.tokenizer)
Path(out.eval_stamp).write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n")
print(f"[timing] cpu_s={time.process_time():.3f}")  # the whole job, in this process
