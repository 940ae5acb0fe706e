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

``generate_task`` is deterministic in ``seed``; each split draws from its own stream
(``random.Random(f"della-synthetic:{task}:{split}:{seed}")``), so train, valid and test never
share a random stream and different seeds give different data.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
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


def _pick(r: random.Random, pool):
    """One element of ``pool``; always exactly one draw, so noise stays aligned across factor values."""
    return pool[r.randrange(len(pool))]


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


def _yelp(f: dict, r: random.Random):
    dishes = list(_YELP_BUSINESS.values())[f["business"]]
    clauses = []
    for k in range(2 if r.random() < 0.7 else 3):
        d = _pick(r, dishes)
        clause = _pick(r, _YELP_CLAUSES).format(
            c=_YELP_COMPANIONS[f["companion"]], d=d, be="were" if d.endswith("s") else "was",
            i=_YELP_INTENSIFIERS[f["intensifier"]], a=_pick(r, _YELP_STARS[f["stars"]]))
        clauses.append(clause if k == 0 else f"{_pick(r, _YELP_LINKS)} {clause}")
    clauses[-1] += " " + _pick(r, [".", "!"])
    return None, clauses


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


def _yahoo(f: dict, r: random.Random):
    things = list(_YAHOO_TOPICS.values())[f["topic"]]
    w, p = _YAHOO_ASKERS[f["asker"]], _YAHOO_PROBLEMS[f["problem"]]
    sents = [_pick(r, _YAHOO_QUESTIONS).format(w=w, t=_pick(r, things), p=p)]
    for _ in range(1 if r.random() < 0.7 else 2):
        sents.append(_pick(r, _YAHOO_ANSWERS).format(w=w, t=_pick(r, things), p=p))
    return None, sents


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


def _ptb(f: dict, r: random.Random):
    subjects = list(_PTB_SECTORS.values())[f["sector"]]
    verbs = list(_PTB_TRENDS.values())[f["trend"]]
    m = _PTB_MARKETS[f["market"]]
    first = _pick(r, _PTB_FIRST).format(s=_pick(r, subjects), v=_pick(r, verbs)[f["tense"]], m=m)
    second = _pick(r, _PTB_SECOND).format(s=_pick(r, subjects), v=_pick(r, verbs)[f["tense"]], m=m)
    return None, [first, second + _pick(r, _PTB_TAILS)]


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


def _snli(f: dict, r: random.Random):
    subj, ref = _SNLI_SUBJECTS[f["subject"]]
    act, gear = _SNLI_ACTIVITIES[f["activity"]]
    at, detail = _SNLI_SCENES[f["scene"]]
    first = f"{subj}{_pick(r, _SNLI_EXTRA)} is {act} {at}"
    second = _pick(r, _SNLI_SECOND).format(s=ref, g=gear, d=detail) + " ."
    return None, [first, second]


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


def _cnndm(f: dict, r: random.Random):
    p, pl, n = _CNN_PEOPLE[f["person"]], _CNN_PLACES[f["place"]], _CNN_NUMBERS[f["number"]]
    art, hverb, hobj = list(_CNN_EVENTS.values())[f["event"]]
    back = r.sample(_CNN_BACKGROUND, 4)
    source = [f"( cnn ) -- {p} {art.format(n=n)} in {pl} on {_pick(r, _CNN_DAYS)} .", back[0],
              f"{p.split()[0]} told reporters in {pl} that the {n} figure was {_pick(r, ['correct', 'expected', 'a surprise'])} .",
              *back[1:]]
    t, adv, attr = f["tense"], _CNN_ADVERBS[f["adverb"]], _CNN_ATTRIBUTIONS[f["attribution"]]
    target = [f"{p} {adv} {hverb[t]} {hobj.format(n=n)} , {attr} .",
              f"people in {pl} {adv} {_CNN_REACT[t]} the news , {attr} ."]
    return source, target


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


def _wp(f: dict, r: random.Random):
    prompt, verbs = list(_WP_GENRES.values())[f["genre"]]
    c = _WP_CHARS[f["character"]]
    cname = "the " + c.split(" ", 1)[1]
    k, m, s = _WP_COMPANIONS[f["companion"]], _WP_MOODS[f["mood"]], _WP_SETTINGS[f["setting"]]
    sents = [t.format(C=cname, v=_pick(r, verbs), k=k, m=m, s=s)
             for t in r.sample(_WP_SENTENCES, 3 if r.random() < 0.5 else 4)]
    cut = 1 + r.randrange(len(sents) - 1)
    sents[cut] = "<newline> <newline> " + sents[cut]
    return [prompt.format(c=c)], sents


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


def _quora(f: dict, r: random.Random):
    frames = list(_QUORA_INTENTS.values())[f["intent"]]
    e = _QUORA_ENTITIES[f["entity"]]
    source = _pick(r, frames).format(e=e) + " ?"
    target = (f"{_QUORA_CONTEXTS[f['context']]} {frames[f['frame']].format(e=e)} "
              f"{_QUORA_QUALIFIERS[f['qualifier']]} ?")
    return [source], [target]


# --------------------------------------------------------------------------- #
# Registry: factors and renderer of each twin
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Twin:
    factors: tuple[Factor, ...]
    # (factor ints, rng) -> (source segments or None, target segments); a segment is a clause or
    # sentence, and the text is the segments joined by spaces
    render: Callable[[dict, random.Random], tuple[list[str] | None, list[str]]]


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
                   _f("attribution", _CNN_ATTRIBUTIONS), _f("adverb", _CNN_ADVERBS)), _cnndm),
    "wp": Twin((_f("genre", _WP_GENRES, in_source=True), _f("character", _WP_CHARS, in_source=True),
                _f("setting", _WP_SETTINGS), _f("mood", _WP_MOODS), _f("companion", _WP_COMPANIONS)), _wp),
    "quora": Twin((_f("intent", _QUORA_INTENTS, in_source=True), _f("entity", _QUORA_ENTITIES, in_source=True),
                   _f("frame", [f"frame{i}" for i in range(4)]), _f("context", _QUORA_CONTEXTS),
                   _f("qualifier", _QUORA_QUALIFIERS)), _quora),
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


def render(task: str, factors: dict[str, int], r: random.Random) -> tuple[list[str] | None, list[str]]:
    """The source and target segments (clauses / sentences) for ``factors``, noise from ``r``."""
    return TWINS[task].render(factors, r)


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


def generate_example(task: str, r: random.Random) -> Example:
    factors = draw_factors(task, r)
    source, target = render(task, factors, r)
    return Example(target=" ".join(target), source=None if source is None else " ".join(source), factors=factors)


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
