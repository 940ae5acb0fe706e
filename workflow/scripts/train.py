"""Snakemake script: train one run (task x recipe x seed), then evaluate it in the same process.

The job's outputs are the training artefacts only (model.pt, train_log.csv, train_timing.json),
written before anything else; nothing after them can cost the training (della/run_folder.py): the
checkpoint of the last step stays until the evaluate job, so a rerun of this job after a kill (or a
Ctrl-C) resumes there without an optimiser step. The evaluation goes to ``train_job_evaluation/``
(not a Snakemake output) with a stamp of what it was computed from; the evaluate rule copies it when
nothing changed since (workflow/scripts/evaluate.py). An error in it is logged and left to the
evaluate job, which evaluates anew and reports it. One process per run instead of two saves the
~5 s of torch + transformers imports of a second one (issue 9).

The job's output goes to its log; its start, progress and end lines also reach the terminal
(della/progress.py ``job_console``), with what changed since the run's last training when it trains
again. Ctrl-C stops training at the end of a step with a checkpoint there (della/training/loop.py).
"""
import json
import sys
import time
from pathlib import Path

REPO = Path(snakemake.scriptdir).resolve().parents[1]  # noqa: F821
sys.path.insert(0, str(REPO))

from della.progress import job_console  # noqa: E402

with job_console(snakemake, "train"):  # noqa: F821
    import traceback

    from della.config import job_settings, run_spec, with_resolved_pretrained
    from della.data.readers import read_jsonl
    from della.data.tokenizer import TextTokenizer
    from della.evaluation.evaluate import evaluate_saved_run
    from della.models.registry import get_model_class
    from della.progress import INFO, say
    from della.provenance import JobRecord, evaluation_stamp, run_code_hash
    from della.run_folder import (begin_train_job_evaluation, discard_train_job_evaluation,
                                  finish_train_job_evaluation, read_stamp, train_job_evaluation_dir)
    from della.training.loop import train_run
    from della.training.objectives import ObjectiveConfig

    # CPU seconds from interpreter start to here: the per-job import overhead (benchmarks/bench_default_run.py)
    print(f"[timing] imports_cpu_s={time.process_time():.3f}")

    inp, out, wc = snakemake.input, snakemake.output, snakemake.wildcards  # noqa: F821
    run = snakemake.params.run  # noqa: F821
    print(json.dumps(run, indent=2))
    run_dir = Path(out.model).parent
    model_cls = get_model_class(run["model"])
    # what this job depends on, file by file: when it trains again, the terminal says what changed
    record = JobRecord(run_dir / ".train_job.json", REPO, "workflow/scripts/train.py", model_cls, run,
                       stop=["della/evaluation/evaluate.py"])
    if record.changes():
        say(INFO, "trains again: " + "; ".join(record.changes()))
    tokenizer = TextTokenizer.load(run.get("tokenizer") or inp.tokenizer)  # the recipe's own first
    train_run(
        model_name=run["model"],
        model_kwargs=with_resolved_pretrained(run["model_kwargs"], REPO),
        objective=ObjectiveConfig.from_dict(run["objective"]),
        # checkpoint_every is not a param (it does not shape the result: della/config.py train_spec)
        train_cfg={**run["train"], **job_settings(snakemake.config, wc.recipe)},  # noqa: F821
        tokenizer=tokenizer,
        train_examples=read_jsonl(inp.train),
        valid_examples=read_jsonl(inp.valid),
        out_dir=run_dir,
        seed=int(wc.seed),
        threads=snakemake.threads,  # noqa: F821
        code_version=snakemake.params.code,  # noqa: F821 (part of the checkpoint's fingerprint)
    )
    print(f"[timing] train_cpu_s={time.process_time():.3f}")

    # The evaluate rule's spec and code hash, computed here from the config rather than passed as this
    # rule's params: an `evaluate:` change must not retrain (the evaluate rule sees it).
    eval_run = run_spec(snakemake.config, wc.recipe)  # noqa: F821
    eval_code = run_code_hash(REPO, "workflow/scripts/evaluate.py", model_cls)
    stamp = evaluation_stamp(eval_run, eval_code, model=out.model, test=inp.test, info=inp.info,
                             tokenizer=inp.tokenizer)
    folder = train_job_evaluation_dir(run_dir)
    if read_stamp(folder) == stamp:  # a rerun after a kill at the very end of this job
        print(f"{folder} already holds the evaluation of this model, settings and code: not evaluated again")
    else:
        begin_train_job_evaluation(folder)
        try:
            evaluate_saved_run(model_path=out.model, test_path=inp.test, info_path=inp.info, tokenizer=tokenizer,
                               task=wc.task, recipe=wc.recipe, run=eval_run, seed=int(wc.seed),
                               threads=snakemake.threads, root=REPO,  # noqa: F821
                               metrics_path=folder / "metrics.json", samples_path=folder / "samples.jsonl",
                               timing_path=folder / "eval_timing.json",
                               per_sentence_path=folder / "per_sentence.csv.gz")
        except Exception as err:  # noqa: BLE001 - never let the evaluation fail the training job
            # (Ctrl-C is not an Exception: job_console stops the job; the rerun resumes at the last step)
            traceback.print_exc()
            discard_train_job_evaluation(folder)
            say(INFO, f"evaluation after training failed ({type(err).__name__}); the trained model is kept and "
                      "the evaluate job evaluates it again")
            print(f"evaluation in the train job failed ({type(err).__name__}: {err}); the trained model is kept "
                  f"({out.model}, {out.log_csv}) and the evaluate job evaluates it again (its log will show the error)")
        else:
            finish_train_job_evaluation(folder, stamp)
    record.save()  # after success only: a failed attempt keeps the reason for the next one
    print(f"[timing] cpu_s={time.process_time():.3f}")  # the whole job, in this process
