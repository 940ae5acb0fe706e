"""The label of every figure the tables, plots, README block and console show: one registry, so that a
number carries the same name — and the same convention — wherever it appears.

A label is ``quantity (convention)``. Quantities that the project computes in more than one way
(``AMBIGUOUS``) always name their convention, from a closed vocabulary:

* ``layer mean`` / ``layer sum``: DELLA's latent terms averaged over layers (the official code:
  ``kl_paper``, ``neg_elbo_paper``, and in ``ppl_paper`` together with its word + <s> + </s> count)
  or summed over layers (paper Eq. 6, a bound; ``kl``, ``neg_elbo``, ``ppl`` per scored token). For
  one-latent models both coincide.
* ``δ=…``: the active-unit threshold; ``lower layers sampled`` (official ``calc_au``) or ``at means``.
* the estimator of MI: ``analytic, calc_mi`` (``mi``: the references' estimator, noisy near collapse)
  or ``sampled`` (``mi_sampled``: both terms at the same z, the less noisy one).
* ``÷ tokens`` / ``÷ n-grams`` (distinct-n), ``max unigram`` / ``pairwise 2-gram`` (Jaccard), ``vs test
  set`` / ``sacreBLEU vs target`` (BLEU of unconditional / conditional generation).

CONVENTIONS.md defines each; ``legend(keys)`` gives the lines printed under a table.
``tests/test_conventions.py`` reads every label of every table and figure a run writes and checks it
against this registry.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Label:
    quantity: str  # what is measured: "KL", "PPL", "AU"...
    convention: str | None  # how (None: the project computes it one way only)
    unit: str | None = None  # "nats / sentence"; None for ratios and counts
    definition: str = ""  # one line for the legend under a table

    @property
    def text(self) -> str:
        return f"{self.quantity} ({self.convention})" if self.convention else self.quantity

    @property
    def axis(self) -> str:
        """The label of a plot axis: with its unit."""
        return f"{self.text}, {self.unit}" if self.unit else self.text


NATS = "nats / sentence"
# metrics.json key -> label (conditional tasks: CONDITIONAL overrides)
LABELS: dict[str, Label] = {
    "ppl_paper": Label("PPL", "layer mean", None, "official calc_iwnll: importance-weighted, latent terms averaged "
                       "over layers, per word + <s> + </s> (not a bound for DELLA)"),
    "ppl": Label("PPL", "layer sum", None, "importance-weighted bound, latent terms summed over layers, per scored "
                 "token (words + </s>)"),
    "neg_elbo_paper": Label("-ELBO", "layer mean", NATS, "reconstruction + KL averaged over layers (official code)"),
    "neg_elbo": Label("-ELBO", "layer sum", NATS, "reconstruction + KL summed over layers (paper Eq. 6)"),
    "kl_paper": Label("KL", "layer mean", NATS, "analytic KL(q || p) averaged over layers (official code)"),
    "kl": Label("KL", "layer sum", NATS, "analytic KL(q || p) summed over layers: the joint latent's KL"),
    "mi": Label("MI", "analytic, calc_mi", "nats", "calc_mi of Optimus / vae-pretraining-encoder: analytic "
                "entropy term, aggregate posterior over the N evaluated sentences (<= log N); noisy near collapse"),
    "mi_sampled": Label("MI", "sampled", "nats", "the same aggregate-posterior estimator with both terms at the "
                        "same sample z_i (the less noisy estimate; <= log N)"),
    "au_paper@0.01": Label("AU", "δ=0.01, layer mean, sampled", None,
                           "active units, Var_x E[z|x] >= δ: the count of each layer averaged over layers, each "
                           "layer's posterior mean taken with the lower layers sampled from the posterior (official "
                           "calc_au)"),
    "au_paper@0.2": Label("AU", "δ=0.2, layer mean, sampled", None, "the same at δ = 0.2 (the paper's threshold)"),
    "au_per_group_mean@0.01": Label("AU", "δ=0.01, layer mean, at means", None,
                                    "active units with the lower layers at their posterior means"),
    "au_per_group_mean@0.2": Label("AU", "δ=0.2, layer mean, at means", None,
                                   "active units with the lower layers at their posterior means, δ = 0.2"),
    "nll": Label("NLL", None, NATS, "exact negative log-likelihood of a language model"),
    "iw_nll_sum": Label("-log p(x)", "layer sum", NATS, "the importance-weighted bound on -log p(x), latent terms "
                        "summed over layers (a language model's exact NLL)"),
    "excess_ppl": Label("Excess over the truth", "layer sum", NATS, "synthetic twins: mean over the scored sentences "
                        "of log p_true(x) - the IW bound (latent terms summed over layers), nats above the data's own "
                        "entropy (>= 0 in expectation for a bound)"),
    "excess_ppl_paper": Label("Excess over the truth", "layer mean", NATS, "the same with the official IW estimate "
                              "(latent terms averaged over layers; not a bound, so it can go below 0)"),
    "bleu": Label("BLEU", "vs test set", None, "mean sentence BLEU-4 of each sample against the whole test set "
                  "(NLTK, method1), x100"),
    "self_bleu": Label("Self-BLEU", None, None, "each sample against all the others (NLTK), x100; lower = more "
                       "diverse"),
    "dist_tok_2": Label("Dist-2", "÷ tokens", None, "distinct bigrams / tokens (Li et al. 2016), x100"),
    "dist_2": Label("Dist-2", "÷ n-grams", None, "distinct bigrams / bigrams, x100"),
    "js_max_1": Label("JS", "max unigram Jaccard", None, "mean over samples of the max unigram-set Jaccard with "
                      "another sample (SentiGAN)"),
    "jaccard_2": Label("JS", "pairwise 2-gram Jaccard", None, "mean pairwise 2-gram-set Jaccard"),
    "mauve": Label("MAUVE", None, None, "mauve-text, official defaults"),
    "rouge1": Label("ROUGE-1", None, None, "mean F-measure x100, Porter stemming (rouge-score)"),
    "rouge2": Label("ROUGE-2", None, None, "mean F-measure x100, Porter stemming (rouge-score)"),
    "rougeL": Label("ROUGE-L", None, None, "mean F-measure x100, Porter stemming (rouge-score)"),
    "bertscore_f1": Label("BERTScore", None, None, "F1, as bert-score 0.3.10"),
    "factor_info_nats": Label("I(F;z)", "probe bound", "nats", "synthetic twins: nats of the generating factors "
                              "carried by z ~ q(z|x), summed over the factors a latent must carry; each is H(F) - "
                              "the cross-entropy of a multinomial logistic probe fitted on one half of the probe "
                              "sentences and scored on the other, a lower bound (della/evaluation/probes.py; per "
                              "factor in tables/factors.md)"),
    "factor_info_nats_init": Label("I(F;z) at initialisation", "probe bound", "nats", "the same probe on the model "
                                   "at initialisation: what an encoder that learned nothing gives (the control)"),
    "factor_info": Label("I(F_k;z)", "probe bound", "nats", "nats of one generating factor F_k carried by z ~ "
                         "q(z|x): H(F_k) - the probe's cross-entropy on the held-out half (a lower bound)"),
    "factor_entropy": Label("H(F_k)", None, "nats", "entropy of the generating factor, exact from the twin's "
                            "generator"),
    "probe_accuracy": Label("Probe accuracy", "logistic, z sampled", None, "the same probe's accuracy on the "
                            "held-out half (main tables: mean over the factors a latent must carry)"),
    "probe_chance": Label("Probe chance", "training-half majority", None, "the accuracy of always guessing the "
                          "most frequent value of the probe's training half"),
    "factor_entropy_nats": Label("H(factors)", None, "nats", "entropy of the twin's generating factors: the "
                                 "joint (layer-sum) KL of a z that encodes exactly them"),
    "n_seeds": Label("Seeds", None, None, "the number of seeds (runs) a cell's mean and std are over"),
    "beta": Label("β", None, None, "the KL weight of the training objective"),
    "step": Label("optimiser step", None, None, ""),
}
CONDITIONAL = {
    "bleu": Label("BLEU", "sacreBLEU vs target", None, "corpus BLEU against the paired target (sacreBLEU)"),
}
# per-layer KL of DELLA's training log (train_log.csv kl_group{i})
KL_LAYER = Label("KL of the layer", None, NATS, "analytic KL of one layer's latent")

# quantities computed in more than one way: their labels must name the convention
AMBIGUOUS = ("PPL", "-ELBO", "KL", "MI", "AU", "Dist-2", "JS", "BLEU")


def label(key: str, conditional: bool = False) -> Label:
    if conditional and key in CONDITIONAL:
        return CONDITIONAL[key]
    try:
        return LABELS[key]
    except KeyError:
        raise KeyError(f"no label for metrics key {key!r}: add it to della/reporting/conventions.py LABELS") from None


def text(key: str, conditional: bool = False) -> str:
    return label(key, conditional).text


def legend(keys, conditional: bool = False) -> list[str]:
    """``label: definition`` for each key, in order, once each."""
    lines, seen = [], set()
    for key in keys:
        lab = label(key, conditional)
        if lab.text in seen or not lab.definition:
            continue
        seen.add(lab.text)
        lines.append(f"{lab.text}{' [' + lab.unit + ']' if lab.unit else ''}: {lab.definition}")
    return lines


def known_texts() -> set[str]:
    """Every label text (tables and axes may show any of them)."""
    labels = [*LABELS.values(), *CONDITIONAL.values(), KL_LAYER]
    return {lab.text for lab in labels} | {lab.axis for lab in labels}


def names_its_convention(text_: str) -> bool:
    """A label of an ambiguous quantity must carry ``(convention)``."""
    quantity = text_.split(" (")[0].rstrip("*")
    return quantity not in AMBIGUOUS or " (" in text_
