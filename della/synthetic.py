"""Offline demo data: a seeded synthetic twin of each DELLA task (DESIGN.md §3).

Each task's twin has the shape of the real one (unconditional sentences or
documents; source -> target pairs for summarisation, stories and paraphrase),
the same tokenisation style (lowercase, spaces around punctuation, PTB's ``N``
and ``<unk>``, WritingPrompts' ``[ WP ]`` and ``<newline>``) and lengths scaled
down so the demo trains in seconds.  Every example is generated from a few
known latent factors, stored as small ints in ``Example.factors``; the names
behind the ints are in :data:`FACTORS`.  The factors genuinely determine the
text (each one picks the words of some slot of the template), so a model whose
latent encodes a factor gains likelihood, and a factor can be recovered exactly
from the text by a probe.

Twins (factor: values):

* yelp   sentiment (2) x topic (5): 1-3 clauses about one topic, all positive or
  all negative (~8-30 words).
* yahoo  topic (10) x length (3): a question plus 2 / 4 / 6 answer sentences
  drawn from the topic's vocabulary (~20-90 words).
* ptb    template (6) x tense (3: past, present, future), newswire sentences
  with ``N`` numbers and occasional ``<unk>`` (~10-25 words).
* snli   scene (8) x subject (8) x action (10): one caption sentence.
* cnndm  topic (5) x person (12) x place (10) x event (topic-specific, 4) x
  number (index into a list): a 60-120 word article whose lead states the event,
  followed by background and filler; the 10-20 word summary restates
  person, event, place and number.
* wp     genre (5) x character (8): a ``[ WP ]`` prompt of 10-20 words and a
  40-80 word story in the genre about the character, with ``<newline>`` breaks.
* quora  intent (8) x entity (48): a question and a paraphrase written with a
  different template of the same intent.

``generate_task`` is deterministic in ``seed``; each split draws from its own
stream (``random.Random(f"{task}:{split}:{seed}")``), so train, valid and test
never share a random stream and different seeds give different data.
"""

from __future__ import annotations

import random

from della.data import SPLITS, TASKS, Example

DEFAULT_SIZES: dict[str, int] = {"train": 2000, "valid": 200, "test": 200}

# --------------------------------------------------------------------------- #
# Vocabularies
# --------------------------------------------------------------------------- #

_YELP_TOPICS = ["food", "service", "price", "ambience", "location"]
_YELP = {
    # topic -> (subjects, positive adjectives, negative adjectives)
    "food": (["the pizza", "the pasta", "the burger", "the salad", "the soup", "the tacos", "the steak",
              "the sushi", "the fries", "the dessert"],
             ["delicious", "fresh", "tasty", "perfectly cooked", "amazing", "flavorful"],
             ["bland", "cold", "greasy", "overcooked", "stale", "salty"]),
    "service": (["the waiter", "our server", "the staff", "the manager", "the host", "the bartender"],
                ["friendly", "attentive", "helpful", "quick", "polite", "welcoming"],
                ["rude", "slow", "careless", "unfriendly", "dismissive", "forgetful"]),
    "price": (["the prices", "the bill", "the lunch special", "the happy hour", "the portions", "the menu"],
              ["reasonable", "fair", "cheap", "a great deal", "worth every penny", "generous"],
              ["overpriced", "too expensive", "a rip off", "tiny", "not worth it", "outrageous"]),
    "ambience": (["the decor", "the music", "the patio", "the dining room", "the lighting", "the atmosphere"],
                 ["cozy", "relaxing", "beautiful", "charming", "clean", "lovely"],
                 ["loud", "dirty", "cramped", "dark", "sticky", "depressing"]),
    "location": (["the parking", "the neighborhood", "the location", "the entrance", "the drive thru",
                  "the view"],
                 ["convenient", "easy to find", "safe", "great", "perfect", "close to home"],
                 ["impossible", "sketchy", "hard to find", "a nightmare", "terrible", "far away"]),
}
_YELP_OPEN = [["i", "love", "this", "place"], ["great", "experience", "tonight"], ["highly", "recommend", "it"],
              ["we", "will", "be", "back"]], \
             [["never", "again"], ["what", "a", "disappointment"], ["do", "not", "go", "here"],
              ["we", "will", "not", "be", "back"]]
