# The paper's tables 1, 2, 4, 5, 8 and 9 (della/reporting/paper_tables.py), one job per table, each written
# as CSV, Markdown and LaTeX, from every run's metrics.json and every task's info.json.

PAPER_TABLE_IDS = [1, 2, 4, 5, 8, 9]
PAPER_TABLES = expand(R + "/tables/paper/table{table}.{ext}", table=PAPER_TABLE_IDS, ext=["csv", "md", "tex"])
CODE_PAPER_TABLES = code_hash(REPO, "workflow/scripts/paper_table.py")


rule paper_table:
    input:
        metrics=METRICS,
        info=expand(R + "/data/{task}/info.json", task=TASKS),
        paper="config/paper_numbers.csv",
    output:
        csv=report(R + "/tables/paper/table{table}.csv", category="Paper tables"),
        md=report(R + "/tables/paper/table{table}.md", category="Paper tables"),
        tex=R + "/tables/paper/table{table}.tex",
    wildcard_constraints:
        table="|".join(str(t) for t in PAPER_TABLE_IDS),
    params:
        code=CODE_PAPER_TABLES,
    log:
        R + "/logs/paper_tables/table{table}.log",
    benchmark:
        R + "/benchmarks/paper_tables/table{table}.tsv"
    script:
        "../scripts/paper_table.py"
