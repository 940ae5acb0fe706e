"""The paper's tables (della/reporting/paper_tables.py): paper-convention cells beside the paper's numbers,
marks (†, n/c, data marks), bold best, ± std over seeds, and LaTeX that parses without pdflatex."""
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from della.config import resolve_run
from della.models.registry import available_models
from della.reporting.paper_tables import TABLES, PaperNumbers, write_paper_table

REPO = Path(__file__).resolve().parents[1]
PAPER_CSV = REPO / "config" / "paper_numbers.csv"


def _metrics(task, recipe, seed, *, shift=0.0, synthetic=False, pretrained=True):
    m = {"task": task, "recipe": recipe, "model": recipe.split("+")[0].split("-")[0], "seed": seed,
         "synthetic": synthetic, "model_config": {"pretrained": "gpt2" if pretrained else None},
         "ppl": 30.0 + shift, "ppl_paper": 20.0 + shift, "neg_elbo": 300.0, "neg_elbo_paper": 290.0,
         "bleu": 50.0 + shift, "self_bleu": 60.0, "dist_2": 17.0, "dist_tok_2": 16.0, "jaccard_2": 0.01,
         "js_max_1": 0.4, "mi": 5.0, "rouge1": 30.0, "rouge2": 10.0, "rougeL": 25.0}
    if recipe != "lm":
        m.update({"kl": 24.0, "kl_paper": 2.0, "au_paper@0.2": 20.0 + shift, "au_per_group_mean@0.2": 3.0})
    return m


def _write(tmp_path, runs, infos):
    files = []
    for i, m in enumerate(runs):
        path = tmp_path / f"run{i}" / "metrics.json"
        path.parent.mkdir()
        path.write_text(json.dumps(m))
        files.append(path)
    info_files = []
    for info in infos:
        path = tmp_path / f"info_{info['task']}.json"
        path.write_text(json.dumps(info))
        info_files.append(path)
    return files, info_files


def _tex_rows(tex: str):
    assert tex.count(r"\begin{tabular}") == 1 and tex.count(r"\end{tabular}") == 1
    body = tex.split(r"\begin{tabular}")[1].split(r"\end{tabular}")[0]
    spec = re.match(r"\{([lrc]+)\}", body).group(1)
    assert body.count(r"\toprule") == 1 and body.count(r"\midrule") == 1 and body.count(r"\bottomrule") == 1
    head = body.split(r"\toprule")[1].split(r"\midrule")[0]
    rows = [r for r in body.split(r"\midrule")[1].split(r"\bottomrule")[0].split("\\\\") if r.strip()]
    for row in [head] + rows:  # every row has one cell per column; braces balanced
        assert row.count("&") == len(spec) - 1, row
        assert row.count("{") == row.count("}"), row
    return rows


@pytest.fixture
def tables(tmp_path):
    runs = [_metrics("yelp", r, s, shift=s + i) for i, r in enumerate(["lm", "della", "embed"]) for s in (0, 1)]
    runs += [_metrics("ptb", "della", 0, synthetic=True), _metrics("ptb", "della-no-ltp", 0, synthetic=True)]
    runs += [_metrics("yahoo", "della", 0, pretrained=False)]
    infos = [{"task": "yelp", "source": "/data", "max_examples": {"test": 1000},
              "notes": ["yelp: read the Shen et al. (2017) sentiment stand-in in yelp_sentiment/"]},
             {"task": "ptb", "source": "synthetic", "max_examples": {}, "notes": ["synthetic offline demo"]},
             {"task": "yahoo", "source": "/data", "max_examples": {},
              "notes": ["yahoo: no train split in /data, trained on valid: ... (deterministic hash split)"]}]
    files, info_files = _write(tmp_path, runs, infos)
    out = {}
    for t in TABLES:
        write_paper_table(t, files, info_files, PAPER_CSV, tmp_path / "tables" / f"table{t}")
        out[t] = {ext: (tmp_path / "tables" / f"table{t}.{ext}").read_text() for ext in ("csv", "md", "tex")}
    return out


