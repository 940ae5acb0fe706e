# Figures of the run (della/reporting/plots.py), PNG in Snakemake's report (`snakemake --report`) with a
# caption, PDF beside it for papers. One job draws every task's figures after the last evaluation.


def plot_spec(task):
    """The recipes of a task that each figure draws: all, the latent ones, DELLA's default one."""
    recipes = [recipe for t, recipe in runs_of(config) if t == task]
    latent = [recipe for recipe in recipes if run_spec(recipe)["has_latent"]]
    della = [recipe for recipe in recipes if run_spec(recipe)["model"] == "della"]
    return {"recipes": recipes, "latent": latent,
            "della": "della" if "della" in della else (della[0] if della else None)}


PLOT_SPECS = {task: plot_spec(task) for task in TASKS}
PLOT_CAPTIONS = {  # figure -> caption file under workflow/report/
    "della_kl_per_layer": "della_kl_per_layer.rst",
    "kl_over_training": "kl_over_training.rst",
    "bleu_vs_selfbleu": "bleu_vs_selfbleu.rst",
    "ppl_vs_kl": "ppl_vs_kl.rst",
}


def plot_names(spec):
    names = ["bleu_vs_selfbleu"]
    if spec["latent"]:
        names += ["kl_over_training", "ppl_vs_kl"]
    if spec["della"]:
        names.append("della_kl_per_layer")
    return names


PLOT_STEMS = [(task, name) for task, spec in PLOT_SPECS.items() if spec["recipes"] for name in plot_names(spec)]
PLOTS = [R + f"/plots/{task}/{name}.{ext}" for task, name in PLOT_STEMS for ext in ("png", "pdf")]


rule plots:
    input:
        metrics=METRICS,
        logs=[path.replace("metrics.json", "train_log.csv") for path in METRICS],
        info=expand(R + "/data/{task}/info.json", task=TASKS),
    output:
        [report(R + f"/plots/{task}/{name}.png", caption=f"../report/{PLOT_CAPTIONS[name]}", category="Plots",
                subcategory=task) for task, name in PLOT_STEMS],
        [R + f"/plots/{task}/{name}.pdf" for task, name in PLOT_STEMS],
    params:
        specs=PLOT_SPECS,
        seeds=SEEDS,
        runs_dir=R + "/runs",
        out_dir=R + "/plots",
        code=code_hash(REPO, "workflow/scripts/plots.py"),
    log:
        R + "/logs/plots.log",
    benchmark:
        R + "/benchmarks/plots.tsv"
    script:
        "../scripts/plots.py"
