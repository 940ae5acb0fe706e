"""Tokenisers (trained BPE, pretrained GPT-2 from a folder) and the comparison tables."""
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from della.data.batching import collate, encode_example
from della.data.tokenizer import SPECIAL_TOKENS, TextTokenizer
from della.reporting.tables import write_tables

REPO = Path(__file__).resolve().parents[1]


def test_trained_bpe_round_trip_and_specials(tmp_path):
    texts = ["the service was great .", "the food was cold and the staff rude ."] * 20
    tok = TextTokenizer.train(texts, vocab_size=300)
    assert [tok.pad_id, tok.bos_id, tok.eos_id, tok.sep_id] == [0, 1, 2, 3]
    ids = tok.encode("the food was great .")
    assert tok.decode(ids + [tok.eos_id, 7, 8]) == "the food was great ."  # cut at <eos>
    tok.save(tmp_path / "tokenizer.json")
    again = TextTokenizer.load(tmp_path / "tokenizer.json")
    assert again.encode("the staff was rude .") == tok.encode("the staff was rude .")


def test_pretrained_gpt2_tokenizer_from_a_folder():
    data = os.environ.get("DELLA_DATA")
    folder = Path(data).parent / "tokenizers" / "gpt2" if data else REPO.parent / "shared" / "tokenizers" / "gpt2"
    if not folder.is_dir():
        pytest.skip(f"no GPT-2 tokenizer folder at {folder} (set DELLA_DATA to ../shared/data)")
    tok = TextTokenizer.load(folder)
    assert tok.encode("Hello world") == [15496, 995]  # GPT-2's own ids
    assert tok.vocab_size == 50257 + len(SPECIAL_TOKENS)
    assert tok.decode(tok.encode("A quick test .")) == "A quick test ."


def test_batch_scores_only_the_target():
    tok = TextTokenizer.train(["a b c d e f"] * 10, vocab_size=270)
    enc = [encode_example(tok, "a b", "c d e", 10, 10), encode_example(tok, "a b c", "d", 10, 10)]
    batch = collate(enc, tok.pad_id)
    for row in range(2):
        ids, prompt_len, source, _ = enc[row]
        scored = batch.labels[row][batch.labels[row] != -100].tolist()
        assert scored == ids[prompt_len:]  # target tokens and <eos>
        assert source[0] == tok.bos_id and source[-1] == tok.sep_id
    assert batch.n_tokens.tolist() == [len(enc[0][0]) - enc[0][1], len(enc[1][0]) - enc[1][1]]


def test_tables_aggregate_seeds_under_convention_labels(tmp_path):
    """The result tables: mean ± std over seeds in the CSV and the Markdown, each column labelled with its
    convention (both layer conventions of PPL side by side), no paper numbers (the paper tables have them)."""
    runs = []
    for recipe, model, ppl in (("lm", "lm", 30.0), ("della", "della", 12.0)):
        for seed, shift in ((0, -1.0), (1, 1.0)):
            metrics = {"task": "yelp", "recipe": recipe, "model": model, "seed": seed, "synthetic": False,
                       "ppl": ppl + shift + 5.0, "ppl_paper": ppl + shift, "bleu": 50.0, "self_bleu": 60.0,
                       "dist_2": 17.0, "jaccard_2": 0.4, "train_steps": 100, "train_batch_size": 32,
                       "model_config": {"n_layer": 4, "n_embd": 256}, "n_scored": 1000,
                       "eval_budget": {"max_sentences": 1000, "n_samples": 200}}
            if model == "della":
                metrics.update({"neg_elbo": 240.0, "kl": 29.0, "mi": 10.0, "au_per_group_mean@0.2": 23.0})
                metrics["eval_budget"]["iw_samples"] = 30
            path = tmp_path / f"{recipe}{seed}.json"
            path.write_text(json.dumps(metrics))
            runs.append(path)
    write_tables(runs, tmp_path / "tables")
    table = pd.read_csv(tmp_path / "tables" / "unconditional.csv").set_index("recipe")
    assert table.loc["della", "ppl_paper_mean"] == pytest.approx(12.0)  # mean over the two seeds
    assert table.loc["della", "ppl_paper_std"] == pytest.approx(2 ** 0.5)  # sample std of 11 and 13
    assert table.loc["della", "ppl_mean"] == pytest.approx(17.0)
    assert table.loc["della", "n_seeds"] == 2
    md = (tmp_path / "tables" / "unconditional.md").read_text()
    assert "| yelp   | della    | 12.00 ± 1.41       | 17.00 ± 1.41      |" in md  # PPL (layer mean), (layer sum)
    header = next(line for line in md.splitlines() if line.startswith("| Task"))
    assert "PPL (layer mean)" in header and "PPL (layer sum)" in header and "KL (layer sum)" in header
    assert "SYNTHETIC" not in md and "(12.35)" not in md  # real data; the paper's number is in tables/paper
    assert ("Budget: 100 optimiser steps × 32 sentences (3,200 sentences seen), 4×256 from scratch, 2 seeds (0, 1); "
            "evaluation: 1000 test sentences scored, IW K = 30 (latent models), 200 samples generated.") in md
    assert "_no runs" in (tmp_path / "tables" / "conditional.md").read_text()
    assert (tmp_path / "tables" / "unconditional.html").read_text().count("<table>") == 2


def _factor_figures(info, accuracy):
    return {"info_nats": info, "info_se": 0.01, "entropy_nats": 1.0, "cross_entropy_nats": 1.0 - info,
            "accuracy": accuracy, "chance": 0.3, "n_classes": 4, "n_sentences": 2000, "in_source": False}


