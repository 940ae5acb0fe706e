"""Comparison tables laid out like the paper's, with the paper's numbers beside ours.

* ``unconditional.{csv,md}`` — paper tables 1 and 8 (Yelp, Yahoo, PTB, SNLI): PPL, -ELBO, KL, MI,
  AU, BLEU, Self-BLEU, Dist, JS (MAUVE when its local model was configured; no CND column: its
  definition could not be established, CONVENTIONS.md).
* ``conditional.{csv,md}`` — paper tables 2 and 9 (CNN/DM, WritingPrompts, Quora): BLEU, ROUGE-1/2/L,
  (BERTScore), Self-BLEU, Dist, JS, KL, AU.

The CSV holds every scalar of every run's metrics.json over the seeds of the run as ``<key>_mean``
and ``<key>_std`` (sample standard deviation; empty with one seed), with ``n_seeds``, and a
``paper_<column>`` beside each column the paper reports; the Markdown shows ``mean ± std (paper)``.
On synthetic twins a reference row ``H(factors)`` gives the entropy of the generating factors in
its KL column (``info.json``): the (joint, layer-sum) KL of a model whose z encodes exactly the factors.
Conventions (stated again in the Markdown): every cell beside a paper number is computed the paper's way
(CONVENTIONS.md): PPL as the official calc_iwnll (latent terms averaged over layers, per word + <s> + </s>);
-ELBO and KL in nats per sentence, layer means; AU at delta 0.2 with the lower layers sampled, mean over
layers of the per-layer count; BLEU / Self-BLEU / Dist x100, Dist = Li et al.'s distinct-2 over tokens;
JS = mean max unigram Jaccard. The principled figures (ppl, neg_elbo, kl: layer sums, scored tokens) are in
the CSV and in the paper tables' * columns. Our ``lm`` rows are compared with the paper's GPT-2 rows, ``bart``
with its BART rows (CNN/DM, Quora).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from della.io import atomic_write_text

UNCONDITIONAL_TASKS = ["yelp", "yahoo", "ptb", "snli"]
CONDITIONAL_TASKS = ["cnndm", "wp", "quora"]

# table column -> (our metrics.json key, the paper CSV's metric name)
UNCONDITIONAL_COLUMNS = {
    "PPL": ("ppl_paper", "ppl"),
    "-ELBO": ("neg_elbo_paper", "neg_elbo"),
    "KL": ("kl_paper", "kl"),
    "MI": ("mi", "mi"),
    "AU": ("au_paper@0.2", "au"),
    "Probe": ("probe_accuracy", "probe_accuracy"),  # synthetic twins only: mean factor-probe accuracy
    "BLEU": ("bleu", "bleu"),
    "MAUVE": ("mauve", "mauve"),
    "SB": ("self_bleu", "self_bleu"),
    "Dist": ("dist_tok_2", "dist"),
    "JS": ("js_max_1", "js"),
}
CONDITIONAL_COLUMNS = {
    "BLEU": ("bleu", "bleu"),  # sacrebleu corpus BLEU for conditional tasks
    "R-1": ("rouge1", "rouge1"),
    "R-2": ("rouge2", "rouge2"),
    "R-L": ("rougeL", "rougeL"),
    "BERTScore": ("bertscore_f1", "bertscore"),
    "SB": ("self_bleu", "self_bleu"),
    "Dist": ("dist_tok_2", "dist"),
    "JS": ("js_max_1", "js"),
    "KL": ("kl_paper", "kl"),
    "AU": ("au_paper@0.2", "au"),
}
# our recipe name -> the paper's model names to look up, first match wins
PAPER_ALIASES = {"lm": ["gpt2"]}


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
    """One row per metrics.json (task, recipe, model, seed, synthetic and every scalar)."""
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
    """``H(factors)`` rows from the twins' info.json (``factor_entropy_nats``); none for real data."""
    rows = []
    for task, info in infos.items():
        if info.get("factor_entropy_nats") is not None:
            rows.append({"task": task, "recipe": REFERENCE_RECIPE,
                         "model": "reference", "kl_mean": float(info["factor_entropy_nats"]),
                         # the KL column shows kl_paper; H is the joint (layer-sum) KL of a z that encodes the factors
                         "kl_paper_mean": float(info["factor_entropy_nats"]), "n_seeds": 0,
                         "synthetic": True})
    return pd.DataFrame(rows)


