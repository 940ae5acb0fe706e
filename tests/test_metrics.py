"""della.evaluation.text_metrics against their references: NLTK's sentence_bleu (to 1e-9), direct set
computations for distinct-n and Jaccard, sacrebleu and rouge_score."""
from __future__ import annotations

import itertools
import math
import random
import warnings

import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from della.evaluation.text_metrics import (
                                           corpus_bleu_sacrebleu,
                                           distinct_n,
                                           distinct_n_per_token,
                                           jaccard,
                                           jaccard_max,
                                           rouge,
                                           self_bleu,
                                           self_bleu_scores,
                                           test_set_bleu,
                                           test_set_bleu_scores,
                                           text_metrics,
                                           )

SMOOTH = SmoothingFunction().method1


def nltk_bleu(refs, hyp, max_n):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sentence_bleu(refs, hyp, weights=(1.0 / max_n,) * max_n, smoothing_function=SMOOTH)


def nltk_self_bleu(samples, max_n):
    return [nltk_bleu(samples[:i] + samples[i + 1 :], s, max_n) for i, s in enumerate(samples)]


def random_corpus(rng: random.Random, n_sent: int, vocab: int, lengths=(0, 1, 1, 2, 3, 4, 6, 9, 14)):
    out = [[f"w{rng.randrange(vocab)}" for _ in range(rng.choice(lengths))] for _ in range(n_sent)]
    for _ in range(rng.randint(0, 3)):  # exact duplicates
        if out:
            out.append(list(rng.choice(out)))
    rng.shuffle(out)
    return out


# ---------------------------------------------------------------------------- BLEU
@pytest.mark.parametrize("seed", range(60))
def test_self_bleu_matches_nltk_random(seed):
    rng = random.Random(seed)
    max_n = 1 + seed % 5
    samples = random_corpus(rng, rng.randint(2, 25), vocab=rng.choice([2, 3, 5, 12, 40]))
    if len(samples) < 2:
        samples.append(["w0"])
    ours = self_bleu_scores(samples, max_n)
    ref = nltk_self_bleu(samples, max_n)
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref):
        assert abs(a - b) <= 1e-9, (a, b)
    assert abs(self_bleu(samples, max_n) - sum(ref) / len(ref)) <= 1e-9


@pytest.mark.parametrize("seed", range(60))
def test_test_set_bleu_matches_nltk_random(seed):
    rng = random.Random(1000 + seed)
    max_n = 1 + seed % 5
    vocab = rng.choice([2, 3, 5, 12, 40])
    samples = random_corpus(rng, rng.randint(1, 20), vocab)
    refs = random_corpus(rng, rng.randint(1, 20), vocab) or [["w1"]]
    if rng.random() < 0.3 and samples:  # some samples copied into the references
        refs += [list(s) for s in samples[:3]]
    ours = test_set_bleu_scores(samples, refs, max_n)
    ref = [nltk_bleu(refs, s, max_n) for s in samples]
    for a, b in zip(ours, ref):
        assert abs(a - b) <= 1e-9, (a, b)
    assert abs(test_set_bleu(samples, refs, max_n) - sum(ref) / len(ref)) <= 1e-9


