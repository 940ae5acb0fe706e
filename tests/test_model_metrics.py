"""della.evaluation.model_metrics offline: tiny randomly initialised GPT-2 / BERT models saved to a temp
folder (tokenizer from shared/tokenizers/gpt2 or a hand-made WordPiece vocabulary); checks
properties (identity, symmetry, bounds), never downloads."""
from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from della.evaluation.model_metrics import (  # noqa: E402
                                            LocalModelMissing,
                                            ModelMetricsConfig,
                                            bertscore,
                                            cnd,
                                            kmeans,
                                            mauve,
                                            mauve_from_features,
                                            mauve_from_histograms,
                                            model_metrics,
                                            )

GPT2_TOKENIZER = Path(__file__).resolve().parents[1].parent / "shared" / "tokenizers" / "gpt2"
WORDS = "the a cat dog sat on mat ran fast slow big small red blue house tree".split()


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    from transformers import BertConfig, BertModel, BertTokenizer

    d = tmp_path_factory.mktemp("tiny_bert")
    (d / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tok = BertTokenizer(str(d / "vocab.txt"), model_max_length=64)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    from transformers import AutoTokenizer, GPT2Config, GPT2Model

    if not GPT2_TOKENIZER.is_dir():
        pytest.skip(f"no GPT-2 tokenizer at {GPT2_TOKENIZER}")
    d = tmp_path_factory.mktemp("tiny_gpt2")
    tok = AutoTokenizer.from_pretrained(str(GPT2_TOKENIZER), local_files_only=True)
    torch.manual_seed(0)
    GPT2Model(GPT2Config(n_layer=2, n_embd=32, n_head=2, n_positions=128, vocab_size=len(tok))).save_pretrained(d)
    tok.save_pretrained(d)
    return d


def texts(seed, n, words=WORDS):
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 9))) for _ in range(n)]


# ---------------------------------------------------------------------------- BERTScore
@pytest.mark.parametrize("which", ["bert_dir", "gpt2_dir"])
def test_bertscore_identity_symmetry_bounds(which, request):
    d = request.getfixturevalue(which)
    a, b = texts(1, 6), texts(2, 6)
    same = bertscore(a, a, d)
    assert same["f1"] == pytest.approx(1.0, abs=1e-6)
    assert same["precision"] == pytest.approx(1.0, abs=1e-6) and same["recall"] == pytest.approx(1.0, abs=1e-6)
    ab, ba = bertscore(a, b, d), bertscore(b, a, d)
    # swapping candidate and reference swaps precision and recall, F1 unchanged
    assert ab["precision"] == pytest.approx(ba["recall"], abs=1e-9)
    assert ab["f1"] == pytest.approx(ba["f1"], abs=1e-9)
    assert -1 <= ab["f1"] < 1
    assert bertscore(a, a, d, idf=True)["f1"] == pytest.approx(1.0, abs=1e-6)


def test_bertscore_empty_and_special_tokens(bert_dir):
    res = bertscore(["", "the cat"], ["the cat", "the cat"], bert_dir)
    assert res["f"][0] == 0.0 and res["f"][1] == pytest.approx(1.0, abs=1e-6)
    # a sentence that shares only [CLS]/[SEP] with another must not get credit for them:
    # one-token texts of different words are not identical
    diff = bertscore(["cat"], ["house"], bert_dir)["f1"]
    assert diff < 0.999
    with pytest.raises(ValueError):
        bertscore(["a"], [], bert_dir)
    # longer than the model's 64 positions: truncated, not an error
    long = " ".join(["cat"] * 200)
    assert bertscore([long], [long], bert_dir)["f1"] == pytest.approx(1.0, abs=1e-6)


def test_missing_folder_is_a_clear_error(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(LocalModelMissing, match="no-such-model"):
        bertscore(["a"], ["a"], missing)
    with pytest.raises(LocalModelMissing, match="no-such-model"):
        model_metrics(["a"], ["a"], ModelMetricsConfig(mauve_model=str(missing)))


# ---------------------------------------------------------------------------- MAUVE
def test_mauve_histogram_properties():
    p = np.array([0.5, 0.3, 0.2])
    assert mauve_from_histograms(p, p) == pytest.approx(1.0, abs=1e-12)
    q = np.array([0.1, 0.1, 0.8])
    assert mauve_from_histograms(p, q) == pytest.approx(mauve_from_histograms(q, p), abs=1e-12)
    assert 0 < mauve_from_histograms(p, q) < 1
    # disjoint supports: the frontier collapses to the axes
    assert mauve_from_histograms([1, 0], [0, 1]) < 0.02
    # closer distributions score higher
    assert mauve_from_histograms(p, [0.45, 0.3, 0.25]) > mauve_from_histograms(p, q)


def test_kmeans_recovers_separated_clusters():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [10, 0], [0, 10]])
    x = np.vstack([c + rng.normal(size=(30, 2)) for c in centers])
    labels, _, inertia = kmeans(x, 3, seed=1)
    for blk in range(3):
        assert len(set(labels[blk * 30 : (blk + 1) * 30])) == 1
    assert len(set(labels)) == 3 and inertia < 30 * 3 * 2 * 2