_YELP_LINK = ["and", "but also", "plus"]
_YELP_INTENS = ["very", "really", "so", "super", "pretty", "always"]

_YAHOO_TOPICS = ["health", "sports", "computers", "music", "science", "family", "business", "travel",
                 "education", "cars"]
_YAHOO = {
    "health": ["doctor", "diet", "exercise", "sleep", "vitamins", "headache", "water", "stress", "weight",
               "medicine"],
    "sports": ["team", "coach", "game", "season", "players", "league", "football", "basketball", "score",
               "training"],
    "computers": ["laptop", "windows", "virus", "software", "internet", "memory", "keyboard", "browser",
                  "email", "printer"],
    "music": ["song", "band", "guitar", "album", "lyrics", "piano", "concert", "singer", "radio", "drums"],
    "science": ["planet", "energy", "atoms", "gravity", "light", "experiment", "theory", "cells", "moon",
                "temperature"],
    "family": ["kids", "parents", "wife", "husband", "baby", "mom", "dad", "wedding", "sister", "home"],
    "business": ["money", "job", "company", "loan", "taxes", "boss", "market", "stocks", "credit", "salary"],
    "travel": ["flight", "hotel", "passport", "beach", "city", "visa", "airport", "trip", "luggage", "map"],
    "education": ["school", "teacher", "exam", "college", "homework", "degree", "math", "class", "grades",
                  "books"],
    "cars": ["engine", "tires", "oil", "brakes", "insurance", "gas", "mechanic", "battery", "dealer",
             "transmission"],
}
_YAHOO_Q = ["what is the best way to deal with my {a} ?", "how do i fix the {a} problem with my {b} ?",
            "does anyone know why my {a} affects my {b} ?", "should i worry about the {a} or the {b} ?"]
_YAHOO_A = ["you should check the {a} first and then look at the {b} .",
            "i think the {a} is the main issue , not the {b} .",
            "in my experience the {a} gets better if you change your {b} .",
            "ask someone who knows about {a} , they can help with the {b} too .",
            "my {a} had the same thing and the {b} fixed it .",
            "do not forget that the {a} and the {b} are related .",
            "it depends on your {a} , but most people ignore the {b} .",
            "good luck with the {a} !"]
_YAHOO_LEN = [2, 4, 6]

_PTB_TENSES = ["past", "present", "future"]
_PTB_COMPANIES = ["the company", "the bank", "the firm", "the group", "the maker", "the airline", "<unk> inc.",
                  "the utility"]
_PTB_VERBS = {  # (past, present singular, present plural, future)
    "say": ("said", "says", "say", "will say"),
    "rise": ("rose", "rises", "rise", "will rise"),
    "fall": ("fell", "falls", "fall", "will fall"),
    "expect": ("expected", "expects", "expect", "will expect"),
    "agree": ("agreed", "agrees", "agree", "will agree"),
    "report": ("reported", "reports", "report", "will report"),
    "close": ("closed", "closes", "close", "will close"),
}
_PTB_TEMPLATES = [  # {verb} agrees with a singular subject, {verb_pl} with a plural one
    "{co} {say} its {period} profit {rise} N % to $ N million{tail}",
    "shares of {co} {fall_pl} N cents to $ N in new york stock exchange composite trading{tail}",
    "{co} {agree} to acquire {co2} for about $ N billion{tail}",
    "analysts {expect_pl} {co} to raise its dividend to N cents a share{tail}",
    "{co} {report} a net loss of $ N million or N cents a share for the {period}{tail}",
    "the dow jones industrial average {close} down N points at N{tail}",
]
_PTB_PERIODS = ["third quarter", "fiscal year", "second quarter", "first half", "latest period", "fourth quarter"]
_PTB_TAILS = ["", "", "", " according to <unk> analysts", " traders said", " in a <unk> filing", " amid heavy volume"]

