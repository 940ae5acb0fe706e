"""The project's result tables: every run, every figure under a label that names its convention.

* ``unconditional.{md,html,csv}`` — Yelp, Yahoo, PTB, SNLI: a likelihood-and-latent table (PPL,
  -ELBO and KL in both layer conventions, MI, AU at both δ, I(F;z)) and a generation table (BLEU,
  Self-BLEU, Dist-2, JS, MAUVE).
* ``conditional.{md,html,csv}`` — CNN/DM, WritingPrompts, Quora: generation (BLEU, ROUGE, BERTScore,
  Self-BLEU, Dist-2, JS) and likelihood and latent space (PPL (layer sum): the true bound, KL, MI,
  AU, I(F;z)).
* ``factors.{md,html,csv}`` — synthetic twins: the nats of each generating factor in z (I(F_k; z), a
  logistic probe's lower bound, della/evaluation/probes.py) beside H(F_k), the probe's accuracy and
  its chance level, with the same probe on each model at initialisation as a control row
  (``<recipe> @ init``).

Column labels come from ``della/reporting/conventions.py`` (``PPL (layer mean)``, ``KL (layer sum)``,
``MI (sampled)``, ``AU (δ=0.2, …)``, ``I(F;z) (probe bound)``...), defined in the legend under each
table. The paper's numbers are not here: the paper tables (``della/reporting/paper_tables.py``) put them
beside ours where a cell can be compared. Every row names its task with its data marks (``task_label``:
``ptb [synthetic]``, ``yelp [stand-in data set]``, ``cnndm [SYNTHETIC stand-in]``, ``[capped]``...), and
under each table the run's budget (steps, batch, model size, seeds; the evaluation's sentences, IW
samples and samples) and the data notes.

The CSV holds every scalar of every run's metrics.json over the seeds of the run as ``<key>_mean``
and ``<key>_std`` (sample standard deviation; empty with one seed), with ``n_seeds``; the Markdown
shows ``mean ± std``. On synthetic twins two reference rows give what the generator makes exact
(``info.json``, the runs' ``true_*``): ``H(factors)`` in the **KL (layer sum)** and I(F;z) columns —
the joint KL of a z that encodes exactly the factors, and the most a z can carry about them — and
``H(X)`` (H(target | source) for conditional twins) in the PPL and -ELBO columns of both conventions:
the truth's own PPL (with each convention's token count) and nats per sentence on the scored
sentences, the floor of every likelihood. A PPL or -ELBO cell marked ``‡`` is below it: in every seed
the 95% interval of the run's excess over the truth (della/evaluation/evaluate.py ``truth_figures``)
lies below 0, so that figure is not a bound.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from della.io import atomic_write_text
from della.reporting import conventions
from della.reporting.html import Document, Section, to_markdown, write_document

UNCONDITIONAL_TASKS = ["yelp", "yahoo", "ptb", "snli"]
CONDITIONAL_TASKS = ["cnndm", "wp", "quora"]

# (heading, metrics.json keys) of each table; a column nobody has is left out
UNCONDITIONAL_SECTIONS = [
    ("Likelihood and latent space", ["ppl_paper", "ppl", "neg_elbo_paper", "neg_elbo", "kl_paper", "kl",
                                     "mi_sampled", "au_paper@0.01", "au_paper@0.2", "factor_info_nats"]),
    ("Generation", ["bleu", "self_bleu", "dist_tok_2", "js_max_1", "mauve"]),
]
CONDITIONAL_SECTIONS = [
    ("Generation", ["bleu", "rouge1", "rouge2", "rougeL", "bertscore_f1", "self_bleu", "dist_tok_2", "js_max_1"]),
    # PPL (layer sum): the true bound (the paper reports no likelihood for these tasks)
    ("Likelihood and latent space", ["ppl", "kl_paper", "kl", "mi_sampled", "au_paper@0.2", "factor_info_nats"]),
]
# the likelihood cells that the truth bounds: table key -> the run's excess convention (metrics.json ``excess``)
BOUNDED = {"ppl_paper": "ppl_paper", "ppl": "ppl", "neg_elbo_paper": "neg_elbo_paper", "neg_elbo": "neg_elbo"}
BELOW_MARK = "‡"
BELOW_NOTE = (f"{BELOW_MARK} below the data's entropy: in every seed the 95% interval of the excess over the truth "
              "(log p_true(x) - log p_model(x) per scored sentence) lies below 0, so this figure is not a bound.")

KEYS = ("task", "recipe", "model", "seed", "synthetic")
REFERENCE_RECIPE = "H(factors)"
TRUTH_RECIPE = "H(X)"
REFERENCE_RECIPES = (REFERENCE_RECIPE, TRUTH_RECIPE)  # the twins' reference rows, first within their task


def _scalars(metrics: dict) -> dict:
    out = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for suffix in ("", "_init"):  # the factor probe, per factor (della/evaluation/probes.py)
        for factor, figures in (metrics.get(f"factor_information{suffix}") or {}).items():
            out[f"factor_info{suffix}.{factor}"] = figures["info_nats"]
            out[f"probe_accuracy{suffix}.{factor}"] = figures["accuracy"]
            out[f"probe_chance{suffix}.{factor}"] = figures["chance"]
    for convention, figures in (metrics.get("excess") or {}).items():  # nats over the truth, and its interval
        out[f"excess_{convention}"] = figures["nats"]
        out[f"excess_{convention}_hi"] = figures["hi"]
        # 1 when this seed's whole interval is below the truth (a mean over seeds of 1: every seed)
        out[f"below_{convention}"] = float(figures["hi"] < 0)
    return out


def load_seed_runs(metric_files) -> pd.DataFrame:
    """One row per metrics.json (task, recipe, model, seed, synthetic and every scalar), in the order
    of the files (the workflow passes them in the config's order of tasks and recipes)."""
    rows = []
    for path in metric_files:
        m = json.loads(Path(path).read_text())
        rows.append({"task": m["task"], "recipe": m["recipe"], "model": m["model"], "seed": m["seed"],
                     "synthetic": bool(m.get("synthetic")), **_scalars(m)})
    if not rows:
        raise ValueError("no metrics.json files to tabulate")
    return pd.DataFrame(rows)


def aggregate_seeds(df: pd.DataFrame) -> pd.DataFrame:
    """Seeds of one (task, recipe, model) -> ``<key>_mean``, ``<key>_std`` (ddof 1; NaN with one
    seed) and ``n_seeds``."""
    numeric = [c for c in df.columns if c not in KEYS]
    grouped = df.groupby(["task", "recipe", "model"], sort=False)
    mean = grouped[numeric].mean().add_suffix("_mean")
    std = grouped[numeric].std(ddof=1).add_suffix("_std")
    out = pd.concat([mean, std], axis=1)[[f"{c}_{s}" for c in numeric for s in ("mean", "std")]]
    out["n_seeds"] = grouped["seed"].nunique()
    out["synthetic"] = grouped["synthetic"].any()
    return out.reset_index()


def load_runs(metric_files) -> pd.DataFrame:
    """Every run's scalars, aggregated over its seeds (see ``aggregate_seeds``)."""
    return aggregate_seeds(load_seed_runs(metric_files))


def load_infos(info_files) -> dict[str, dict]:
    """The tasks' info.json files (``prepare_task``) by task name."""
    infos = {}
    for path in info_files or []:
        info = json.loads(Path(path).read_text())
        infos[info.get("task", Path(path).parent.name)] = info
    return infos


def reference_rows(infos: dict[str, dict], runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """The twins' reference rows (none for real data): ``H(factors)`` from info.json
    (``factor_entropy_nats``) in the KL (layer sum) and I(F;z) columns — the joint KL of a z that
    encodes exactly the factors, not a per-layer mean — and ``H(X)``: the truth's figures on the
    scored sentences (the runs' ``true_nll``, ``true_ppl``, ``true_ppl_paper``: the same for every run
    of a task with the task's tokenizer; their mean otherwise) in the PPL and -ELBO columns of both
    conventions (the truth has no layers: its -ELBO is its NLL; each PPL with that convention's token
    count)."""
    rows = []
    for task, info in infos.items():
        if info.get("factor_entropy_nats") is not None:
            h = float(info["factor_entropy_nats"])
            rows.append({"task": task, "recipe": REFERENCE_RECIPE, "model": "reference", "kl_mean": h,
                         "factor_info_nats_mean": h, "n_seeds": 0, "synthetic": True})
        truth = runs[runs.task == task] if runs is not None and "true_nll_mean" in runs else None
        if info.get("text_entropy_nats") is not None and truth is not None and truth["true_nll_mean"].notna().any():
            nll = float(truth["true_nll_mean"].mean())
            rows.append({"task": task, "recipe": TRUTH_RECIPE, "model": "reference",
                         "ppl_paper_mean": float(truth["true_ppl_paper_mean"].mean()),
                         "ppl_mean": float(truth["true_ppl_mean"].mean()), "neg_elbo_paper_mean": nll,
                         "neg_elbo_mean": nll, "text_entropy_nats_mean": float(info["text_entropy_nats"]),
                         "n_seeds": 0, "synthetic": True})
    return pd.DataFrame(rows)


# data_kind (della/data/readers.py) -> the mark of every row of the task
KIND_MARKS = {"synthetic twin": "synthetic", "synthetic stand-in": "SYNTHETIC stand-in",
              "stand-in data set": "stand-in data set"}


def task_marks(info: dict | None) -> list[str]:
    """What the task's data was: the synthetic twin, a synthetic stand-in for a missing task, a stand-in
    data set (yelp, wp), capped splits, splits made by the project; from ``prepare_task``'s info.json."""
    if not info:
        return []
    marks = []
    notes = " ".join(info.get("notes") or []).lower()
    kind = info.get("data_kind")
    if kind in KIND_MARKS:
        marks.append(KIND_MARKS[kind])
    elif kind is None:  # info.json written before data_kind
        if info.get("source") == "synthetic":
            marks.append("synthetic")
        if "stand-in" in notes:
            marks.append("stand-in")
    if capped_splits(info):
        marks.append("capped")
    if "hash split" in notes or "derived" in notes or "held out" in notes:
        marks.append("split by project")
    return marks


def task_label(task: str, info: dict | None) -> str:
    """The task as every table row shows it: ``ptb``, ``ptb [synthetic]``, ``cnndm [SYNTHETIC stand-in]``..."""
    marks = task_marks(info)
    return f"{task} [{', '.join(marks)}]" if marks else task


def capped_splits(info: dict) -> dict[str, str]:
    """The splits that ``data.max_examples`` actually cut: ``{split: "kept of available"}``. A cap
    above a split's size cuts nothing (info.json ``counts`` against ``available``); an info.json
    without ``available`` (older runs) counts every configured cap."""
    caps = info.get("max_examples") or {}
    counts, available = info.get("counts") or {}, info.get("available")
    if available is None:
        return {split: f"at most {cap}" for split, cap in caps.items()}
    return {split: f"{counts[split]} of {available[split]}" for split in caps
            if split in counts and available.get(split, 0) > counts[split]}


def data_note(task: str, info: dict | None) -> str | None:
    """One line under a table for a task whose data is not the paper's as-is: its marks and
    ``prepare_task``'s notes (which split stood in for a missing one, which stand-in data set was
    read, the caps); None for a task read as-is."""
    marks = task_marks(info)
    if not marks:
        return None
    cut = capped_splits(info)
    capped = (["capped (seeded random sample, data.max_examples): "
               + ", ".join(f"{split} {kept}" for split, kept in cut.items())] if cut else [])
    return f"{task} [{', '.join(marks)}]: " + "; ".join((info.get("notes") or []) + capped)


def format_cell(row, key: str) -> str:
    """``mean ± std`` of ``key`` in an aggregated row (just the mean with one seed), with ``‡`` when
    the figure is below the truth in every seed (``BOUNDED``)."""
    mean, std = row.get(f"{key}_mean"), row.get(f"{key}_std")
    if mean is None or pd.isna(mean):
        return "–"
    cell = f"{mean:.2f}" if std is None or pd.isna(std) else f"{mean:.2f} ± {std:.2f}"
    return cell + f" {BELOW_MARK}" if below_truth(row, key) else cell


def below_truth(row, key: str) -> bool:
    """Whether ``key``'s figure is below the truth in every seed of the row (a likelihood that is
    not a bound); False for figures the truth does not bound or runs without a truth."""
    below = row.get(f"below_{BOUNDED[key]}_mean") if key in BOUNDED else None
    return below is not None and not pd.isna(below) and below == 1.0


# --------------------------------------------------------------------------- budget


def _run_budget(metrics: dict) -> tuple:
    config = metrics.get("model_config") or {}
    size = (f"pretrained {config['pretrained']}" if config.get("pretrained")
            else f"{config.get('n_layer', '?')}×{config.get('n_embd', '?')} from scratch")
    evaluation = metrics.get("eval_budget") or {}
    return (metrics.get("train_steps"), metrics.get("train_batch_size"), size,
            evaluation.get("max_sentences", metrics.get("eval_subset_count")), metrics.get("n_scored"),
            evaluation.get("n_samples", metrics.get("n_generated")))


def budget_lines(metric_files) -> list[str]:
    """One line per distinct budget of the runs in a table: optimiser steps × sentences per step,
    model size, seeds; evaluated sentences, IW samples (latent models), generated samples (from
    metrics.json)."""
    by_budget: dict[tuple, dict] = {}
    for path in metric_files:
        m = json.loads(Path(path).read_text())
        entry = by_budget.setdefault(_run_budget(m), {"recipes": [], "seeds": set(), "iw": set()})
        if m["recipe"] not in entry["recipes"]:
            entry["recipes"].append(m["recipe"])
        entry["seeds"].add(m["seed"])
        iw = (m.get("eval_budget") or {}).get("iw_samples", m.get("iw_samples"))
        if iw:
            entry["iw"].add(iw)
    lines = []
    for (steps, batch, size, sentences, scored, samples), entry in by_budget.items():
        seeds = sorted(entry["seeds"])
        train = f"{steps} optimiser steps" + (f" × {batch} sentences" if batch else "")
        seen = f" ({steps * batch:,} sentences seen)" if steps and batch else ""
        iw = ", ".join(map(str, sorted(entry["iw"])))
        evaluation = (f"{scored if scored is not None else sentences} test sentences scored"
                      + (f", IW K = {iw} (latent models)" if iw else "")
                      + (f", {samples} samples generated" if samples else ""))
        who = "" if len(by_budget) == 1 else f" [{', '.join(entry['recipes'])}]"
        seed_text = (f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''} ({', '.join(map(str, seeds))})"
                     + ("" if len(seeds) > 1 else ": no ± (a spread needs two seeds or more)"))
        lines.append(f"Budget{who}: {train}{seen}, {size}, {seed_text}; evaluation: {evaluation}.")
    return lines


# --------------------------------------------------------------------------- the tables


def _section(runs: pd.DataFrame, infos: dict, heading: str, keys: list[str], conditional: bool) -> Section | None:
    keys = [k for k in keys if f"{k}_mean" in runs.columns and runs[f"{k}_mean"].notna().any()]
    if not keys:
        return None
    rows = []
    for _, row in runs.iterrows():
        rows.append({"Task": task_label(row.task, infos.get(row.task)), "Recipe": row.recipe,
                     **{conventions.text(k, conditional): format_cell(row, k) for k in keys}})
    return Section(heading, pd.DataFrame(rows))


def build_table(runs: pd.DataFrame, infos: dict, tasks, sections, conditional: bool, metric_files) -> tuple:
    """The runs of ``tasks`` (reference rows first within a task) as a ``Document`` and the CSV frame."""
    sub = runs[runs.task.isin(tasks)].copy()
    sub["_task"] = pd.Categorical(sub.task, categories=tasks, ordered=True)
    sub["_ref"] = ~sub.recipe.isin(REFERENCE_RECIPES)
    sub = sub.sort_values(["_task", "_ref"], kind="stable").drop(columns=["_task", "_ref"])
    kind = "Conditional" if conditional else "Unconditional"
    marks = {m for t in dict.fromkeys(sub.task) for m in task_marks(infos.get(t))}
    title = f"{kind} tasks" + (" — SYNTHETIC data (offline twins of the tasks)" if "synthetic" in marks else "")
    doc = Document(title)
    if not len(sub):
        doc.paragraphs.append("_no runs of this kind in the config_")
        return doc, sub
    doc.paragraphs.append("Cells: mean ± sample std over seeds. Labels name their convention (legend below; "
                          "CONVENTIONS.md). The paper's numbers are beside ours in tables/paper/, where comparable.")
    shown_keys = []
    for heading, keys in sections:
        section = _section(sub, infos, heading, keys, conditional)
        if section is not None:
            doc.sections.append(section)
            shown_keys += [k for k in keys if conventions.text(k, conditional) in section.frame.columns]
    files = [f for f in metric_files if json.loads(Path(f).read_text())["task"] in set(sub.task)]
    doc.notes += budget_lines(files)
    doc.notes += conventions.legend(shown_keys, conditional)
    doc.notes += reference_notes(set(sub.recipe), marked=any(
        BELOW_MARK in cell for section in doc.sections for cell in section.frame.to_numpy().ravel()))
    doc.notes += [line for task in tasks if task in set(sub.task) and (line := data_note(task, infos.get(task)))]
    sub.insert(1, "task_marks", [", ".join(task_marks(infos.get(t))) for t in sub.task])
    return doc, sub


def write_tables(metric_files, out_dir, info_files=()) -> list[Path]:
    """``unconditional``, ``conditional`` and ``factors`` tables (.md, .html, .csv) under ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_runs = load_seed_runs(metric_files)
    runs = aggregate_seeds(seed_runs)
    infos = load_infos(info_files)
    references = reference_rows(infos, runs)
    if len(references):  # only for tasks that have runs
        runs = pd.concat([runs, references[references.task.isin(runs.task)]], ignore_index=True)
    written = []
    for kind, tasks, sections, conditional in (
            ("unconditional", UNCONDITIONAL_TASKS, UNCONDITIONAL_SECTIONS, False),
            ("conditional", CONDITIONAL_TASKS, CONDITIONAL_SECTIONS, True)):
        doc, frame = build_table(runs, infos, tasks, sections, conditional, metric_files)
        written += write_document(doc, out_dir / kind)
        atomic_write_text(out_dir / f"{kind}.csv", frame.to_csv(index=False))
        written.append(out_dir / f"{kind}.csv")
    return written + write_factor_table(seed_runs, infos, out_dir)


def reference_notes(recipes, marked: bool = False) -> list[str]:
    """The lines under a table that explain its reference rows (``recipes``: the rows it shows) and,
    when a cell is marked, the ``‡`` mark."""
    notes = []
    if REFERENCE_RECIPE in recipes:
        notes.append(f"{REFERENCE_RECIPE} (synthetic twins): the entropy of the generating factors a latent must carry "
                     "(info.json), in the KL (layer sum) column — the joint KL of a z that encodes exactly them — and "
                     "in the I(F;z) column, the most a z can carry about them.")
    if TRUTH_RECIPE in recipes:
        notes.append(f"{TRUTH_RECIPE} (synthetic twins; conditional twins: H(target | source)): the truth's own "
                     "figures on the scored sentences, exact from the twin's generator — its PPL with each "
                     "convention's token count, and its NLL in nats per sentence in both -ELBO columns: the floor "
                     "of every likelihood.")
    if marked:
        notes.append(BELOW_NOTE)
    return notes


FACTOR_KEYS = ["factor_entropy", "factor_info", "probe_accuracy", "probe_chance"]  # the factors table's columns


def write_factor_table(seed_runs: pd.DataFrame, infos: dict[str, dict], out_dir: Path) -> list[Path]:
    """``factors.{md,html,csv}``: per synthetic task and generating factor, each latent run's I(F_k; z)
    (a logistic probe's lower bound, nats; della/evaluation/probes.py) beside H(F_k), with the
    probe's accuracy and chance level, and under each run the same probe on the model at
    initialisation (``<recipe> @ init``): the control an encoder that learned nothing gives. One
    table per task, one row per (recipe, factor); the first rows of a recipe, factor ``all``, are
    the sum over the factors a latent must carry (conditional twins: those absent from the source)."""
    out_dir = Path(out_dir)
    rows = []
    probed = seed_runs[seed_runs.columns[seed_runs.columns.str.startswith("factor_info.")]].notna().any(axis=1)
    for (task, recipe), group in seed_runs[probed].groupby(["task", "recipe"], sort=False):
        factors = (infos.get(task) or {}).get("factors") or {}
        for suffix, name in (("", recipe), ("_init", f"{recipe} @ init")):
            for factor, spec in factors.items():
                values = group[f"factor_info{suffix}.{factor}"]
                rows.append({"task": task, "recipe": name, "factor": factor, "in_source": spec["in_source"],
                             "entropy_nats": spec["entropy_nats"], "info_nats_mean": values.mean(),
                             "info_nats_std": values.std(ddof=1), "n_seeds": len(values),
                             "accuracy_mean": group[f"probe_accuracy{suffix}.{factor}"].mean(),
                             "chance_mean": group[f"probe_chance{suffix}.{factor}"].mean()})
    table = pd.DataFrame(rows, columns=["task", "recipe", "factor", "in_source", "entropy_nats", "info_nats_mean",
                                        "info_nats_std", "n_seeds", "accuracy_mean", "chance_mean"])
    atomic_write_text(out_dir / "factors.csv", table.to_csv(index=False))
    labels = {key: conventions.text(key) for key in FACTOR_KEYS}
    doc = Document("Generating factors in the latent (synthetic twins)")
    doc.paragraphs.append("Per twin and generating factor F: how many nats of F the latent z ~ q(z|x) carries, beside "
                          "F's entropy; mean ± sample std over seeds. `all`: the sum over the factors a latent must "
                          "carry (conditional twins: those absent from the source), itself a lower bound on I(F;z) "
                          "for independent factors. `<recipe> @ init`: the same probe on the model at initialisation "
                          "(the control). Legend below.")
    for task, sub in table.groupby("task", sort=False):
        latent = [f for f, in_source in dict(zip(sub.factor, sub.in_source)).items() if not in_source]
        shown = []
        for recipe, by in sub.groupby("recipe", sort=False):
            by = by.set_index("factor")
            total = by.loc[latent]
            shown.append({"Recipe": recipe, "Factor": "all", labels["factor_entropy"]: f"{total.entropy_nats.sum():.2f}",
                          labels["factor_info"]: f"{total.info_nats_mean.sum():.2f}",
                          labels["probe_accuracy"]: "", labels["probe_chance"]: ""})
            for factor, row in by.iterrows():
                info_cell = f"{row.info_nats_mean:.2f}" + ("" if pd.isna(row.info_nats_std)
                                                           else f" ± {row.info_nats_std:.2f}")
                shown.append({"Recipe": recipe, "Factor": factor + ("" if factor in latent else " (source)"),
                              labels["factor_entropy"]: f"{row.entropy_nats:.2f}", labels["factor_info"]: info_cell,
                              labels["probe_accuracy"]: f"{row.accuracy_mean:.2f}",
                              labels["probe_chance"]: f"{row.chance_mean:.2f}"})
        doc.sections.append(Section(task_label(task, infos.get(task)), pd.DataFrame(shown)))
    if not len(table):
        doc.paragraphs.append("_no run of a latent model on a synthetic twin_")
    doc.notes += conventions.legend(FACTOR_KEYS)
    return [*write_document(doc, out_dir / "factors"), out_dir / "factors.csv"]


STUDY_KEYS = [  # the claims study's runs (workflow/rules/claims.smk): every figure a claim is about
    "ppl_paper", "ppl", "neg_elbo_paper", "neg_elbo", "kl_paper", "kl", "mi_sampled", "au_paper@0.2",
    "factor_info_nats", "factor_info_nats_init", "excess_ppl", "bleu", "self_bleu"]


def write_study_results(metric_files, out_md, out_csv, *, info_file=None, recipe_names=None) -> None:
    """The claims study's runs, mean ± std over seeds, under the claims' recipe names
    (``recipe_names``: run recipe -> claims recipe), with the twin's reference rows."""
    seed_runs = load_seed_runs(metric_files)
    seed_runs["recipe"] = seed_runs["recipe"].map(lambda r: (recipe_names or {}).get(r, r))
    runs = aggregate_seeds(seed_runs)
    infos = load_infos([info_file] if info_file else [])
    references = reference_rows(infos, runs)
    if len(references):
        runs = pd.concat([references, runs], ignore_index=True)
    conditional = bool(set(runs.task) & set(CONDITIONAL_TASKS))
    shown = [key for key in STUDY_KEYS if f"{key}_mean" in runs]
    frame = pd.DataFrame([{"Task": task_label(row.task, infos.get(row.task)), "Recipe": row.recipe,
                           conventions.text("n_seeds"): str(int(row.n_seeds)),
                           **{conventions.text(key, conditional): format_cell(row, key) for key in shown}}
                          for _, row in runs.iterrows()])
    doc = Document("The claims study's runs", sections=[Section(None, frame)])
    doc.paragraphs.append("Cells: mean ± sample std over seeds. Labels name their convention (legend below).")
    doc.notes = conventions.legend(shown, conditional) + reference_notes(
        set(runs.recipe), marked=any(below_truth(row, key) for _, row in runs.iterrows() for key in shown))
    atomic_write_text(out_md, to_markdown(doc), encoding="utf-8")
    atomic_write_text(out_csv, runs.to_csv(index=False))
