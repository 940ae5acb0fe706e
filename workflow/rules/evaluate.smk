# Every run is evaluated by the same code path (della/evaluation/evaluate.py evaluate_saved_run): IW-PPL /
# ELBO / KL / MI / AU for latent models, generation, and the text metrics, into one metrics.json.
# The train job has usually done it already: this rule then copies its stamped result (from
# train_job_evaluation/, not a declared input: the train job leaves it only when its evaluation
# succeeded), and evaluates anew when there is none or when the evaluate settings, the evaluation
# code or an input changed since. It also writes config.yaml, the config the run's results came
# from, and removes what the train job kept for a rerun (della/run_folder.py).


rule evaluate:
    input:
        model=RUN_DIR + "/model.pt",
        test=R + "/data/{task}/test.jsonl",
        info=R + "/data/{task}/info.json",
        tokenizer=R + "/data/{task}/tokenizer.json",
    output:
        metrics=RUN_DIR + "/metrics.json",
        samples=RUN_DIR + "/samples.jsonl",
        per_sentence=RUN_DIR + "/per_sentence.csv.gz",  # every scored / probe sentence and output (claims)
        timing=RUN_DIR + "/eval_timing.json",
        config=RUN_DIR + "/config.yaml",
    params:
        run=lambda wc: run_spec(wc.recipe),
        # the run's config.yaml: its run spec, seed, data and tokenizer settings (no absolute path)
        recorded=lambda wc: config_run_config(config, wc.task, wc.recipe, wc.seed, REPO),
        code=lambda wc: run_code("workflow/scripts/evaluate.py", wc.recipe),
    threads: config["train_threads"]
    resources:
        gpu=1,
    log:
        R + "/logs/evaluate/{task}/{recipe}/seed{seed}.log",
    benchmark:
        R + "/benchmarks/evaluate/{task}/{recipe}/seed{seed}.tsv"
    script:
        "../scripts/evaluate.py"