_SNLI_SCENES = ["on the beach", "in a park", "on a busy street", "in a kitchen", "on a stage", "in a field",
                "at the mall", "in the snow"]
_SNLI_SUBJECTS = ["a man", "a woman", "a young boy", "a little girl", "an old man", "two women",
                  "a group of people", "a dog"]
_SNLI_ACTIONS = ["is running", "is sitting", "is eating a sandwich", "is playing a guitar", "is riding a bike",
                 "is talking on a phone", "is jumping", "is reading a book", "is sleeping", "is dancing"]
_SNLI_EXTRA = ["", "", " wearing a red shirt", " with a hat", " next to a bench", " in a blue jacket"]
_SNLI_TIME = ["", "", " during the day", " at night", " in the morning", " while others watch"]

_CNN_TOPICS = ["politics", "crime", "sports", "weather", "business"]
_CNN_PEOPLE = ["john smith", "maria lopez", "david chen", "sarah jones", "ahmed khan", "emma brown",
               "james wilson", "olivia taylor", "michael davis", "laura garcia", "peter muller", "anna rossi"]
_CNN_PLACES = ["london", "chicago", "paris", "sydney", "texas", "berlin", "toronto", "madrid", "boston",
               "dublin"]
_CNN_EVENTS = {  # topic -> list of (lead clause, summary clause) with {p} person, {n} number
    "politics": [("{p} won the election with {n} percent of the vote", "{p} wins election with {n} percent"),
                 ("{p} resigned after {n} days in office", "{p} resigns after {n} days"),
                 ("{p} signed a law that affects {n} thousand families", "{p} signs law affecting {n} thousand families"),
                 ("{p} announced a plan to cut {n} thousand jobs", "{p} plans to cut {n} thousand jobs")],
    "crime": [("police arrested {p} after a robbery worth {n} thousand dollars", "{p} arrested over {n} thousand dollar robbery"),
              ("{p} was sentenced to {n} years in prison", "{p} gets {n} years in prison"),
              ("{p} escaped from jail with {n} other inmates", "{p} escapes jail with {n} inmates"),
              ("{p} was charged with stealing {n} cars", "{p} charged with stealing {n} cars")],
    "sports": [("{p} scored {n} goals in the final", "{p} scores {n} goals in final"),
               ("{p} signed a contract worth {n} million dollars", "{p} signs {n} million dollar deal"),
               ("{p} broke the record by {n} seconds", "{p} breaks record by {n} seconds"),
               ("{p} retired after {n} seasons", "{p} retires after {n} seasons")],
    "weather": [("a storm left {n} thousand homes without power , {p} said", "storm cuts power to {n} thousand homes"),
                ("floods forced {n} hundred people to leave , {p} said", "floods force {n} hundred people out"),
                ("temperatures reached {n} degrees , {p} said", "temperatures hit {n} degrees"),
                ("heavy snow closed {n} roads , {p} said", "snow closes {n} roads")],
    "business": [("{p} sold the company for {n} million dollars", "{p} sells company for {n} million dollars"),
                 ("shares rose {n} percent after {p} spoke", "shares up {n} percent after {p} speech"),
                 ("{p} opened {n} new stores", "{p} opens {n} new stores"),
                 ("{p} said profits fell {n} percent", "{p} says profits fell {n} percent")],
}
_CNN_NUMBERS = ["two", "three", "five", "seven", "ten", "twelve", "twenty", "forty", "fifty", "ninety"]
_CNN_BACKGROUND = {
    "politics": ["the government has faced criticism for months .", "voters in the region were divided .",
                 "the opposition called the decision a mistake .", "parliament will debate the issue next week ."],
    "crime": ["the investigation is still ongoing .", "witnesses described a chaotic scene .",
              "the suspect had no previous record .", "officers searched the area for hours ."],
    "sports": ["fans celebrated late into the night .", "the coach praised the whole team .",
               "the club has struggled this season .", "the stadium was completely full ."],
    "weather": ["forecasters expect more rain this week .", "emergency crews worked through the night .",
                "schools were closed across the region .", "residents were told to stay indoors ."],
    "business": ["investors reacted quickly to the news .", "the market had been falling for weeks .",
                 "workers were told about the plan on monday .", "the company has grown fast in recent years ."],
}
_CNN_FILLER = ["officials did not comment further .", "more details are expected later .",
               "the story was first reported on friday .", "local media covered the event widely .",
               "it is not clear what happens next .", "many people shared their views online ."]

