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


def test_tables_put_the_paper_beside_ours(tmp_path):
    runs = []
    for recipe, model, ppl in (("lm", "lm", 30.0), ("della", "della", 12.0)):
        for seed, shift in ((0, -1.0), (1, 1.0)):
            metrics = {"task": "yelp", "recipe": recipe, "model": model, "seed": seed, "synthetic": False,
                       "ppl": ppl + shift + 5.0, "ppl_paper": ppl + shift, "bleu": 50.0, "self_bleu": 60.0,
                       "dist_2": 17.0, "jaccard_2": 0.4}
            if model == "della":
                metrics.update({"neg_elbo": 240.0, "kl": 29.0, "mi": 10.0, "au_per_group_mean@0.2": 23.0})
            path = tmp_path / f"{recipe}{seed}.json"
            path.write_text(json.dumps(metrics))
            runs.append(path)
    write_tables(runs, tmp_path / "tables", paper_csv=REPO / "config" / "paper_numbers.csv")
    table = pd.read_csv(tmp_path / "tables" / "unconditional.csv").set_index("recipe")
    assert table.loc["della", "ppl_paper_mean"] == pytest.approx(12.0)  # mean over the two seeds
    assert table.loc["della", "ppl_paper_std"] == pytest.approx(2 ** 0.5)  # sample std of 11 and 13
    assert table.loc["della", "ppl_mean"] == pytest.approx(17.0)  # the principled figure stays in the CSV
    assert table.loc["della", "n_seeds"] == 2
    assert table.loc["della", "paper_ppl"] == pytest.approx(12.35)
    assert table.loc["lm", "paper_ppl"] == pytest.approx(22.13)  # our lm is compared with GPT-2
    md = (tmp_path / "tables" / "unconditional.md").read_text()
    assert "| yelp | della | 12.00 ± 1.41 (12.35) |" in md and "SYNTHETIC" not in md  # the paper's convention
    assert "_no runs" in (tmp_path / "tables" / "conditional.md").read_text()


def test_tables_show_the_factor_entropy_and_the_probe(tmp_path):
    """Synthetic twins: the H(factors) reference row (info.json) and the mean factor-probe accuracy;
    one seed shows the mean alone. An info.json without the entropy adds no row."""
    metrics = {"task": "ptb", "recipe": "della", "model": "della", "seed": 0, "synthetic": True, "ppl": 9.0,
               "ppl_paper": 9.0, "kl": 3.0, "kl_paper": 3.0, "factor_probe": {"topic": {"accuracy": 0.8, "chance": 0.25},
                                           "tense": {"accuracy": 0.6, "chance": 0.5}}}
    (tmp_path / "m.json").write_text(json.dumps(metrics))
    (tmp_path / "ptb").mkdir()
    (tmp_path / "ptb" / "info.json").write_text(json.dumps({"source": "synthetic", "factor_entropy_nats": 6.5}))
    (tmp_path / "yelp").mkdir()
    (tmp_path / "yelp" / "info.json").write_text(json.dumps({"source": "synthetic"}))
    write_tables([tmp_path / "m.json"], tmp_path / "tables", paper_csv=REPO / "config" / "paper_numbers.csv",
                 info_files=[tmp_path / "ptb" / "info.json", tmp_path / "yelp" / "info.json"])
    table = pd.read_csv(tmp_path / "tables" / "unconditional.csv").set_index("recipe")
    assert table.loc["H(factors)", "kl_mean"] == 6.5 and len(table) == 2
    assert table.loc["della", "probe_accuracy_mean"] == pytest.approx(0.7)
    assert table.loc["della", "probe_chance_mean"] == pytest.approx(0.375)
    assert table.loc["della", "n_seeds"] == 1 and pd.isna(table.loc["della", "kl_std"])
    md = (tmp_path / "tables" / "unconditional.md").read_text()
    assert "| ptb | H(factors) | – (–) | – (–) | 6.50 (–) |" in md
    assert "| ptb | della | 9.00 (10.28) |" in md and "| 0.70 (–) |" in md  # paper: DELLA on PTB
