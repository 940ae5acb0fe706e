# One training job per task x recipe x seed. CUDA is used when the machine has it; a run with
# `train.devices: N` trains on N GPUs (DDP) and asks for gpu=N. `--resources gpu=N` (or the slurm
# profile) limits how many run at once.


rule train:
    input:
        train=R + "/data/{task}/train.jsonl",
        valid=R + "/data/{task}/valid.jsonl",  # best epoch on validation (della/train.py Validator)
        tokenizer=R + "/data/{task}/tokenizer.json",
    output:
        model=RUN_DIR + "/model.pt",
        log_csv=RUN_DIR + "/train_log.csv",
        timing=RUN_DIR + "/train_timing.json",
    params:
        run=lambda wc: train_spec(wc.recipe),
        code=lambda wc: run_code("workflow/scripts/train.py", wc.recipe),
    threads: config["train_threads"]
    resources:
        gpu=lambda wc: train_spec(wc.recipe)["train"].get("devices", 1),
    log:
        R + "/logs/train/{task}/{recipe}/seed{seed}.log",
    benchmark:
        R + "/benchmarks/train/{task}/{recipe}/seed{seed}.tsv"
    script:
        "../scripts/train.py"
