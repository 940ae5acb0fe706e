"""The DELLA paper's tables 1, 2, 4, 5, 8 and 9, regenerated from our runs, as CSV, Markdown and LaTeX.

Hu et al. (NAACL 2022): table 1 (Yelp, Yahoo) and table 8 (PTB, SNLI) — language modelling and
unconditional generation; table 2 (CNN/DM, WritingPrompts) and table 9 (Quora) — conditional
generation; table 4 — DELLA ablations on Yelp; table 5 — training tricks on Yelp. The layouts,
recipe names and paper numbers come from ``config/paper_numbers.csv``.

Each metric the paper reports has two cells: ours computed the PAPER's way (``PPL``: the
official ``calc_iwnll`` — mean-over-layers latent term, words + <s> + </s>; ``-ELBO``/``KL``:
layer means; ``AU``: lower layers sampled, ``>=`` 0.2; ``Dist``: Li et al.'s distinct-2 over
tokens; ``JS``: mean max unigram Jaccard) and the paper's number (``(paper)``). The principled
figures (layer sums, our token count, lower layers at their means, distinct over n-grams,
pairwise 2-gram Jaccard) are their own ``*`` columns. CONVENTIONS.md lists every column.

Rows: every recipe of the paper's table (our ``lm`` stands for the paper's GPT-2 rows) on the
table's tasks, plus every run of those recipes on other tasks (e.g. table 4's ablations on
PTB in the smoke run); a recipe we did not run shows ``–``. Several seeds: mean ± sample std.
Marks: ``†`` a paper number read with low/medium confidence; ``n/c`` no comparison possible
(synthetic twin; PPL of a model with its own tokenizer, i.e. not pretrained GPT-2); next to
the task, ``[synthetic]``, ``[stand-in]``, ``[capped]``, ``[split by project]`` from the task's
``info.json``. Best value of a column among our rows of a task in bold.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from della.io import atomic_write_text
from della.reporting import tables

PAPER_TABLE_IDS = (1, 2, 4, 5, 8, 9)


@dataclass(frozen=True)
class Column:
    label: str  # the paper's column name
    key: str  # metrics.json key computed the paper's way
    paper_metric: str  # metric name in config/paper_numbers.csv
    better: str | None  # "low" / "high" / None (no bold)
    principled: str | None = None  # metrics.json key of the principled figure, shown as "<label>*"
    likelihood: bool = False  # depends on the tokenizer (PPL): n/c unless the model is pretrained GPT-2
    scale: float = 1.0


PPL = Column("PPL", "ppl_paper", "ppl", "low", principled="ppl", likelihood=True)
ELBO = Column("-ELBO", "neg_elbo_paper", "neg_elbo", "low", principled="neg_elbo")
KL = Column("KL", "kl_paper", "kl", None, principled="kl")
MI = Column("MI", "mi", "mi", "high")
AU = Column("AU", "au_paper@0.2", "au", "high", principled="au_per_group_mean@0.2")
BLEU = Column("BLEU", "bleu", "bleu", "high")
MAUVE = Column("MAUVE", "mauve", "mauve", "high")
SB = Column("SB", "self_bleu", "self_bleu", "low")
DIST = Column("Dist", "dist_tok_2", "dist", "high", principled="dist_2")
JS = Column("JS", "js_max_1", "js", "low", principled="jaccard_2")
R1 = Column("R-1", "rouge1", "rouge1", "high")
R2 = Column("R-2", "rouge2", "rouge2", "high")
RL = Column("R-L", "rougeL", "rougeL", "high")
BERTSCORE = Column("BERTScore", "bertscore_f1", "bertscore", "high")

LM_COLUMNS = [PPL, ELBO, KL, MI, AU]
# no CND column: the paper's definition could not be established (CND_NOTE, under tables 1 and 8)
UNCOND_COLUMNS = [PPL, ELBO, KL, MI, AU, BLEU, MAUVE, SB, DIST, JS]
COND_COLUMNS = [BLEU, R1, R2, RL, BERTSCORE, SB, DIST, JS, KL, AU]
TABLES = {
    1: ("Language modelling and unconditional generation (Yelp, Yahoo)", ["yelp", "yahoo"], UNCOND_COLUMNS),
    8: ("Language modelling and unconditional generation (PTB, SNLI)", ["ptb", "snli"], UNCOND_COLUMNS),
    2: ("Conditional generation (CNN/DM, WritingPrompts)", ["cnndm", "wp"], COND_COLUMNS),
    9: ("Conditional generation (Quora)", ["quora"], [BLEU, R1, R2, RL, BERTSCORE, KL]),
    4: ("DELLA ablations (Yelp)", ["yelp"], LM_COLUMNS),
    5: ("Training tricks (Yelp)", ["yelp"], LM_COLUMNS),
}
CONDITIONAL = {"cnndm", "wp", "quora"}
# our recipe -> the paper's model name in config/paper_numbers.csv
PAPER_NAME = {"lm": "gpt2"}
CND_NOTE = ("No CND column: the paper cites Li et al. (2020, ICML) for it, but its formula could not be "
            "established offline (the paper's values reach 1.95; our opt-in `cnd` in metrics.json is an n-gram "
            "Jensen-Shannon stand-in, <= ln 2, on another scale), so the paper's CND numbers are not shown.")


def _paper_name(recipe: str) -> str:
    return PAPER_NAME.get(recipe, recipe)


def load_run_metrics(metric_files) -> pd.DataFrame:
    """One row per run: task, recipe, seed, synthetic, pretrained, and every scalar metric."""
    rows = []
    for path in metric_files:
        m = json.loads(Path(path).read_text())
        try:
            row = {"task": m["task"], "recipe": m["recipe"], "model": m["model"], "seed": m["seed"]}
        except KeyError as err:
            raise ValueError(f"{path}: metrics.json has no {err} field") from err
        row["synthetic"] = bool(m.get("synthetic"))
        row["pretrained"] = bool((m.get("model_config") or {}).get("pretrained"))
        row.update({k: v for k, v in m.items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in row})
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["task", "recipe", "model", "seed", "synthetic", "pretrained"])


def aggregate_seeds(runs: pd.DataFrame, keys) -> pd.DataFrame:
    """``<key>_mean``, ``<key>_std`` (sample std, NaN for one seed), ``n_seeds`` per (task, recipe):
    della/reporting/tables.py's ``aggregate_seeds`` on ``keys`` plus ``pretrained`` (as ``pretrained_mean``)."""
    if runs.empty:
        return pd.DataFrame(columns=["task", "recipe", "model", "n_seeds", "synthetic", "pretrained_mean"])
    keys = [k for k in dict.fromkeys(keys) if k in runs.columns]
    frame = runs[list(tables.KEYS) + ["pretrained"] + keys].assign(pretrained=runs.pretrained.astype(float))
    return tables.aggregate_seeds(frame)


