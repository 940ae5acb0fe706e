"""The paper's claims as data, each decided with its uncertainty (README, "Claims").

A claim is one line of ``config/claims.yaml``: a metric, a direction, model A against model B (or
against a threshold), and the tasks it is about, e.g.

    - {id: kl-della-embed, metric: kl, a: della, b: embed, direction: greater, tasks: all}

For every claim and task, :func:`decide_claims` computes the effect A − B (or A − threshold) from
the runs' per-sentence files (``per_sentence.csv.gz``, della/evaluation/evaluate.py) and its 95%
interval by bootstrap, and gives a verdict:

* ``held``: the interval lies on the claimed side (for a non-inferiority claim with ``margin`` m:
  above −m);
* ``not held``: it lies on the other side;
* ``inconclusive``: it contains the boundary;
* ``not run``: A or B has no run on the task; ``n/a``: the metric does not apply (e.g. factor
  information on real data, KL of a language model).

**Resampling** (Koehn 2004, "Statistical significance tests for machine translation evaluation"):
the units are the evaluated test sentences (likelihood and latent metrics), the probe sentences
(factor information), or the generated outputs (BLEU, Self-BLEU). Units that A and B share — the
same test or probe sentences, the outputs of a conditional task (one per seeded test source) — are
resampled *paired*: one draw of row indices for both. The unconditional generations of A and B are
unrelated draws and are resampled independently. The draw is sacrebleu's paired bootstrap
(sacrebleu/significance.py ``_paired_bs_test``): ``numpy.random.default_rng(seed).choice(n,
size=(resamples, n), replace=True)``, seed 12345 and 1,000 resamples by default, and the 95%
interval is sacrebleu's (``estimate_ci``: the sorted resamples at ``n // 40`` and ``n − n // 40 − 1``);
corpus BLEU of a resample is computed by sacrebleu itself, so that for one seed our interval is
sacrebleu's (``tests/test_claims.py::test_corpus_bleu_bootstrap_equals_sacrebleu``). With several
seeds, every resample also draws each side's seeds with replacement (A's and B's independently)
and averages the side's statistic over them: the interval then covers training randomness too. With
one seed it covers the test sentences only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from della.evaluation.bootstrap import (RESAMPLES, SACREBLEU_SEED, Effect, Statistic, active_units_of,
                                        bootstrap_effect, corpus_bleu_of, excess_of, mean_of, mean_of_sum, ppl_of)
from della.reporting import conventions

DEFAULT_SETTINGS = {"file": "config/claims.yaml", "resamples": RESAMPLES, "seed": SACREBLEU_SEED, "level": 0.95}
UNCONDITIONAL = ("yelp", "yahoo", "ptb", "snli")
CONDITIONAL = ("cnndm", "wp", "quora")
TASK_GROUPS = {"all": UNCONDITIONAL + CONDITIONAL, "unconditional": UNCONDITIONAL, "conditional": CONDITIONAL}
VERDICTS = ("held", "not held", "inconclusive", "not run", "n/a")


class ClaimsError(ValueError):
    pass


@dataclass(frozen=True)
class Metric:
    """A claim's metric: which figure (``key``, its label, convention and unit from
    della/reporting/conventions.py, as every table shows it), from which rows of the per-sentence
    file, and whether A's and B's rows are the same units (paired)."""
    key: str  # della/reporting/conventions.py LABELS
    part: str  # scored | probe | sample
    statistic: Callable[[bool], Statistic]  # conditional task? -> the statistic
    paired: Callable[[bool], bool] = lambda conditional: True
    complete_only: bool = False  # scored rows with their </s> only (the truth's log p is of the whole text)
    resampled: str = ""  # what the bootstrap holds fixed, beyond the label's definition

    def label(self, conditional: bool = False) -> str:
        return conventions.text(self.key, conditional)

    def unit(self, conditional: bool = False) -> str:
        return conventions.label(self.key, conditional).unit or ""

    def convention(self, conditional: bool = False) -> str:
        lab = conventions.label(self.key, conditional)
        return "; ".join(part for part in (lab.definition, self.resampled) if part)


def _same(statistic: Statistic) -> Callable[[bool], Statistic]:
    return lambda conditional: statistic


AGGREGATE_FIXED = "the aggregate posterior held fixed (each sentence's term resampled)"
# claims metric name (config/claims.yaml) -> how it is decided
METRICS: dict[str, Metric] = {
    "kl": Metric("kl", "scored", _same(mean_of("kl"))),
    "kl_paper": Metric("kl_paper", "scored", _same(mean_of("kl_paper"))),
    "mi": Metric("mi", "scored", _same(mean_of("mi_term")), resampled=AGGREGATE_FIXED),
    "mi_sampled": Metric("mi_sampled", "scored", _same(mean_of("mi_sampled_term")), resampled=AGGREGATE_FIXED),
    "au_paper@0.2": Metric("au_paper@0.2", "scored", _same(active_units_of("mu_paper", 0.2, "mu_paper_pass2"))),
    "au@0.2": Metric("au_per_group_mean@0.2", "scored", _same(active_units_of("mu", 0.2))),
    "factor_info": Metric("factor_info_nats", "probe", _same(mean_of("probe_info"))),
    "ppl": Metric("ppl", "scored", _same(ppl_of("log_p", "n_tokens"))),
    "ppl_paper": Metric("ppl_paper", "scored", _same(ppl_of("log_p_paper", "n_tokens_paper"))),
    "nll": Metric("iw_nll_sum", "scored", _same(mean_of_sum("log_p", sign=-1.0))),
    "excess": Metric("excess_ppl", "scored", _same(excess_of("log_p")), complete_only=True),
    "excess_paper": Metric("excess_ppl_paper", "scored", _same(excess_of("log_p_paper")), complete_only=True),
    "neg_elbo": Metric("neg_elbo", "scored", _same(mean_of_sum("rec", "kl"))),
    "neg_elbo_paper": Metric("neg_elbo_paper", "scored", _same(mean_of_sum("rec_paper", "kl_paper"))),
    # unconditional: NLTK sentence BLEU of each sample vs the test set, mean; conditional: sacreBLEU corpus BLEU
    "bleu": Metric("bleu", "sample", lambda conditional: corpus_bleu_of() if conditional else mean_of("bleu"),
                   paired=lambda conditional: conditional),
    "self_bleu": Metric("self_bleu", "sample", _same(mean_of("self_bleu")), paired=lambda conditional: conditional),
}


def verdict(effect: Effect, direction: str, margin: float = 0.0) -> str:
    if direction == "greater":
        return "held" if effect.lo > -margin else "not held" if effect.hi < -margin else "inconclusive"
    if direction == "less":
        return "held" if effect.hi < margin else "not held" if effect.lo > margin else "inconclusive"
    raise ValueError(f"direction {direction!r}: expected 'greater' or 'less'")


# --------------------------------------------------------------------------- #
# Claims files
# --------------------------------------------------------------------------- #

CLAIM_KEYS = {"id", "text", "metric", "a", "b", "threshold", "direction", "margin", "tasks", "source"}


def claim_tasks(claim: dict) -> tuple[str, ...]:
    tasks = claim.get("tasks", "all")
    if isinstance(tasks, str):
        return TASK_GROUPS[tasks]
    return tuple(tasks)


def check_claims(claims: list, known_recipes: set[str] | None = None, where: str = "claims") -> None:
    """Refuse a malformed claim, naming it: unknown key or metric, both or neither of ``b`` and
    ``threshold``, a margin without B, a duplicate id, an unknown task or recipe."""
    if not isinstance(claims, list) or not claims:
        raise ClaimsError(f"{where}: 'claims' must be a non-empty list of claims")
    seen = set()
    for i, claim in enumerate(claims):
        name = f"{where}: claim {i + 1}" + (f" ({claim.get('id')})" if isinstance(claim, dict) and claim.get("id") else "")
        if not isinstance(claim, dict):
            raise ClaimsError(f"{name}: expected a mapping, got {claim!r}")
        unknown = set(claim) - CLAIM_KEYS
        if unknown:
            raise ClaimsError(f"{name}: unknown key(s) {sorted(unknown)}; known: {sorted(CLAIM_KEYS)}")
        for key in ("id", "metric", "a", "direction"):
            if key not in claim:
                raise ClaimsError(f"{name}: missing key {key!r}")
        if claim["id"] in seen:
            raise ClaimsError(f"{name}: duplicate id {claim['id']!r}")
        seen.add(claim["id"])
        if claim["metric"] not in METRICS:
            raise ClaimsError(f"{name}: unknown metric {claim['metric']!r}; known: {', '.join(METRICS)}")
        if claim["direction"] not in ("greater", "less"):
            raise ClaimsError(f"{name}: direction {claim['direction']!r}; expected greater or less")
        if ("b" in claim) == ("threshold" in claim):
            raise ClaimsError(f"{name}: give exactly one of 'b' (a model to compare with) and 'threshold'")
        if "margin" in claim and ("b" not in claim or not claim["margin"] >= 0):
            raise ClaimsError(f"{name}: 'margin' (>= 0) needs 'b'")
        tasks = claim.get("tasks", "all")
        if isinstance(tasks, str) and tasks not in TASK_GROUPS:
            raise ClaimsError(f"{name}: tasks {tasks!r}; expected a list of tasks or one of {', '.join(TASK_GROUPS)}")
        if not isinstance(tasks, str) and (not isinstance(tasks, list) or set(tasks) - set(TASK_GROUPS["all"])):
            raise ClaimsError(f"{name}: tasks {tasks!r}; expected a list of {', '.join(TASK_GROUPS['all'])}")
        if known_recipes is not None:
            for side in ("a", "b"):
                if side in claim and claim[side] not in known_recipes:
                    raise ClaimsError(f"{name}: {side} = {claim[side]!r} is neither a recipe of the config nor a "
                                      f"model; known: {', '.join(sorted(known_recipes))}")


def load_claims(path, known_recipes: set[str] | None = None) -> list[dict]:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ClaimsError(f"claims file {path} does not exist (config key 'claims.file')")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ClaimsError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict) or set(data) != {"claims"}:
        raise ClaimsError(f"{path}: expected one top-level key 'claims'")
    check_claims(data["claims"], known_recipes, where=str(path))
    return data["claims"]


# --------------------------------------------------------------------------- #
# Deciding the claims over a set of runs
# --------------------------------------------------------------------------- #


def read_per_sentence(path) -> pd.DataFrame:
    return pd.read_csv(path)


def _rows(frame: pd.DataFrame, metric: Metric) -> pd.DataFrame:
    rows = frame[frame["part"] == metric.part]
    if metric.complete_only and "complete" in rows:
        rows = rows[rows["complete"] == 1]
    return rows.set_index("index").sort_index()


def _columns(rows: pd.DataFrame, statistic: Statistic) -> dict | None:
    """The statistic's columns as arrays, or None when the run lacks one (or has it empty)."""
    names = []
    for column in statistic.columns:
        if column.endswith(".*"):
            matched = [c for c in rows.columns if c.startswith(column[:-1])]
            if not matched:
                return None
            names += matched
        else:
            names.append(column)
    if len(rows) == 0 or any(c not in rows or rows[c].isna().any() for c in names):
        return None
    return {c: rows[c].to_numpy() for c in names}


