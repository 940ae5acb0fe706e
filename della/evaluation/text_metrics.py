"""Text metrics of DELLA-Bench (README, "Metrics and conventions"): BLEU, Self-BLEU, distinct-n,
Jaccard, sacreBLEU corpus BLEU and ROUGE.

Inputs are *token lists* (``list[list[str]]``) except for :func:`corpus_bleu_sacrebleu`
and :func:`rouge`, which take detokenised strings and tokenise them themselves.

Metric                       definition (and reference)                                         scale in :func:`text_metrics`
===========================  =================================================================  =============================
``bleu`` (unconditional)     :func:`test_set_bleu`: mean sentence BLEU of every sample against   x100
                             the *whole* reference set (Zhu et al. 2018, Texygen; DELLA/Optimus)
``bleu`` (conditional)       :func:`corpus_bleu_sacrebleu`: sacreBLEU corpus BLEU against the     already x100
                             paired target (Post 2018); its signature is recorded
``self_bleu``                :func:`self_bleu`: mean sentence BLEU of every sample against all    x100
                             the *other* samples (Zhu et al. 2018, Texygen)
``dist_n``, n = 1..4         :func:`distinct_n`: distinct n-grams / all n-grams over all          x100
                             samples (Li et al. 2016, "A Diversity-Promoting Objective")
``dist_tok_n``, n = 1..4     :func:`distinct_n_per_token`: distinct n-grams / all TOKENS (Li et    x100
                             al. 2016's own wording; the paper column "Dist" uses n = 2)
``jaccard_n``, n = 1..4      :func:`jaccard`: mean over sample pairs of the Jaccard similarity    fraction (0..1)
                             of their n-gram *sets* (a labelled variant, not the paper's scale)
``js_max_1``                 :func:`jaccard_max`: mean over samples of the max unigram-set        fraction (0..1)
                             Jaccard with any other sample (SentiGAN; the paper's "JS" column)
``rouge1/2/L``               :func:`rouge`: mean F-measure of Google's ``rouge_score``            x100
                             (Lin 2004)
===========================  =================================================================  =============================

Sentence BLEU is *exactly* NLTK's (``nltk.translate.bleu_score.sentence_bleu``, NLTK 3.x)
with uniform weights ``(1/max_n,) * max_n`` and ``SmoothingFunction().method1`` (Chen &
Cherry 2014, epsilon = 0.1), reproduced to the last floating-point operation:

* modified precision p_n = clipped / max(1, #hypothesis n-grams), where the clip of an
  n-gram is ``min(count in hypothesis, max over references of its count there)``;
* if the clipped unigram count is 0 (this includes an empty hypothesis) the score is 0;
* method1: a precision with a zero numerator becomes ``0.1 / denominator``;
* brevity penalty with ``r`` = the reference length closest to the hypothesis length
  ``c``, ties broken toward the *shorter* reference; ``BP = 1`` if ``c > r``, ``0`` if
  ``c == 0``, else ``exp(1 - r / c)``;
* BLEU = ``BP * exp(fsum(w_n * log p_n))`` computed with ``math.log``/``math.exp``/
  ``math.fsum`` on the same Python floats as NLTK (``float(Fraction(a, b)) == a / b``),
  so the results agree bit for bit in practice (the tests ask for 1e-9).

NLTK computes every sentence against every reference, so its Self-BLEU and test-set BLEU
are O(N * M * L).  Here the work is O((N + M) * L * max_n * log) instead:

* every n-gram is mapped to an integer id for the whole corpus (``numpy.unique`` on
  (id of the (n-1)-gram, next token) pairs), and the per-sentence counts of each n-gram
  come from one more ``numpy.unique``;
* the clip only needs, for each n-gram, the **largest** count over the reference set; for
  Self-BLEU the hypothesis itself is excluded from its references, so the **second
  largest** count (with multiplicity) is also kept: a sentence whose count equals the
  largest is clipped by the second largest (which equals the largest when the maximum is
  shared by two sentences, e.g. duplicates), every other one by the largest;
* the closest reference length comes from the sorted distinct reference lengths with
  ``bisect``; for Self-BLEU the sample's own length is removed once from the multiset.

Degenerate inputs follow NLTK where NLTK answers and raise ``ValueError`` where NLTK raises
(no reference at all, e.g. Self-BLEU of a single sample).
"""
from __future__ import annotations