def test_mauve_from_features_identity_and_separation():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(80, 16))
    assert mauve_from_features(f, f.copy())["mauve"] == pytest.approx(1.0, abs=1e-12)
    g = rng.normal(size=(80, 16)) + 6.0
    sep = mauve_from_features(f, g)["mauve"]
    assert sep < 0.05
    # swapping p and q changes only the k-means stacking order, not the verdict
    assert mauve_from_features(g, f)["mauve"] < 0.05


def test_mauve_on_tiny_lm(gpt2_dir):
    a = texts(3, 40)
    same = mauve(a, a, gpt2_dir)
    assert same["mauve"] == pytest.approx(1.0, abs=1e-9)
    assert same["num_buckets"] == 4
    b = texts(4, 40, words=WORDS[:3])
    assert mauve(a, b, gpt2_dir)["mauve"] < same["mauve"]


# ---------------------------------------------------------------------------- CND and the switch
def test_cnd_properties():
    a = [t.split() for t in texts(5, 30)]
    b = [t.split() for t in texts(6, 30)]
    assert cnd(a, a) == pytest.approx(0.0, abs=1e-12)
    assert cnd(a, b) == pytest.approx(cnd(b, a), abs=1e-12)
    assert 0 < cnd(a, b) <= math.log(2)
    assert cnd([["x", "y"]], [["u", "v"]], max_n=2) == pytest.approx(math.log(2))


def test_model_metrics_switch(gpt2_dir):
    h, r = texts(7, 20), texts(8, 20)
    out = model_metrics(h, r, ModelMetricsConfig(), conditional=True)
    assert "cnd" in out and "mauve" not in out and "bertscore_f1" not in out
    assert "mauve" in out["skipped"]
    out = model_metrics(h, h, ModelMetricsConfig(bertscore_model=str(gpt2_dir), mauve_model=str(gpt2_dir)),
                        conditional=True)
    assert out["bertscore_f1"] == pytest.approx(100.0, abs=1e-4)
    assert out["mauve"] == pytest.approx(1.0, abs=1e-9)
    assert out["cnd"] == pytest.approx(0.0, abs=1e-12)


def _manual_bertscore(bert_dir, cand, ref):
    """BERTScore by hand with [CLS]/[SEP] as zero-weight match targets (bert-score 0.3.10)."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(bert_dir))
    model = AutoModel.from_pretrained(str(bert_dir)).eval()

    def embed(text):
        enc = tok(text, return_tensors="pt")
        with torch.no_grad():
            h = model(**enc).last_hidden_state[0].double()
        ids = enc["input_ids"][0].tolist()
        w = torch.tensor([0.0 if t in (tok.cls_token_id, tok.sep_token_id) else 1.0 for t in ids], dtype=torch.float64)
        return torch.nn.functional.normalize(h, dim=-1), w / w.sum()

    (hc, wc), (hr, wr) = embed(cand), embed(ref)
    sim = hr @ hc.T
    r = float((sim.max(1).values * wr).sum())
    p = float((sim.max(0).values * wc).sum())
    # the old rule: special tokens dropped from the matrix
    sim_drop = sim[wr > 0][:, wc > 0]
    r_drop = float(sim_drop.max(1).values.mean())
    return p, r, r_drop


def test_bertscore_keeps_special_tokens_as_match_targets(bert_dir):
    cands = ["the cat sat on the mat", "dog ran fast", "big red house"]
    refs = ["a cat sat on a mat", "the small dog ran", "the blue tree"]
    res = bertscore(cands, refs, bert_dir)
    differs = 0.0
    for i, (c, r) in enumerate(zip(cands, refs)):
        p, rec, rec_drop = _manual_bertscore(bert_dir, c, r)
        assert res["p"][i] == pytest.approx(p, abs=1e-6) and res["r"][i] == pytest.approx(rec, abs=1e-6)
        differs = max(differs, abs(rec - rec_drop))
    assert differs > 1e-4  # the case tells the two rules apart


def test_bertscore_equals_bert_score_0_3_10(bert_dir):
    bert_score = pytest.importorskip("bert_score", reason="bert-score not installed (pip install bert-score==0.3.10)")
    cands = ["the cat sat on the mat", "dog ran fast", "big red house", "a tree"]
    refs = ["a cat sat on a mat", "the small dog ran", "the blue tree", "the small tree"]
    P, R, F = bert_score.score(cands, refs, model_type=str(bert_dir), num_layers=2, idf=False, device="cpu",
                               batch_size=4)
    ours = bertscore(cands, refs, bert_dir)
    assert ours["p"] == pytest.approx(P.tolist(), abs=1e-5)
    assert ours["r"] == pytest.approx(R.tolist(), abs=1e-5)
    assert ours["f"] == pytest.approx(F.tolist(), abs=1e-5)