_WP_GENRES = ["fantasy", "scifi", "horror", "romance", "mystery"]
_WP_CHARS = ["a knight", "a robot", "a witch", "a detective", "an old sailor", "a young queen", "a ghost",
             "a farmer"]
_WP_PROMPTS = {
    "fantasy": "[ WP ] {c} finds a sword that can talk , but it only tells lies .",
    "scifi": "[ WP ] {c} wakes up on a spaceship where everyone else is frozen .",
    "horror": "[ WP ] every night at three , {c} hears knocking from inside the walls .",
    "romance": "[ WP ] {c} falls in love with the stranger who writes letters to the wrong address .",
    "mystery": "[ WP ] {c} is the only witness to a crime that nobody else remembers .",
}
_WP_STORY = {
    "fantasy": ["the sword whispered again , promising gold and glory .", "{C} walked through the enchanted forest .",
                "dragons circled above the castle towers .", "an old wizard laughed at the blade .",
                "magic burned in the cold air .", "{C} knew the kingdom depended on the truth ."],
    "scifi": ["the engines hummed in the dark .", "{C} checked the frozen crew one by one .",
              "stars drifted past the cracked window .", "the computer refused to open the door .",
              "the planet below was glowing blue .", "{C} sent a signal home , but no one answered ."],
    "horror": ["the knocking came again , louder this time .", "{C} held the candle with shaking hands .",
               "something breathed behind the wallpaper .", "the house was silent except for the clock .",
               "blood dripped slowly from the ceiling .", "{C} did not dare to open the basement door ."],
    "romance": ["the letter smelled faintly of roses .", "{C} smiled while reading it by the window .",
                "the rain fell softly on the quiet street .", "their eyes finally met at the old cafe .",
                "her heart raced with every word .", "{C} wrote back , hoping for a reply ."],
    "mystery": ["the clues did not add up .", "{C} studied the photograph once more .",
                "a strange key was hidden under the desk .", "the witness list had one name missing .",
                "footprints led toward the harbor .", "{C} finally understood who had lied ."],
}

_QUORA_INTENTS = ["learn", "best", "improve", "why_popular", "start", "benefits", "difference", "cost"]
_QUORA_ENTITIES = ["python", "the guitar", "english", "photography", "machine learning", "chess", "cooking",
                   "java", "public speaking", "drawing", "swimming", "spanish", "investing", "yoga",
                   "writing", "marketing", "physics", "running", "meditation", "coding", "history",
                   "piano", "design", "economics", "golf", "french", "tennis", "painting", "javascript",
                   "singing", "statistics", "gardening", "chemistry", "poetry", "dancing", "philosophy",
                   "blogging", "boxing", "calculus", "surfing", "knitting", "baking", "acting", "biology"]
_QUORA_PREFIX = ["", "", "", "as a beginner , ", "as a student , ", "in my free time , ", "at age 30 , "]
_QUORA_TEMPLATES = {
    "learn": ["how do i learn {e} ?", "what is the easiest way to learn {e} ?", "how can i start learning {e} on my own ?",
              "how should a beginner learn {e} ?"],
    "best": ["what is the best book on {e} ?", "which book about {e} is the best ?", "what are good books to read about {e} ?",
             "can you recommend a great book on {e} ?"],
    "improve": ["how can i get better at {e} ?", "how do i improve my {e} skills ?", "what can i do to become good at {e} ?",
                "how do i get really good at {e} ?"],
    "why_popular": ["why is {e} so popular ?", "why do so many people like {e} ?", "what makes {e} so popular ?",
                    "why has {e} become popular ?"],
    "start": ["where should i start with {e} ?", "what is the first step in {e} ?", "how do i get started with {e} ?",
              "what should i do first to begin {e} ?"],
    "benefits": ["what are the benefits of {e} ?", "is {e} good for you ?", "why should i try {e} ?",
                 "what are the advantages of doing {e} ?"],
    "difference": ["is {e} hard for a beginner ?", "how difficult is {e} ?", "is it hard to learn {e} ?",
                   "how hard is {e} for most people ?"],
    "cost": ["how much does it cost to learn {e} ?", "is {e} expensive ?", "what is the cost of getting into {e} ?",
             "how much money do i need for {e} ?"],
}

