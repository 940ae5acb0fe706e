"""Tests of della.data.synthetic: the offline demo twins of the seven tasks."""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict

import pytest

from della.data.readers import SPLITS, TASKS, Example, prepare_task, read_jsonl, write_jsonl
from della.data.synthetic import (DEFAULT_SIZES, FACTORS, TWINS, draw_factors, factor_info, factor_probability,
                                  generate_task, render)
from della.data.tokenizer import TextTokenizer

SMALL = {"train": 1500, "valid": 50, "test": 300}
DEMO = {"train": 800, "valid": 100, "test": 150}  # config/config.yaml's synthetic_sizes


def latent_factors(task):
    """The factors a latent must carry: all (unconditional), those absent from the source (conditional)."""
    return [f for f in TWINS[task].factors if not f.in_source]


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


def test_no_import_cycle():
    """della.data.synthetic needs only della.data.tasks; della.data.readers imports della.data.synthetic, not the reverse."""
    code = "import sys, della.data.synthetic; print('della.data.readers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


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


def test_lengths_and_style(data):
    def mean_words(t, attr="target"):
        xs = [len(getattr(e, attr).split()) for e in data[t]["train"]]
        return sum(xs) / len(xs)

    for t in ("yelp", "yahoo", "ptb", "snli"):
        assert 12 <= mean_words(t) <= 28, t
    assert 8 <= mean_words("quora") <= 20 and 5 <= mean_words("quora", "source") <= 12
    assert 45 <= mean_words("cnndm", "source") <= 90 and 15 <= mean_words("cnndm") <= 30
    assert 10 <= mean_words("wp", "source") <= 25 and 25 <= mean_words("wp") <= 60
    assert all("<newline> <newline>" in e.target for e in data["wp"]["train"][:50])
    # spaces around punctuation; Mikolov's PTB has no punctuation, numbers as N, rare words as <unk>
    assert all(re.search(r"\w[.,?!]", e.target) is None for t in TASKS for e in data[t]["train"][:200])
    ptb = [e.target for e in data["ptb"]["train"]]
    assert not any(re.search(r"[.,?!0-9]", x) for x in ptb)
    assert all(" N " in f" {x} " for x in ptb) and any("<unk>" in x for x in ptb)


def test_unconditional_texts_fit_the_demo_context():
    """The demo trains with max_length 32 tokens and a BPE of 800: the unconditional twins' texts
    must mostly fit, or the factors' words at the end are cut."""
    for t in ("yelp", "yahoo", "ptb", "snli"):
        train = generate_task(t, DEMO, seed=0)["train"]
        tok = TextTokenizer.train([e.target for e in train], vocab_size=800)
        lengths = [len(tok.encode(e.target)) for e in train]  # train.max_length counts the target's tokens
        assert sum(n <= 32 for n in lengths) / len(lengths) >= 0.9, t


def test_vocabulary_is_modest(data):
    for t in TASKS:
        vocab = set()
        for e in data[t]["train"]:
            vocab.update(e.target.split())
            vocab.update((e.source or "").split())
        assert 50 <= len(vocab) <= 300, (t, len(vocab))  # every word a single token of the demo's BPE


# --------------------------------------------------------------------------- #
# The factors: their entropy, and that each shapes the whole text
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("task", list(TASKS))
def test_factor_entropy_is_exact(task, tmp_path):
    """info.json's factor_entropy_nats equals the entropy of the joint distribution of the latent
    factors, enumerated over their whole product space from the sampler's probabilities."""
    latent = latent_factors(task)
    joint = [factor_probability(task, dict(zip([f.name for f in latent], values)))
             for values in itertools.product(*(range(len(f.values)) for f in latent))]
    assert len(joint) == math.prod(len(f.values) for f in latent)
    assert sum(joint) == pytest.approx(1.0, abs=1e-12)
    h = -sum(p * math.log(p) for p in joint)
    assert h >= 6.0  # the floor: a latent worth at least 6 nats

    paths = prepare_task(task, tmp_path, seed=0, synthetic_sizes={"train": 5, "valid": 2, "test": 2})
    info = json.loads(paths["info"].read_text())
    assert info["factor_entropy_nats"] == pytest.approx(h, abs=1e-9)
    assert info == {**info, **factor_info(task)}
    assert set(info["factors"]) == set(FACTORS[task])
    for f in TWINS[task].factors:
        entry = info["factors"][f.name]
        assert entry["n_values"] == len(f.values) >= 3 and entry["in_source"] == f.in_source
        marginal = [factor_probability(task, {f.name: v}) for v in range(len(f.values))]
        assert entry["entropy_nats"] == pytest.approx(-sum(p * math.log(p) for p in marginal), abs=1e-12)
    assert TASKS[task].conditional == any(f.in_source for f in TWINS[task].factors)


