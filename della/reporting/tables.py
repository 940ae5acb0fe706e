"""Comparison tables laid out like the paper's, with the paper's numbers beside ours.

* ``unconditional.{csv,md}`` — paper tables 1 and 8 (Yelp, Yahoo, PTB, SNLI): PPL, -ELBO, KL, MI,
  AU, BLEU, Self-BLEU, Dist, JS (MAUVE when its local model was configured; no CND column: its
  definition could not be established, CONVENTIONS.md).
* ``conditional.{csv,md}`` — paper tables 2 and 9 (CNN/DM, WritingPrompts, Quora): BLEU, ROUGE-1/2/L,
  (BERTScore), Self-BLEU, Dist, JS, KL, AU, and PPL* (the true bound, no paper number).
* ``factors.{csv,md}`` — synthetic twins: the nats of each generating factor in z (I(F_k; z), a
  logistic probe's lower bound, della/evaluation/probes.py), accuracy and its chance level, with
  the same probe on each model at initialisation as a control row (``<recipe> @ init``).

The CSV holds every scalar of every run's metrics.json over the seeds of the run as ``<key>_mean``
and ``<key>_std`` (sample standard deviation; empty with one seed), with ``n_seeds``, and a
``paper_<column>`` beside each column the paper reports; the Markdown shows ``mean ± std (paper)``.
On synthetic twins two reference rows give what the generator makes exact (``info.json``, the
runs' ``true_*``): ``H(factors)`` in the KL and I(F;z) columns — the (joint, layer-sum) KL of a
model whose z encodes exactly the factors, and the most a z can carry about them — and ``H(X)``
(H(target | source) for conditional twins) in the PPL and -ELBO columns: the truth's own PPL and
nats per sentence on the scored sentences, the floor of every likelihood. A PPL or -ELBO cell
marked ``‡`` is below it: in every seed the 95% interval of the run's excess over the truth
(della/evaluation/evaluate.py ``truth_figures``) lies below 0, so that figure is not a bound.
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
    # synthetic twins only: nats of the generating factors in z (sum over factors of a probe's lower bound)
    "I(F;z)": ("factor_info_nats", "factor_info"),
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
    "I(F;z)": ("factor_info_nats", "factor_info"),
    "PPL*": ("ppl", "ppl_bound"),  # the paper reports none: the true bound (layer sums, scored tokens)
}
# the likelihood cells that the truth bounds: table key -> the run's excess convention (metrics.json ``excess``)
BOUNDED = {"ppl_paper": "ppl_paper", "ppl": "ppl", "neg_elbo_paper": "neg_elbo_paper", "neg_elbo": "neg_elbo"}
BELOW_MARK = "‡"
BELOW_NOTE = (f"{BELOW_MARK} below the data's entropy: in every seed the 95% interval of the excess over the truth "
              "(log p_true(x) - log p_model(x) per scored sentence) lies below 0, so this figure is not a bound.")
# our recipe name -> the paper's model names to look up, first match wins
PAPER_ALIASES = {"lm": ["gpt2"]}


KEYS = ("task", "recipe", "model", "seed", "synthetic")
REFERENCE_RECIPE = "H(factors)"
TRUTH_RECIPE = "H(X)"


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


def reference_rows(infos: dict[str, dict], runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """The twins' reference rows (none for real data): ``H(factors)`` from info.json
    (``factor_entropy_nats``) in the KL and I(F;z) columns, and ``H(X)``: the truth's figures on the
    scored sentences (the runs' ``true_nll``, ``true_ppl``, ``true_ppl_paper``: the same for every run
    of a task with the task's tokenizer; their mean otherwise) in the PPL and -ELBO columns."""
    rows = []
    for task, info in infos.items():
        if info.get("factor_entropy_nats") is not None:
            h = float(info["factor_entropy_nats"])
            rows.append({"task": task, "recipe": REFERENCE_RECIPE, "model": "reference", "kl_mean": h,
                         # the KL column shows kl_paper; H is the joint (layer-sum) KL of a z that encodes the factors
                         "kl_paper_mean": h, "factor_info_nats_mean": h, "n_seeds": 0, "synthetic": True})
        truth = runs[runs.task == task] if runs is not None and "true_nll_mean" in runs else None
        if info.get("text_entropy_nats") is not None and truth is not None and truth["true_nll_mean"].notna().any():
            nll = float(truth["true_nll_mean"].mean())
            rows.append({"task": task, "recipe": TRUTH_RECIPE, "model": "reference",
                         "ppl_paper_mean": float(truth["true_ppl_paper_mean"].mean()),
                         "ppl_mean": float(truth["true_ppl_mean"].mean()), "neg_elbo_paper_mean": nll,
                         "neg_elbo_mean": nll, "text_entropy_nats_mean": float(info["text_entropy_nats"]),
                         "n_seeds": 0, "synthetic": True})
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
    seed_runs = load_seed_runs(metric_files)
    runs = aggregate_seeds(seed_runs)
    infos = load_infos(info_files)
    write_factor_table(seed_runs, infos, out_dir)
    references = reference_rows(infos, runs)
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
        if BELOW_MARK in body:
            data_md = f"\n\n{BELOW_NOTE}" + data_md
        atomic_write_text(out_dir / f"{kind}.md", f"{title}\n\n{note}\n\n{body}{data_md}\n")
        atomic_write_text(out_dir / f"{kind}.csv", table.to_csv(index=False))


def write_factor_table(seed_runs: pd.DataFrame, infos: dict[str, dict], out_dir: Path) -> None:
    """``factors.{md,csv}``: per synthetic task, each latent run's I(F_k; z) per generating factor
    (a logistic probe's lower bound, nats; della/evaluation/probes.py) and their sum, beside H(F_k),
    with the probe's accuracy and chance level, and under each run the same probe on the model at
    initialisation (``<recipe> @ init``): the control an encoder that learned nothing gives."""
    rows = []
    probed = seed_runs[seed_runs.columns[seed_runs.columns.str.startswith("factor_info.")]].notna().any(axis=1)
    for (task, recipe), group in seed_runs[probed].groupby(["task", "recipe"], sort=True):
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
    lines = ["# Generating factors in the latent (synthetic twins)", "",
             "I(F;z): nats of each generating factor carried by z ~ q(z|x), a lower bound H(F) - CE from a "
             "multinomial logistic probe (scikit-learn, L2 chosen by cross-validated log-loss) fitted on one half "
             "of the probe sentences (generated, never trained on) and scored on the other (each half in turn); "
             "mean ± std over seeds. `total`: the sum over the factors a latent must carry (conditional twins: "
             "those absent from the source), itself a lower bound on I(F;z) for independent factors. acc: the "
             "probe's accuracy (chance: always guessing the training half's most frequent value). "
             "`<recipe> @ init`: the same probe on the model at initialisation (control)."]
    for task, sub in table.groupby("task", sort=False):
        factors = list(dict.fromkeys(sub.factor))
        latent = [f for f in factors if not sub[sub.factor == f].in_source.iloc[0]]
        entropy = sub.drop_duplicates("factor").set_index("factor").entropy_nats
        lines += ["", f"## {task}", "",
                  "| recipe | total | " + " | ".join(f"{f}{'' if f in latent else ' (source)'}" for f in factors) + " |",
                  "|---|---|" + "---|" * len(factors),
                  f"| H(F) | {entropy[latent].sum():.2f} | " + " | ".join(f"{entropy[f]:.2f}" for f in factors) + " |"]
        for recipe, rows_of in sub.groupby("recipe", sort=False):
            by = rows_of.set_index("factor")
            total = by.loc[latent, "info_nats_mean"].sum()
            cells = [f"{by.info_nats_mean[f]:.2f} (acc {by.accuracy_mean[f]:.2f}, chance {by.chance_mean[f]:.2f})"
                     for f in factors]
            lines.append(f"| {recipe} | {total:.2f} | " + " | ".join(cells) + " |")
    if not len(table):
        lines += ["", "_no run of a latent model on a synthetic twin_"]
    atomic_write_text(out_dir / "factors.md", "\n".join(lines) + "\n")


STUDY_COLUMNS = {  # the claims study's runs (workflow/rules/claims.smk): every figure a claim is about
    "PPL": "ppl_paper", "PPL*": "ppl", "-ELBO": "neg_elbo_paper", "-ELBO*": "neg_elbo", "KL": "kl_paper",
    "KL*": "kl", "MI": "mi_sampled", "AU": "au_paper@0.2", "I(F;z)": "factor_info_nats",
    "I(F;z) @ init": "factor_info_nats_init", "excess": "excess_ppl", "BLEU": "bleu", "SB": "self_bleu",
}


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
    shown = {label: key for label, key in STUDY_COLUMNS.items() if f"{key}_mean" in runs}
    lines = ["| task | recipe | seeds | " + " | ".join(shown) + " |", "|---|---|---|" + "---|" * len(shown)]
    for _, row in runs.iterrows():
        lines.append(f"| {row.task} | {row.recipe} | {int(row.n_seeds)} | "
                     + " | ".join(format_cell(row, key) for key in shown.values()) + " |")
    notes = ("PPL / -ELBO / KL: the official code's conventions (layer means; PPL per word + <s> + </s>); "
             "PPL* / -ELBO* / KL*: layer sums (PPL* per scored token: the true bound); MI: sampled first term; "
             "AU at 0.2 (official calc_au); I(F;z): nats of the generating factors in z (factors.md); excess: nats "
             "per sentence above the truth (the bound). Reference rows: H(X) (the truth's own figures on the "
             "scored sentences) and H(factors).")
    if any(below_truth(row, key) for _, row in runs.iterrows() for key in shown.values()):
        notes += " " + BELOW_NOTE
    atomic_write_text(out_md, "# The claims study's runs\n\n" + notes + "\n\n" + "\n".join(lines) + "\n")
    atomic_write_text(out_csv, runs.to_csv(index=False))