#: factor -> names of its int values, per task (ints in ``Example.factors`` index these lists).
FACTORS: dict[str, dict[str, list[str]]] = {
    "yelp": {"sentiment": ["negative", "positive"], "topic": _YELP_TOPICS},
    "yahoo": {"topic": _YAHOO_TOPICS, "length": ["short", "medium", "long"]},
    "ptb": {"template": [f"t{i}" for i in range(len(_PTB_TEMPLATES))], "tense": _PTB_TENSES},
    "snli": {"scene": _SNLI_SCENES, "subject": _SNLI_SUBJECTS, "action": _SNLI_ACTIONS},
    "cnndm": {"topic": _CNN_TOPICS, "person": _CNN_PEOPLE, "place": _CNN_PLACES,
              "event": ["e0", "e1", "e2", "e3"], "number": _CNN_NUMBERS},
    "wp": {"genre": _WP_GENRES, "character": _WP_CHARS},
    "quora": {"intent": _QUORA_INTENTS, "entity": _QUORA_ENTITIES},
}


# --------------------------------------------------------------------------- #
# One generator per task: (rng) -> Example
# --------------------------------------------------------------------------- #


def _yelp(r: random.Random) -> Example:
    sent, topic = r.randrange(2), r.randrange(len(_YELP_TOPICS))
    subjects, pos, neg = _YELP[_YELP_TOPICS[topic]]
    adjs = pos if sent else neg
    words: list[str] = []
    if r.random() < 0.5:
        words += r.choice(_YELP_OPEN[0 if sent else 1]) + [r.choice(["!", ","])]
    for k in range(r.randint(1, 3)):
        if k:
            words += r.choice(_YELP_LINK).split()
        subj = r.choice(subjects)
        verb = "were" if subj.endswith("s") else "was"
        words += subj.split() + [verb]
        if r.random() < 0.5:
            words.append(r.choice(_YELP_INTENS))
        words += r.choice(adjs).split()
    words.append(r.choice([".", "!"]) if sent else ".")
    return Example(target=" ".join(words), factors={"sentiment": sent, "topic": topic})


def _yahoo(r: random.Random) -> Example:
    topic, length = r.randrange(len(_YAHOO_TOPICS)), r.randrange(len(_YAHOO_LEN))
    vocab = _YAHOO[_YAHOO_TOPICS[topic]]
    parts = [r.choice(_YAHOO_Q).format(a=r.choice(vocab), b=r.choice(vocab))]
    for _ in range(_YAHOO_LEN[length]):
        parts.append(r.choice(_YAHOO_A).format(a=r.choice(vocab), b=r.choice(vocab)))
    return Example(target=" ".join(parts), factors={"topic": topic, "length": length})


def _ptb(r: random.Random) -> Example:
    template, tense = r.randrange(len(_PTB_TEMPLATES)), r.randrange(3)
    sg, pl = (0, 1, 3)[tense], (0, 2, 3)[tense]  # indices into the verb-form tuples
    verbs = {k: v[sg] for k, v in _PTB_VERBS.items()}
    verbs.update({k + "_pl": v[pl] for k, v in _PTB_VERBS.items()})
    co, co2 = r.sample(_PTB_COMPANIES, 2)
    text = _PTB_TEMPLATES[template].format(co=co, co2=co2, period=r.choice(_PTB_PERIODS),
                                           tail=r.choice(_PTB_TAILS), **verbs)
    return Example(target=text, factors={"template": template, "tense": tense})