EDGE_CASES = {
    "empty_hyp": [[], ["a", "b"], ["a", "b", "c"]],
    "all_empty": [[], [], []],
    "one_token": [["a"], ["a"], ["b"]],
    "two_identical": [["a", "b", "c", "d", "e"], ["a", "b", "c", "d", "e"]],
    "all_same": [["x", "y"]] * 5,
    "no_match": [["a", "b", "c"], ["d", "e", "f"], ["g", "h"]],
    "len_tie_shorter": [["a"] * 12, ["a"] * 13, ["a"] * 11],  # |12-13| == |12-11| -> 11
    "own_length_excluded": [["a", "b", "c", "d"], ["a", "b"], ["a", "b", "c", "d", "e", "f"]],
    "repeated_ngrams": [["the"] * 7, "the cat is on the mat".split(), "there is a cat on the mat".split()],
    "only_unigram_match": [["a", "b"], ["b", "a"], ["c", "a"]],
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
@pytest.mark.parametrize("max_n", [1, 2, 3, 4, 5])
def test_bleu_edge_cases_match_nltk(name, max_n):
    samples = [list(s) for s in EDGE_CASES[name]]
    for a, b in zip(self_bleu_scores(samples, max_n), nltk_self_bleu(samples, max_n)):
        assert abs(a - b) <= 1e-9
    refs = [["a", "b", "c"], [], ["the", "cat"], ["a"] * 11]
    for a, b in zip(test_set_bleu_scores(samples, refs, max_n), [nltk_bleu(refs, s, max_n) for s in samples]):
        assert abs(a - b) <= 1e-9


def test_bleu_bit_exact_on_a_larger_corpus():
    rng = random.Random(7)
    samples = random_corpus(rng, 150, vocab=30, lengths=range(0, 25))
    assert self_bleu_scores(samples, 4) == nltk_self_bleu(samples, 4)


def test_bleu_degenerate_inputs():
    assert self_bleu([], 4) == 0.0
    assert test_set_bleu([], [["a"]], 4) == 0.0
    with pytest.raises(ValueError):
        self_bleu([["a", "b"]])  # NLTK has no reference either
    with pytest.raises(ValueError):
        test_set_bleu([["a"]], [])
    with pytest.raises(ValueError):
        self_bleu([["a"], ["b"]], max_n=0)
    with pytest.raises(TypeError):
        self_bleu(["a b", "c d"])  # strings, not token lists


def test_bleu_known_values():
    assert self_bleu([["a", "b", "c", "d"]] * 3) == pytest.approx(1.0)
    # no shared unigram at all -> NLTK returns 0
    assert test_set_bleu([["a", "b"]], [["c", "d"]]) == 0.0


# ---------------------------------------------------------------------------- diversity
def direct_ngrams(s, n):
    return [tuple(s[i : i + n]) for i in range(len(s) - n + 1)]


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_distinct_n_matches_direct(seed, n):
    rng = random.Random(seed)
    samples = random_corpus(rng, rng.randint(1, 30), vocab=rng.choice([3, 10, 50]))
    all_grams = [g for s in samples for g in direct_ngrams(s, n)]
    expect = len(set(all_grams)) / len(all_grams) if all_grams else 0.0
    assert distinct_n(samples, n) == pytest.approx(expect, abs=1e-12)


def direct_jaccard(samples, n, empty_value=0.0):
    sets = [set(direct_ngrams(s, n)) for s in samples]
    vals = []
    for a, b in itertools.combinations(sets, 2):
        u = len(a | b)
        vals.append(len(a & b) / u if u else empty_value)
    return sum(vals) / len(vals) if vals else 0.0


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_jaccard_matches_double_loop(seed, n):
    rng = random.Random(seed)
    samples = random_corpus(rng, rng.randint(2, 40), vocab=rng.choice([3, 10, 50]))
    assert jaccard(samples, n) == pytest.approx(direct_jaccard(samples, n), abs=1e-12)
    assert jaccard(samples, n, empty_value=1.0) == pytest.approx(direct_jaccard(samples, n, 1.0), abs=1e-12)


def test_jaccard_dense_and_sparse_paths_and_blocks():
    # a common n-gram (held by every sample) takes the dense path; small blocks cross rows
    rng = random.Random(3)
    samples = [["the"] + [f"w{rng.randrange(20)}" for _ in range(rng.randint(0, 8))] for _ in range(80)]
    expect = direct_jaccard(samples, 1)
    assert jaccard(samples, 1, block=7) == pytest.approx(expect, abs=1e-12)
    assert jaccard([["a"]], 1) == 0.0
    assert jaccard([["a", "b"], ["a", "b"]], 2) == 1.0


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("n", [1, 2])
def test_distinct_per_token_matches_li_et_al(seed, n):
    rng = random.Random(seed)
    samples = random_corpus(rng, rng.randint(1, 30), vocab=rng.choice([3, 10, 50]))
    grams = {g for s in samples for g in direct_ngrams(s, n)}
    tokens = sum(len(s) for s in samples)
    assert distinct_n_per_token(samples, n) == pytest.approx(len(grams) / tokens if tokens else 0.0, abs=1e-12)
    # hand case: "a b a" + "a b": 2 distinct bigrams over 5 tokens (Li et al.) vs 3 bigrams (ours)
    assert distinct_n_per_token([["a", "b", "a"], ["a", "b"]], 2) == pytest.approx(2 / 5)
    assert distinct_n([["a", "b", "a"], ["a", "b"]], 2) == pytest.approx(2 / 3)


def direct_jaccard_max(samples, n):
    sets = [set(direct_ngrams(s, n)) for s in samples]
    best = []
    for i, a in enumerate(sets):
        vals = [len(a & b) / len(a | b) if a | b else 0.0 for j, b in enumerate(sets) if j != i]
        best.append(max(vals))
    return sum(best) / len(best)


@pytest.mark.parametrize("seed", range(10))
def test_jaccard_max_matches_double_loop(seed):
    rng = random.Random(seed)
    samples = random_corpus(rng, rng.randint(2, 40), vocab=rng.choice([3, 10, 50]))
    for n in (1, 2):
        assert jaccard_max(samples, n, block=7) == pytest.approx(direct_jaccard_max(samples, n), abs=1e-12)
    # hand case: {a,b,c} vs {a,b,d}: 2/4; {x} shares nothing; mean of maxima (0.5, 0.5, 0)
    assert jaccard_max([["a", "b", "c"], ["a", "b", "d"], ["x"]], 1) == pytest.approx(1 / 3)
    assert jaccard_max([["a"]], 1) == 0.0


# ---------------------------------------------------------------------------- sacrebleu / rouge
def test_sacrebleu_signature_and_score():
    hyps = ["the cat sat on the mat", "a quick brown fox"]
    res = corpus_bleu_sacrebleu(hyps, hyps)
    assert res["score"] == pytest.approx(100.0)
    assert "nrefs:1" in res["signature"] and "tok:13a" in res["signature"]
    assert corpus_bleu_sacrebleu(["x y z"], ["a b c"])["score"] == pytest.approx(0.0)
    with pytest.raises(ValueError):
        corpus_bleu_sacrebleu(["a"], [])


def test_rouge_known_pair():
    r = rouge(["the cat was found under the bed"], ["the cat was under the bed"], use_stemmer=False)
    # unigrams: hyp 7, ref 6, overlap 6 -> P 6/7, R 1 -> F 12/13
    assert r["rouge1"] == pytest.approx(100 * 12 / 13)
    # bigrams: hyp 6, ref 5, overlap 4 (the cat, cat was, under the, the bed) -> F = 8/11
    assert r["rouge2"] == pytest.approx(100 * 8 / 11)
    # LCS = 6 -> same as rouge1
    assert r["rougeL"] == pytest.approx(100 * 12 / 13)
    assert rouge(["same text"], ["same text"])["rougeL"] == pytest.approx(100.0)


# ---------------------------------------------------------------------------- text_metrics
def test_text_metrics_unconditional_and_conditional():
    rng = random.Random(0)
    samples = random_corpus(rng, 30, vocab=15, lengths=range(3, 12))
    refs = random_corpus(rng, 40, vocab=15, lengths=range(3, 12))
    m = text_metrics(samples, refs, conditional=False)
    assert m["bleu"] == pytest.approx(100 * test_set_bleu(samples, refs))
    assert m["self_bleu"] == pytest.approx(100 * self_bleu(samples))
    for n in (1, 2, 3, 4):
        assert m[f"dist_{n}"] == pytest.approx(100 * distinct_n(samples, n))
        assert 0 <= m[f"jaccard_{n}"] <= 1
    assert "rouge1" not in m and "bleu_signature" not in m

    refs_c = refs[: len(samples)]
    c = text_metrics(samples, refs_c, conditional=True)
    assert c["bleu_kind"] == "sacrebleu_corpus" and "nrefs:1" in c["bleu_signature"]
    assert c["bleu"] == pytest.approx(
        corpus_bleu_sacrebleu([" ".join(t) for t in samples], [" ".join(t) for t in refs_c])["score"])
    assert set(("rouge1", "rouge2", "rougeL")) <= set(c)
    # deterministic reference cap
    a = text_metrics(samples, refs, conditional=False, max_references=10, seed=1)
    b = text_metrics(samples, refs, conditional=False, max_references=10, seed=1)
    assert a == b and a["n_references"] == 10
    assert math.isfinite(a["bleu"])
