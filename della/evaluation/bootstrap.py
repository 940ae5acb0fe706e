"""Bootstrap intervals of a run's figures and of the difference between two runs.

Koehn (2004), "Statistical significance tests for machine translation evaluation": resample the
test units with replacement and recompute the figure; paired when both runs are scored on the
same units (one draw of row indices for both). The draw is sacrebleu's paired bootstrap
(sacrebleu/significance.py ``_paired_bs_test``): ``numpy.random.default_rng(seed).choice(n,
size=(resamples, n), replace=True)`` as the rng's first draw, seed 12345 and 1,000 resamples by
default; the 95% interval is sacrebleu's ``estimate_ci`` (the sorted resamples at ``n // 40`` and
``n - n // 40 - 1``), and corpus BLEU is recomputed by sacrebleu itself, so that for one seed the
interval of a BLEU difference is sacrebleu's (tests/test_claims.py). With several seeds a side's
statistic is the mean over its seeds, and every resample also draws each side's seeds with
replacement (A's and B's independently), so that the interval covers training randomness as well.

Used by the evaluation (the excess over the truth, della/evaluation/evaluate.py) and by the claims
(della/reporting/claims.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

SACREBLEU_SEED = 12345  # sacrebleu's default seed (its SACREBLEU_SEED)
RESAMPLES = 1000  # sacrebleu's default number of paired-bootstrap resamples


class Statistic:
    """A figure of one run from its per-unit columns: ``resampled(cols, idx)`` maps index rows
    ``[R, n]`` to ``[R]`` values; ``value(cols)`` is the figure on all units (by default the same
    computation on the identity draw)."""

    def __init__(self, columns: Sequence[str], resampled: Callable, value: Callable | None = None):
        self.columns = tuple(columns)
        self.resampled = resampled
        self._value = value

    def value(self, cols: dict) -> float:
        if self._value is not None:
            return float(self._value(cols))
        return float(self.resampled(cols, np.arange(_length(cols))[None])[0])


def _length(cols: dict) -> int:
    return len(next(iter(cols.values())))


def mean_of(column: str) -> Statistic:
    return Statistic([column], lambda cols, idx: cols[column][idx].mean(-1))


def mean_of_sum(*columns: str, sign: float = 1.0) -> Statistic:
    """Mean over units of ``sign`` x the sum of ``columns`` (e.g. -ELBO = rec + kl)."""
    def resampled(cols, idx):
        return sign * sum(cols[c] for c in columns)[idx].mean(-1)
    return Statistic(columns, resampled)


def ppl_of(log_p: str, tokens: str) -> Statistic:
    """exp(− Σ log p / Σ tokens) over the units: a corpus perplexity."""
    return Statistic([log_p, tokens], lambda cols, idx: np.exp(-cols[log_p][idx].sum(-1) / cols[tokens][idx].sum(-1)))


def excess_of(log_p: str) -> Statistic:
    """Nats per sentence above the truth: mean of log p_true − log p_model."""
    def resampled(cols, idx):
        return (cols["log_p_true"] - cols[log_p])[idx].mean(-1)
    return Statistic(["log_p_true", log_p], resampled)


def active_units_of(prefix: str, delta: float, second_prefix: str | None = None) -> Statistic:
    """Active units (Burda et al. 2016) from the posterior means ``{prefix}.{layer}.{unit}``:
    dimensions with Var_x E_q[z|x] >= delta (unbiased variance, the ``>=`` of calc_au), counted per
    layer and averaged over layers (the AU column). With ``second_prefix`` (the same sentences'
    means from a second pass with fresh noise) the variance is the official ``calc_au``'s two-pass
    one, ``Σ_i (m2_i − mean(m1))² / (N − 1)`` (della/evaluation/latent.py
    ``posterior_mean_variance``)."""
    def matrix(cols, name):
        names = sorted((c for c in cols if c.startswith(name + ".")),
                       key=lambda c: tuple(int(x) for x in c[len(name) + 1:].split(".")))
        layers = [int(c[len(name) + 1:].split(".")[0]) for c in names]
        return np.stack([cols[c] for c in names], 1).astype(np.float64), np.array(layers)

    def resampled(cols, idx):
        mu, layers = matrix(cols, prefix)
        mu2 = mu if second_prefix is None else matrix(cols, second_prefix)[0]
        out = np.empty(len(idx))
        for r, rows in enumerate(idx):
            var = ((mu2[rows] - mu[rows].mean(0)) ** 2).sum(0) / (len(rows) - 1)
            active = var >= delta
            out[r] = np.mean([active[layers == layer].sum() for layer in np.unique(layers)])
        return out

    return Statistic([prefix + ".*"] + ([second_prefix + ".*"] if second_prefix else []), resampled)


def corpus_bleu_of(prefix: str = "bleu_stat.") -> Statistic:
    """sacrebleu's corpus BLEU: the value from the integer statistics (as ``corpus_score``), the
    resamples from their float32 sums (as ``_paired_bs_test``), both computed by sacrebleu."""
    columns = [f"{prefix}{i}" for i in range(10)]

    def stats(cols):
        return np.stack([np.asarray(cols[c]) for c in columns], 1)

    def resampled(cols, idx):
        from sacrebleu.metrics import BLEU

        bleu, s = BLEU(), stats(cols).astype("float32")
        return np.array([bleu._compute_score_from_stats(x.sum(0)).score for x in s[idx]])

    def value(cols):
        from sacrebleu.metrics import BLEU

        return BLEU()._aggregate_and_compute(stats(cols).astype(np.int64).tolist()).score

    return Statistic(columns, resampled, value)


def interval(values, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval with sacrebleu's index convention (95%: sorted values at n // 40 and
    n − n // 40 − 1)."""
    values = np.sort(np.asarray(values, dtype=float))
    lower = int(len(values) * (1 - level) / 2)
    return float(values[lower]), float(values[len(values) - lower - 1])


