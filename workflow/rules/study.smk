# Depth study, not part of `all`: `snakemake --cores 2 study_depth` trains DELLA with constant
# beta = 1 (no tricks) at each depth of `study_depth.depths`, with the KL reduced over layers by the
# mean (official code) and the sum (paper Eq. 6), on `study_depth.task` — its synthetic twin, or
# the real data when `data_root` is set — through the same train / evaluate rules as every run
# (della/reporting/depth_study.py).
from della.config import depth_recipes  # noqa: E402

STUDY = config.get("study_depth") or {}
STUDY_TASK = STUDY.get("task", "ptb")
STUDY_RECIPES = depth_recipes(STUDY.get("depths", [2, 4, 8, 12]), STUDY.get("kl_reductions", ["mean", "sum"]))
for _name, _recipe in STUDY_RECIPES.items():  # the train / evaluate rules resolve runs by recipe name
    config.setdefault("recipes", {}).setdefault(_name, _recipe)
STUDY_DIR = R + f"/study_depth/{STUDY_TASK}"


rule study_depth:
    input:
        metrics=[RUN_DIR.format(task=STUDY_TASK, recipe=recipe, seed=seed) + "/metrics.json"
                 for recipe in STUDY_RECIPES for seed in SEEDS],
        info=R + f"/data/{STUDY_TASK}/info.json",
    output:
        table=report(STUDY_DIR + "/depth.md", category="Depth study"),
        csv=STUDY_DIR + "/depth.csv",
        png=report(STUDY_DIR + "/depth.png", caption="../report/study_depth.rst", category="Depth study"),
        pdf=STUDY_DIR + "/depth.pdf",
    params:
        task=STUDY_TASK,
        code=code_hash(REPO, "workflow/scripts/study_depth.py"),
    log:
        R + "/logs/study_depth.log",
    benchmark:
        R + "/benchmarks/study_depth.tsv"
    script:
        "../scripts/study_depth.py"