class PaperNumbers:
    def __init__(self, paper_csv):
        self.df = pd.read_csv(paper_csv)
        need = {"table", "task", "model", "metric", "value", "confidence"}
        missing = need - set(self.df.columns)
        if missing:
            raise ValueError(f"{paper_csv}: missing column(s) {sorted(missing)}")

    def recipes(self, table: int) -> list[str]:
        models = self.df[self.df.table == table].model
        inverse = {v: k for k, v in PAPER_NAME.items()}
        return [inverse.get(m, m) for m in dict.fromkeys(models)]

    def lookup(self, table: int, task: str, recipe: str, metric: str):
        """(value, confidence) of the paper's cell, or (None, None). The table's own number first,
        then the same (task, model, metric) in another table (e.g. DELLA's Yelp row in table 1)."""
        df = self.df
        hit = df[(df.task == task) & (df.model == _paper_name(recipe)) & (df.metric == metric)]
        if not len(hit):
            return None, None
        own = hit[hit.table == table]
        row = (own if len(own) else hit).iloc[0]
        return float(row.value), str(row.confidence)


def _fmt(x, std=None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    text = f"{x:.2f}"
    if std is not None and not (isinstance(std, float) and math.isnan(std)):
        text += f" ± {std:.2f}"
    return text


def build_paper_table(table: int, runs: pd.DataFrame, paper: PaperNumbers, infos: dict) -> dict:
    """The table as data: ``frame`` (numbers, one row per (task, recipe), for the CSV) and
    ``cells`` (display strings for Markdown / LaTeX, with ``bold`` flags) plus the notes."""
    title, paper_tasks, columns = TABLES[table]
    recipes = paper.recipes(table)
    keys = [c.key for c in columns] + [c.principled for c in columns if c.principled]
    agg = aggregate_seeds(runs[runs.recipe.isin(recipes)] if not runs.empty else runs, keys)
    want_conditional = table in (2, 9)
    extra_tasks = [t for t in dict.fromkeys(agg.task) if t not in paper_tasks
                   and (t in CONDITIONAL) == want_conditional and table in (4, 5)]
    tasks = paper_tasks + extra_tasks
    ran = set(zip(agg.task, agg.recipe)) if len(agg) else set()
    rows = []
    for task in tasks:
        for recipe in recipes:
            in_paper = task in paper_tasks and any(
                paper.lookup(table, task, recipe, c.paper_metric)[0] is not None for c in columns)
            if in_paper or (task, recipe) in ran:
                rows.append((task, recipe))
    records, display = [], []
    stats = agg.set_index(["task", "recipe"]) if len(agg) else None
    dagger = nc = False
    for task, recipe in rows:
        have = stats is not None and (task, recipe) in stats.index
        run = stats.loc[(task, recipe)] if have else None
        marks = tables.task_marks(infos.get(task))
        rec = {"table": table, "task": task, "task_marks": ", ".join(marks), "recipe": recipe,
               "n_seeds": int(run["n_seeds"]) if have else 0}
        cells = {"Task": task + (f" [{', '.join(marks)}]" if marks else ""), "Model": recipe}
        for col in columns:
            ours = std = None
            if have and col.key + "_mean" in run.index and not pd.isna(run[col.key + "_mean"]):
                ours, std = float(run[col.key + "_mean"]), run.get(col.key + "_std")
            value, conf = paper.lookup(table, task, recipe, col.paper_metric)
            comparable = not (have and (run["synthetic"] or (col.likelihood and run["pretrained_mean"] < 1)))
            rec[col.label] = ours
            rec[col.label + "_std"] = None if std is None or pd.isna(std) else float(std)
            rec[col.label + "_paper"] = value
            rec[col.label + "_paper_confidence"] = conf
            rec[col.label + "_comparable"] = comparable
            cells[col.label] = _fmt(ours, std)
            if value is None:
                cells[col.label + " (paper)"] = "–"
            elif not comparable:
                cells[col.label + " (paper)"] = "n/c"
                nc = True
            else:
                mark = "†" if conf in ("low", "medium") else ""
                dagger |= bool(mark)
                cells[col.label + " (paper)"] = f"{value:.2f}{mark}"
            if col.principled:
                p = float(run[col.principled + "_mean"]) if have and col.principled + "_mean" in run.index \
                    and not pd.isna(run[col.principled + "_mean"]) else None
                pstd = run.get(col.principled + "_std") if p is not None else None
                rec[col.label + "*"] = p
                cells[col.label + "*"] = _fmt(p, pstd)
        records.append(rec)
        display.append(cells)
    frame = pd.DataFrame(records)
    shown = pd.DataFrame(display)
    # bold: the best of our paper-convention values per column within a task
    bold_mask = pd.DataFrame(False, index=shown.index, columns=shown.columns)
    for col in columns:
        if not col.better or col.label not in frame.columns:
            continue
        for task in tasks:
            idx = frame.index[(frame.task == task) & frame[col.label].notna()]
            vals = frame.loc[idx, col.label].astype(float)
            if len(idx) < 2 or vals.nunique() < 2:
                continue  # nothing to single out
            best = vals.min() if col.better == "low" else vals.max()
            bold_mask.loc[idx[(vals == best).to_numpy()], col.label] = True
    notes = [
        "Cells: ours computed the paper's way | (paper) the paper's number | * the principled figure "
        "(PPL*: latent terms summed over layers, per scored token; -ELBO*, KL*: layer sums; AU*: lower "
        "layers at their posterior means; Dist*: distinct-2 over n-grams; JS*: mean pairwise 2-gram "
        "Jaccard). See CONVENTIONS.md.",
        "Our `lm` rows are the paper's GPT-2 rows.",
    ]
    if table in (1, 8):
        notes.append(CND_NOTE)
    if dagger:
        notes.append("†: a paper number read with low or medium confidence from the paper's text "
                     "(config/paper_numbers.csv `confidence`); check the PDF before relying on it.")
    if nc:
        notes.append("n/c: not comparable — a synthetic twin of the task, or (PPL) a model with its own "
                     "tokenizer instead of pretrained GPT-2's BPE.")
    notes += [note for task in tasks if (note := tables.data_note(task, infos.get(task)))]
    if frame.empty or not frame.n_seeds.any():
        notes.append("No run of this table's recipes on its tasks in this config: paper numbers only.")
    elif (frame.n_seeds > 1).any():
        notes.append("± : sample standard deviation over seeds.")
    return {"title": f"Table {table}: {title}", "frame": frame, "cells": shown, "bold": bold_mask, "notes": notes}


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def _tex(text: str) -> str:
    out = "".join(_TEX_ESCAPES.get(ch, ch) for ch in str(text))
    return (out.replace("±", r"$\pm$").replace("†", r"$^\dagger$").replace("–", "--")
            .replace("*", r"$^*$"))


def to_markdown(table: dict) -> str:
    cells = table["cells"].copy()
    for col in cells.columns:
        cells[col] = [f"**{v}**" if b else v for v, b in zip(cells[col], table["bold"][col])]
    body = cells.to_markdown(index=False) if len(cells) else "_no rows_"
    return f"# {table['title']}\n\n{body}\n\n" + "\n".join(f"- {n}" for n in table["notes"]) + "\n"


def to_latex(table: dict) -> str:
    cells = table["cells"].copy()
    for col in cells.columns:
        cells[col] = [rf"\textbf{{{_tex(v)}}}" if b else _tex(v) for v, b in zip(cells[col], table["bold"][col])]
    cells.columns = [_tex(c) for c in cells.columns]
    body = cells.to_latex(index=False, escape=False, column_format="ll" + "r" * (len(cells.columns) - 2))
    notes = "\n".join(rf"\item {_tex(n)}" for n in table["notes"])
    return (f"% {table['title']} (generated by della/reporting/paper_tables.py; needs booktabs)\n{body}"
            f"\\begin{{itemize}}\n{notes}\n\\end{{itemize}}\n")


def write_paper_table(table: int, metric_files, info_files, paper_csv, out_prefix) -> dict:
    """Write ``<out_prefix>.csv``, ``.md`` and ``.tex`` for paper table ``table``."""
    if table not in TABLES:
        raise ValueError(f"paper table {table}: expected one of {sorted(TABLES)}")
    result = build_paper_table(table, load_run_metrics(metric_files), PaperNumbers(paper_csv),
                               tables.load_infos(info_files))
    out_prefix = Path(out_prefix)
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_prefix.with_suffix(".csv"), result["frame"].to_csv(index=False), encoding="utf-8")
    atomic_write_text(out_prefix.with_suffix(".md"), to_markdown(result), encoding="utf-8")
    atomic_write_text(out_prefix.with_suffix(".tex"), to_latex(result), encoding="utf-8")
    return result
