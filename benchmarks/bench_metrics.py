"""Speed of della.evaluation.text_metrics against NLTK (and fast-bleu when it is installed).

    python benchmarks/bench_metrics.py [--n 10000] [--nltk-self 100] [--nltk-test 20]

Synthetic corpus: N samples and N references of 10..30 tokens (mean 20), tokens drawn
from a Zipf(1) law over a 5,000-word vocabulary.  Prints one markdown table.

Extrapolation of NLTK to N samples:
* Self-BLEU: NLTK scores each of the n samples against the n - 1 others, rebuilding the
  n-gram counts of every reference for every hypothesis, so its time is
  ``t(n) = a n + b n^2`` (a per-hypothesis overhead plus the quadratic part).  It is
  measured at n and 2n; ``a`` and ``b`` are solved from the two timings and
  ``t(N) = a N + b N^2`` is printed (the pure ``t(n) (N/n)^2`` scaling, which
  overestimates at small n, is shown too).
* test-set BLEU: each hypothesis is scored against all M = N references (the full
  reference set is used in the measurement), so the time per hypothesis is fixed and
  ``t(N) ~ t(n) * N / n`` (linear in the number of hypotheses, at M = N).
fast-bleu (a C++ multithreaded NLTK port, ``pip install fast-bleu``) is optional and never
a dependency; when it is missing, the table says so.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from della.evaluation.text_metrics import (  # noqa: E402
                                           distinct_n,
                                           jaccard,
                                           self_bleu_scores,
                                           test_set_bleu_scores,
                                           )


def zipf_corpus(rng: np.random.Generator, n: int, vocab: int = 5000) -> list[list[str]]:
    p = 1.0 / np.arange(1, vocab + 1)
    p /= p.sum()
    lens = rng.integers(10, 31, size=n)
    flat = rng.choice(vocab, size=int(lens.sum()), p=p)
    out, k = [], 0
    for L in lens:
        out.append([f"w{t}" for t in flat[k : k + L]])
        k += L
    return out


def timed(fn, *args, **kw):
    t = time.perf_counter()
    v = fn(*args, **kw)
    return v, time.perf_counter() - t


def best_of(r, fn, *args, **kw):
    """(value, min time over r runs): the machine may be shared, the minimum is the cost."""
    runs = [timed(fn, *args, **kw) for _ in range(max(1, r))]
    return runs[0][0], min(t for _, t in runs)


def nltk_self(samples):
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    sm = SmoothingFunction().method1
    return [sentence_bleu(samples[:i] + samples[i + 1 :], s, smoothing_function=sm) for i, s in enumerate(samples)]


def nltk_test(samples, refs):
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    sm = SmoothingFunction().method1
    return [sentence_bleu(refs, s, smoothing_function=sm) for s in samples]


def fmt(t):
    if t is None:
        return "–"
    if t >= 3600:
        return f"{t / 3600:.1f} h"
    if t >= 60:
        return f"{t / 60:.1f} min"
    return f"{t:.2f} s"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--nltk-self", type=int, default=150, help="NLTK Self-BLEU subset size (also 2x)")
    ap.add_argument("--repeat", type=int, default=3, help="best of R timings for della.evaluation.text_metrics")
    ap.add_argument("--nltk-test", type=int, default=10, help="NLTK test-set BLEU: hypotheses vs all refs")
    ap.add_argument("--fast-bleu-self", type=int, default=1000, help="fast-bleu Self-BLEU subset size")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(args.seed)
    N = args.n
    samples, refs = zipf_corpus(rng, N), zipf_corpus(rng, N)
    rows = []

    # ---- Self-BLEU-4
    R = args.repeat
    ours_sb, t_ours_sb = best_of(R, self_bleu_scores, samples, 4)
    n1, n2 = args.nltk_self, 2 * args.nltk_self
    sub1, sub2 = samples[:n1], samples[:n2]
    ref1, t1 = best_of(2, nltk_self, sub1)
    _, t2 = best_of(2, nltk_self, sub2)
    exponent = np.log(t2 / t1) / np.log(2)
    # t(n) = a n + b n^2 through both points
    quad = (t2 / n2 - t1 / n1) / (n2 - n1)
    lin = t1 / n1 - quad * n1
    t_fit = lin * N + quad * N * N if quad > 0 else t1 * (N / n1) ** 2
    diff = max(abs(a - b) for a, b in zip(self_bleu_scores(sub1, 4), ref1))
    fb_sb, fb_sb_note = None, ""
    fb_err = None
    try:
        from fast_bleu import BLEU as FBLEU
        from fast_bleu import SelfBLEU as FSelfBLEU

        nf = min(args.fast_bleu_self, N)
        fsub = samples[:nf]
        fb_vals, fb_t = timed(lambda: FSelfBLEU(fsub, {"b4": (0.25,) * 4}).get_score()["b4"])
        fb_sb = fb_t * (N / nf) ** 2 if nf < N else fb_t
        fb_sb_note = f"{fmt(fb_t)} at n={nf}" + (f" -> ~{fmt(fb_sb)} (x(N/n)^2)" if nf < N else "")
        fb_small = FSelfBLEU(sub1, {"b4": (0.25,) * 4}).get_score()["b4"]
        fb_diff_sb = max(abs(a - b) for a, b in zip(fb_small, ref1))
    except Exception as e:  # not installed or failed
        fb_err = f"not available ({type(e).__name__}: {e})"
        fb_diff_sb = None
    rows.append((
        "Self-BLEU-4", f"{N}", fmt(t_ours_sb),
        f"{fmt(t1)} at n={n1}, {fmt(t2)} at n={n2} (exponent {exponent:.2f})",
        f"{fmt(t_fit)} (aN + bN^2 fit); {fmt(t2 * (N / n2) ** 2)} (t(2n) x(N/2n)^2)",
        fb_err or fb_sb_note + (f"; max diff vs NLTK {fb_diff_sb:.1e}" if fb_diff_sb is not None else ""),
        f"{diff:.1e} (n={n1})",
    ))

    # ---- test-set BLEU-4
    _, t_ours_tb = best_of(R, test_set_bleu_scores, samples, refs, 4)
    nt = args.nltk_test
    ref_t, t_nt = best_of(2, nltk_test, samples[:nt], refs)
    diff_t = max(abs(a - b) for a, b in zip(test_set_bleu_scores(samples[:nt], refs, 4), ref_t))
    if fb_err is None:
        fb_vals_t, fb_tt = timed(lambda: FBLEU(refs, {"b4": (0.25,) * 4}).get_score(samples)["b4"])
        fb_diff_t = max(abs(a - b) for a, b in zip(fb_vals_t[:nt], ref_t))
        fb_note_t = f"{fmt(fb_tt)}; max diff vs NLTK {fb_diff_t:.1e}"
    else:
        fb_note_t = fb_err
    rows.append((
        "test-set BLEU-4", f"{N} vs {N} refs", fmt(t_ours_tb),
        f"{fmt(t_nt)} for {nt} hyps vs {N} refs",
        fmt(t_nt * N / nt) + " (x N/n)",
        fb_note_t,
        f"{diff_t:.1e} (n={nt})",
    ))

    # ---- distinct-n and Jaccard
    for n in (1, 2, 3, 4):
        v, t = best_of(R, distinct_n, samples, n)
        rows.append((f"distinct-{n} = {v:.4f}", f"{N}", fmt(t), "–", "–", "–", "–"))
    for n in (1, 2, 3, 4):
        v, t = best_of(R, jaccard, samples, n)
        rows.append((f"Jaccard-{n} = {v:.5f}", f"{N} ({N * (N - 1) // 2:,} pairs)", fmt(t), "–", "–", "–", "–"))

    head = ("metric", "N", "della.evaluation.text_metrics", "NLTK measured", "NLTK extrapolated to N", "fast-bleu",
            "max |ours - NLTK|")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Machine: {os.cpu_count()} CPUs (load average {load:.1f} at the end); della.evaluation.text_metrics: best of {R}; corpus: Zipf(1) over 5,000 words, 10-30 tokens, seed {args.seed}\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
