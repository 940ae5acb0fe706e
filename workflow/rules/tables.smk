# The result tables: every run, every figure labelled with its convention (della/reporting/tables.py);
# Markdown for the repository, HTML for Snakemake's report, CSV with every scalar.


rule tables:
    input:
        metrics=METRICS,
        info=expand(R + "/data/{task}/info.json", task=TASKS),
        configs=[path.replace("metrics.json", "config.yaml") for path in METRICS],
    output:
        md=expand(R + "/tables/{kind}.md", kind=TABLE_KINDS),
        html=[report(R + f"/tables/{kind}.html", category="Tables", labels={"table": kind}) for kind in TABLE_KINDS],
        csv=expand(R + "/tables/{kind}.csv", kind=TABLE_KINDS),
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
