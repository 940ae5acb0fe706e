# Data: the real upstream files under `data_root`, or the offline synthetic demo when it is null;
# then a byte-level BPE trained on the training split (or a pretrained tokenizer).


rule prepare_data:
    output:
        train=R + "/data/{task}/train.jsonl",
        valid=R + "/data/{task}/valid.jsonl",
        test=R + "/data/{task}/test.jsonl",
        info=R + "/data/{task}/info.json",
    params:
        data_root=config["data_root"],
        # data.missing per task: opting one task in to its synthetic twin reruns that task only
        data={key: value for key, value in config["data"].items() if key != "missing"},
        missing=lambda wc: missing_policy(config["data"].get("missing"), wc.task),
        seed=config["data_seed"],
        files=lambda wc: task_data_files(wc.task),
        code=CODE_DATA,
    log:
        R + "/logs/prepare_data/{task}.log",
    benchmark:
        R + "/benchmarks/prepare_data/{task}.tsv"
    script:
        "../scripts/prepare_data.py"


rule tokenizer:
    input:
        train=R + "/data/{task}/train.jsonl",
    output:
        R + "/data/{task}/tokenizer.json",
    params:
        tokenizer=config["tokenizer"],
        code=CODE_TOKENIZER,
    log:
        R + "/logs/tokenizer/{task}.log",
    benchmark:
        R + "/benchmarks/tokenizer/{task}.tsv"
    script:
        "../scripts/train_tokenizer.py"


# Users with internet: `snakemake --cores 1 download --config data_root=PATH` fetches the upstream
# files of the configured tasks into data_root (not part of `all`; an existing folder is kept).
rule download:
    params:
        tasks=TASKS,
        # relative to the project root, like every config path (no output: nothing reruns on it)
        data_root=str(resolve_path(config["data_root"], REPO)) if config["data_root"] else None,
    log:
        R + "/logs/download.log",
    benchmark:
        R + "/benchmarks/download.tsv"
    shell:
        "python -m della.data.download {params.tasks} {params.data_root:q} > {log} 2>&1"