def decide(claim: dict, task: str, a_frames: list[pd.DataFrame], b_frames: list[pd.DataFrame] | None, *,
           conditional: bool, settings: dict) -> dict:
    """One claim on one task: its row of the claims table."""
    metric = METRICS[claim["metric"]]
    statistic, paired = metric.statistic(conditional), metric.paired(conditional)
    row = {"verdict": "n/a", "note": ""}
    a_rows = [_rows(f, metric) for f in a_frames]
    b_rows = None if b_frames is None else [_rows(f, metric) for f in b_frames]
    if paired:  # the units every run of both sides has, in one order
        common = a_rows[0].index
        for rows in a_rows[1:] + (b_rows or []):
            common = common.intersection(rows.index)
        a_rows = [rows.loc[common] for rows in a_rows]
        b_rows = None if b_rows is None else [rows.loc[common] for rows in b_rows]
    a_cols = [_columns(rows, statistic) for rows in a_rows]
    b_cols = None if b_rows is None else [_columns(rows, statistic) for rows in b_rows]
    if any(c is None for c in a_cols + (b_cols or [])):
        row["note"] = f"{metric.label(conditional)} is not available for {'A' if any(c is None for c in a_cols) else 'B'}"
        return row
    effect = bootstrap_effect(a_cols, b_cols, statistic, threshold=claim.get("threshold"), paired=paired,
                              resamples=settings["resamples"], seed=settings["seed"], level=settings["level"])
    row.update(a_value=effect.a, b_value=effect.b, effect=effect.effect, lo=effect.lo, hi=effect.hi,
               verdict=verdict(effect, claim["direction"], claim.get("margin", 0.0)), n_units=effect.n_units,
               resampled=("paired " if paired else "independent ") + metric.part + " rows"
               + (" and seeds" if len(a_cols) > 1 or len(b_cols or []) > 1 else ""))
    return row


