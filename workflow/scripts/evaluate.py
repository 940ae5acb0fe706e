"""Snakemake script: evaluate one trained run into metrics.json and samples.jsonl."""
import json
import sys
import time
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # noqa: F821

import torch  # noqa: E402

from della.data import TASKS, read_jsonl  # noqa: E402
from della.evaluate import evaluate_run, save_metrics  # noqa: E402
from della.tokenizer import TextTokenizer  # noqa: E402
from della.train import TRAIN_DEFAULTS, load_trained, write_json  # noqa: E402

# CPU seconds from interpreter start to here: the per-job import overhead (benchmarks/bench_default_run.py)
print(f"[timing] imports_cpu_s={time.process_time():.3f}")

torch.set_num_threads(snakemake.threads)  # noqa: F821
run = snakemake.params.run  # noqa: F821
wc = snakemake.wildcards  # noqa: F821
start = time.perf_counter()
model, state = load_trained(Path(snakemake.input.model))  # noqa: F821
info = json.loads(Path(snakemake.input.info).read_text())  # noqa: F821
result = evaluate_run(
    model=model,
    tokenizer=TextTokenizer.load(run.get("tokenizer") or snakemake.input.tokenizer),  # noqa: F821 (recipe's own first)
    test_examples=read_jsonl(snakemake.input.test),  # noqa: F821
    task_spec=TASKS[wc.task],
    eval_cfg=run["evaluate"],
    train_cfg={**TRAIN_DEFAULTS, **run["train"]},
    seed=int(wc.seed),
    samples_path=Path(snakemake.output.samples),  # noqa: F821
)
result.update(recipe=wc.recipe, model=run["model"], seed=int(wc.seed), objective=run["objective"],
              model_config=state["model_config"], data_source=info.get("source"),
              synthetic=info.get("source") == "synthetic",
              # the run's budget: the same for every model of a task (train.steps)
              train_steps=state.get("steps"), train_tokens=state.get("tokens"),
              # the checkpoint evaluated: the best on validation (della/train.py Validator), if any
              selected_checkpoint=state.get("selected"))
# timing varies between identical runs: it goes to eval_timing.json, so that metrics.json is byte-identical
timing = {"seconds": round(time.perf_counter() - start, 3), "device": str(model.device),
          "latent_eval_seconds": {k: round(v, 3) for k, v in result.pop("seconds", {}).items()}}
save_metrics(Path(snakemake.output.metrics), result)  # noqa: F821
write_json(Path(snakemake.output.timing), timing)  # noqa: F821
print(json.dumps(result, indent=2))
print(f"[timing] cpu_s={time.process_time():.3f}")  # the whole job, in this process
