"""Snakemake script: evaluate one trained run into metrics.json, samples.jsonl and eval_timing.json.

Usually a copy: the train job has already evaluated the model it trained, in its own process, and
stamped the result (della/provenance.py ``evaluation_stamp``). When this rule's settings, the
evaluation code or an input differ from that stamp (an ``evaluate:`` value or a metric changed
since training), the run is evaluated here. torch is imported only then: a copy takes a fraction of
a second instead of ~5 s of imports. Either way the job ends the run with one line on the terminal:
its budget, wall times, headline figures and how many runs of the invocation are done.
"""
import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(snakemake.scriptdir).resolve().parents[1]  # noqa: F821
sys.path.insert(0, str(REPO))

from della.progress import job_console  # noqa: E402

with job_console(snakemake, "evaluate"):  # noqa: F821
    from della.progress import DONE, say
    from della.provenance import evaluation_stamp
    from della.reporting.console import run_finished_line

    # CPU seconds from interpreter start to here: the per-job import overhead (benchmarks/bench_default_run.py)
    print(f"[timing] imports_cpu_s={time.process_time():.3f}")

    inp, out, run = snakemake.input, snakemake.output, snakemake.params.run  # noqa: F821
    stamp = evaluation_stamp(run, snakemake.params.code,  # noqa: F821
                             model=inp.model, test=inp.test, info=inp.info, tokenizer=inp.tokenizer)
    done_in_train = json.loads(Path(inp.train_job_stamp).read_text())
    if done_in_train == stamp:
        for name in ("metrics", "samples", "timing"):
            shutil.copyfile(inp[f"train_job_{name}"], out[name])
        print(f"copied the evaluation made by the train job ({Path(inp.train_job_stamp).parent}): same settings, "
              "code and inputs")
    else:
        changed = [part for part in ("run", "code", "inputs") if done_in_train.get(part) != stamp[part]]
        print(f"evaluating anew: {', '.join(changed)} changed since the train job evaluated this run")
        from della.data.tokenizer import TextTokenizer
        from della.evaluation.evaluate import evaluate_saved_run

        result = evaluate_saved_run(
            model_path=inp.model, test_path=inp.test, info_path=inp.info,
            tokenizer=TextTokenizer.load(run.get("tokenizer") or inp.tokenizer),  # the recipe's own first
            task=snakemake.wildcards.task, recipe=snakemake.wildcards.recipe, run=run,  # noqa: F821
            seed=int(snakemake.wildcards.seed), threads=snakemake.threads,  # noqa: F821
            metrics_path=out.metrics, samples_path=out.samples, timing_path=out.timing)
        print(json.dumps(result, indent=2))
    run_dir = Path(out.metrics).parent
    say(DONE, run_finished_line(run_dir, results_dir=snakemake.config["results_dir"]))  # noqa: F821
    print(f"[timing] cpu_s={time.process_time():.3f}")  # the whole job, in this process
