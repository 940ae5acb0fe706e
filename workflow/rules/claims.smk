# The paper's claims decided with their uncertainty (della/reporting/claims.py, config/claims.yaml):
# `claims` (part of `all`) over the config's runs; `study_claims` (not part of `all`) trains the
# recipes the claims need for `study_claims.steps` steps and `study_claims.seeds` on
# `study_claims.task` (its synthetic twin, or the real data when `data_root` is set) and decides
# the claims on them: `snakemake --cores 2 study_claims` (README, "Claims").
from della.config import claims_settings, study_claims_definitions, study_claims_recipes, study_claims_spec  # noqa: E402

CLAIMS_SETTINGS = claims_settings(config)
CLAIMS = [R + "/claims.md", R + "/claims.csv", R + "/claims.html"]
CODE_CLAIMS = code_hash(REPO, "workflow/scripts/claims.py")
SUMMARY_SECTIONS.append(R + "/claims.md")  # the README's results block ends with the claims table


def per_sentence_files(metric_files):
    return [path.replace("metrics.json", "per_sentence.csv.gz") for path in metric_files]


rule claims:
    input:
        metrics=METRICS,
        per_sentence=per_sentence_files(METRICS),
        claims=CLAIMS_SETTINGS["file"],
        info=expand(R + "/data/{task}/info.json", task=TASKS),  # the tasks' data marks (column titles)
    output:
        md=R + "/claims.md",
        csv=R + "/claims.csv",
        html=report(R + "/claims.html", category="Claims"),
    params:
        settings=CLAIMS_SETTINGS,
        title="Claims of the DELLA paper on this run",
        recipe_names={},
        code=CODE_CLAIMS,
    log:
        R + "/logs/claims.log",
    benchmark:
        R + "/benchmarks/claims.tsv"
    script:
        "../scripts/claims.py"


STUDY_CLAIMS = study_claims_spec(config)
STUDY_CLAIMS_RUNS = study_claims_recipes(config)  # study recipe name -> the claims' recipe name
for _name, _recipe in study_claims_definitions(config).items():  # the train / evaluate rules resolve runs by name
    config.setdefault("recipes", {}).setdefault(_name, _recipe)
STUDY_CLAIMS_DIR = R + f"/study_claims/{STUDY_CLAIMS['task']}"
STUDY_CLAIMS_METRICS = [RUN_DIR.format(task=STUDY_CLAIMS["task"], recipe=recipe, seed=seed) + "/metrics.json"
                        for recipe in STUDY_CLAIMS_RUNS for seed in STUDY_CLAIMS["seeds"]]


rule study_claims:
    input:
        metrics=STUDY_CLAIMS_METRICS,
        per_sentence=per_sentence_files(STUDY_CLAIMS_METRICS),
        claims=CLAIMS_SETTINGS["file"],
        info=R + f"/data/{STUDY_CLAIMS['task']}/info.json",
    output:
        md=report(STUDY_CLAIMS_DIR + "/claims.md", category="Claims study"),
        csv=STUDY_CLAIMS_DIR + "/claims.csv",
        results_md=report(STUDY_CLAIMS_DIR + "/results.md", category="Claims study"),
        results_csv=STUDY_CLAIMS_DIR + "/results.csv",
    params:
        settings=CLAIMS_SETTINGS,
        title=(f"Claims of the DELLA paper: {STUDY_CLAIMS['task']}, {STUDY_CLAIMS['steps']} steps, "
               f"seeds {STUDY_CLAIMS['seeds']}"),
        recipe_names={base: name for name, base in STUDY_CLAIMS_RUNS.items()},
        code=CODE_CLAIMS,
    log:
        R + f"/logs/study_claims/{STUDY_CLAIMS['task']}.log",
    benchmark:
        R + f"/benchmarks/study_claims/{STUDY_CLAIMS['task']}.tsv"
    script:
        "../scripts/claims.py"
