"""Offline demo data: a seeded synthetic twin of each DELLA task (README, "Scale": Synthetic twins).

Each twin has the shape of the real task (unconditional sentences or short documents;
source -> target pairs for summarisation, stories and paraphrase), its tokenisation style
(lowercase, spaces around punctuation; PTB without punctuation, with ``N`` and ``<unk>``;
WritingPrompts' ``[ WP ]`` and ``<newline>``) and lengths scaled down so that an
unconditional text mostly fits the demo's 32 tokens.

Every example is generated from known latent factors, stored as small ints in
``Example.factors`` (the names behind the ints are in :data:`FACTORS`).  The twins are
built so that a latent variable *pays*:

* the factors carry at least 6 nats: several independent factors with 3-12 values each;
* every factor shapes words in every clause or sentence of the text (each clause template has
  a slot for each factor, filled from that factor value's own word pool), so a decoder that
  ignores z must infer the factors from the words it has seen so far, while one whose z holds
  them predicts those words from the first token on;
* the value pools of a factor are disjoint, so the factors can be read off the text exactly:
  an ideal model's posterior pins them down and its KL (the mutual information between text
  and latent) reaches H(factors).

Conditional twins have two kinds of factors. *Source* factors (``in_source``) are stated in
the source and copied into the target; a conditional prior p(z | source) already knows them.
*Target* factors appear in the target only (the summary's tense and attribution, the story's
setting, the paraphrase's framing); they are what a latent must carry, and an ideal model's
KL(q(z | x, y) || p(z | x)) reaches H(target factors).  :func:`factor_info` (written to each
twin's ``info.json``) states that entropy as ``factor_entropy_nats``: H(all factors) for an
unconditional twin, H(target factors) for a conditional one.

Twins (factor: number of values; * = source factor, not counted in the entropy):

* yelp   business 8 x stars 5 (skewed towards 5 as on Yelp) x companion 6 x intensifier 6,
  7.16 nats: 2-3 clauses "my wife said the tacos were really amazing".
* yahoo  topic 10 x asker 6 x problem 8, 6.17 nats: a question and 1-2 answer sentences.
* ptb    sector 8 x trend 4 x tense 3 (mostly past) x market 6, 6.20 nats: a two-clause
  market report, PTB style.
* snli   subject 8 x activity 8 x scene 8, 6.24 nats: one caption of two clauses.
* cnndm  person* 12 x place* 10 x event* 8 x number* 10 | tense 3 x attribution 12 x
  adverb 12, 6.07 nats: a 50-80 word article and a two-sentence highlight.
* wp     genre* 5 x character* 8 | setting 10 x mood 6 x companion 8, 6.17 nats: a
  ``[ WP ]`` prompt and a 3-4 sentence story with a ``<newline> <newline>`` break.
* quora  intent* 8 x entity* 44 | frame 4 x context 10 x qualifier 12, 6.17 nats: a
  question and its paraphrase.

Each factor is drawn independently (``Random.choices`` with its weights), so H(factors) is
the sum of the per-factor entropies; ``tests/test_synthetic.py`` checks it against the entropy
of the joint distribution enumerated over the whole factor space.  The rest of the text
(templates, synonyms, filler) is noise drawn from the same stream *after* the factors, with
the same number of draws whatever the factor values, so changing one factor of an example
changes exactly the words that factor controls.

Every random choice of a renderer goes through :func:`_pick`, :func:`_coin` and :func:`_sample`:
given a ``random.Random`` they draw what the twins always drew; given a :class:`Chooser` the
choices are scored or enumerated. That gives the *exact* probability of every generated text,
``Example.log_p_true`` = log P(latent factors) + the log-probabilities of the target's choices (an
outcome counts every way of drawing it), and the exact entropy :func:`text_entropy`, H(X) of an
unconditional twin and H(target | source) of a conditional one: the floor below which no model's
expected negative log-likelihood can go, in nats per text: yelp 18.13, yahoo 12.21, ptb 13.45,
snli 8.67, cnndm 6.07, wp 13.37, quora 6.17. Both are exact because a text determines its
factors and, given them, the outcome of every choice; ``tests/test_synthetic.py`` enumerates every
text (of every factor setting for ptb, snli, yahoo and quora) to check it.

``generate_task`` is deterministic in ``seed``; each split draws from its own stream
(``random.Random(f"della-synthetic:{task}:{split}:{seed}")``), so train, valid and test never
share a random stream and different seeds give different data.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from della.data.tasks import SPLITS, TASKS, Example

DEFAULT_SIZES: dict[str, int] = {"train": 2000, "valid": 200, "test": 200}


@dataclass(frozen=True)
class Factor:
    name: str
    values: tuple[str, ...]
    weights: tuple[float, ...] | None = None  # sampling weights; None = uniform
    in_source: bool = False  # conditional twins: stated in the source (a conditional prior sees it)

    @property
    def probs(self) -> tuple[float, ...]:
        w = self.weights or (1.0,) * len(self.values)
        if len(w) != len(self.values):
            raise ValueError(f"factor {self.name!r}: {len(w)} weights for {len(self.values)} values")
        total = sum(w)
        return tuple(x / total for x in w)

    @property
    def entropy_nats(self) -> float:
        return -sum(p * math.log(p) for p in self.probs if p > 0)


# --------------------------------------------------------------------------- #
# The random choices of a renderer
# --------------------------------------------------------------------------- #
# A renderer makes every random choice through _pick, _coin and _sample. Given a random.Random
# they draw exactly what the renderers always drew (the generated data is unchanged); given a
# Chooser they let the choices be scored (Recorder: the probability of what was drawn) or
# enumerated (ChoiceEntropy, Enumerator), which gives the exact probability and entropy of the
# texts (text_entropy, the "entropy floor" of the likelihood columns).


def _pick(r, pool):
    """One element of ``pool``, uniformly; always exactly one draw, so noise stays aligned across
    factor values."""
    if isinstance(r, Chooser):
        return r.pick(pool)
    return pool[r.randrange(len(pool))]


def _coin(r, p: float) -> bool:
    """True with probability ``p`` (one ``random()`` draw)."""
    if isinstance(r, Chooser):
        return r.coin(p)
    return r.random() < p


def _sample(r, pool, k: int) -> list:
    """``k`` distinct elements of ``pool`` in random order (``random.Random.sample``)."""
    if isinstance(r, Chooser):
        return r.sample(pool, k)
    return r.sample(pool, k)


@lru_cache(maxsize=None)
def _sample_classes(pool: tuple, k: int) -> dict[tuple, float]:
    """The distribution of ``random.sample(pool, k)`` over value tuples: every ordered selection of
    k positions is equally likely; selections giving the same values are one outcome."""
    orders = list(itertools.permutations(range(len(pool)), k))
    counts = Counter(tuple(pool[i] for i in order) for order in orders)
    return {value: c / len(orders) for value, c in counts.items()}


def _pick_classes(pool) -> dict:
    """The distribution of ``_pick(pool)`` over values: equal elements (e.g. the empty tails that
    make a tail rarer) are one outcome."""
    return _value_distribution(tuple(pool))


@lru_cache(maxsize=None)
def _value_distribution(pool: tuple) -> dict:
    return {value: c / len(pool) for value, c in Counter(pool).items()}


def _entropy(dist) -> float:
    return -sum(p * math.log(p) for p in dist if p > 0)


class Chooser:
    """Makes a renderer's choices instead of a random.Random (see :func:`_pick`)."""

    def pick(self, pool):
        raise NotImplementedError

    def coin(self, p: float) -> bool:
        raise NotImplementedError

    def sample(self, pool, k: int) -> list:
        raise NotImplementedError


