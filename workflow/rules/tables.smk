# Comparison tables laid out like the paper's, with the paper's own numbers beside ours.


rule tables:
    input:
        metrics=METRICS,
        info=expand(R + "/data/{task}/info.json", task=TASKS),
        paper="config/paper_numbers.csv",
    output:
        [report(table, category="Comparison tables") for table in TABLES],
    params:
        code=CODE_TABLES,
    log:
        R + "/logs/tables.log",
    benchmark:
        R + "/benchmarks/tables.tsv"
    script:
        "../scripts/tables.py"