def _markdown_rows(md: str, first_cell: str) -> list[dict]:
    """The rows of the Markdown tables in ``md`` whose first cell is ``first_cell``, as {header: cell}."""
    rows, header = [], None
    for line in md.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif cells[0] == first_cell:
            rows.append(dict(zip(header, cells)))
    return rows


def test_tables_show_the_references_the_factor_information_and_mark_figures_below_the_truth(tmp_path):
    """Synthetic twins (issues 19, 21): the H(factors) row in the KL (layer sum) and I(F;z) columns (the joint
    KL of a latent encoding the factors, not a layer mean), the H(X) row (the truth's PPL with each
    convention's token count and nats per sentence on the scored sentences) in the PPL and -ELBO columns,
    the I(F;z) column, ‡ on a likelihood whose interval is below the truth, factors.md with each run's
    control at initialisation; every row carries the task's data marks; one seed shows the mean alone. An
    info.json without the entropies adds no row."""
    excess = {"ppl": {"nats": 0.8, "lo": 0.5, "hi": 1.1}, "ppl_paper": {"nats": -1.2, "lo": -1.5, "hi": -0.9},
              "neg_elbo": {"nats": 1.5, "lo": 1.2, "hi": 1.8}, "neg_elbo_paper": {"nats": 0.4, "lo": -0.1, "hi": 0.9}}
    metrics = {"task": "ptb", "recipe": "della", "model": "della", "seed": 0, "synthetic": True, "ppl": 9.0,
               "ppl_paper": 9.0, "kl": 3.0, "kl_paper": 1.5, "neg_elbo_paper": 14.0, "true_nll": 13.4,
               "true_ppl": 8.1, "true_ppl_paper": 7.2, "excess": excess, "factor_info_nats": 1.25,
               "factor_information": {"topic": _factor_figures(1.0, 0.9), "tense": _factor_figures(0.25, 0.6)},
               "factor_information_init": {"topic": _factor_figures(0.01, 0.3), "tense": _factor_figures(0.0, 0.5)}}
    (tmp_path / "m.json").write_text(json.dumps(metrics))
    (tmp_path / "ptb").mkdir()
    factors = {name: {"n_values": 4, "entropy_nats": 1.0, "in_source": False, "values": list("abcd")}
               for name in ("topic", "tense")}
    (tmp_path / "ptb" / "info.json").write_text(json.dumps({"source": "synthetic", "data_kind": "synthetic twin",
                                                            "factor_entropy_nats": 2.0, "text_entropy_nats": 13.45,
                                                            "factors": factors}))
    (tmp_path / "yelp").mkdir()
    (tmp_path / "yelp" / "info.json").write_text(json.dumps({"source": "synthetic"}))
    write_tables([tmp_path / "m.json"], tmp_path / "tables",
                 info_files=[tmp_path / "ptb" / "info.json", tmp_path / "yelp" / "info.json"])
    table = pd.read_csv(tmp_path / "tables" / "unconditional.csv").set_index("recipe")
    assert len(table) == 3 and table.loc["H(factors)", "kl_mean"] == 2.0
    assert pd.isna(table.loc["H(factors)", "kl_paper_mean"])
    assert table.loc["H(factors)", "factor_info_nats_mean"] == 2.0
    assert table.loc["H(X)", "ppl_paper_mean"] == 7.2 and table.loc["H(X)", "neg_elbo_paper_mean"] == 13.4
    assert table.loc["della", "n_seeds"] == 1 and pd.isna(table.loc["della", "kl_std"])
    md = (tmp_path / "tables" / "unconditional.md").read_text()
    rows = {row["Recipe"]: row for row in _markdown_rows(md, "ptb [synthetic]") if "KL (layer sum)" in row}
    assert rows["H(factors)"]["KL (layer sum)"] == "2.00" and rows["H(factors)"]["KL (layer mean)"] == "–"
    assert rows["H(factors)"]["I(F;z) (probe bound)"] == "2.00"
    assert rows["H(X)"]["PPL (layer mean)"] == "7.20" and rows["H(X)"]["PPL (layer sum)"] == "8.10"
    assert rows["H(X)"]["-ELBO (layer mean)"] == rows["H(X)"]["-ELBO (layer sum)"] == "13.40"
    # PPL (layer mean) is below the truth in every seed: marked; -ELBO's interval holds 0: not marked
    assert rows["della"]["PPL (layer mean)"] == "9.00 ‡" and rows["della"]["PPL (layer sum)"] == "9.00"
    assert rows["della"]["-ELBO (layer mean)"] == "14.00" and rows["della"]["I(F;z) (probe bound)"] == "1.25"
    assert "‡ below the data's entropy" in md and "SYNTHETIC" in md
    assert all(line.startswith("| ptb [synthetic]") for line in md.splitlines() if line.startswith("| ptb"))
    factors_md = (tmp_path / "tables" / "factors.md").read_text()
    factor_rows = {(row["Recipe"], row["Factor"]): row for row in _markdown_rows(factors_md, "della")
                   + _markdown_rows(factors_md, "della @ init")}
    assert factor_rows[("della", "all")]["I(F_k;z) (probe bound)"] == "1.25"
    assert factor_rows[("della", "all")]["H(F_k)"] == "2.00"
    assert factor_rows[("della", "topic")]["Probe accuracy (logistic, z sampled)"] == "0.90"
    assert factor_rows[("della", "tense")]["Probe chance (training-half majority)"] == "0.30"
    assert factor_rows[("della @ init", "all")]["I(F_k;z) (probe bound)"] == "0.01"
    frame = pd.read_csv(tmp_path / "tables" / "factors.csv")
    assert set(frame.recipe) == {"della", "della @ init"} and len(frame) == 4
