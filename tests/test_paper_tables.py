"""The paper's tables (della/reporting/paper_tables.py): paper-convention cells beside the paper's numbers,
marks (†, n/c, data marks), bold best, ± std over seeds, every recipe we ran kept (tables 4 and 5 by
family), the runs' budget under each table, no Markdown table wider than twelve columns, and LaTeX that
parses without pdflatex."""
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


def _tex_tables(tex: str):
    """The rows of each tabular of a table (tables 1, 2 and 8 have two: a and b)."""
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") >= 1
    out = []
    for body in tex.split(r"\begin{tabular}")[1:]:
        body = body.split(r"\end{tabular}")[0]
        spec = re.match(r"\{([lrc]+)\}", body).group(1)
        assert body.count(r"\toprule") == 1 and body.count(r"\midrule") == 1 and body.count(r"\bottomrule") == 1
        head = body.split(r"\toprule")[1].split(r"\midrule")[0]
        rows = [r for r in body.split(r"\midrule")[1].split(r"\bottomrule")[0].split("\\\\") if r.strip()]
        for row in [head] + rows:  # every row has one cell per column; braces balanced
            assert row.count("&") == len(spec) - 1, row
            assert row.count("{") == row.count("}"), row
        out.append(rows)
    return out


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
    assert row["ppl_paper"] == pytest.approx(21.5) and row["ppl"] == pytest.approx(31.5)  # layer mean / layer sum
    assert row["ppl_paper_std"] == pytest.approx(0.7071, abs=1e-3) and row["n_seeds"] == 2
    assert row["kl_paper"] == 2.0 and row["kl"] == 24.0 and row["au_paper@0.2"] == pytest.approx(21.5)
    assert row["ppl_paper (paper)"] == pytest.approx(float(PaperNumbers(PAPER_CSV).lookup(1, "yelp", "della", "ppl")[0]))
    lm = df[(df.task == "yelp") & (df.recipe == "lm")].iloc[0]
    assert lm["ppl_paper (paper)"] == 22.13  # our lm row is the paper's GPT-2 row
    md = tables[1]["md"]
    assert "yelp [stand-in, capped]" in md and "yahoo [split by project]" in md
    assert "**20.50 ± 0.71 (22.13)**" in md  # best PPL of the yelp rows (lm), bold, with its std, beside the paper's
    assert "n/c" in md  # yahoo della: its own tokenizer, the paper PPL is not comparable
    assert "†" in md and "low or medium confidence" in md  # yahoo gpt2 JS is a medium-confidence cell
    assert "No CND column" in md and "could not be established" in md and "| CND" not in md


def test_synthetic_runs_say_not_comparable(tables):
    df = pd.read_csv(pd.io.common.StringIO(tables[8]["csv"]))
    row = df[(df.task == "ptb") & (df.recipe == "della")].iloc[0]
    assert not row["ppl_paper comparable"] and "n/c" in tables[8]["md"] and "ptb [synthetic]" in tables[8]["md"]


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
    for rows in _tex_tables(tables[table]["tex"]):
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


def test_likelihoods_below_the_truth_are_marked_and_the_truth_noted(tmp_path):
    """Issue 19: on a twin, a PPL whose excess interval lies below 0 in every seed gets ‡ (in Markdown
    and LaTeX), one whose interval reaches 0 in some seed does not, and the note states H(X) under the
    convention labels (issue 21)."""
    runs = []
    for seed, hi in ((0, -0.4), (1, -0.1)):
        m = _metrics("ptb", "della", seed, synthetic=True, pretrained=False)
        m.update(true_nll=13.4, true_ppl=8.1, true_ppl_paper=7.2,
                 excess={"ppl": {"nats": 0.8, "lo": 0.5, "hi": 1.1}, "ppl_paper": {"nats": -1.0, "lo": -1.5, "hi": hi}})
        runs.append(m)
    m = _metrics("ptb", "lm", 0, synthetic=True, pretrained=False)
    m.update(true_nll=13.4, true_ppl=8.1, true_ppl_paper=7.2,
             excess={"ppl": {"nats": 0.1, "lo": -0.2, "hi": 0.4}, "ppl_paper": {"nats": 0.1, "lo": -0.2, "hi": 0.4}})
    runs.append(m)
    infos = [{"task": "ptb", "source": "synthetic", "data_kind": "synthetic twin"}]
    files, info_files = _write(tmp_path, runs, infos)

    def ptb_cells(result):
        frame = result["document"].sections[0].frame
        return frame[frame.Task.str.startswith("ptb")].set_index("Model")

    cells = ptb_cells(write_paper_table(8, files, info_files, PAPER_CSV, tmp_path / "table8"))
    assert cells.loc["della", "PPL (layer mean)"].startswith("20.00 ± 0.00 ‡")
    assert "‡" not in cells.loc["della", "PPL (layer sum)"] and "‡" not in cells.loc["lm", "PPL (layer mean)"]
    md = (tmp_path / "table8.md").read_text()
    assert "‡ below the data's entropy" in md
    assert ("H(X) of the ptb twin (the truth on the scored sentences, the floor of every likelihood): "
            "PPL (layer mean) 7.20, PPL (layer sum) 8.10, 13.40 nats per sentence (both -ELBO columns).") in md
    assert r"$^\ddagger$" in (tmp_path / "table8.tex").read_text()
    runs[1]["excess"]["ppl_paper"]["hi"] = 0.2  # one seed's interval reaches 0: no mark
    (tmp_path / "b").mkdir()
    files, info_files = _write(tmp_path / "b", runs, infos)
    cells = ptb_cells(write_paper_table(8, files, info_files, PAPER_CSV, tmp_path / "b" / "table8"))
    assert "‡" not in cells.loc["della", "PPL (layer mean)"]