def decide_claims(claims: list[dict], runs: dict[tuple[str, str], list[Path]], *, settings: dict | None = None,
                  conditional_tasks=CONDITIONAL, recipe_names: dict[str, str] | None = None) -> pd.DataFrame:
    """The claims table: one row per (claim, task) for every task that has runs.

    ``runs[(task, recipe)]``: the per-sentence files of the recipe's seeds; ``recipe_names`` maps a
    claim's recipe name to the run's (the study's ``della.s5000`` for ``della``)."""
    settings = {**DEFAULT_SETTINGS, **(settings or {})}
    names = recipe_names or {}
    tasks_run = sorted({task for task, _ in runs}, key=lambda t: TASK_GROUPS["all"].index(t))
    cache: dict[Path, pd.DataFrame] = {}

    def frames(task, recipe):
        paths = runs.get((task, names.get(recipe, recipe)))
        if not paths:
            return None
        return [cache.setdefault(Path(p), read_per_sentence(p)) for p in paths]

    out = []
    for claim in claims:
        metric = METRICS[claim["metric"]]
        for task in claim_tasks(claim):
            if task not in tasks_run:
                continue
            conditional = task in conditional_tasks
            row = {"claim": claim["id"], "text": claim.get("text", ""), "task": task, "metric": claim["metric"],
                   "label": metric.label(conditional), "unit": metric.unit(conditional),
                   "convention": metric.convention(conditional), "a": claim["a"],
                   "b": claim.get("b", ""), "threshold": claim.get("threshold", math.nan),
                   "direction": claim["direction"], "margin": claim.get("margin", 0.0),
                   "n_seeds_a": 0, "n_seeds_b": 0}
            a = frames(task, claim["a"])
            b = frames(task, claim["b"]) if "b" in claim else None
            missing = [claim[s] for s, f in (("a", a), ("b", b)) if s in claim and f is None]
            if missing:
                row.update(verdict="not run", note=f"no run of {', '.join(missing)} on {task}")
            else:
                row.update(n_seeds_a=len(a), n_seeds_b=len(b) if b is not None else 0)
                row.update(decide(claim, task, a, b, conditional=conditional, settings=settings))
            out.append(row)
    columns = ["claim", "text", "task", "metric", "label", "unit", "convention", "a", "b", "threshold", "direction",
               "margin", "a_value", "b_value", "effect", "lo", "hi", "verdict", "n_units", "n_seeds_a", "n_seeds_b",
               "resampled", "note"]
    return pd.DataFrame(out).reindex(columns=columns)