def test_table1_paper_convention_beside_the_paper(tables):
    df = pd.read_csv(pd.io.common.StringIO(tables[1]["csv"]))
    row = df[(df.task == "yelp") & (df.recipe == "della")].iloc[0]
    assert row["PPL"] == pytest.approx(21.5) and row["PPL*"] == pytest.approx(31.5)  # paper's way / principled
    assert row["PPL_std"] == pytest.approx(0.7071, abs=1e-3) and row["n_seeds"] == 2
    assert row["KL"] == 2.0 and row["KL*"] == 24.0 and row["AU"] == pytest.approx(21.5)
    assert row["PPL_paper"] == pytest.approx(float(PaperNumbers(PAPER_CSV).lookup(1, "yelp", "della", "ppl")[0]))
    lm = df[(df.task == "yelp") & (df.recipe == "lm")].iloc[0]
    assert lm["PPL_paper"] == 22.13  # our lm row is the paper's GPT-2 row
    md = tables[1]["md"]
    assert "yelp [stand-in, capped]" in md and "yahoo [split by project]" in md
    assert "**20.50 ± 0.71**" in md  # best PPL of the yelp rows (lm), bold, with its std
    assert "n/c" in md  # yahoo della: its own tokenizer, the paper PPL is not comparable
    assert "†" in md and "low or medium confidence" in md  # yahoo gpt2 JS is a medium-confidence cell
    assert "No CND column" in md and "could not be established" in md and "| CND" not in md


def test_synthetic_runs_say_not_comparable(tables):
    df = pd.read_csv(pd.io.common.StringIO(tables[8]["csv"]))
    row = df[(df.task == "ptb") & (df.recipe == "della")].iloc[0]
    assert not row["PPL_comparable"] and "n/c" in tables[8]["md"] and "ptb [synthetic]" in tables[8]["md"]


def test_ablation_and_trick_tables_use_the_paper_recipe_names(tables):
    paper = pd.read_csv(PAPER_CSV)
    for t in (4, 5):
        df = pd.read_csv(pd.io.common.StringIO(tables[t]["csv"]))
        assert set(paper[paper.table == t].model) <= set(df.recipe)
    t4 = pd.read_csv(pd.io.common.StringIO(tables[4]["csv"]))
    assert {"della", "della-no-ltp"} <= set(t4[t4.task == "ptb"].recipe)  # runs on another task get rows too


@pytest.mark.parametrize("table", sorted(TABLES))
def test_latex_parses_one_row_per_recipe(tables, table):
    df = pd.read_csv(pd.io.common.StringIO(tables[table]["csv"]))
    rows = _tex_rows(tables[table]["tex"])
    assert len(rows) == len(df) > 0
    assert len(set(zip(df.task, df.recipe))) == len(df)  # one row per (task, recipe)
    assert tables[table]["tex"].count(r"\begin{itemize}") == tables[table]["tex"].count(r"\end{itemize}")


@pytest.mark.parametrize("config", ["paper.yaml", "real-small.yaml"])
def test_every_recipe_of_tables_4_and_5_is_defined(config):
    cfg = yaml.safe_load((REPO / "config" / config).read_text())
    paper = pd.read_csv(PAPER_CSV)
    for recipe in paper[paper.table.isin([4, 5])].model.unique():
        assert recipe in (cfg.get("recipes") or {}) or recipe in available_models(), f"{config}: {recipe!r} missing"
        resolve_run(cfg, recipe)


def test_data_note_names_only_the_splits_a_cap_cut():
    from della.reporting.tables import capped_splits, data_note, task_marks

    info = {"source": "/data", "notes": [], "max_examples": {"valid": 200, "test": 150},
            "counts": {"train": 4000, "valid": 100, "test": 150}, "available": {"train": 4000, "valid": 100, "test": 900}}
    assert capped_splits(info) == {"test": "150 of 900"}  # valid's cap (200) is above its 100 sentences
    assert task_marks(info) == ["capped"] and "test 150 of 900" in data_note("ptb", info)
    info["available"]["test"] = 150
    assert capped_splits(info) == {} and task_marks(info) == [] and data_note("ptb", info) is None