def _snli(r: random.Random) -> Example:
    scene, subj, act = r.randrange(len(_SNLI_SCENES)), r.randrange(len(_SNLI_SUBJECTS)), r.randrange(len(_SNLI_ACTIONS))
    action = _SNLI_ACTIONS[act]
    if _SNLI_SUBJECTS[subj] in ("two women", "a group of people"):
        action = action.replace("is ", "are ", 1)
    s = f"{_SNLI_SUBJECTS[subj]}{r.choice(_SNLI_EXTRA)} {action} {_SNLI_SCENES[scene]}{r.choice(_SNLI_TIME)} ."
    return Example(target=s, factors={"scene": scene, "subject": subj, "action": act})


def _cnndm(r: random.Random) -> Example:
    topic = r.randrange(len(_CNN_TOPICS))
    person, place = r.randrange(len(_CNN_PEOPLE)), r.randrange(len(_CNN_PLACES))
    event, number = r.randrange(4), r.randrange(len(_CNN_NUMBERS))
    t = _CNN_TOPICS[topic]
    p, pl, n = _CNN_PEOPLE[person], _CNN_PLACES[place], _CNN_NUMBERS[number]
    lead, summ = _CNN_EVENTS[t][event]
    back = r.sample(_CNN_BACKGROUND[t], r.randint(2, 4))
    fill = r.sample(_CNN_FILLER, r.randint(2, 4))
    body = [f"( cnn ) -- in {pl} on {r.choice(['monday', 'tuesday', 'friday', 'sunday'])} , "
            f"{lead.format(p=p, n=n)} .",
            *back[:1],
            f"{p.split()[0]} told reporters in {pl} that the {n} figure was {r.choice(['correct', 'expected', 'a surprise'])} .",
            *back[1:], *fill,
            f"{p} is expected to speak again about the {t} story soon ."]
    source = " ".join(body)
    target = f"{summ.format(p=p, n=n)} in {pl} . {p} spoke about the {t} news ."
    return Example(target=target, source=source,
                   factors={"topic": topic, "person": person, "place": place, "event": event, "number": number})


def _wp(r: random.Random) -> Example:
    genre, char = r.randrange(len(_WP_GENRES)), r.randrange(len(_WP_CHARS))
    g, c = _WP_GENRES[genre], _WP_CHARS[char]
    prompt = _WP_PROMPTS[g].format(c=c)
    cname = c.replace("a ", "the ", 1).replace("an ", "the ", 1)
    sents = [s.replace("{C}", cname) for s in r.sample(_WP_STORY[g], r.randint(4, 6))]
    paras = [f"{cname} had not expected this ."] + sents + [f"in the end , {cname} was never the same ."]
    cut = r.randint(2, len(paras) - 2)
    story = " ".join(paras[:cut]) + " <newline> <newline> " + " ".join(paras[cut:])
    return Example(target=story, source=prompt, factors={"genre": genre, "character": char})


def _quora(r: random.Random) -> Example:
    intent, ent = r.randrange(len(_QUORA_INTENTS)), r.randrange(len(_QUORA_ENTITIES))
    a, b = r.sample(_QUORA_TEMPLATES[_QUORA_INTENTS[intent]], 2)
    e = _QUORA_ENTITIES[ent]
    src = r.choice(_QUORA_PREFIX) + a.format(e=e)
    tgt = r.choice(_QUORA_PREFIX) + b.format(e=e)
    return Example(target=tgt, source=src, factors={"intent": intent, "entity": ent})


_GENERATORS = {"yelp": _yelp, "yahoo": _yahoo, "ptb": _ptb, "snli": _snli, "cnndm": _cnndm, "wp": _wp,
               "quora": _quora}


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
    gen = _GENERATORS[task]
    out = {}
    for split in SPLITS:
        rng = random.Random(f"della-synthetic:{task}:{split}:{seed}")
        out[split] = [gen(rng) for _ in range(sizes[split])]
    return out
