# One training job per task x recipe x seed. CUDA is used when the machine has it; a run with
# `train.devices: N` trains on N GPUs (DDP) and asks for gpu=N. `--resources gpu=N` (or the slurm
# profile) limits how many run at once. Its outputs are the training artefacts only: Snakemake
# deletes the outputs of a failed or killed job, so nothing after training may be one of them
# (della/run_folder.py). The job then evaluates the model it trained, in the same process, into
# train_job_evaluation/ (stamped, not an output); the evaluate rule copies that unless its settings
# or code changed since (workflow/scripts/evaluate.py).


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
    params:
        # training settings only: an `evaluate:` change reruns the evaluate rule, not this one, and
        # train.checkpoint_every (when state is saved) reruns nothing (della/config.py train_spec)
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