@pytest.mark.parametrize("task", list(TASKS))
def test_examples_follow_the_stated_distribution(task):
    """The factors of generated examples are drawn with the probabilities factor_info states: each
    marginal within 4.5 standard errors, and the mean surprisal of the latent factors equals H."""
    exs = generate_task(task, {"train": 6000, "valid": 1, "test": 1}, seed=1)["train"]
    n = len(exs)
    for f in TWINS[task].factors:
        counts = Counter(e.factors[f.name] for e in exs)
        for v, p in enumerate(f.probs):
            assert abs(counts[v] / n - p) <= 4.5 * math.sqrt(p * (1 - p) / n), (f.name, v)
    names = [f.name for f in latent_factors(task)]
    surprisal = [-math.log(factor_probability(task, {k: e.factors[k] for k in names})) for e in exs]
    mean = sum(surprisal) / n
    sd = math.sqrt(sum((s - mean) ** 2 for s in surprisal) / (n - 1))
    assert abs(mean - factor_info(task)["factor_entropy_nats"]) <= 4.5 * sd / math.sqrt(n) + 1e-9


@pytest.mark.parametrize("task", list(TASKS))
def test_every_factor_shapes_every_segment(task):
    """Changing one factor (same noise) changes every clause / sentence of the target for the
    factors a latent must carry, leaves the source unchanged for them, and changes the source
    for the source factors."""
    outer = random.Random(f"shape:{task}")
    for _ in range(25):
        base = draw_factors(task, outer)
        seed = outer.random()
        r0 = random.Random(seed)
        src0, tgt0 = render(task, base, r0)
        for f in TWINS[task].factors:
            for v in range(len(f.values)):
                if v == base[f.name]:
                    continue
                r1 = random.Random(seed)
                src1, tgt1 = render(task, {**base, f.name: v}, r1)
                assert r1.getstate() == r0.getstate(), (f.name, "noise must not depend on the factors")
                assert len(tgt1) == len(tgt0) >= 1
                if f.in_source:
                    assert src1 != src0, (f.name, src0)
                else:
                    assert src1 == src0, (f.name, "a target factor leaked into the source")
                    for a, b in zip(tgt0, tgt1):
                        assert a != b, (f.name, f.values[v], a)


def _features(text: str) -> set[str]:
    words = text.split()
    return set(words) | {" ".join(b) for b in zip(words, words[1:])}


def _marker_probe_accuracy(train, test, factor, text):
    """Read a factor off the text with marker n-grams: the words and bigrams that occur, in the
    training texts, with one value of the factor only (and at least 10 times, so that a rare
    combination of noise words is no marker). A test text counts as read when the markers it
    contains point to exactly one value, the right one."""
    seen, count = defaultdict(set), Counter()  # n-gram -> the values it occurs with, its count
    for e in train:
        for g in _features(text(e)):
            seen[g].add(e.factors[factor])
            count[g] += 1
    markers = {g: next(iter(vs)) for g, vs in seen.items() if len(vs) == 1 and count[g] >= 10}
    read = sum({markers[g] for g in _features(text(e)) if g in markers} == {e.factors[factor]} for e in test)
    return read / len(test)


@pytest.mark.parametrize("task", list(TASKS))
def test_factors_readable_from_the_text(data, task):
    """Each factor's value can be read off the text exactly (the target for the factors a latent
    must carry, the source for source factors), so an ideal posterior pins the factors down."""
    for f in TWINS[task].factors:
        text = (lambda e: e.source) if f.in_source else (lambda e: e.target)
        acc = _marker_probe_accuracy(data[task]["train"], data[task]["test"], f.name, text)
        assert acc >= 0.99, (task, f.name, acc)


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
    for t in TASKS:
        t0 = time.perf_counter()
        generate_task(t, DEMO)
        assert time.perf_counter() - t0 < 1.0, t
