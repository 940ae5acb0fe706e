"""Tests of della.synthetic: the offline demo twins of the seven tasks."""

from __future__ import annotations

import math
import re
import time
from collections import Counter, defaultdict

import pytest

from della.data import SPLITS, TASKS, Example, read_jsonl, write_jsonl
from della.synthetic import DEFAULT_SIZES, FACTORS, generate_task

SMALL = {"train": 1500, "valid": 50, "test": 300}


@pytest.fixture(scope="module")
def data():
    return {t: generate_task(t, SMALL, seed=0) for t in TASKS}


def test_deterministic_and_seeded():
    for t in TASKS:
        a = generate_task(t, {"train": 50, "valid": 5, "test": 5}, seed=7)
        b = generate_task(t, {"train": 50, "valid": 5, "test": 5}, seed=7)
        c = generate_task(t, {"train": 50, "valid": 5, "test": 5}, seed=8)
        assert a == b
        assert a["train"] != c["train"]
        assert a["train"] != a["test"][:5] + a["train"][5:]  # splits come from different streams


def test_sizes():
    d = generate_task("yelp")
    assert {s: len(d[s]) for s in SPLITS} == DEFAULT_SIZES
    d = generate_task("wp", {"train": 7})
    assert len(d["train"]) == 7 and len(d["test"]) == DEFAULT_SIZES["test"]
    with pytest.raises(ValueError):
        generate_task("wp", {"dev": 3})
    with pytest.raises(ValueError):
        generate_task("nope")


def test_shape(data):
    for t, spec in TASKS.items():
        for s in SPLITS:
            for e in data[t][s]:
                assert isinstance(e, Example) and e.target
                assert (e.source is not None) == spec.conditional
                assert e.target == e.target.lower() or t == "ptb"  # ptb keeps its "N" number token
                if e.source is not None:
                    assert e.source == e.source.lower() or e.source.startswith("[ WP ] ")
                assert set(e.factors) == set(FACTORS[t])
                for k, v in e.factors.items():
                    assert isinstance(v, int) and 0 <= v < len(FACTORS[t][k])


def test_lengths(data):
    def mean_len(t, attr="target"):
        xs = [len(getattr(e, attr).split()) for e in data[t]["train"]]
        return sum(xs) / len(xs)

    for t in ("yelp", "ptb", "snli", "quora"):
        assert 6 <= mean_len(t) <= 30, t
    assert mean_len("yahoo") > mean_len("yelp")
    assert 60 <= mean_len("cnndm", "source") <= 120 and 10 <= mean_len("cnndm") <= 20
    assert 10 <= mean_len("wp", "source") <= 20 and 40 <= mean_len("wp") <= 80
    assert all("<newline>" in e.target for e in data["wp"]["train"][:20])
    # spaces around punctuation (ptb keeps abbreviations such as "inc." like the real PTB)
    assert all(re.search(r"\w[.,?!]", e.target) is None for t in TASKS if t != "ptb" for e in data[t]["train"][:100])


def test_vocabulary_size(data):
    vocab = set()
    for t in TASKS:
        for e in data[t]["train"]:
            vocab.update(e.target.split())
            vocab.update((e.source or "").split())
    assert len(vocab) >= 300


def _nb_accuracy(train, test, factor):
    """Multinomial naive Bayes on word counts of source+target."""
    counts, totals, prior = defaultdict(Counter), Counter(), Counter()
    vocab = set()
    for e in train:
        words = (e.target + " " + (e.source or "")).split()
        y = e.factors[factor]
        counts[y].update(words)
        totals[y] += len(words)
        prior[y] += 1
        vocab.update(words)
    V = len(vocab) + 1
    correct = 0
    for e in test:
        words = (e.target + " " + (e.source or "")).split()
        best = max(prior, key=lambda y: math.log(prior[y])
                   + sum(math.log((counts[y][w] + 1) / (totals[y] + V)) for w in words))
        correct += best == e.factors[factor]
    return correct / len(test)


@pytest.mark.parametrize("task,factor", [
    ("yelp", "sentiment"), ("yelp", "topic"), ("yahoo", "topic"), ("ptb", "template"), ("ptb", "tense"),
    ("snli", "scene"), ("snli", "subject"), ("snli", "action"), ("cnndm", "topic"), ("cnndm", "person"),
    ("wp", "genre"), ("wp", "character"), ("quora", "intent"), ("quora", "entity"),
])
def test_factors_predictive(data, task, factor):
    chance = 1 / len(FACTORS[task][factor])
    acc = _nb_accuracy(data[task]["train"], data[task]["test"], factor)
    assert chance <= 0.5 and acc > 0.8, (task, factor, acc, chance)  # far above chance


def test_yahoo_length_factor_exact(data):
    for e in data["yahoo"]["train"]:
        n_sent = len(re.findall(r"(?<= )[.?!](?= |$)", e.target))
        assert n_sent == 1 + (2, 4, 6)[e.factors["length"]]


def test_cnndm_summary_restates_facts(data):
    for e in data["cnndm"]["train"][:200]:
        person = FACTORS["cnndm"]["person"][e.factors["person"]]
        place = FACTORS["cnndm"]["place"][e.factors["place"]]
        number = FACTORS["cnndm"]["number"][e.factors["number"]]
        for fact in (person, place, number):
            assert fact in e.target and fact in e.source


def test_round_trip(tmp_path, data):
    for t in TASKS:
        p = write_jsonl(data[t]["valid"], tmp_path / f"{t}.jsonl")
        assert read_jsonl(p) == data[t]["valid"]


def test_fast():
    t0 = time.perf_counter()
    for t in TASKS:
        generate_task(t, {"train": 10000, "valid": 1, "test": 1})
    assert time.perf_counter() - t0 < 5.0