class Recorder(Chooser):
    """Draws from ``rng`` exactly as a random.Random passed to the renderer would, and adds up
    ``log_prob``: the log-probability of the outcome of each choice (the value drawn, counting
    every way of drawing that value)."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.log_prob = 0.0

    def pick(self, pool):
        value = _pick(self.rng, pool)
        self.log_prob += math.log(_pick_classes(pool)[value])
        return value

    def coin(self, p: float) -> bool:
        value = _coin(self.rng, p)
        self.log_prob += math.log(p if value else 1.0 - p)
        return value

    def sample(self, pool, k: int) -> list:
        value = _sample(self.rng, pool, k)
        self.log_prob += math.log(_sample_classes(tuple(pool), k)[tuple(value)])
        return value


class ChoiceEntropy(Chooser):
    """One pass of a renderer along one path of its coins: every pick and sample takes its first
    outcome and adds the entropy of its outcome distribution to ``nats``; ``coins`` fixes the
    coins' outcomes in order (missing ones are False and listed in ``open_coins``).

    This gives the entropy of the renderer's choices when which choices it makes depends on its
    coins only, not on the values it picked (every twin: a clause's words never decide whether
    another choice is made); :func:`noise_entropy` walks every coin path."""

    def __init__(self, coins: tuple[bool, ...] = ()):
        self.coins, self.used = coins, 0
        self.nats, self.prob = 0.0, 1.0
        self.open_coins: list[float] = []  # probabilities of the coins beyond ``coins``

    def pick(self, pool):
        dist = _pick_classes(pool)
        self.nats += _entropy(dist.values())
        return next(iter(dist))

    def coin(self, p: float) -> bool:
        if self.used < len(self.coins):
            value = self.coins[self.used]
        else:
            value = False
            self.open_coins.append(p)
        self.used += 1
        self.prob *= p if value else 1.0 - p
        return value

    def sample(self, pool, k: int) -> list:
        dist = _sample_classes(tuple(pool), k)
        self.nats += _entropy(dist.values())
        return list(next(iter(dist)))


class Enumerator(Chooser):
    """Replays one path of every choice (``path``: the outcome index of each choice, in order;
    missing ones take index 0) and records each choice's number of outcomes, so that
    :func:`enumerate_outcomes` can walk all paths; ``prob`` is the path's probability and
    ``class_log_prob`` what a :class:`Recorder` would have added up on it."""

    def __init__(self, path: list[int]):
        self.path, self.used, self.arity = list(path), 0, []
        self.prob, self.class_log_prob = 1.0, 0.0

    def _index(self, n: int) -> int:
        if self.used == len(self.path):
            self.path.append(0)
        i = self.path[self.used]
        self.arity.append(n)
        self.used += 1
        return i

    def pick(self, pool):
        value = pool[self._index(len(pool))]
        self.prob /= len(pool)
        self.class_log_prob += math.log(_pick_classes(pool)[value])
        return value

    def coin(self, p: float) -> bool:
        value = self._index(2) == 0
        self.prob *= p if value else 1.0 - p
        self.class_log_prob += math.log(p if value else 1.0 - p)
        return value

    def sample(self, pool, k: int) -> list:
        orders = _orders(len(pool), k)
        value = [pool[i] for i in orders[self._index(len(orders))]]
        self.prob /= len(orders)
        self.class_log_prob += math.log(_sample_classes(tuple(pool), k)[tuple(value)])
        return value


@lru_cache(maxsize=None)
def _orders(n: int, k: int) -> list[tuple[int, ...]]:
    return list(itertools.permutations(range(n), k))


def enumerate_outcomes(render_fn: Callable[[Chooser], object]):
    """Every path of ``render_fn``'s choices: yields ``(probability, class log-probability,
    output)`` once per path (outputs of different paths may coincide). Exponential in the number
    of choices: for tests and small renderers."""
    path: list[int] = []
    while True:
        chooser = Enumerator(path)
        out = render_fn(chooser)
        yield chooser.prob, chooser.class_log_prob, out
        path, arity = chooser.path[:chooser.used], chooser.arity
        i = len(path) - 1
        while i >= 0 and path[i] + 1 >= arity[i]:
            i -= 1
        if i < 0:
            return
        path = path[:i] + [path[i] + 1]


# --------------------------------------------------------------------------- #
# yelp: reviews
# --------------------------------------------------------------------------- #

_YELP_BUSINESS = {  # business -> dishes (one is named in every clause)
    "pizzeria": ["crust", "pepperoni", "calzone"],
    "sushi bar": ["sashimi", "rolls", "tempura"],
    "taco shop": ["tacos", "burritos", "salsa"],
    "bakery": ["croissants", "bread", "muffins"],
    "steakhouse": ["steak", "ribeye", "brisket"],
    "coffee shop": ["latte", "espresso", "scones"],
    "burger joint": ["burger", "fries", "milkshake"],
    "noodle house": ["ramen", "dumplings", "noodles"],
}
_YELP_STARS = [["awful", "disgusting", "inedible"], ["bland", "mediocre", "disappointing"],
               ["okay", "decent", "average"], ["good", "tasty", "solid"], ["amazing", "perfect", "incredible"]]
_YELP_COMPANIONS = ["my wife", "my husband", "my kids", "my friends", "my boss", "my parents"]
_YELP_INTENSIFIERS = ["really", "so", "very", "super", "pretty", "totally"]
_YELP_CLAUSES = ["{c} said the {d} {be} {i} {a}", "{c} thought the {d} {be} {i} {a}",
                 "according to {c} the {d} {be} {i} {a}", "{c} found the {d} {i} {a}"]
_YELP_LINKS = [", and", ", plus", ". also ,"]


def _yelp(f: dict, r):
    dishes = list(_YELP_BUSINESS.values())[f["business"]]
    clauses = []
    for k in range(2 if _coin(r, 0.7) else 3):
        d = _pick(r, dishes)
        clause = _pick(r, _YELP_CLAUSES).format(
            c=_YELP_COMPANIONS[f["companion"]], d=d, be="were" if d.endswith("s") else "was",
            i=_YELP_INTENSIFIERS[f["intensifier"]], a=_pick(r, _YELP_STARS[f["stars"]]))
        clauses.append(clause if k == 0 else f"{_pick(r, _YELP_LINKS)} {clause}")
    clauses[-1] += " " + _pick(r, [".", "!"])
    return clauses


# --------------------------------------------------------------------------- #
# yahoo: question + answer
# --------------------------------------------------------------------------- #

_YAHOO_TOPICS = {  # topic -> things asked about
    "computers": ["laptop", "printer", "router"], "cars": ["car", "truck", "engine"],
    "health": ["knee", "back", "skin"], "pets": ["dog", "cat", "puppy"], "home": ["kitchen", "roof", "garden"],
    "music": ["guitar", "piano", "voice"], "school": ["homework", "teacher", "class"],
    "money": ["budget", "loan", "account"], "travel": ["flight", "hotel", "passport"],
    "sports": ["team", "coach", "bike"],
}
_YAHOO_ASKERS = ["son", "daughter", "wife", "husband", "mom", "boss"]
_YAHOO_PROBLEMS = ["broken", "slow", "noisy", "expensive", "dirty", "weak", "strange", "messy"]
_YAHOO_QUESTIONS = ["why is my {w} 's {t} so {p} ?", "what do i do if my {w} 's {t} is {p} ?",
                    "is it normal that my {w} 's {t} is {p} ?"]
_YAHOO_ANSWERS = ["a {p} {t} is common , tell your {w} .", "my {w} had a {p} {t} too .",
                  "a {p} {t} can be fixed , ask your {w} .", "your {w} should get the {p} {t} checked ."]


def _yahoo(f: dict, r):
    things = list(_YAHOO_TOPICS.values())[f["topic"]]
    w, p = _YAHOO_ASKERS[f["asker"]], _YAHOO_PROBLEMS[f["problem"]]
    sents = [_pick(r, _YAHOO_QUESTIONS).format(w=w, t=_pick(r, things), p=p)]
    for _ in range(1 if _coin(r, 0.7) else 2):
        sents.append(_pick(r, _YAHOO_ANSWERS).format(w=w, t=_pick(r, things), p=p))
    return sents


# --------------------------------------------------------------------------- #
# ptb: newswire (Mikolov's PTB: lowercase, no punctuation, N for numbers, <unk>)
# --------------------------------------------------------------------------- #

_PTB_SECTORS = {  # sector -> plural subjects
    "technology": ["chip stocks", "computer makers", "software shares"],
    "banks": ["bank stocks", "big banks", "savings institutions"],
    "oil": ["oil stocks", "energy shares", "oil companies"],
    "drugs": ["drug makers", "drug stocks", "biotechnology shares"],
    "autos": ["auto makers", "car stocks", "auto shares"],
    "airlines": ["airline stocks", "air carriers", "airline shares"],
    "utilities": ["utility stocks", "electric utilities", "utility shares"],
    "retail": ["retail stocks", "big retailers", "department stores"],
}
_PTB_TRENDS = {  # trend -> verbs as (past, present progressive, future)
    "surge": [("soared", "are soaring", "will soar"), ("jumped", "are jumping", "will jump")],
    "rise": [("rose", "are rising", "will rise"), ("gained", "are gaining", "will gain")],
    "fall": [("fell", "are falling", "will fall"), ("slipped", "are slipping", "will slip")],
    "plunge": [("plunged", "are plunging", "will plunge"), ("tumbled", "are tumbling", "will tumble")],
}
_PTB_TENSES = ["past", "present", "future"]
_PTB_MARKETS = ["new york", "tokyo", "london", "frankfurt", "hong kong", "zurich"]
_PTB_FIRST = ["{s} {v} N % in {m} trading", "in {m} {s} {v} N %", "{s} {v} $ N million in {m}"]
_PTB_SECOND = ["while {s} {v} N cents in {m}", "as {m} {s} {v} N points", "and {s} {v} N % on the {m} exchange"]
_PTB_TAILS = ["", "", "", " traders said", " according to <unk> analysts", " amid heavy volume", " <unk> said"]


def _ptb(f: dict, r):
    subjects = list(_PTB_SECTORS.values())[f["sector"]]
    verbs = list(_PTB_TRENDS.values())[f["trend"]]
    m = _PTB_MARKETS[f["market"]]
    first = _pick(r, _PTB_FIRST).format(s=_pick(r, subjects), v=_pick(r, verbs)[f["tense"]], m=m)
    second = _pick(r, _PTB_SECOND).format(s=_pick(r, subjects), v=_pick(r, verbs)[f["tense"]], m=m)
    return [first, second + _pick(r, _PTB_TAILS)]


# --------------------------------------------------------------------------- #
# snli: image captions
# --------------------------------------------------------------------------- #

_SNLI_SUBJECTS = [("a man", "man"), ("a woman", "woman"), ("a young boy", "boy"), ("a little girl", "girl"),
                  ("an old man", "old man"), ("an old woman", "old woman"), ("a teenager", "teenager"),
                  ("a worker", "worker")]
_SNLI_ACTIVITIES = [("surfing", "board"), ("cooking", "pan"), ("painting", "brush"), ("reading", "book"),
                    ("singing", "microphone"), ("biking", "helmet"), ("fishing", "rod"), ("climbing", "rope")]
_SNLI_SCENES = [("on the beach", "sand"), ("in a park", "trees"), ("on a busy street", "cars"),
                ("in a kitchen", "stove"), ("on a stage", "lights"), ("in a field", "grass"),
                ("at the mall", "shops"), ("in the snow", "hill")]
_SNLI_EXTRA = ["", "", " wearing a red shirt", " with a hat", " in a blue jacket"]
_SNLI_SECOND = ["while the {s} holds a {g} near the {d}", "and the {s} has a {g} by the {d}",
                ", the {s} 's {g} next to the {d}"]


def _snli(f: dict, r):
    subj, ref = _SNLI_SUBJECTS[f["subject"]]
    act, gear = _SNLI_ACTIVITIES[f["activity"]]
    at, detail = _SNLI_SCENES[f["scene"]]
    first = f"{subj}{_pick(r, _SNLI_EXTRA)} is {act} {at}"
    second = _pick(r, _SNLI_SECOND).format(s=ref, g=gear, d=detail) + " ."
    return [first, second]


# --------------------------------------------------------------------------- #
# cnndm: article -> highlights
# --------------------------------------------------------------------------- #

_CNN_PEOPLE = ["john smith", "maria lopez", "david chen", "sarah jones", "ahmed khan", "emma brown",
               "james wilson", "olivia taylor", "michael davis", "laura garcia", "peter muller", "anna rossi"]
_CNN_PLACES = ["london", "chicago", "paris", "sydney", "texas", "berlin", "toronto", "madrid", "boston", "dublin"]
_CNN_EVENTS = {  # event -> (article clause, headline verb as (past, present, future), headline object)
    "election": ("won the election with {n} percent of the vote", ("won", "wins", "will win"),
                 "the vote with {n} percent"),
    "sentence": ("was sentenced to {n} years in prison", ("got", "gets", "will get"), "{n} years in prison"),
    "goals": ("scored {n} goals in the final", ("scored", "scores", "will score"), "{n} goals in the final"),
    "sale": ("sold the company for {n} million dollars", ("sold", "sells", "will sell"), "the company for {n} million"),
    "schools": ("opened {n} new schools", ("opened", "opens", "will open"), "{n} new schools"),
    "job cuts": ("announced a plan to cut {n} thousand jobs", ("cut", "cuts", "will cut"), "{n} thousand jobs"),
    "donation": ("donated {n} million dollars to charity", ("gave", "gives", "will give"), "{n} million to charity"),
    "record": ("broke the world record by {n} seconds", ("broke", "breaks", "will break"), "the record by {n} seconds"),
}  # {n} is the number
_CNN_NUMBERS = ["two", "three", "five", "seven", "ten", "twelve", "twenty", "forty", "fifty", "ninety"]
_CNN_TENSES = ["past", "present", "future"]
_CNN_ATTRIBUTIONS = ["police say", "officials say", "reports say", "sources say", "aides say", "witnesses say",
                     "experts say", "critics say", "friends say", "lawyers say", "rivals say", "fans say"]
_CNN_ADVERBS = ["reportedly", "apparently", "officially", "quietly", "suddenly", "finally", "again", "formally",
                "publicly", "narrowly", "easily", "proudly"]
_CNN_REACT = ("reacted to", "react to", "will react to")
_CNN_DAYS = ["monday", "tuesday", "friday", "sunday"]
_CNN_BACKGROUND = ["the news spread quickly across the country .", "many people were surprised by the decision .",
                   "the announcement came after weeks of speculation .", "local media covered the story widely .",
                   "the details were confirmed late on the same day .", "it is not clear what happens next .",
                   "several groups have asked for more information .", "the story was first reported online ."]


def _cnndm_source(f: dict, r):
    p, pl, n = _CNN_PEOPLE[f["person"]], _CNN_PLACES[f["place"]], _CNN_NUMBERS[f["number"]]
    art = list(_CNN_EVENTS.values())[f["event"]][0]
    back = _sample(r, _CNN_BACKGROUND, 4)
    return [f"( cnn ) -- {p} {art.format(n=n)} in {pl} on {_pick(r, _CNN_DAYS)} .", back[0],
            f"{p.split()[0]} told reporters in {pl} that the {n} figure was {_pick(r, ['correct', 'expected', 'a surprise'])} .",
            *back[1:]]


def _cnndm_target(f: dict, r):
    p, pl, n = _CNN_PEOPLE[f["person"]], _CNN_PLACES[f["place"]], _CNN_NUMBERS[f["number"]]
    _, hverb, hobj = list(_CNN_EVENTS.values())[f["event"]]
    t, adv, attr = f["tense"], _CNN_ADVERBS[f["adverb"]], _CNN_ATTRIBUTIONS[f["attribution"]]
    return [f"{p} {adv} {hverb[t]} {hobj.format(n=n)} , {attr} .",
            f"people in {pl} {adv} {_CNN_REACT[t]} the news , {attr} ."]


# --------------------------------------------------------------------------- #
# wp: [ WP ] prompt -> story
# --------------------------------------------------------------------------- #

_WP_GENRES = {  # genre -> (prompt, verbs the story uses)
    "fantasy": ("[ WP ] {c} finds a sword that can talk , but it only tells lies .", ["guarded", "protected"]),
    "scifi": ("[ WP ] {c} wakes up on a spaceship where everyone else is frozen .", ["scanned", "tracked"]),
    "horror": ("[ WP ] every night at three , {c} hears knocking from inside the walls .", ["hid from", "fled from"]),
    "romance": ("[ WP ] {c} falls in love with a stranger who writes letters to the wrong address .",
                ["kissed", "held"]),
    "mystery": ("[ WP ] {c} is the only witness to a crime that nobody else remembers .",
                ["questioned", "watched"]),
}
_WP_CHARS = ["a knight", "a robot", "a witch", "a detective", "an old sailor", "a young queen", "a ghost", "a farmer"]
_WP_SETTINGS = ["forest", "castle", "ship", "city", "desert", "village", "tower", "harbor", "library", "cave"]
_WP_MOODS = ["cold", "dark", "quiet", "burning", "misty", "empty"]
_WP_COMPANIONS = ["her brother", "the old dog", "a stranger", "his mother", "the young guard", "a talking cat",
                  "the doctor", "an old friend"]
_WP_SENTENCES = ["{C} {v} {k} in the {m} {s} .", "in the {m} {s} , {C} {v} {k} .",
                 "{C} {v} {k} all night , far from the {m} {s} .", "that day {C} {v} {k} inside the {m} {s} ."]


def _wp_source(f: dict, r):
    return [list(_WP_GENRES.values())[f["genre"]][0].format(c=_WP_CHARS[f["character"]])]


def _wp_target(f: dict, r):
    verbs = list(_WP_GENRES.values())[f["genre"]][1]
    cname = "the " + _WP_CHARS[f["character"]].split(" ", 1)[1]
    k, m, s = _WP_COMPANIONS[f["companion"]], _WP_MOODS[f["mood"]], _WP_SETTINGS[f["setting"]]
    sents = [t.format(C=cname, v=_pick(r, verbs), k=k, m=m, s=s)
             for t in _sample(r, _WP_SENTENCES, 3 if _coin(r, 0.5) else 4)]
    cut = _pick(r, range(1, len(sents)))  # = 1 + r.randrange(len(sents) - 1)
    sents[cut] = "<newline> <newline> " + sents[cut]
    return sents


# --------------------------------------------------------------------------- #
# quora: question -> paraphrase
# --------------------------------------------------------------------------- #

_QUORA_ENTITIES = ["python", "the guitar", "english", "photography", "machine learning", "chess", "cooking",
                   "java", "public speaking", "drawing", "swimming", "spanish", "investing", "yoga",
                   "writing", "marketing", "physics", "running", "meditation", "coding", "history",
                   "piano", "design", "economics", "golf", "french", "tennis", "painting", "javascript",
                   "singing", "statistics", "gardening", "chemistry", "poetry", "dancing", "philosophy",
                   "blogging", "boxing", "calculus", "surfing", "knitting", "baking", "acting", "biology"]
_QUORA_INTENTS = {  # intent -> its four question frames (a target's frame is a factor; the source's is noise)
    "learn": ["how do i learn {e}", "what is the easiest way to learn {e}", "how can i start learning {e}",
              "how should a beginner learn {e}"],
    "book": ["what is the best book on {e}", "which book about {e} is the best", "what are good books about {e}",
             "can you recommend a great book on {e}"],
    "improve": ["how can i get better at {e}", "how do i improve my {e} skills", "what can i do to become good at {e}",
                "how do i get really good at {e}"],
    "popular": ["why is {e} so popular", "why do so many people like {e}", "what makes {e} so popular",
                "why has {e} become popular"],
    "start": ["where should i start with {e}", "what is the first step in {e}", "how do i get started with {e}",
              "what should i do first to begin {e}"],
    "benefits": ["what are the benefits of {e}", "is {e} good for you", "why should i try {e}",
                 "what are the advantages of doing {e}"],
    "difficulty": ["is {e} hard for a beginner", "how difficult is {e}", "is it hard to learn {e}",
                   "how hard is {e} for most people"],
    "cost": ["how much does it cost to learn {e}", "is {e} expensive", "what is the cost of getting into {e}",
             "how much money do i need for {e}"],
}
_QUORA_CONTEXTS = ["as a beginner ,", "as a student ,", "in my free time ,", "at age 30 ,", "for my job ,",
                   "on a budget ,", "as a parent ,", "after work ,", "as an adult ,", "during summer ,"]
_QUORA_QUALIFIERS = ["quickly", "at home", "for free", "online", "alone", "in a month", "without a teacher",
                     "every day", "with friends", "from scratch", "in college", "on weekends"]


def _quora_source(f: dict, r):
    frames = list(_QUORA_INTENTS.values())[f["intent"]]
    return [_pick(r, frames).format(e=_QUORA_ENTITIES[f["entity"]]) + " ?"]


def _quora_target(f: dict, r):
    frame = list(_QUORA_INTENTS.values())[f["intent"]][f["frame"]]
    return [f"{_QUORA_CONTEXTS[f['context']]} {frame.format(e=_QUORA_ENTITIES[f['entity']])} "
            f"{_QUORA_QUALIFIERS[f['qualifier']]} ?"]


# --------------------------------------------------------------------------- #
# Registry: factors and renderer of each twin
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Twin:
    factors: tuple[Factor, ...]
    # (factor ints, rng or Chooser) -> the target's segments; a segment is a clause or sentence, and
    # the text is the segments joined by spaces
    target: Callable[[dict, object], list[str]]
    # conditional twins: the same for the source, drawn before the target (its choices come first)
    source: Callable[[dict, object], list[str]] | None = None


def _f(name, values, weights=None, in_source=False) -> Factor:
    return Factor(name, tuple(values), None if weights is None else tuple(weights), in_source)


TWINS: dict[str, Twin] = {
    "yelp": Twin((_f("business", _YELP_BUSINESS),
                  # Yelp's star ratings lean positive; the weights make one factor non-uniform
                  _f("stars", ["1", "2", "3", "4", "5"], weights=[0.10, 0.10, 0.20, 0.25, 0.35]),
                  _f("companion", _YELP_COMPANIONS), _f("intensifier", _YELP_INTENSIFIERS)), _yelp),
    "yahoo": Twin((_f("topic", _YAHOO_TOPICS), _f("asker", _YAHOO_ASKERS), _f("problem", _YAHOO_PROBLEMS)), _yahoo),
    # newswire is mostly past tense
    "ptb": Twin((_f("sector", _PTB_SECTORS), _f("trend", _PTB_TRENDS),
                 _f("tense", _PTB_TENSES, weights=[0.6, 0.25, 0.15]), _f("market", _PTB_MARKETS)), _ptb),
    "snli": Twin((_f("subject", [s for s, _ in _SNLI_SUBJECTS]), _f("activity", [a for a, _ in _SNLI_ACTIVITIES]),
                  _f("scene", [s for s, _ in _SNLI_SCENES])), _snli),
    "cnndm": Twin((_f("person", _CNN_PEOPLE, in_source=True), _f("place", _CNN_PLACES, in_source=True),
                   _f("event", _CNN_EVENTS, in_source=True),
                   _f("number", _CNN_NUMBERS, in_source=True), _f("tense", _CNN_TENSES),
                   _f("attribution", _CNN_ATTRIBUTIONS), _f("adverb", _CNN_ADVERBS)), _cnndm_target, _cnndm_source),
    "wp": Twin((_f("genre", _WP_GENRES, in_source=True), _f("character", _WP_CHARS, in_source=True),
                _f("setting", _WP_SETTINGS), _f("mood", _WP_MOODS), _f("companion", _WP_COMPANIONS)), _wp_target, _wp_source),
    "quora": Twin((_f("intent", _QUORA_INTENTS, in_source=True), _f("entity", _QUORA_ENTITIES, in_source=True),
                   _f("frame", [f"frame{i}" for i in range(4)]), _f("context", _QUORA_CONTEXTS),
                   _f("qualifier", _QUORA_QUALIFIERS)), _quora_target, _quora_source),
}

#: factor -> names of its int values, per task (ints in ``Example.factors`` index these lists).
FACTORS: dict[str, dict[str, list[str]]] = {t: {f.name: list(f.values) for f in tw.factors} for t, tw in TWINS.items()}


def draw_factors(task: str, r: random.Random) -> dict[str, int]:
    """One draw of ``task``'s factors, each independently with its probabilities."""
    return {f.name: r.choices(range(len(f.values)), weights=f.probs)[0] for f in TWINS[task].factors}