# --------------------------------------------------------------------------- #
# Writing
# --------------------------------------------------------------------------- #


def _cell(row) -> str:
    if row["verdict"] in ("not run", "n/a"):
        return row["verdict"]
    return f"{row['verdict']} {row['effect']:+.3g} [{row['lo']:+.3g}, {row['hi']:+.3g}]"


def claims_document(table: pd.DataFrame, *, title: str, notes: Sequence[str] = (), labels: dict | None = None):
    """The claims table as a ``Document`` (della/reporting/html.py: Markdown and HTML from one source):
    one row per claim, one column per task (``labels``: column titles for the tasks, e.g.
    della/reporting/tables.py ``task_label``); the metric as the tables label it."""
    from della.reporting.html import Document, Section

    labels = labels or {}
    tasks = list(dict.fromkeys(table["task"]))
    counts = table["verdict"].value_counts()
    verdicts = "Verdicts: " + ", ".join(f"{v} {int(counts.get(v, 0))}" for v in VERDICTS if counts.get(v, 0))
    rows = []
    for claim_id, claim_rows in table.groupby("claim", sort=False):
        first = claim_rows.iloc[0]
        versus = first["b"] if first["b"] else f"{first['threshold']:g}"
        if first["margin"]:
            versus += f" (margin {first['margin']:g})"
        by_task = {r["task"]: _cell(r) for _, r in claim_rows.iterrows()}
        rows.append({"Claim": claim_id, "Metric": first["label"], "A": first["a"],
                     "vs": (">" if first["direction"] == "greater" else "<") + f" {versus}",
                     **{labels.get(t, t): by_task.get(t, "") for t in tasks}})
    frame = pd.DataFrame(rows, columns=["Claim", "Metric", "A", "vs"] + [labels.get(t, t) for t in tasks])
    return Document(title, paragraphs=[*notes, verdicts], sections=[Section(None, frame)])


