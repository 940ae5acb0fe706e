"""The DELLA paper's tables 1, 2, 4, 5, 8 and 9, regenerated from our runs, as CSV, Markdown, HTML and
LaTeX.

Hu et al. (NAACL 2022): table 1 (Yelp, Yahoo) and table 8 (PTB, SNLI) — language modelling and
unconditional generation; table 2 (CNN/DM, WritingPrompts) and table 9 (Quora) — conditional
generation; table 4 — DELLA ablations on Yelp; table 5 — training tricks on Yelp. The layouts,
recipe names and paper numbers come from ``config/paper_numbers.csv``.

**Cells.** Where the paper reports a number, the cell is ``ours (paper)``: ours computed the paper's
way (the official code's conventions, e.g. ``PPL (layer mean)``) with the paper's number in
parentheses — or ``(n/c)`` where the two cannot be compared: our data is a synthetic twin, a
synthetic stand-in or a stand-in data set, or (likelihoods) the model has its own tokenizer instead
of pretrained GPT-2's BPE. The other convention of the same quantity has its own column (``PPL
(layer sum)``...). Every column's label names its convention (``della/reporting/conventions.py``).

**Rows.** Every row of the paper's table (``–`` where we did not run it) and every recipe we ran on
the table's tasks: tables 1, 2, 8 and 9 keep every recipe; table 4 the recipes that change a model's
architecture (options, latent size, which layers get a KL term: ``family`` ``ablation``) and table 5
those that change its training objective (β schedule, free bits, BoW, BN: ``trick``) — on Yelp and
on every other unconditional task where one ran. ``°`` marks a recipe the paper did not run.
Several seeds: mean ± sample std. ``†`` a paper number read with low/medium confidence. Best of our
values per column and task in bold. Under each table: the runs' budget, the legend of the labels, the
data notes.

**CSV.** One row per (task, recipe): ``<key>`` and ``<key>_std`` (our figure, metrics.json key), and for a
key the paper reports ``<key> (paper)``, ``<key> (paper confidence)`` and ``<key> comparable``.

**Width.** Tables 1, 8 and 2 are two tables each (``a``: likelihood and latent space, ``b``:
generation; table 2: ``a`` generation, ``b`` latent space), so that no Markdown table is wider than
twelve columns; the CSV keeps one row per (task, recipe) with every number.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from della.io import atomic_write_text
from della.reporting import conventions, tables
from della.reporting.html import Document, Section, to_html, to_markdown

PAPER_TABLE_IDS = (1, 2, 4, 5, 8, 9)


@dataclass(frozen=True)
class Column:
    key: str  # metrics.json key (computed the paper's way where the paper reports the quantity)
    paper_metric: str | None  # metric name in config/paper_numbers.csv; None: a column of ours alone
    better: str | None  # "low" / "high" / None (no bold)
    likelihood: bool = False  # depends on the tokenizer (PPL): n/c unless the model is pretrained GPT-2


# the paper's way, then the other convention of the same quantity
LM_COLUMNS = [Column("ppl_paper", "ppl", "low", likelihood=True), Column("ppl", None, "low", likelihood=True),
              Column("neg_elbo_paper", "neg_elbo", "low"), Column("neg_elbo", None, "low"),
              Column("kl_paper", "kl", None), Column("kl", None, None),
              Column("mi", "mi", "high"), Column("mi_sampled", None, "high"),
              Column("au_paper@0.2", "au", "high"), Column("au_per_group_mean@0.2", None, "high")]
GEN_COLUMNS = [Column("bleu", "bleu", "high"), Column("mauve", "mauve", "high"), Column("self_bleu", "self_bleu", "low"),
               Column("dist_tok_2", "dist", "high"), Column("dist_2", None, "high"),
               Column("js_max_1", "js", "low"), Column("jaccard_2", None, "low")]
COND_GEN_COLUMNS = [Column("bleu", "bleu", "high"), Column("rouge1", "rouge1", "high"), Column("rouge2", "rouge2", "high"),
                    Column("rougeL", "rougeL", "high"), Column("bertscore_f1", "bertscore", "high"),
                    Column("self_bleu", "self_bleu", "low"), Column("dist_tok_2", "dist", "high"),
                    Column("js_max_1", "js", "low")]
COND_LATENT_COLUMNS = [Column("kl_paper", "kl", None), Column("kl", None, None),
                       Column("au_paper@0.2", "au", "high"), Column("au_per_group_mean@0.2", None, "high")]

# table -> (title, the paper's tasks, [(sub-table heading, columns)], the recipe families it keeps)
TABLES = {
    1: ("Language modelling and unconditional generation (Yelp, Yahoo)", ["yelp", "yahoo"],
        [("a: likelihood and latent space", LM_COLUMNS), ("b: generation", GEN_COLUMNS)], None),
    8: ("Language modelling and unconditional generation (PTB, SNLI)", ["ptb", "snli"],
        [("a: likelihood and latent space", LM_COLUMNS), ("b: generation", GEN_COLUMNS)], None),
    2: ("Conditional generation (CNN/DM, WritingPrompts)", ["cnndm", "wp"],
        [("a: generation", COND_GEN_COLUMNS), ("b: latent space", COND_LATENT_COLUMNS)], None),
    9: ("Conditional generation (Quora)", ["quora"],
        [(None, [Column("bleu", "bleu", "high"), Column("rouge1", "rouge1", "high"), Column("rouge2", "rouge2", "high"),
                 Column("rougeL", "rougeL", "high"), Column("bertscore_f1", "bertscore", "high"),
                 Column("kl_paper", "kl", None), Column("kl", None, None)])], None),
    4: ("DELLA ablations (Yelp)", ["yelp"], [(None, LM_COLUMNS)], "ablation"),
    5: ("Training tricks (Yelp)", ["yelp"], [(None, LM_COLUMNS)], "trick"),
}
CONDITIONAL = {"cnndm", "wp", "quora"}
# our recipe -> the paper's model name in config/paper_numbers.csv
PAPER_NAME = {"lm": "gpt2"}
NOT_COMPARABLE_DATA = {"synthetic twin", "synthetic stand-in", "stand-in data set"}
CND_NOTE = ("No CND column: the paper cites Li et al. (2020, ICML) for it, but its formula could not be "
            "established offline (the paper's values reach 1.95; our opt-in `cnd` in metrics.json is an n-gram "
            "Jensen-Shannon stand-in, <= ln 2, on another scale), so the paper's CND numbers are not shown.")
OURS_ONLY = "°"


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
        # below_<convention>: 1 when the figure is below the truth (a twin's excess interval below 0)
        row.update({k: v for k, v in tables._scalars(m).items() if k.startswith("below_")})
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

    def has_row(self, table: int, task: str, recipe: str) -> bool:
        df = self.df
        return bool(((df.table == table) & (df.task == task) & (df.model == _paper_name(recipe))).any())

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


def comparable(info: dict | None, column: Column, pretrained: bool) -> bool:
    """Can our cell stand beside the paper's? Not on other data (a twin, a synthetic stand-in, a stand-in
    data set), and not for a likelihood of a model with its own tokenizer (not pretrained GPT-2's BPE)."""
    info = info or {}
    kind = info.get("data_kind") or ("synthetic twin" if info.get("source") == "synthetic" else "real")
    if kind in NOT_COMPARABLE_DATA:
        return False
    return not (column.likelihood and not pretrained)


def table_rows(table: int, agg: pd.DataFrame, paper: PaperNumbers, families: dict | None) -> list[tuple[str, str]]:
    """(task, recipe) of every row: the paper's rows of the table, then every recipe we ran on its tasks
    (of its family for tables 4 and 5), in the order they ran."""
    _, paper_tasks, _, family = TABLES[table]
    families = families or {}
    ran = list(dict.fromkeys(zip(agg.task, agg.recipe))) if len(agg) else []
    conditional = table in (2, 9)

    def kept(task, recipe):
        if family is None:
            return task in paper_tasks
        in_family = families.get(recipe) == family or recipe in paper.recipes(table)
        return in_family and (task in CONDITIONAL) == conditional

    ours = [(t, r) for t, r in ran if kept(t, r)]
    tasks = paper_tasks + [t for t in dict.fromkeys(t for t, _ in ours) if t not in paper_tasks]
    rows = []
    for task in tasks:
        in_paper = [r for r in paper.recipes(table) if task in paper_tasks and paper.has_row(table, task, r)]
        rows += [(task, r) for r in in_paper]
        rows += [(t, r) for t, r in ours if t == task and r not in in_paper]
    return rows


def build_paper_table(table: int, runs: pd.DataFrame, paper: PaperNumbers, infos: dict, families=None) -> dict:
    """The table as data: ``frame`` (numbers, one row per (task, recipe), for the CSV) and ``document``
    (display strings for Markdown / HTML / LaTeX, one section per sub-table, with bold flags and notes)."""
    title, _, sections, _ = TABLES[table]
    conditional = table in (2, 9)
    columns = [c for _, cols in sections for c in cols]
    # below_<convention>: the figure is below the twin's truth in every seed (tables.BOUNDED: marked ‡)
    agg = aggregate_seeds(runs, [c.key for c in columns] + [f"below_{c}" for c in tables.BOUNDED.values()])
    stats = agg.set_index(["task", "recipe"]) if len(agg) else None
    rows = table_rows(table, agg, paper, families)
    records, displays = [], {heading: [] for heading, _ in sections}
    dagger = nc = ours_only = below = False
    for task, recipe in rows:
        have = stats is not None and (task, recipe) in stats.index
        run = stats.loc[(task, recipe)] if have else None
        info = infos.get(task)
        in_paper = paper.has_row(table, task, recipe)
        ours_only |= not in_paper
        rec = {"table": table, "task": task, "task_marks": ", ".join(tables.task_marks(info)), "recipe": recipe,
               "family": (families or {}).get(recipe, ""), "in_paper": in_paper,
               "n_seeds": int(run["n_seeds"]) if have else 0}
        for heading, cols in sections:
            cells = {"Task": tables.task_label(task, info), "Model": recipe + ("" if in_paper else f" {OURS_ONLY}")}
            for col in cols:
                label = conventions.text(col.key, conditional)
                ours = std = None
                if have and f"{col.key}_mean" in run.index and not pd.isna(run[f"{col.key}_mean"]):
                    ours, std = float(run[f"{col.key}_mean"]), run.get(f"{col.key}_std")
                rec[col.key] = ours
                rec[f"{col.key}_std"] = None if std is None or pd.isna(std) else float(std)
                text = _fmt(ours, std)
                if have and tables.below_truth(run, col.key):
                    text += f" {tables.BELOW_MARK}"
                    below = True
                if col.paper_metric is not None:
                    value, conf = paper.lookup(table, task, recipe, col.paper_metric)
                    can = comparable(info, col, bool(have and run["pretrained_mean"] >= 1))
                    rec[f"{col.key} (paper)"] = value
                    rec[f"{col.key} (paper confidence)"] = conf
                    rec[f"{col.key} comparable"] = can
                    if value is not None:
                        if not can and ours is None:
                            pass  # nothing of ours to compare
                        elif not can:
                            text += " (n/c)"
                            nc = True
                        else:
                            mark = "†" if conf in ("low", "medium") else ""
                            dagger |= bool(mark)
                            text += f" ({value:.2f}{mark})"
                cells[label] = text
            displays[heading].append(cells)
        records.append(rec)
    frame = pd.DataFrame(records)
    doc = Document(f"Table {table}: {title}")
    doc.paragraphs.append("Cells: ours (the paper's number; n/c where the two cannot be compared). Labels name "
                          "their convention: the paper's way is the layer mean (official code), the other column "
                          "of the same quantity the layer sum; legend below.")
    tasks = list(dict.fromkeys(t for t, _ in rows))
    for heading, cols in sections:
        shown = pd.DataFrame(displays[heading], columns=["Task", "Model"]
                             + [conventions.text(c.key, conditional) for c in cols])
        doc.sections.append(Section(heading, shown, _bold(frame, shown, cols, tasks, conditional)))
    notes = conventions.legend([c.key for c in columns], conditional)
    notes.append("Our `lm` rows are the paper's GPT-2 rows.")
    if ours_only:
        notes.append(f"{OURS_ONLY}: a recipe the paper did not run (our row only).")
    if table in (1, 8):
        notes.append(CND_NOTE)
    if dagger:
        notes.append("†: a paper number read with low or medium confidence from the paper's text "
                     "(config/paper_numbers.csv `confidence`); check the PDF before relying on it.")
    if nc:
        notes.append("n/c: not comparable — our data is a synthetic twin, a synthetic stand-in or a stand-in data "
                     "set, or (PPL) the model has its own tokenizer instead of pretrained GPT-2's BPE.")
    if below:
        notes.append(tables.BELOW_NOTE)
    if any(c.likelihood for c in columns):  # the truth of each twin: the floor of the PPL columns
        notes += [note for task in tasks if (note := truth_note(task, runs))]
    notes += [note for task in tasks if (note := tables.data_note(task, infos.get(task)))]
    if frame.empty or not frame.n_seeds.any():
        notes.append("No run of this table's recipes on its tasks in this config: paper numbers only.")
    elif (frame.n_seeds > 1).any():
        notes.append("± : sample standard deviation over seeds.")
    doc.notes = notes
    return {"title": doc.title, "frame": frame, "document": doc}


def _bold(frame: pd.DataFrame, shown: pd.DataFrame, cols, tasks, conditional) -> pd.DataFrame:
    """The best of our values per column within a task."""
    bold = pd.DataFrame(False, index=shown.index, columns=shown.columns)
    if frame.empty:
        return bold
    for col in cols:
        if not col.better or col.key not in frame.columns:
            continue
        label = conventions.text(col.key, conditional)
        for task in tasks:
            idx = frame.index[(frame.task == task) & frame[col.key].notna()]
            vals = frame.loc[idx, col.key].astype(float)
            if len(idx) < 2 or vals.nunique() < 2:
                continue  # nothing to single out
            best = vals.min() if col.better == "low" else vals.max()
            bold.loc[idx[(vals == best).to_numpy()], label] = True
    return bold


def truth_note(task: str, runs: pd.DataFrame) -> str | None:
    """The twin's ``H(X)`` line: the truth's PPL (both conventions) and nats per sentence on the
    scored sentences, the floor of every likelihood cell (the runs' ``true_*``); None off twins."""
    if runs.empty or "true_nll" not in runs:
        return None
    truth = runs[(runs.task == task) & runs.true_nll.notna()]
    if truth.empty:
        return None
    return (f"{tables.TRUTH_RECIPE} of the {task} twin (the truth on the scored sentences, the floor of every "
            f"likelihood): {conventions.text('ppl_paper')} {truth.true_ppl_paper.mean():.2f}, "
            f"{conventions.text('ppl')} {truth.true_ppl.mean():.2f}, {truth.true_nll.mean():.2f} nats per sentence "
            f"(both -ELBO columns).")


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def _tex(text: str) -> str:
    out = "".join(_TEX_ESCAPES.get(ch, ch) for ch in str(text))
    return (out.replace("±", r"$\pm$").replace("†", r"$^\dagger$").replace("‡", r"$^\ddagger$").replace("–", "--")
            .replace("°", r"$^\circ$").replace("δ", r"$\delta$").replace("÷", r"$\div$").replace("×", r"$\times$")
            .replace("β", r"$\beta$"))


def to_latex(table: dict) -> str:
    doc = table["document"]
    parts = [f"% {doc.title} (generated by della/reporting/paper_tables.py; needs booktabs)"]
    for section in doc.sections:
        cells = section.frame.copy()
        for col in cells.columns:
            cells[col] = [rf"\textbf{{{_tex(v)}}}" if b else _tex(v) for v, b in zip(cells[col], section.bold[col])]
        cells.columns = [_tex(c) for c in cells.columns]
        if section.heading:
            parts.append(f"% {section.heading}")
        parts.append(cells.to_latex(index=False, escape=False, column_format="ll" + "r" * (len(cells.columns) - 2)))
    notes = "\n".join(rf"\item {_tex(n)}" for n in doc.notes)
    return "\n".join(parts) + f"\\begin{{itemize}}\n{notes}\n\\end{{itemize}}\n"


def write_paper_table(table: int, metric_files, info_files, paper_csv, out_prefix, families=None) -> dict:
    """Write ``<out_prefix>.csv``, ``.md``, ``.html`` and ``.tex`` for paper table ``table``.
    ``families``: ``{recipe: "base" | "ablation" | "trick"}`` (della/config.py ``recipe_family``)."""
    if table not in TABLES:
        raise ValueError(f"paper table {table}: expected one of {sorted(TABLES)}")
    infos = tables.load_infos(info_files)
    result = build_paper_table(table, load_run_metrics(metric_files), PaperNumbers(paper_csv), infos, families)
    shown = set(zip(result["frame"].task, result["frame"].recipe)) if len(result["frame"]) else set()
    # the budget of the runs this table shows, first under it
    files = []
    for path in metric_files:
        metrics = json.loads(Path(path).read_text())
        if (metrics["task"], metrics["recipe"]) in shown:
            files.append(path)
    result["document"].notes[:0] = tables.budget_lines(files)
    out_prefix = Path(out_prefix)
    atomic_write_text(out_prefix.with_suffix(".csv"), result["frame"].to_csv(index=False))
    atomic_write_text(out_prefix.with_suffix(".md"), to_markdown(result["document"]), encoding="utf-8")
    atomic_write_text(out_prefix.with_suffix(".html"), to_html(result["document"]), encoding="utf-8")
    atomic_write_text(out_prefix.with_suffix(".tex"), to_latex(result), encoding="utf-8")
    return result
