# Figures of the run (della/reporting/plots.py), PNG in Snakemake's report (`snakemake --report`) with a
# caption, PDF beside it for papers. One job per task draws that task's figures.


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
CODE_PLOTS = code_hash(REPO, "workflow/scripts/plots.py")

# One plots job per task (a rule per task, so that each draws exactly the figures that apply to its
# recipes): a task's figures appear as soon as its own runs are evaluated.
for _task, _spec in PLOT_SPECS.items():
    if not _spec["recipes"]:
        continue
    _metrics = [RUN_DIR.format(task=_task, recipe=recipe, seed=seed) + "/metrics.json"
                for recipe in _spec["recipes"] for seed in SEEDS]

    rule:
        name:
            f"plots_{_task}"
        input:
            metrics=_metrics,
            logs=[path.replace("metrics.json", "train_log.csv") for path in _metrics],
            info=R + f"/data/{_task}/info.json",
        output:
            [report(R + f"/plots/{_task}/{name}.png", caption=f"../report/{PLOT_CAPTIONS[name]}", category="Plots",
                    subcategory=_task, labels={"task": _task, "figure": name}) for name in plot_names(_spec)],
            [R + f"/plots/{_task}/{name}.pdf" for name in plot_names(_spec)],
        params:
            task=_task,
            spec=_spec,
            seeds=SEEDS,
            runs_dir=R + "/runs",
            out_dir=R + f"/plots/{_task}",
            code=CODE_PLOTS,
        log:
            R + f"/logs/plots/{_task}.log",
        benchmark:
            R + f"/benchmarks/plots/{_task}.tsv"
        script:
            "../scripts/plots.py"