def claims_markdown(table: pd.DataFrame, *, title: str, notes: Sequence[str] = (), labels: dict | None = None) -> str:
    """The claims table in Markdown (``claims_document``)."""
    from della.reporting.html import to_markdown

    return to_markdown(claims_document(table, title=title, notes=notes, labels=labels))


def collect_runs(metric_files) -> tuple[dict[tuple[str, str], list[Path]], pd.DataFrame]:
    """``{(task, recipe): [per-sentence file of each seed]}`` from the runs' metrics.json files
    (the per-sentence file sits beside each), and one row per run (task, recipe, seed, steps)."""
    import json

    runs: dict[tuple[str, str], list[Path]] = {}
    rows = []
    for path in sorted(map(Path, metric_files)):
        metrics = json.loads(path.read_text())
        per_sentence = path.parent / metrics.get("per_sentence_file", "per_sentence.csv.gz")
        if not per_sentence.is_file():
            raise ClaimsError(f"{path}: no per-sentence file {per_sentence.name} beside it (evaluated before "
                              "per-sentence files existed: rerun its evaluation)")
        runs.setdefault((metrics["task"], metrics["recipe"]), []).append(per_sentence)
        rows.append({"task": metrics["task"], "recipe": metrics["recipe"], "seed": metrics["seed"],
                     "steps": metrics.get("train_steps")})
    return runs, pd.DataFrame(rows, columns=["task", "recipe", "seed", "steps"])


