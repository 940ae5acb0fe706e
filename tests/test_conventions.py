"""One convention per column (issue 21): every label a table column or a plot axis shows comes from
della/reporting/conventions.py, and a quantity the project computes in more than one way (PPL, -ELBO,
KL, MI, AU, Dist-2, JS, BLEU) always names its convention. ``check_table_labels`` and
``check_figure_labels`` read every label of a results folder; tests/test_workflow.py runs them on the
smoke DAG's outputs, the tests here on tables and figures built from fixture runs."""
import json
import re
from pathlib import Path

import pandas as pd

from della.reporting import conventions
from della.reporting.paper_tables import TABLES, write_paper_table
from della.reporting.plots import read_png_labels, task_plots
from della.reporting.tables import write_tables

REPO = Path(__file__).resolve().parents[1]
ROW_KEYS = {"Task", "Recipe", "Model", "Factor", "kl_reduction", "L"}  # columns that name the row, not a figure


def markdown_headers(path: Path) -> list[str]:
    """The header cells of every Markdown table in a file."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    headers = []
    for i, line in enumerate(lines[:-1]):
        if line.startswith("|") and re.match(r"^\|[\s:|-]+\|$", lines[i + 1]):
            headers += [cell.strip() for cell in line.strip("|").split("|")]
    return headers


def check_table_labels(paths) -> int:
    """Every column of every Markdown table in ``paths`` is a registry label naming its convention."""
    known = conventions.known_texts()
    checked = 0
    for path in paths:
        for header in markdown_headers(path):
            if header in ROW_KEYS:
                continue
            assert header in known, f"{path}: column {header!r} is not in della/reporting/conventions.py"
            assert conventions.names_its_convention(header), f"{path}: {header!r} does not name its convention"
            checked += 1
    return checked


def check_heading_labels(path) -> int:
    """summary.md: each table is one figure (recipes x tasks) named by its heading,
    ``## <label>[, <unit>] (<kind> tasks)``."""
    known = conventions.known_texts()
    checked = 0
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.startswith("## "):
            continue
        text = re.sub(r" \((un)?conditional tasks\)$", "", line[3:])
        assert text in known, f"{path}: heading {text!r} is not in della/reporting/conventions.py"
        assert conventions.names_its_convention(text), f"{path}: heading {text!r} does not name its convention"
        checked += 1
    return checked


def check_figure_labels(paths) -> int:
    """Every axis label of every figure (PNG text chunk written by della/reporting/plots.py save) starts with a
    registry label and names its convention."""
    known = sorted(conventions.known_texts(), key=len, reverse=True)
    checked = 0
    for path in paths:
        labels = read_png_labels(path)
        for text in labels["x"] + labels["y"]:
            assert any(text.startswith(k) for k in known), f"{path}: axis {text!r} is not a registry label"
            assert conventions.names_its_convention(text), f"{path}: axis {text!r} does not name its convention"
            checked += 1
    return checked


def test_every_ambiguous_label_names_its_convention():
    for key, label in {**conventions.LABELS, **{f"c:{k}": v for k, v in conventions.CONDITIONAL.items()}}.items():
        if label.quantity in conventions.AMBIGUOUS:
            assert label.convention, key
    texts = [label.text for label in conventions.LABELS.values()]
    assert len(texts) == len(set(texts)), "two keys share one label: one of them hides its convention"
    assert not conventions.names_its_convention("KL") and conventions.names_its_convention("KL (layer sum)")
    assert conventions.names_its_convention("Self-BLEU")


def _fixture_runs(tmp_path):
    """Two tasks (a twin and a conditional one), three recipes, two seeds; train logs for the figures."""
    files, infos = [], []
    for task, conditional in (("ptb", False), ("quora", True)):
        info = tmp_path / "data" / task / "info.json"
        info.parent.mkdir(parents=True)
        info.write_text(json.dumps({"task": task, "source": "synthetic", "data_kind": "synthetic twin",
                                    "factor_entropy_nats": 6.2, "notes": []}))
        infos.append(info)
        for recipe, model in (("lm", "lm"), ("della", "della"), ("embed+bn", "embed")):
            for seed in (0, 1):
                run = tmp_path / "runs" / task / recipe / f"seed{seed}"
                run.mkdir(parents=True)
                m = {"task": task, "recipe": recipe, "model": model, "seed": seed, "synthetic": True,
                     "conditional": conditional, "has_latent": model != "lm", "ppl": 9.0 + seed, "ppl_paper": 8.0,
                     "bleu": 20.0 + seed, "self_bleu": 30.0, "dist_tok_2": 40.0, "dist_2": 45.0, "js_max_1": 0.3,
                     "jaccard_2": 0.01, "rouge1": 30.0, "rouge2": 10.0, "rougeL": 25.0, "train_steps": 4,
                     "train_batch_size": 2, "model_config": {"n_layer": 2, "n_embd": 16}}
                if model != "lm":
                    m.update({"kl": 3.0 + seed, "kl_paper": 1.5, "neg_elbo": 50.0, "neg_elbo_paper": 48.0, "mi": 0.4,
                              "mi_sampled": 0.3, "au_paper@0.01": 4.0, "au_paper@0.2": 2.0,
                              "au_per_group_mean@0.2": 2.0})
                (run / "metrics.json").write_text(json.dumps(m))
                files.append(run / "metrics.json")
                log = pd.DataFrame({"step": [1, 2, 3, 4], "loss": [5.0, 4, 3, 2], "kl": [0.1, 0.5, 80.0, 1.0],
                                    "beta": [0.0, 0.5, 1.0, 1.0], "kl_group0": [0.05, 0.2, 0.5, 0.5],
                                    "kl_group1": [0.05, 0.3, 0.5, 0.5]})
                log.to_csv(run / "train_log.csv", index=False)
    return files, infos


def test_every_table_column_and_axis_names_its_convention(tmp_path):
    files, infos = _fixture_runs(tmp_path)
    write_tables(files, tmp_path / "tables", info_files=infos)
    for t in TABLES:
        write_paper_table(t, files, infos, REPO / "config" / "paper_numbers.csv", tmp_path / "tables" / "paper" / f"table{t}")
    for task, conditional in (("ptb", False), ("quora", True)):
        task_plots(task, tmp_path / "runs", ["lm", "della", "embed+bn"], ["della", "embed+bn"], "della", [0, 1],
                   tmp_path / "plots" / task, factor_entropy=6.2, conditional=conditional)
    assert check_table_labels(sorted((tmp_path / "tables").rglob("*.md"))) > 60
    assert check_figure_labels(sorted((tmp_path / "plots").rglob("*.png"))) >= 16
    from della.reporting.summary import write_summary

    write_summary(files, infos, {"results_dir": "results"}, ["config/config.yaml"], tmp_path / "summary.md",
                  tmp_path / "summary.html")
    assert check_heading_labels(tmp_path / "summary.md") >= 8


def test_the_same_quantity_is_plotted_as_tabulated(tmp_path):
    """ppl_vs_kl draws the tables' PPL (layer sum) and KL (layer sum), labelled so (the issue: the plot drew
    layer sums under the table's layer-mean numbers)."""
    files, infos = _fixture_runs(tmp_path)
    task_plots("ptb", tmp_path / "runs", ["lm", "della", "embed+bn"], ["della", "embed+bn"], "della", [0, 1],
               tmp_path / "plots", factor_entropy=6.2)
    labels = read_png_labels(tmp_path / "plots" / "ppl_vs_kl.png")
    assert labels == {"x": [conventions.label("kl").axis], "y": [conventions.label("ppl").text]}
    assert "KL (layer sum)" in conventions.known_texts()
