# Comparison tables laid out like the paper's, with the paper's own numbers beside ours.


rule tables:
    input:
        metrics=METRICS,
        info=expand(R + "/data/{task}/info.json", task=TASKS),
        paper="config/paper_numbers.csv",
        configs=[path.replace("metrics.json", "config.yaml") for path in METRICS],
    output:
        [report(table, category="Comparison tables") for table in TABLES],
        # every run's config.yaml in one file: the configs these tables (and the paper tables,
        # built from the same runs) came from
        configs=R + "/tables/configs.yaml",
    params:
        code=CODE_TABLES,
    log:
        R + "/logs/tables.log",
    benchmark:
        R + "/benchmarks/tables.tsv"
    script:
        "../scripts/tables.py"