def claims_notes(meta: pd.DataFrame, settings: dict) -> list[str]:
    """What the claims table was decided from, and how to read it (the Markdown's header)."""
    seeds = sorted(meta["seed"].unique().tolist()) if len(meta) else []
    steps = sorted({int(s) for s in meta["steps"].dropna()}) if len(meta) else []
    level = f"{settings['level']:.0%}"
    notes = [f"Each cell: the verdict, the effect A − B (or A − threshold, in the metric's unit) and its {level} "
             f"interval: a bootstrap over the evaluated test sentences (Koehn 2004), paired where A and B are "
             f"scored on the same units (test and probe sentences, the outputs of a conditional task), "
             f"independent for unconditional generations; sacrebleu's resampling ({settings['resamples']} "
             f"resamples, seed {settings['seed']}; corpus BLEU recomputed by sacrebleu)"
             + (", and over the seeds of each side" if len(seeds) > 1 else "") + ".",
             "held: the interval lies on the claimed side (beyond the margin for a non-inferiority claim); "
             "not held: on the other side; inconclusive: it contains the boundary; not run: a recipe has no "
             "run on the task; n/a: the metric does not apply (no latent, no factors).",
             f"Runs: train.steps {', '.join(map(str, steps)) or '?'}; seeds {seeds}."]
    if len(seeds) <= 1:
        notes.append("One seed: the intervals cover the sampling of test sentences only, not the randomness of "
                     "training; a run with another seed can reverse a verdict (`--config seeds='[0,1,2]'`).")
    return notes


def write_claims(metric_files, claims: list[dict], out_md, out_csv, *, settings: dict, title: str,
                 recipe_names: dict[str, str] | None = None, conditional_tasks=CONDITIONAL, task_labels=None,
                 out_html=None) -> pd.DataFrame:
    """Decide ``claims`` over the runs of ``metric_files`` and write the table (Markdown, CSV and,
    with ``out_html``, HTML for Snakemake's report). ``task_labels``: the tasks' column titles."""
    from della.io import atomic_write_text
    from della.reporting.html import to_html, to_markdown

    runs, meta = collect_runs(metric_files)
    table = decide_claims(claims, runs, settings=settings, recipe_names=recipe_names,
                          conditional_tasks=conditional_tasks)
    doc = claims_document(table, title=title, notes=claims_notes(meta, settings), labels=task_labels)
    atomic_write_text(out_md, to_markdown(doc), encoding="utf-8")
    if out_html is not None:
        atomic_write_text(out_html, to_html(doc), encoding="utf-8")
    atomic_write_text(out_csv, table.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    return table


README_BLOCK = "claims"  # README.md's block of the claims study (della/reporting/readme.py)


def merge_tables(csv_files, labels) -> str:
    """One Markdown table from several claims CSVs (e.g. the twin's and the real data's study),
    one column per (file, task), titled by ``labels``."""
    frames = []
    for path, label in zip(csv_files, labels):
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
        frame["task"] = label if frame["task"].nunique() == 1 else label + " " + frame["task"]
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table["b"] = table["b"].fillna("")
    body = claims_markdown(table, title="_", notes=())
    return body.split("\n", 2)[2].lstrip("\n")


def main(argv=None) -> None:
    """``python -m della.reporting.claims merge A.csv B.csv --labels "ptb twin" "real PTB"
    [--readme README.md]``: the claims tables of several runs side by side; with ``--readme``, written
    into the README's ``claims`` block (della/reporting/readme.py ``replace_block``, stamped)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m della.reporting.claims", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    merge = sub.add_parser("merge", help="several claims.csv side by side")
    merge.add_argument("csv", nargs="+", type=Path)
    merge.add_argument("--labels", nargs="+", required=True)
    merge.add_argument("--readme", type=Path, help="write the table into this file's claims block")
    args = parser.parse_args(argv)
    if len(args.labels) != len(args.csv):
        parser.error(f"{len(args.csv)} files but {len(args.labels)} labels")
    for path in args.csv:
        if not path.is_file():
            parser.error(f"{path} does not exist (run the study first)")
    table = merge_tables(args.csv, args.labels)
    if args.readme is None:
        print(table, end="")
        return
    from della.reporting.readme import replace_block

    try:
        replace_block(args.readme, README_BLOCK, table)
    except ValueError as err:
        parser.error(str(err))


if __name__ == "__main__":
    main()