import bisect
import math
from collections import Counter
from typing import Sequence

import numpy as np

__all__ = [
    "self_bleu",
    "self_bleu_scores",
    "test_set_bleu",
    "test_set_bleu_scores",
    "distinct_n",
    "jaccard",
    "jaccard_max",
    "distinct_n_per_token",
    "corpus_bleu_sacrebleu",
    "rouge",
    "text_metrics",
    "NLTK_EPSILON",
]

Tokens = Sequence[str]

#: ``SmoothingFunction().method1``'s default epsilon in NLTK.
NLTK_EPSILON = 0.1


# --------------------------------------------------------------------------------------
# n-gram indexing shared by every n-gram metric
# --------------------------------------------------------------------------------------
class _NgramIndex:
    """Integer ids for every n-gram occurrence of a list of sentences.

    ``tok``: flat token ids (int64), ``sent``: sentence id of every flat position,
    ``lens``: sentence lengths.  ``grams(n)`` returns ``(gid, valid)`` aligned with the
    flat positions: ``gid[p]`` is the corpus-wide id of the n-gram starting at ``p`` and
    ``valid[p]`` says whether that n-gram fits inside its sentence.
    """

    def __init__(self, sentences: Sequence[Tokens]):
        vocab: dict[str, int] = {}
        get = vocab.setdefault
        flat = [get(t, len(vocab)) for s in sentences for t in s]
        self.n_sent = len(sentences)
        self.lens = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
        self.tok = np.asarray(flat, dtype=np.int64)
        self.vocab_size = max(len(vocab), 1)
        self.sent = np.repeat(np.arange(self.n_sent, dtype=np.int64), self.lens)
        starts = np.cumsum(self.lens) - self.lens
        # position of every flat token inside its sentence
        self.pos = np.arange(len(self.tok), dtype=np.int64) - np.repeat(starts, self.lens)
        self.remaining = np.repeat(self.lens, self.lens) - self.pos  # tokens from p to sentence end
        self._cache: dict[int, tuple[np.ndarray, int]] = {1: (self.tok, self.vocab_size)}

    def grams(self, n: int) -> tuple[np.ndarray, np.ndarray, int]:
        """(gid, valid, number of distinct ids) for order ``n`` (ids of invalid slots are junk)."""
        if n < 1:
            raise ValueError(f"n-gram order must be >= 1, got {n}")
        if n not in self._cache:
            prev = self.grams(n - 1)[0]
            T = len(self.tok)
            nxt = np.zeros(T, dtype=np.int64)
            if T > n - 1:
                nxt[: T - (n - 1)] = self.tok[n - 1 :]
            valid = self.remaining >= n
            key = prev * self.vocab_size + nxt
            key = np.where(valid, key, -1)
            uniq, inv = np.unique(key, return_inverse=True)
            self._cache[n] = (inv.astype(np.int64, copy=False), len(uniq))
        gid, n_ids = self._cache[n]
        return gid, self.remaining >= n, n_ids

    def sentence_counts(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Per (sentence, n-gram) counts: arrays ``(sent, gram, count)`` sorted by sentence, gram."""
        gid, valid, n_ids = self.grams(n)
        s = self.sent[valid]
        g = gid[valid]
        key = s * n_ids + g
        uniq, cnt = np.unique(key, return_counts=True)
        return uniq // n_ids, uniq % n_ids, cnt.astype(np.int64), n_ids


def _top2_per_gram(gram: np.ndarray, cnt: np.ndarray, n_ids: int) -> tuple[np.ndarray, np.ndarray]:
    """Largest and second-largest count (with multiplicity) of each n-gram over sentences."""
    max1 = np.zeros(n_ids, dtype=np.int64)
    max2 = np.zeros(n_ids, dtype=np.int64)
    if len(gram) == 0:
        return max1, max2
    order = np.lexsort((-cnt, gram))  # by gram, then count descending
    g_sorted, c_sorted = gram[order], cnt[order]
    first = np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1]])
    max1[g_sorted[first]] = c_sorted[first]
    second = first + 1
    has_second = second < len(g_sorted)
    has_second[has_second] &= g_sorted[second[has_second]] == g_sorted[first[has_second]]
    max2[g_sorted[first[has_second]]] = c_sorted[second[has_second]]
    return max1, max2


def _closest_ref_lengths(hyp_lens: np.ndarray, ref_lens: np.ndarray, exclude_self: bool) -> list[int]:
    """NLTK's ``closest_ref_length`` for every hypothesis: argmin of ``(|r - c|, r)``.

    ``exclude_self``: the references of hypothesis i are all lengths but one copy of
    ``hyp_lens[i]`` (Self-BLEU).  Raises ``ValueError`` when a hypothesis has no reference.
    """
    counts = Counter(ref_lens.tolist())
    uniq = sorted(counts)
    cache: dict[int, int] = {}
    out = []
    for c in hyp_lens.tolist():
        r = cache.get(c)
        if r is None:
            own = counts.get(c, 0) - (1 if exclude_self else 0)
            if own > 0:
                r = c
            else:
                k = bisect.bisect_left(uniq, c)
                lo = uniq[k - 1] if k > 0 else None  # largest length < c
                j = bisect.bisect_right(uniq, c)
                hi = uniq[j] if j < len(uniq) else None  # smallest length > c
                if lo is None and hi is None:
                    raise ValueError("BLEU needs at least one reference sentence (NLTK raises too)")
                if hi is None or (lo is not None and c - lo <= hi - c):
                    r = lo  # ties go to the shorter reference, as in NLTK
                else:
                    r = hi
            cache[c] = r
        out.append(r)
    return out


def _nltk_sentence_scores(
    hyp_lens: np.ndarray,
    closest: list[int],
    numerators: list[np.ndarray],
    denominators: list[np.ndarray],
    max_n: int,
    epsilon: float = NLTK_EPSILON,
) -> list[float]:
    """NLTK's ``corpus_bleu`` arithmetic for one hypothesis at a time (see module doc)."""
    w = 1.0 / max_n
    nums = [a.tolist() for a in numerators]
    dens = [a.tolist() for a in denominators]
    log, exp, fsum = math.log, math.exp, math.fsum
    scores = []
    for i, (c, r) in enumerate(zip(hyp_lens.tolist(), closest)):
        if nums[0][i] == 0:  # NLTK: "Returns 0 if there's no matching n-grams"
            scores.append(0.0)
            continue
        if c > r:
            bp = 1.0
        elif c == 0:  # unreachable (no unigram can match), kept for fidelity
            bp = 0.0
        else:
            bp = exp(1 - r / c)
        terms = []
        for k in range(max_n):
            num, den = nums[k][i], dens[k][i]
            p = num / den if num != 0 else (num + epsilon) / den
            terms.append(w * log(p))
        scores.append(bp * exp(fsum(terms)))
    return scores


def _check_order(max_n: int) -> None:
    if not isinstance(max_n, (int, np.integer)) or max_n < 1:
        raise ValueError(f"max_n must be a positive integer, got {max_n!r}")


def _as_token_lists(name: str, xs) -> list[list[str]]:
    if isinstance(xs, str):
        raise TypeError(f"{name} must be a list of token lists, got a string")
    out = []
    for i, x in enumerate(xs):
        if isinstance(x, str):
            raise TypeError(f"{name}[{i}] is a string; pass token lists (e.g. text.split())")
        out.append(list(x))
    return out


# --------------------------------------------------------------------------------------
# BLEU
# --------------------------------------------------------------------------------------
def self_bleu_scores(samples: Sequence[Tokens], max_n: int = 4) -> list[float]:
    """Per-sample Self-BLEU: NLTK sentence BLEU of ``samples[i]`` against all other samples.

    The references of sample i are ``samples[:i] + samples[i+1:]`` (by position, so an
    identical copy at another position *is* a reference).  Linear in ``len(samples)``.
    """
    _check_order(max_n)
    samples = _as_token_lists("samples", samples)
    N = len(samples)
    if N == 0:
        return []
    if N == 1:
        raise ValueError("Self-BLEU needs at least two samples (one has no other sample to compare to)")
    idx = _NgramIndex(samples)
    nums, dens = [], []
    for n in range(1, max_n + 1):
        s, g, c, n_ids = idx.sentence_counts(n)
        max1, max2 = _top2_per_gram(g, c, n_ids)
        m1 = max1[g]
        ref_max = np.where(c == m1, max2[g], m1)  # exclude the sample itself
        clipped = np.minimum(c, ref_max)
        nums.append(np.bincount(s, weights=clipped, minlength=N).astype(np.int64))
        dens.append(np.maximum(1, idx.lens - n + 1))
    closest = _closest_ref_lengths(idx.lens, idx.lens, exclude_self=True)
    return _nltk_sentence_scores(idx.lens, closest, nums, dens, max_n)


def self_bleu(samples: Sequence[Tokens], max_n: int = 4) -> float:
    """Self-BLEU (Zhu et al. 2018, "Texygen"), as a fraction in [0, 1].

    Mean over samples i of NLTK's
    ``sentence_bleu([s for j, s in enumerate(samples) if j != i], samples[i],
    weights=(1/max_n,)*max_n, smoothing_function=SmoothingFunction().method1)``,
    equal to it to floating-point accuracy on any input, in O(N) rather than O(N^2)
    (see the module docstring).  Lower means more diverse.  Empty ``samples`` -> 0.0;
    a single sample -> ``ValueError`` (NLTK has no reference to compare with either).
    """
    scores = self_bleu_scores(samples, max_n)
    return math.fsum(scores) / len(scores) if scores else 0.0


def test_set_bleu_scores(samples: Sequence[Tokens], references: Sequence[Tokens], max_n: int = 4) -> list[float]:
    """Per-sample NLTK sentence BLEU of each sample against the whole reference list."""
    _check_order(max_n)
    samples = _as_token_lists("samples", samples)
    references = _as_token_lists("references", references)
    N, M = len(samples), len(references)
    if N == 0:
        return []
    if M == 0:
        raise ValueError("test-set BLEU needs at least one reference sentence")
    idx = _NgramIndex(samples + references)
    hyp_lens, ref_lens = idx.lens[:N], idx.lens[N:]
    nums, dens = [], []
    for n in range(1, max_n + 1):
        s, g, c, n_ids = idx.sentence_counts(n)
        is_ref = s >= N
        ref_max = np.zeros(n_ids, dtype=np.int64)
        np.maximum.at(ref_max, g[is_ref], c[is_ref])
        hs, hg, hc = s[~is_ref], g[~is_ref], c[~is_ref]
        clipped = np.minimum(hc, ref_max[hg])
        nums.append(np.bincount(hs, weights=clipped, minlength=N).astype(np.int64))
        dens.append(np.maximum(1, hyp_lens - n + 1))
    closest = _closest_ref_lengths(hyp_lens, ref_lens, exclude_self=False)
    return _nltk_sentence_scores(hyp_lens, closest, nums, dens, max_n)


def test_set_bleu(samples: Sequence[Tokens], references: Sequence[Tokens], max_n: int = 4) -> float:
    """Unconditional BLEU: mean NLTK sentence BLEU of every sample against *all* references.

    As in Texygen (Zhu et al. 2018), Optimus (Li et al. 2020) and DELLA (Hu et al. 2022):
    every sample takes the whole test set as its reference set.  Mean over samples i of
    ``sentence_bleu(references, samples[i], weights=(1/max_n,)*max_n,
    smoothing_function=SmoothingFunction().method1)``, to floating-point accuracy, in
    O(N + M) (see the module docstring).  A fraction in [0, 1]; empty ``samples`` -> 0.0;
    empty ``references`` -> ``ValueError``.
    """
    scores = test_set_bleu_scores(samples, references, max_n)
    return math.fsum(scores) / len(scores) if scores else 0.0


# the name ``test_set_bleu`` would otherwise be collected by pytest when imported into tests
test_set_bleu.__test__ = False  # type: ignore[attr-defined]
test_set_bleu_scores.__test__ = False  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------
# diversity: distinct-n, Jaccard
# --------------------------------------------------------------------------------------
def distinct_n(samples: Sequence[Tokens], n: int) -> float:
    """Distinct-n (Li et al. 2016, NAACL, "A Diversity-Promoting Objective Function for
    Neural Conversation Models"): the number of distinct n-grams divided by the total
    number of n-grams, both over *all* samples pooled (corpus-level, not averaged per
    sentence).  A fraction in [0, 1]; 0.0 when the samples hold no n-gram at all.
    """
    _check_order(n)
    samples = _as_token_lists("samples", samples)
    if not samples:
        return 0.0
    idx = _NgramIndex(samples)
    gid, valid, _ = idx.grams(n)
    total = int(valid.sum())
    if total == 0:
        return 0.0
    return len(np.unique(gid[valid])) / total


def distinct_n_per_token(samples: Sequence[Tokens], n: int) -> float:
    """Distinct-n as Li et al. (2016, NAACL) define it: "the number of distinct unigrams and
    bigrams ... scaled by the total number of generated tokens", pooled over all samples. It
    differs from :func:`distinct_n` (÷ n-grams) by the factor Σ(T_i − n + 1)/Σ T_i (−1/T for
    bigrams: 1–13 % on the paper's sentence lengths), which the paper's values cannot tell apart;
    the paper column "Dist" uses this one (the cited definition). 0.0 without tokens."""
    _check_order(n)
    samples = _as_token_lists("samples", samples)
    total_tokens = sum(len(x) for x in samples)
    if total_tokens == 0:
        return 0.0
    idx = _NgramIndex(samples)
    gid, valid, _ = idx.grams(n)
    return len(np.unique(gid[valid])) / total_tokens


def _ngram_sets(samples, n: int):
    """The samples' n-gram *sets* as unique (sentence, gram) pairs sorted by sentence: ``(N, s, g,
    n_ids, sizes)`` with ``sizes`` the set sizes; None for fewer than two samples."""
    _check_order(n)
    samples = _as_token_lists("samples", samples)
    if len(samples) < 2:
        return None
    s, g, _c, n_ids = _NgramIndex(samples).sentence_counts(n)
    return len(samples), s, g, n_ids, np.bincount(s, minlength=len(samples)).astype(np.float64)


def jaccard_max(samples: Sequence[Tokens], n: int = 1, *, block: int = 1024) -> float:
    """Mean over samples of the MAXIMUM n-gram-set Jaccard similarity with any other sample
    (SentiGAN, Wang & Wan 2018, IJCAI: "Diversity" = 1 − this per sentence, averaged; Jaccard
    similarity of the word sets, n = 1). The paper column "JS" uses it with n = 1: its values
    (0.21–0.80) are on this scale, where mean pairwise 2-gram Jaccard (:func:`jaccard`) is 0.003–0.007
    on human text. Lower = more diverse. Exact, O(N²) pairs in blocks of ``block`` rows (a sparse
    product of the sample × n-gram incidence matrix). A sample with no n-gram scores 0; fewer than
    two samples -> 0.0.
    """
    import scipy.sparse as sp

    sets = _ngram_sets(samples, n)
    if sets is None:
        return 0.0
    N, s, g, n_ids, sizes = sets
    X = sp.csr_matrix((np.ones(len(s), dtype=np.float32), (s, g)), shape=(N, max(n_ids, 1)))
    best = np.zeros(N)
    for a in range(0, N, block):
        b = min(N, a + block)
        inter = (X[a:b] @ X.T).toarray().astype(np.float64)  # [b-a, N]
        union = sizes[a:b, None] + sizes[None, :] - inter
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
        ratio[np.arange(b - a), np.arange(a, b)] = -1.0  # not against itself
        best[a:b] = ratio.max(1)
    return float(best.mean())


def jaccard(samples: Sequence[Tokens], n: int, *, empty_value: float = 0.0, block: int = 512) -> float:
    """Mean pairwise n-gram Jaccard similarity (lower = more diverse); not the paper's "JS" scale
    (see :func:`jaccard_max`), kept as a labelled variant (``jaccard_n``).

    ``mean over unordered pairs i < j of |G_i & G_j| / |G_i | G_j|`` where ``G_i`` is the
    *set* of n-grams of sample i.  A pair in which neither sample has an n-gram (both
    shorter than n) has an undefined 0/0; it counts as ``empty_value`` (default 0.0: no
    shared n-gram, so such pairs never make a system look repetitive).  Fewer than two
    samples -> 0.0.

    Exact.  The pairwise intersections are X X^T for the sample x n-gram incidence matrix
    X, built ``block`` rows at a time (only the columns j >= the block start):

    * n-grams held by many samples (document frequency above max(32, N/50)) go through a
      dense float32 BLAS product (exact: counts < 2^24), cost N^2 per such n-gram;
    * every other n-gram through an inverted index (numpy ``repeat``/``bincount`` over
      the postings lists), cost O(sum over n-grams of postings^2), with no Python loop.

    The division and the sum over the N(N-1)/2 pairs are O(N^2) numpy work (5e7 pairs
    for N = 10,000: about a second); memory is O(block * N).
    """
    sets = _ngram_sets(samples, n)
    if sets is None:
        return 0.0
    N, s, g, n_ids, sizes = sets
    df = np.bincount(g, minlength=n_ids)
    heavy = df > max(32, N // 50)
    hmask = heavy[g]
    # dense part: N x H
    col = np.cumsum(heavy) - 1
    Xh = np.zeros((N, int(heavy.sum())), dtype=np.float32)
    Xh[s[hmask], col[g[hmask]]] = 1.0
    # sparse part: postings lists of the light n-grams, sorted by (gram, sentence)
    ls, lg = s[~hmask], g[~hmask]
    order = np.lexsort((ls, lg))
    post_key = lg[order] * N + ls[order]
    post_s = ls[order]
    gram_end = np.searchsorted(post_key, (np.arange(n_ids) + 1) * N)
    row_start = np.searchsorted(ls, np.arange(0, N + 1))  # light incidences of each row
    total = 0.0
    for a in range(0, N, block):
        b = min(N, a + block)
        W = N - a
        inter = (Xh[a:b] @ Xh[a:].T).astype(np.float64) if Xh.shape[1] else np.zeros((b - a, W))
        i0, i1 = row_start[a], row_start[b]
        inc_s, inc_g = ls[i0:i1], lg[i0:i1]
        lo = np.searchsorted(post_key, inc_g * N + a)  # postings j >= a of each incidence
        cnt = gram_end[inc_g] - lo
        E = int(cnt.sum())
        if E:
            rep = np.repeat(np.arange(len(inc_s)), cnt)
            offs = np.arange(E) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            j = post_s[lo[rep] + offs]
            flat = (inc_s[rep] - a) * W + (j - a)
            inter += np.bincount(flat, minlength=(b - a) * W).reshape(b - a, W)
        union = sizes[a:b, None] + sizes[None, a:] - inter
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(union > 0, inter / np.where(union > 0, union, 1.0), empty_value)
        upper = np.arange(a, N)[None, :] > np.arange(a, b)[:, None]  # j > i only
        total += float(ratio[upper].sum())
    return total / (N * (N - 1) / 2)


# --------------------------------------------------------------------------------------
# conditional tasks: sacreBLEU and ROUGE
# --------------------------------------------------------------------------------------
def corpus_bleu_sacrebleu(hypotheses: Sequence[str], references: Sequence[str], **bleu_kwargs) -> dict:
    """Corpus BLEU of paired strings with sacreBLEU (Post 2018, "A Call for Clarity in
    Reporting BLEU Scores"), default settings (13a tokenisation, exp smoothing, mixed
    case) unless ``bleu_kwargs`` (passed to ``sacrebleu.metrics.BLEU``) say otherwise.

    Returns ``{"score": float (0..100), "signature": str(bleu.get_signature())}``.
    """
    from sacrebleu.metrics import BLEU

    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    for name, xs in (("hypotheses", hypotheses), ("references", references)):
        if any(not isinstance(x, str) for x in xs):
            raise TypeError(f"{name} must be strings (detokenised text)")
    bleu = BLEU(**bleu_kwargs)
    res = bleu.corpus_score(hypotheses, [references])
    return {"score": float(res.score), "signature": str(bleu.get_signature())}


def rouge(hypotheses: Sequence[str], references: Sequence[str], *, use_stemmer: bool = True) -> dict:
    """ROUGE-1/2/L (Lin 2004) with Google's ``rouge_score`` package: the F-measure of each
    (hypothesis, reference) pair, averaged over pairs, x100.  ``rouge_score`` lower-cases
    and keeps ``[a-z0-9]`` tokens; ``use_stemmer=True`` (Porter stemming, the usual
    summarisation setting, as in ``files2rouge``/``-m``) by default.  ROUGE-L is the
    sentence-level LCS variant (``rougeL``, not ``rougeLsum``).
    """
    from rouge_score import rouge_scorer

    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    keys = ("rouge1", "rouge2", "rougeL")
    if not hypotheses:
        return {k: 0.0 for k in keys}
    scorer = rouge_scorer.RougeScorer(list(keys), use_stemmer=use_stemmer)
    sums = dict.fromkeys(keys, 0.0)
    for h, r in zip(hypotheses, references):
        sc = scorer.score(r, h)  # score(target, prediction)
        for k in keys:
            sums[k] += sc[k].fmeasure
    return {k: 100.0 * v / len(hypotheses) for k, v in sums.items()}


# --------------------------------------------------------------------------------------
# one call for the evaluator
# --------------------------------------------------------------------------------------
def _subsample(xs: list, cap: int | None, seed: int) -> list:
    if cap is None or len(xs) <= cap:
        return xs
    keep = np.sort(np.random.default_rng(seed).choice(len(xs), size=cap, replace=False))
    return [xs[i] for i in keep]


def text_metrics(
    samples_tokens: Sequence[Tokens],
    references_tokens: Sequence[Tokens],
    *,
    conditional: bool,
    hyp_strings: Sequence[str] | None = None,
    ref_strings: Sequence[str] | None = None,
    max_n: int = 4,
    orders: Sequence[int] = (1, 2, 3, 4),
    max_references: int | None = None,
    seed: int = 0,
    rouge_stemmer: bool = True,
) -> dict:
    """All text metrics of one run, scaled like the DELLA paper.

    Keys (BLEU, Self-BLEU, dist and ROUGE x100; Jaccard as a fraction):

    * ``bleu``: unconditional tasks: :func:`test_set_bleu` (every sample against the whole
      reference list, NLTK sentence BLEU-``max_n``, method1); conditional tasks: sacreBLEU
      corpus BLEU of ``hyp_strings`` against the paired ``ref_strings``, with
      ``bleu_signature``; ``bleu_kind`` says which.  For conditional tasks the
      unconditional-style number is also given as ``bleu_testset``.
    * ``self_bleu``: :func:`self_bleu` over the samples.
    * ``dist_n`` and ``jaccard_n`` for n in ``orders`` (default 1..4).
    * ``rouge1``, ``rouge2``, ``rougeL`` (conditional only).
    * ``n_samples``, ``n_references`` (after the cap), ``bleu_max_n``.

    ``max_references``: default ``None`` = use every reference.  An integer keeps a
    deterministic subsample (``numpy.random.default_rng(seed)``, order preserved) of the
    references for the *test-set* BLEU only (sacreBLEU/ROUGE always use all pairs).
    ``hyp_strings``/``ref_strings`` default to the token lists joined by single spaces.
    """
    samples = _as_token_lists("samples_tokens", samples_tokens)
    refs = _as_token_lists("references_tokens", references_tokens)
    refs_for_bleu = _subsample(refs, max_references, seed)
    out: dict = {"n_samples": len(samples), "n_references": len(refs_for_bleu), "bleu_max_n": max_n}
    testset = 100.0 * test_set_bleu(samples, refs_for_bleu, max_n) if samples else 0.0
    if conditional:
        hyp = list(hyp_strings) if hyp_strings is not None else [" ".join(t) for t in samples]
        ref = list(ref_strings) if ref_strings is not None else [" ".join(t) for t in refs]
        sb = corpus_bleu_sacrebleu(hyp, ref)
        out.update(bleu=sb["score"], bleu_signature=sb["signature"], bleu_kind="sacrebleu_corpus",
                   bleu_testset=testset)
        out.update(rouge(hyp, ref, use_stemmer=rouge_stemmer))
    else:
        out.update(bleu=testset, bleu_kind=f"nltk_sentence_bleu{max_n}_vs_test_set_method1")
    out["self_bleu"] = 100.0 * self_bleu(samples, max_n) if len(samples) >= 2 else 0.0
    for n in orders:
        out[f"dist_{n}"] = 100.0 * distinct_n(samples, n)
    for n in orders:
        out[f"jaccard_{n}"] = jaccard(samples, n)
    # the paper columns' definitions (CONVENTIONS.md): Li et al.'s distinct-2 (÷ tokens), SentiGAN's
    # mean max unigram Jaccard
    for n in orders:
        out[f"dist_tok_{n}"] = 100.0 * distinct_n_per_token(samples, n)
    out["js_max_1"] = jaccard_max(samples, 1)
    return out
