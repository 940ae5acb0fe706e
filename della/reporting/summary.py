"""The run's results summary (``results_dir/summary.md``, the README's results block) and the report's
pages: the config, and per task its data notes and samples.

``summary.md`` is what the README quotes, written by the ``summary`` rule from the run itself so that
the README's numbers cannot drift from the tables: a header (config, budget, seeds, data), one small
table per headline figure (recipes × tasks; labels from ``della/reporting/conventions.py``), then every
Markdown section other rules register (``SUMMARY_SECTIONS`` in ``workflow/rules/common.smk``, e.g. the
claims table), verbatim. ``python -m della.reporting.readme`` copies it into README.md.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from della.io import atomic_write_text
from della.reporting import conventions, tables
from della.reporting.html import Document, Section, text_page, to_html, to_markdown

# the figures the summary tabulates as recipes x tasks (unconditional; conditional)
HEADLINE_KEYS = ["ppl", "kl", "mi_sampled", "au_paper@0.01", "factor_info_nats", "bleu", "self_bleu"]
CONDITIONAL_HEADLINE_KEYS = ["bleu", "rougeL", "kl"]


def pivot(runs: pd.DataFrame, key: str, tasks: list[str], infos: dict) -> pd.DataFrame | None:
    """``mean ± std`` of ``key``: one row per recipe (in run order), one column per task."""
    column = f"{key}_mean"
    if column not in runs.columns or not runs[column].notna().any():
        return None
    sub = runs[runs.task.isin(tasks) & runs[column].notna()]
    present = [t for t in tasks if t in set(sub.task)]
    recipes = list(dict.fromkeys(sub.recipe))
    rows = []
    for recipe in recipes:
        row = {"Recipe": recipe}
        for task in present:
            hit = sub[(sub.task == task) & (sub.recipe == recipe)]
            row[tables.task_label(task, infos.get(task))] = tables.format_cell(hit.iloc[0], key) if len(hit) else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def build_summary(metric_files, info_files, config: dict, config_files, sections=()) -> Document:
    runs = tables.load_runs(metric_files)
    infos = tables.load_infos(info_files)
    refs = tables.reference_rows(infos, runs)
    if len(refs):
        runs = pd.concat([runs, refs[refs.task.isin(runs.task)]], ignore_index=True)
    files = ", ".join(str(f) for f in config_files) or "config/config.yaml"
    marks = sorted({m for t in set(runs.task) for m in tables.task_marks(infos.get(t))})
    doc = Document(f"Results of `snakemake all` ({files})")
    doc.paragraphs.append(
        f"Generated from `{config['results_dir']}/` by the `summary` rule (written into the README by "
        "`python -m della.reporting.readme`): every number below is in the run's tables, under the same label. "
        + (f"Data: {', '.join(marks)} (each task's marks are in its column name). " if marks else "")
        + "Cells: mean ± sample std over seeds.")
    doc.paragraphs += tables.budget_lines(metric_files)
    for kind, task_list, keys, conditional in (
            ("unconditional", tables.UNCONDITIONAL_TASKS, HEADLINE_KEYS, False),
            ("conditional", tables.CONDITIONAL_TASKS, CONDITIONAL_HEADLINE_KEYS, True)):
        for key in keys:
            frame = pivot(runs, key, task_list, infos)
            if frame is not None and len(frame):
                lab = conventions.label(key, conditional)
                doc.sections.append(Section(f"{lab.text}{', ' + lab.unit if lab.unit else ''} ({kind} tasks)", frame))
    doc.notes += conventions.legend([k for k in HEADLINE_KEYS if f"{k}_mean" in runs.columns])
    shown = [cell for section in doc.sections for cell in section.frame.to_numpy().ravel()]
    doc.notes += tables.reference_notes({recipe for section in doc.sections for recipe in section.frame.Recipe},
                                        marked=any(tables.BELOW_MARK in str(cell) for cell in shown))
    doc.appendix = [Path(section).read_text(encoding="utf-8") for section in sections if Path(section).is_file()]
    return doc


def write_summary(metric_files, info_files, config: dict, config_files, out_md, out_html, sections=()) -> None:
    doc = build_summary(metric_files, info_files, config, config_files, sections)
    atomic_write_text(out_md, to_markdown(doc), encoding="utf-8")
    atomic_write_text(out_html, to_html(doc), encoding="utf-8")


def write_config_page(run_configs, config_files, out_html) -> None:
    """The config the run used, as the report shows it: every run's own config.yaml (gathered in
    ``tables/configs.yaml`` by the tables rule: the configs the tables were built from)."""
    runs = (yaml.safe_load(Path(run_configs).read_text()) or {}).get("runs") or {}
    files = ", ".join(str(f) for f in config_files) or "config/config.yaml"
    blocks = [(f"{name} (from {files} and --config)", yaml.safe_dump(config, sort_keys=False))
              for name, config in runs.items()]
    atomic_write_text(out_html, text_page("Effective config of every run", blocks or [("no run", "")]),
                      encoding="utf-8")


def write_task_page(task: str, info_file, runs: dict[str, tuple[Path, Path]], out_html, n_samples: int = 8) -> None:
    """``report/{task}.html``: what data the task was (marks, counts, caps, notes, files) and the first
    samples of every recipe (``runs``: recipe -> (samples.jsonl, metrics.json) of its first seed)."""
    info = json.loads(Path(info_file).read_text())
    data = [f"data: {info.get('data_kind', info.get('source'))}",
            f"marks: {', '.join(tables.task_marks(info)) or 'none (read as-is)'}",
            "examples: " + ", ".join(f"{s} {info.get('counts', {}).get(s)}" for s in ("train", "valid", "test"))]
    if info.get("available"):
        data.append("available: " + ", ".join(f"{s} {n}" for s, n in info["available"].items()))
    data += [f"note: {note}" for note in info.get("notes") or []]
    if info.get("factor_entropy_nats") is not None:
        data.append(f"H(factors): {info['factor_entropy_nats']:.2f} nats")
    blocks = [("Data", "\n".join(data))]
    for recipe, (samples_path, metrics_path) in runs.items():
        lines = []
        try:
            rows = [json.loads(line) for line in Path(samples_path).read_text(encoding="utf-8").splitlines()[:n_samples]]
        except OSError:
            rows = []
        for row in rows:
            lines.append((f"[source] {row['source']}\n[target] {row.get('target', '')}\n[output] " if "source" in row
                          else "") + row["output"])
        decoding = json.loads(Path(metrics_path).read_text()).get("decoding", {}) if Path(metrics_path).is_file() else {}
        blocks.append((f"{recipe}: first {len(rows)} samples (decoding {decoding.get('strategy', '?')})",
                       "\n".join(lines) or "(none)"))
    atomic_write_text(out_html, text_page(f"{task}: data and samples", blocks), encoding="utf-8")