def _families(recipes):
    return {r: ("ablation" if r.startswith("della-") else "trick" if "+" in r else "base") for r in recipes}


@pytest.fixture
def default_like(tmp_path):
    """The default run's shape on one twin (ptb) and real-looking data (yelp stand-in data set, snli real):
    base recipes, a user's baseline and the embed tricks."""
    recipes = ["lm", "della", "optimus", "embed", "memory", "softmax", "embed-tanh", "embed+no-tricks",
               "embed+linear", "embed+free-bits", "embed+bn", "della-no-ltp"]
    runs = []
    for task, synthetic in (("ptb", True), ("yelp", False), ("snli", False)):
        for recipe in recipes:
            m = _metrics(task, recipe, 0, synthetic=synthetic)
            m.update(train_steps=100, train_batch_size=32, model_config={"pretrained": None, "n_layer": 4, "n_embd": 256},
                     n_scored=1000, eval_budget={"max_sentences": 1000, "n_samples": 1000})
            runs.append(m)
    infos = [{"task": "ptb", "source": "synthetic", "data_kind": "synthetic twin", "notes": []},
             {"task": "yelp", "source": "/data", "data_kind": "stand-in data set", "notes": ["yelp: read the Shen..."]},
             {"task": "snli", "source": "/data", "data_kind": "real", "notes": []}]
    files, info_files = _write(tmp_path, runs, infos)
    out = {}
    for t in TABLES:
        write_paper_table(t, files, info_files, PAPER_CSV, tmp_path / "tables" / f"table{t}", families=_families(recipes))
        out[t] = {ext: (tmp_path / "tables" / f"table{t}.{ext}").read_text() for ext in ("csv", "md", "html", "tex")}
    return recipes, out


def test_paper_tables_keep_every_recipe_we_ran(default_like):
    """Tables 1 and 8 keep every recipe run on their tasks (a user's baseline included); table 5 every
    training trick, table 4 every ablation, on every unconditional task they ran on; a row of ours alone
    is marked."""
    recipes, out = default_like
    rows = {t: pd.read_csv(pd.io.common.StringIO(out[t]["csv"])) for t in TABLES}
    for table, task in ((1, "yelp"), (8, "ptb"), (8, "snli")):
        got = set(rows[table][rows[table].task == task].recipe)
        assert set(recipes) <= got, (table, task, set(recipes) - got)
    tricks = {r for r in recipes if "+" in r}
    ablations = {r for r in recipes if r.startswith("della-")}
    for task in ("ptb", "yelp", "snli"):
        assert tricks <= set(rows[5][rows[5].task == task].recipe), task
        assert ablations <= set(rows[4][rows[4].task == task].recipe), task
    assert not ({"embed-tanh", "lm"} & set(rows[5].recipe))  # base recipes are not tricks
    assert "embed-tanh °" in out[8]["md"] and "°: a recipe the paper did not run" in out[8]["md"]


def test_paper_numbers_only_beside_comparable_cells(default_like):
    """n/c on a synthetic twin and on a stand-in data set (yelp_sentiment is not the paper's Yelp), and for a
    likelihood of a model with its own tokenizer on real data; a comparable cell shows the paper's number."""
    _, out = default_like
    t8 = pd.read_csv(pd.io.common.StringIO(out[8]["csv"])).set_index(["task", "recipe"])
    assert not t8.loc[("ptb", "della"), "bleu comparable"]  # synthetic twin
    assert not t8.loc[("snli", "della"), "ppl_paper comparable"]  # own tokenizer
    assert t8.loc[("snli", "della"), "bleu comparable"]  # real data, not a likelihood
    t1 = pd.read_csv(pd.io.common.StringIO(out[1]["csv"])).set_index(["task", "recipe"])
    assert not t1.loc[("yelp", "della"), "bleu comparable"]  # stand-in data set
    md = out[8]["md"]
    snli_della = next(line for line in md.splitlines() if line.startswith("| snli") and "| della " in line)
    assert "(n/c)" in snli_della and "(5.13" not in snli_della  # paper PPL 5.13 is not printed beside ours
    ptb_della = next(line for line in md.splitlines() if line.startswith("| ptb [synthetic]") and "| della " in line)
    assert "(10.28" not in ptb_della and "(n/c)" in ptb_della


def test_paper_tables_state_the_budget_and_stay_narrow(default_like):
    _, out = default_like
    for table, text in out.items():
        md = text["md"]
        ran = table not in (2, 9)  # no conditional task in this run: paper numbers only, no budget
        assert ran == ("Budget: 100 optimiser steps × 32 sentences (3,200 sentences seen), 4×256 from scratch, "
                       "1 seed (0)" in md), table
        for line in md.splitlines():
            if line.startswith("|"):
                assert line.count("|") - 1 <= 12, (table, line[:80])  # at most twelve columns
        assert text["html"].count("<table>") == text["tex"].count(r"\begin{tabular}") >= 1
    assert out[1]["md"].count("## a: likelihood and latent space") == 1 and "## b: generation" in out[1]["md"]