def factor_probability(task: str, factors: dict[str, int]) -> float:
    """P(factors) under :func:`draw_factors`; a partial assignment gets its marginal probability
    (the factors are drawn independently: the product of the given factors' probabilities)."""
    twin = {f.name: f for f in TWINS[task].factors}
    unknown = set(factors) - set(twin)
    if unknown:
        raise ValueError(f"unknown factor(s) {sorted(unknown)} for task {task!r}; known: {sorted(twin)}")
    return math.prod(twin[name].probs[v] for name, v in factors.items())


def render(task: str, factors: dict[str, int], r) -> tuple[list[str] | None, list[str]]:
    """The source and target segments (clauses / sentences) for ``factors``, noise from ``r`` (a
    random.Random, or a :class:`Chooser`)."""
    twin = TWINS[task]
    source = None if twin.source is None else twin.source(factors, r)
    return source, twin.target(factors, r)


def noise_entropy(task: str, factors: dict[str, int]) -> float:
    """H(target | factors) in nats: the entropy of the target's other random choices (templates,
    synonyms, filler) given ``factors``, exact: every path of the target's coins is walked
    (:class:`ChoiceEntropy`), weighted by its probability."""
    target = TWINS[task].target
    total, pending = 0.0, [()]
    while pending:
        coins = pending.pop()
        chooser = ChoiceEntropy(coins)
        target(factors, chooser)
        if chooser.open_coins:  # a coin beyond the path: walk both of its outcomes
            pending += [coins + (True,), coins + (False,)]
        else:
            # the path's own entropy (which coins came up) and that of the choices along it
            total += chooser.prob * (chooser.nats - math.log(chooser.prob))
    return total


