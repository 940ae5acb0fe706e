"""The project's result tables: every run, every figure under a label that names its convention.

* ``unconditional.{md,html,csv}`` — Yelp, Yahoo, PTB, SNLI: a likelihood-and-latent table (PPL,
  -ELBO and KL in both layer conventions, MI, AU at both δ, the factor probe) and a generation table
  (BLEU, Self-BLEU, Dist-2, JS, MAUVE).
* ``conditional.{md,html,csv}`` — CNN/DM, WritingPrompts, Quora: generation (BLEU, ROUGE, BERTScore,
  Self-BLEU, Dist-2, JS) and latent space (KL, AU).

Column labels come from ``della/reporting/conventions.py`` (``PPL (layer mean)``, ``KL (layer sum)``,
``MI (sampled)``, ``AU (δ=0.2, …)``...), defined in the legend under each table. The paper's numbers
are not here: the paper tables (``della/reporting/paper_tables.py``) put them beside ours where a cell
can be compared. Every row names its task with its data marks (``task_label``: ``ptb [synthetic]``,
``yelp [stand-in data set]``, ``cnndm [SYNTHETIC stand-in]``, ``[capped]``...), and under each table
the run's budget (steps, batch, model size, seeds; the evaluation's sentences, IW samples and samples)
and the data notes.

The CSV holds every scalar of every run's metrics.json over the seeds of the run as ``<key>_mean``
and ``<key>_std`` (sample standard deviation; empty with one seed), with ``n_seeds``; the Markdown
shows ``mean ± std``. On synthetic twins a reference row ``H(factors)`` gives the entropy of the
generating factors (``info.json``) in the **KL (layer sum)** column: the joint KL of a z that encodes
exactly the factors.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from della.io import atomic_write_text
from della.reporting import conventions
from della.reporting.html import Document, Section, write_document

UNCONDITIONAL_TASKS = ["yelp", "yahoo", "ptb", "snli"]
CONDITIONAL_TASKS = ["cnndm", "wp", "quora"]

# (heading, metrics.json keys) of each table; a column nobody has is left out
UNCONDITIONAL_SECTIONS = [
    ("Likelihood and latent space", ["ppl_paper", "ppl", "neg_elbo_paper", "neg_elbo", "kl_paper", "kl",
                                     "mi_sampled", "au_paper@0.01", "au_paper@0.2", "probe_accuracy"]),
    ("Generation", ["bleu", "self_bleu", "dist_tok_2", "js_max_1", "mauve"]),
]
CONDITIONAL_SECTIONS = [
    ("Generation", ["bleu", "rouge1", "rouge2", "rougeL", "bertscore_f1", "self_bleu", "dist_tok_2", "js_max_1"]),
    ("Latent space", ["kl_paper", "kl", "mi_sampled", "au_paper@0.2"]),
]

KEYS = ("task", "recipe", "model", "seed", "synthetic")
REFERENCE_RECIPE = "H(factors)"


def _scalars(metrics: dict) -> dict:
    out = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    probe = metrics.get("factor_probe") or {}
    if probe:  # per factor, and the mean over factors (chance: the majority-class rate)
        for factor, figures in probe.items():
            out[f"probe_{factor}"] = figures["accuracy"]
        out["probe_accuracy"] = sum(f["accuracy"] for f in probe.values()) / len(probe)
        out["probe_chance"] = sum(f.get("chance", f.get("majority", float("nan"))) for f in probe.values()) / len(probe)
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


def reference_rows(infos: dict[str, dict]) -> pd.DataFrame:
    """``H(factors)`` rows from the twins' info.json (``factor_entropy_nats``); none for real data.
    The entropy goes in the KL (layer sum) column only: it is the joint KL of a z that encodes the
    factors, not a per-layer mean."""
    rows = []
    for task, info in infos.items():
        if info.get("factor_entropy_nats") is not None:
            rows.append({"task": task, "recipe": REFERENCE_RECIPE, "model": "reference",
                         "kl_mean": float(info["factor_entropy_nats"]), "n_seeds": 0, "synthetic": True})
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
    """``mean ± std`` of ``key`` in an aggregated row (just the mean with one seed)."""
    mean, std = row.get(f"{key}_mean"), row.get(f"{key}_std")
    if mean is None or pd.isna(mean):
        return "–"
    return f"{mean:.2f}" if std is None or pd.isna(std) else f"{mean:.2f} ± {std:.2f}"


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
    sub["_ref"] = sub.recipe != REFERENCE_RECIPE
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
    if (sub.recipe == REFERENCE_RECIPE).any():
        doc.notes.append(f"{REFERENCE_RECIPE}: the entropy of the twin's generating factors (info.json), in the KL "
                         "(layer sum) column: the joint KL of a z that encodes exactly the factors.")
    doc.notes += [line for task in tasks if task in set(sub.task) and (line := data_note(task, infos.get(task)))]
    sub.insert(1, "task_marks", [", ".join(task_marks(infos.get(t))) for t in sub.task])
    return doc, sub


def write_tables(metric_files, out_dir, info_files=()) -> list[Path]:
    """``unconditional`` and ``conditional`` tables (.md, .html, .csv) under ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = load_runs(metric_files)
    infos = load_infos(info_files)
    references = reference_rows(infos)
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
    return written
