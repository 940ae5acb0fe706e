# The run's results summary (R/summary.md: the README's results block, della/reporting/summary.py) and
# the pages of Snakemake's report (`snakemake --report report.html`, della/reporting/report.py): the
# config the run used, and per task its data notes and samples. Included last: other rule files add
# Markdown sections to the summary through SUMMARY_SECTIONS (workflow/rules/common.smk).

SUMMARY = [R + "/summary.md", R + "/summary.html"]
REPORT_PAGES = [R + "/report/config.html"] + expand(R + "/report/{task}.html", task=TASKS)


rule summary:
    input:
        metrics=METRICS,
        info=expand(R + "/data/{task}/info.json", task=TASKS),
        tables=TABLES,
        configs=R + "/tables/configs.yaml",  # every run's config.yaml: the report's config page
        sections=SUMMARY_SECTIONS,
    output:
        md=R + "/summary.md",
        html=report(R + "/summary.html", category="Summary"),
        config=report(R + "/report/config.html", category="Summary"),
    params:
        # not the whole config: a setting that shapes no result (progress_seconds, checkpoint_every: della/
        # training/checkpoints.py NOT_RESULT_SHAPING) must not rerun this rule; the runs' configs are an input
        results_dir=R,
        config_files=[shown_path(f, REPO) for f in workflow.config_settings.configfiles],  # no absolute path in results
        code=code_hash(REPO, "workflow/scripts/summary.py"),
    log:
        R + "/logs/summary.log",
    benchmark:
        R + "/benchmarks/summary.tsv"
    script:
        "../scripts/summary.py"


rule task_page:
    input:
        info=R + "/data/{task}/info.json",
        samples=lambda wc: [RUN_DIR.format(task=wc.task, recipe=recipe, seed=SEEDS[0]) + "/samples.jsonl"
                            for t, recipe in runs_of(config) if t == wc.task],
        metrics=lambda wc: [RUN_DIR.format(task=wc.task, recipe=recipe, seed=SEEDS[0]) + "/metrics.json"
                            for t, recipe in runs_of(config) if t == wc.task],
    output:
        report(R + "/report/{task}.html", category="Data and samples", labels={"task": "{task}"}),
    params:
        code=code_hash(REPO, "workflow/scripts/task_page.py"),
    log:
        R + "/logs/report/{task}.log",
    benchmark:
        R + "/benchmarks/report/{task}.tsv"
    script:
        "../scripts/task_page.py"
