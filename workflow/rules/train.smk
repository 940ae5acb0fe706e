# One training job per task x recipe x seed. CUDA is used when the machine has it; a run with
# `train.devices: N` trains on N GPUs (DDP) and asks for gpu=N. `--resources gpu=N` (or the slurm
# profile) limits how many run at once. The job then evaluates the model it trained, in the same
# process, into train_job_evaluation/ (stamped); the evaluate rule copies that unless its settings or
# code changed since (workflow/scripts/evaluate.py).


rule train:
    input:
        train=R + "/data/{task}/train.jsonl",
        valid=R + "/data/{task}/valid.jsonl",  # best epoch on validation (della/training/loop.py Validator)
        tokenizer=R + "/data/{task}/tokenizer.json",
        test=R + "/data/{task}/test.jsonl",  # the evaluation done in this job
        info=R + "/data/{task}/info.json",
    output:
        model=RUN_DIR + "/model.pt",
        log_csv=RUN_DIR + "/train_log.csv",
        timing=RUN_DIR + "/train_timing.json",
        eval_metrics=RUN_DIR + "/train_job_evaluation/metrics.json",
        eval_samples=RUN_DIR + "/train_job_evaluation/samples.jsonl",
        eval_timing=RUN_DIR + "/train_job_evaluation/eval_timing.json",
        eval_stamp=RUN_DIR + "/train_job_evaluation/stamp.json",
    params:
        # training settings only: an `evaluate:` change reruns the evaluate rule, not this one
        run=lambda wc: train_spec(wc.recipe),
        # the evaluation code is left out for the same reason; the stamp records its hash
        code=lambda wc: run_code("workflow/scripts/train.py", wc.recipe, stop=["della/evaluation/evaluate.py"]),
    threads: config["train_threads"]
    resources:
        gpu=lambda wc: train_spec(wc.recipe)["train"].get("devices", 1),
    log:
        R + "/logs/train/{task}/{recipe}/seed{seed}.log",
    benchmark:
        R + "/benchmarks/train/{task}/{recipe}/seed{seed}.tsv"
    script:
        "../scripts/train.py"