def factor_info(task: str) -> dict:
    """What ``info.json`` states about a twin's factors: ``factor_entropy_nats`` (H of the factors
    a latent must carry: all of them for an unconditional twin, those absent from the source for a
    conditional one -- the KL an ideal model reaches) and per factor ``n_values``,
    ``entropy_nats``, ``in_source`` and the value names."""
    factors = TWINS[task].factors
    return {
        "factor_entropy_nats": sum(f.entropy_nats for f in factors if not f.in_source),
        "factors": {f.name: {"n_values": len(f.values), "entropy_nats": f.entropy_nats, "in_source": f.in_source,
                             "values": list(f.values)} for f in factors},
    }


def latent_factor_names(task: str) -> list[str]:
    """The factors a latent must carry: all of them (unconditional), those absent from the source
    (conditional)."""
    return [f.name for f in TWINS[task].factors if not f.in_source]


def text_entropy(task: str) -> dict:
    """The exact entropy of the twin's texts, in nats per text: H(X) for an unconditional twin,
    H(target | source) for a conditional one (the floor of any model's expected NLL, PPL's
    "entropy floor"):

        H = H(latent factors) + H(target | factors)

    exact because the text determines the latent factors (each factor value has its own words;
    conditional twins: the source determines the source factors) and, given the factors, every
    choice's outcome (``tests/test_synthetic.py`` enumerates every text to check both). The second
    term is :func:`noise_entropy`, which is the same for every factor setting of every twin (the
    tests enumerate every setting); here it is computed at the first setting and at every change of
    one factor, and a difference is an error rather than a wrong number."""
    twin = TWINS[task]
    base = {f.name: 0 for f in twin.factors}
    noise = noise_entropy(task, base)
    for f in twin.factors:
        for v in range(1, len(f.values)):
            other = noise_entropy(task, {**base, f.name: v})
            if not math.isclose(other, noise, rel_tol=1e-12, abs_tol=1e-12):
                raise ValueError(f"{task}: H(target | factors) depends on factor {f.name!r} ({noise} at value 0, "
                                 f"{other} at {v}): text_entropy would need the average over every factor setting")
    factors = sum(f.entropy_nats for f in twin.factors if not f.in_source)
    return {"text_entropy_nats": factors + noise, "text_noise_entropy_nats": noise,
            "text_entropy_given": "source" if twin.source is not None else None}


