# The paper's tables 1, 2, 4, 5, 8 and 9 (della/reporting/paper_tables.py), one job per table, each written
# as CSV, Markdown, HTML (for the report) and LaTeX, from every run's metrics.json and every task's info.json.
# Tables 4 and 5 keep our recipes by family (della/config.py recipe_family: ablation / trick).
from della.config import recipe_family  # noqa: E402

PAPER_TABLE_IDS = [1, 2, 4, 5, 8, 9]
PAPER_TABLES = expand(R + "/tables/paper/table{table}.{ext}", table=PAPER_TABLE_IDS, ext=["csv", "md", "html", "tex"])
CODE_PAPER_TABLES = code_hash(REPO, "workflow/scripts/paper_table.py")
RECIPE_FAMILIES = {recipe: recipe_family(config, recipe) for recipe in dict.fromkeys(r for _, r in runs_of(config))}


rule paper_table:
    input:
        metrics=METRICS,
        info=expand(R + "/data/{task}/info.json", task=TASKS),
        paper="config/paper_numbers.csv",
    output:
        csv=R + "/tables/paper/table{table}.csv",
        md=R + "/tables/paper/table{table}.md",
        html=report(R + "/tables/paper/table{table}.html", category="Paper tables", labels={"table": "{table}"}),
        tex=R + "/tables/paper/table{table}.tex",
    wildcard_constraints:
        table="|".join(str(t) for t in PAPER_TABLE_IDS),
    params:
        families=RECIPE_FAMILIES,
        code=CODE_PAPER_TABLES,
    log:
        R + "/logs/paper_tables/table{table}.log",
    benchmark:
        R + "/benchmarks/paper_tables/table{table}.tsv"
    script:
        "../scripts/paper_table.py"
