"""Which sentences evaluation scores (issue 10 and 11): a seeded draw from the whole test split,
and no <eos> after a cut sentence; over-long test sentences scored in full or dropped."""
import pytest
import torch

from della.data.batching import encode_example
from della.data.readers import TASKS, Example, load_task
from della.data.tokenizer import TextTokenizer
from della.evaluation.evaluate import encode_for_scoring, evaluate_run, evaluation_subset
from della.models.backbone import ModelConfig
from della.models.registry import build_model


def _shen_yelp(root, n=150):
    folder = root / "yelp_sentiment"
    folder.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        (folder / f"sentiment.{split}.0").write_text("".join(f"the food was bad number {i}\n" for i in range(n)))
        (folder / f"sentiment.{split}.1").write_text("".join(f"the food was good number {i}\n" for i in range(n)))
    return root


def test_evaluated_subset_of_a_two_file_yelp_split_holds_both_classes(tmp_path):
    splits, _ = load_task("yelp", _shen_yelp(tmp_path))
    test = splits["test"]
    assert "bad" in test[0].target and "good" in test[-1].target  # negative file first
    prefix = test[:40]
    assert not any("good" in ex.target for ex in prefix)  # what the first-N rule scored
    drawn = [test[i] for i in evaluation_subset(len(test), 40, seed=0)]
    labels = {("good" if "good" in ex.target else "bad") for ex in drawn}
    assert labels == {"good", "bad"}
    assert evaluation_subset(len(test), 40, seed=0) == evaluation_subset(len(test), 40, seed=0)
    assert evaluation_subset(len(test), 40, seed=0) != evaluation_subset(len(test), 40, seed=1)
    assert evaluation_subset(10, 40, seed=0) == list(range(10))


@pytest.fixture(scope="module")
def tok():
    texts = [" ".join(f"w{(i * j) % 23}" for j in range(12)) for i in range(60)]
    return TextTokenizer.train(texts, vocab_size=300)


def test_cut_sentences_get_no_eos(tok):
    long = " ".join(f"w{j}" for j in range(20))
    ids, prompt, _, _ = encode_example(tok, long, None, max_length=5, max_source_length=8)
    assert len(ids) == prompt + 5 and ids[-1] != tok.eos_id
    short = "w1 w2"
    ids, prompt, _, _ = encode_example(tok, short, None, max_length=5, max_source_length=8)
    assert ids[-1] == tok.eos_id


def test_long_sentences_scored_in_full_or_dropped(tok):
    exs = [Example(target=" ".join(f"w{j}" for j in range(n))) for n in (3, 4, 30, 5)]
    n_long = sum(len(tok.encode(e.target)) > 6 for e in exs)
    assert n_long >= 1
    full, kept, stats = encode_for_scoring(tok, exs, max_length=6, max_source_length=8, n_positions=128,
                                           long_sentences="full")
    assert len(kept) == 4 and stats["n_long_sentences"] == n_long and stats["n_cut_at_n_positions"] == 0
    assert all(ids[-1] == tok.eos_id for ids, *_ in full)  # every sentence scored to its end
    assert max(len(ids) for ids, *_ in full) == 1 + len(tok.encode(exs[2].target)) + 1
    dropped, kept, stats = encode_for_scoring(tok, exs, max_length=6, max_source_length=8, n_positions=128,
                                              long_sentences="drop")
    assert len(kept) == 4 - n_long and stats["n_long_dropped"] == n_long
    tight, _, stats = encode_for_scoring(tok, exs, max_length=6, max_source_length=8, n_positions=12,
                                         long_sentences="full")
    assert stats["n_cut_at_n_positions"] >= 1 and max(len(ids) for ids, *_ in tight) <= 12
    with pytest.raises(ValueError, match="long_sentences"):
        encode_for_scoring(tok, exs, max_length=6, max_source_length=8, n_positions=12, long_sentences="cut")


def test_metrics_record_the_subset_and_the_long_sentences(tok, tmp_path, capsys):
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=tok.vocab_size, n_layer=2, n_embd=16, n_head=2, n_positions=64, latent_size=4,
                      **tok.special_ids())
    model = build_model("embed", cfg)
    test = [Example(target=" ".join(f"w{(i * j) % 23}" for j in range(3 + i % 9))) for i in range(30)]
    out = evaluate_run(model=model, tokenizer=tok, test_examples=test, task_spec=TASKS["ptb"],
                       eval_cfg={"max_sentences": 10, "subset_seed": 3, "iw_samples": 2, "n_samples": 3,
                                 "decoding": {"max_new_tokens": 4}},
                       train_cfg={"max_length": 6, "max_source_length": 8}, seed=0,
                       samples_path=tmp_path / "samples.jsonl", progress=False)
    assert out["eval_subset_seed"] == 3 and out["eval_subset_count"] == 10 and out["eval_split_size"] == 30
    assert out["n_long_sentences"] > 0 and out["long_sentences"] == "full" and out["n_scored"] == 10
    assert "longer than max_length" in capsys.readouterr().out
