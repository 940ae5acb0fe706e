"""The seven DELLA tasks and the example record, shared by the readers of the real data
(:mod:`della.data.readers`) and the offline demo generator (:mod:`della.data.synthetic`), so that neither
module imports the other's internals."""

from __future__ import annotations

from dataclasses import dataclass, field

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class TaskSpec:
    name: str
    conditional: bool
    kind: str  # "unconditional" | "summarisation" | "story" | "paraphrase"


TASKS: dict[str, TaskSpec] = {
    "yelp": TaskSpec("yelp", False, "unconditional"),
    "yahoo": TaskSpec("yahoo", False, "unconditional"),
    "ptb": TaskSpec("ptb", False, "unconditional"),
    "snli": TaskSpec("snli", False, "unconditional"),
    "cnndm": TaskSpec("cnndm", True, "summarisation"),
    "wp": TaskSpec("wp", True, "story"),
    "quora": TaskSpec("quora", True, "paraphrase"),
}


@dataclass
class Example:
    target: str  # the text to model (unconditional: the text; conditional: the output)
    source: str | None = None  # conditional tasks only (article / prompt / question)
    factors: dict = field(default_factory=dict)  # latent factors (synthetic data); {} for real data
