# Every run is evaluated by the same code path (della/evaluation/evaluate.py evaluate_saved_run): IW-PPL /
# ELBO / KL / MI / AU for latent models, generation, and the text metrics, into one metrics.json.
# The train job has usually done it already: this rule then copies its stamped result, and
# evaluates anew only when the evaluate settings, the evaluation code or an input changed since.


rule evaluate:
    input:
        model=RUN_DIR + "/model.pt",
        test=R + "/data/{task}/test.jsonl",
        info=R + "/data/{task}/info.json",
        tokenizer=R + "/data/{task}/tokenizer.json",
        train_job_metrics=RUN_DIR + "/train_job_evaluation/metrics.json",
        train_job_samples=RUN_DIR + "/train_job_evaluation/samples.jsonl",
        train_job_timing=RUN_DIR + "/train_job_evaluation/eval_timing.json",
        train_job_stamp=RUN_DIR + "/train_job_evaluation/stamp.json",
    output:
        metrics=RUN_DIR + "/metrics.json",
        samples=RUN_DIR + "/samples.jsonl",
        timing=RUN_DIR + "/eval_timing.json",
    params:
        run=lambda wc: run_spec(wc.recipe),
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