def generate_example(task: str, r: random.Random) -> Example:
    """One example drawn from ``r``, with ``log_p_true``: the exact log p(target) (conditional:
    log p(target | source)), i.e. log P(latent factors) + the log-probabilities of the target's
    choices (:class:`Recorder`; exact for the reasons of :func:`text_entropy`)."""
    twin = TWINS[task]
    factors = draw_factors(task, r)
    source = None if twin.source is None else twin.source(factors, r)
    recorder = Recorder(r)
    target = twin.target(factors, recorder)
    log_p = math.log(factor_probability(task, {k: factors[k] for k in latent_factor_names(task)})) + recorder.log_prob
    return Example(target=" ".join(target), source=None if source is None else " ".join(source), factors=factors,
                   log_p_true=log_p)


def generate_probe(task: str, n: int, seed: int = 0) -> list[Example]:
    """``n`` examples for the factor probe (della/evaluation/probes.py), from their own stream
    (``della-synthetic:{task}:probe:{seed}``): never one of the train, valid or test examples'
    draws."""
    rng = random.Random(f"della-synthetic:{task}:probe:{seed}")
    return [generate_example(task, rng) for _ in range(n)]


def generate_task(task: str, sizes: dict[str, int] | None = None, seed: int = 0) -> dict[str, list[Example]]:
    """The synthetic twin of ``task``: ``{"train": [...], "valid": [...], "test": [...]}``
    with ``sizes`` examples per split (missing keys default to
    :data:`DEFAULT_SIZES`).  Deterministic in ``seed``."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
    sizes = {**DEFAULT_SIZES, **(sizes or {})}
    for k, v in sizes.items():
        if k not in SPLITS:
            raise ValueError(f"unknown split {k!r} in sizes; expected one of {', '.join(SPLITS)}")
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"sizes[{k!r}] must be a positive int, got {v!r}")
    out = {}
    for split in SPLITS:
        rng = random.Random(f"della-synthetic:{task}:{split}:{seed}")
        out[split] = [generate_example(task, rng) for _ in range(sizes[split])]
    return out