@dataclass
class Effect:
    a: float  # A's statistic (mean over its seeds)
    b: float  # B's, or the threshold
    effect: float  # a − b
    lo: float
    hi: float
    a_resamples: np.ndarray
    b_resamples: np.ndarray
    n_units: int


def bootstrap_effect(a_runs: Sequence[dict], b_runs: Sequence[dict] | None, statistic: Statistic, *,
                     threshold: float | None = None, paired: bool = True, resamples: int = RESAMPLES,
                     seed: int = SACREBLEU_SEED, level: float = 0.95) -> Effect:
    """A − B (or A − ``threshold``) with its bootstrap interval (module docstring).

    ``a_runs`` / ``b_runs``: per seed, a dict of per-unit column arrays; when ``paired`` every run
    holds the same units in the same order."""
    if not a_runs or (b_runs is not None and not b_runs):
        raise ValueError("bootstrap_effect needs at least one run on each side")
    rng = np.random.default_rng(seed)
    n_a = _length(a_runs[0])
    idx_a = rng.choice(n_a, size=(resamples, n_a), replace=True)  # first draw of the rng: sacrebleu's
    idx_b = None
    if b_runs is not None:
        idx_b = idx_a if paired else rng.choice(_length(b_runs[0]), size=(resamples, _length(b_runs[0])),
                                                replace=True)

    def side(runs, idx):
        value = float(np.mean([statistic.value(cols) for cols in runs]))
        per_seed = np.stack([statistic.resampled(cols, idx) for cols in runs])  # [S, R]
        if len(runs) == 1:
            return value, per_seed[0]
        draw = rng.integers(len(runs), size=(resamples, len(runs)))  # the seeds, with replacement
        return value, per_seed[draw, np.arange(resamples)[:, None]].mean(1)

    a, a_r = side(a_runs, idx_a)
    if b_runs is None:
        b, b_r = float(threshold), np.full(resamples, float(threshold))
    else:
        b, b_r = side(b_runs, idx_b)
    lo, hi = interval(a_r - b_r, level)
    return Effect(a, b, a - b, lo, hi, a_r, b_r, n_a)