def task_marks(info: dict | None) -> list[str]:
    """What the task's data was (issue 12): synthetic twin, a stand-in data set, capped splits,
    splits made by the project; from ``prepare_task``'s info.json."""
    if not info:
        return []
    marks = []
    notes = " ".join(info.get("notes") or []).lower()
    if info.get("source") == "synthetic":
        marks.append("synthetic")
    if "stand-in" in notes:
        marks.append("stand-in")
    if capped_splits(info):
        marks.append("capped")
    if "hash split" in notes or "derived" in notes or "held out" in notes:
        marks.append("split by project")
    return marks


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
    capped = ([f"capped (seeded random sample, data.max_examples): "
               + ", ".join(f"{split} {kept}" for split, kept in cut.items())] if cut else [])
    return f"{task} [{', '.join(marks)}]: " + "; ".join((info.get("notes") or []) + capped)


def format_cell(row, key: str) -> str:
    """``mean ± std`` of ``key`` in an aggregated row (just the mean with one seed)."""
    mean, std = row.get(f"{key}_mean"), row.get(f"{key}_std")
    if mean is None or pd.isna(mean):
        return "–"
    return f"{mean:.2f}" if std is None or pd.isna(std) else f"{mean:.2f} ± {std:.2f}"


def paper_value(paper: pd.DataFrame, task: str, recipe: str, metric: str):
    for name in PAPER_ALIASES.get(recipe, [recipe]):
        hit = paper[(paper.task == task) & (paper.model == name) & (paper.metric == metric)]
        if len(hit):
            return float(hit.value.iloc[0])
    return None


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and pd.isna(x)):
        return "–"
    return f"{x:.2f}"


def build_table(runs: pd.DataFrame, paper: pd.DataFrame, tasks, columns) -> tuple[pd.DataFrame, str]:
    sub = runs[runs.task.isin(tasks)].copy()
    sub["task"] = pd.Categorical(sub.task, categories=tasks, ordered=True)
    sub = sub.sort_values(["task", "recipe"], kind="stable")
    for col, (_, paper_metric) in columns.items():
        sub[f"paper_{paper_metric}"] = [paper_value(paper, t, r, paper_metric) for t, r in zip(sub.task, sub.recipe)]
    shown = [c for c, (key, pm) in columns.items()
             if f"{key}_mean" in sub.columns or sub[f"paper_{pm}"].notna().any()]
    lines = ["| task | model | " + " | ".join(shown) + " |", "|---|---|" + "---|" * len(shown)]
    for _, row in sub.iterrows():
        cells = []
        for col in shown:
            key, pm = columns[col]
            cells.append(f"{format_cell(row, key)} ({_fmt(row[f'paper_{pm}'])})")
        lines.append(f"| {row.task} | {row.recipe} | " + " | ".join(cells) + " |")
    return sub, "\n".join(lines)


def write_tables(metric_files, out_dir, paper_csv, info_files=()) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = load_runs(metric_files)
    infos = load_infos(info_files)
    references = reference_rows(infos)
    if len(references):  # only for tasks that have runs
        runs = pd.concat([runs, references[references.task.isin(runs.task)]], ignore_index=True)
    paper = pd.read_csv(paper_csv)
    for kind, tasks, columns in (("unconditional", UNCONDITIONAL_TASKS, UNCONDITIONAL_COLUMNS),
                                 ("conditional", CONDITIONAL_TASKS, CONDITIONAL_COLUMNS)):
        table, md = build_table(runs, paper, tasks, columns)
        synthetic = bool(table.synthetic.any())
        title = f"# {kind.capitalize()} tasks" + (
            " — SYNTHETIC demo data (offline twins of the tasks; not comparable with the paper's numbers)"
            if synthetic else "")
        note = ("Cells: ours as mean ± std over seeds (paper). " + __doc__.split("Conventions (stated again in the Markdown): ")[1]
                .split('"""')[0].strip().replace("\n", " "))
        body = md if len(table) else "_no runs of this kind in the config_"
        # which data each task was: a stand-in data set, a split that stood in for a missing one, caps
        data = [line for task in tasks if task in set(table.task) and (line := data_note(task, infos.get(task)))]
        data_md = ("\n\nData:\n\n" + "\n".join(f"- {line}" for line in data)) if data else ""
        atomic_write_text(out_dir / f"{kind}.md", f"{title}\n\n{note}\n\n{body}{data_md}\n")
        atomic_write_text(out_dir / f"{kind}.csv", table.to_csv(index=False))
