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


def test_tables_show_the_factor_entropy_in_the_layer_sum_kl_column(tmp_path):
    """Synthetic twins: the H(factors) reference row (info.json) sits in the KL (layer sum) column — the
    joint KL of a latent encoding the factors — not in the layer-mean one; the mean factor-probe accuracy;
    one seed shows the mean alone; every row carries the task's data marks."""
    metrics = {"task": "ptb", "recipe": "della", "model": "della", "seed": 0, "synthetic": True, "ppl": 9.0,
               "ppl_paper": 9.0, "kl": 3.0, "kl_paper": 1.5, "factor_probe": {"topic": {"accuracy": 0.8, "chance": 0.25},
                                                                           "tense": {"accuracy": 0.6, "chance": 0.5}}}
    (tmp_path / "m.json").write_text(json.dumps(metrics))
    (tmp_path / "ptb").mkdir()
    (tmp_path / "ptb" / "info.json").write_text(json.dumps({"source": "synthetic", "data_kind": "synthetic twin",
                                                            "factor_entropy_nats": 6.5}))
    (tmp_path / "yelp").mkdir()
    (tmp_path / "yelp" / "info.json").write_text(json.dumps({"source": "synthetic"}))
    write_tables([tmp_path / "m.json"], tmp_path / "tables",
                 info_files=[tmp_path / "ptb" / "info.json", tmp_path / "yelp" / "info.json"])
    table = pd.read_csv(tmp_path / "tables" / "unconditional.csv").set_index("recipe")
    assert table.loc["H(factors)", "kl_mean"] == 6.5 and pd.isna(table.loc["H(factors)", "kl_paper_mean"])
    assert len(table) == 2
    assert table.loc["della", "probe_accuracy_mean"] == pytest.approx(0.7)
    assert table.loc["della", "probe_chance_mean"] == pytest.approx(0.375)
    assert table.loc["della", "n_seeds"] == 1 and pd.isna(table.loc["della", "kl_std"])
    md = (tmp_path / "tables" / "unconditional.md").read_text()
    lines = md.splitlines()
    header = [c.strip() for c in next(line for line in lines if line.startswith("| Task")).split("|")]
    ref = [c.strip() for c in next(line for line in lines if "H(factors)" in line and line.startswith("|")).split("|")]
    assert ref[header.index("KL (layer sum)")] == "6.50" and ref[header.index("KL (layer mean)")] == "–"
    assert all(line.startswith("| ptb [synthetic]") for line in lines if line.startswith("| ptb"))
    assert "| 0.70 " in md and "SYNTHETIC" in md
