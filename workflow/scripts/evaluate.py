"""Snakemake script: evaluate one trained run into metrics.json, samples.jsonl, per_sentence.csv.gz
and eval_timing.json, and record the config that produced it (config.yaml).

Usually a copy: the train job has already evaluated the model it trained, in its own process, and
stamped the result in ``train_job_evaluation/`` (della/run_folder.py). When this rule's settings,
the evaluation code or an input differ from that stamp (an ``evaluate:`` value or a metric changed
since training), or the train job's evaluation failed, the run is evaluated here. torch is imported
only then: a copy takes a fraction of a second instead of ~5 s of imports.

This job starts only once the train job is complete, so it is the one that removes the training
checkpoint and best.pt the train job kept (della/run_folder.py ``remove_training_state``), then the
train job's evaluation folder it has consumed. Either way the job ends the run with one line on the
terminal (della/progress.py): its budget, wall times, headline figures and how many runs of the
invocation are done.
"""
import json
import sys
import time
from pathlib import Path

REPO = Path(snakemake.scriptdir).resolve().parents[1]  # noqa: F821
sys.path.insert(0, str(REPO))

from della.progress import job_console  # noqa: E402

with job_console(snakemake, "evaluate"):  # noqa: F821
    import yaml

    from della.io import atomic_write_text
    from della.progress import DONE, say
    from della.provenance import evaluation_stamp
    from della.reporting.console import run_finished_line
    from della.run_folder import (discard_train_job_evaluation, remove_training_state, take_train_job_evaluation,
                                  train_job_evaluation_dir)

    # CPU seconds from interpreter start to here: the per-job import overhead (benchmarks/bench_default_run.py)
    print(f"[timing] imports_cpu_s={time.process_time():.3f}")

    inp, out, run = snakemake.input, snakemake.output, snakemake.params.run  # noqa: F821
    run_dir = Path(inp.model).parent
    folder = train_job_evaluation_dir(run_dir)
    stamp = evaluation_stamp(run, snakemake.params.code,  # noqa: F821
                             model=inp.model, test=inp.test, info=inp.info, tokenizer=inp.tokenizer)
    copied, why_not = take_train_job_evaluation(folder, stamp, [out.metrics, out.samples, out.per_sentence,
                                                                 out.timing])
    if copied:
        print(f"copied the evaluation made by the train job ({folder}): same settings, code and inputs")
    else:
        print(f"evaluating anew: {why_not}")
        from della.data.tokenizer import TextTokenizer
        from della.evaluation.evaluate import evaluate_saved_run

        result = evaluate_saved_run(
            model_path=inp.model, test_path=inp.test, info_path=inp.info,
            tokenizer=TextTokenizer.load(run.get("tokenizer") or inp.tokenizer),  # the recipe's own first
            task=snakemake.wildcards.task, recipe=snakemake.wildcards.recipe, run=run,  # noqa: F821
            seed=int(snakemake.wildcards.seed), threads=snakemake.threads, root=REPO,  # noqa: F821
            metrics_path=out.metrics, samples_path=out.samples, timing_path=out.timing,
            per_sentence_path=out.per_sentence)
        print(json.dumps(result, indent=2))
    atomic_write_text(out.config, "# The config this run's results came from (della/config.py run_config).\n"
                      + yaml.safe_dump(snakemake.params.recorded, sort_keys=False))  # noqa: F821
    removed = remove_training_state(run_dir)  # model.pt is complete: the train job finished
    if removed:
        print(f"removed the train job's resume state: {', '.join(removed)}")
    discard_train_job_evaluation(folder)
    say(DONE, run_finished_line(run_dir, results_dir=snakemake.config["results_dir"]))  # noqa: F821
    print(f"[timing] cpu_s={time.process_time():.3f}")  # the whole job, in this process
