# DELLA-Bench: `snakemake --cores 2 all` trains every model of config/config.yaml on every task,
# evaluates each run and writes the comparison tables, figures and results summary. Rules live in
# workflow/rules/. The config is config/config.yaml, or the complete config file(s) given with
# --configfile (the two are not layered), plus --config overrides: see workflow/rules/common.smk and
# README "Configs". What the terminal shows: workflow/rules/console.smk.


include: "workflow/rules/common.smk"
include: "workflow/rules/console.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/study.smk"
include: "workflow/rules/paper_tables.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/report.smk"  # last: the summary includes the sections other rule files register


rule all:
    default_target: True
    input:
        TABLES,
        PLOTS,
        PAPER_TABLES,
        CLAIMS,
        SUMMARY,
        REPORT_PAGES,
