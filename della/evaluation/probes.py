"""How many nats of each generating factor of a synthetic twin the latent carries.

For each factor F_k a multinomial logistic regression (scikit-learn) predicts F_k from a sample
z ~ q(z | x) of the posterior. Any predictor q(F | z) bounds the mutual information from below,

    I(F_k; z) = H(F_k) - H(F_k | z) >= H(F_k) - E[-log q(F_k | z)]

(the cross-entropy is at least the conditional entropy; Barber & Agakov 2003, "The IM algorithm"),
provided the cross-entropy is measured on sentences the probe was not fitted on. The probe
sentences are split into two halves and each half is scored by the probe fitted on the other
(cross-fitting), so every sentence contributes one held-out term ``H(F_k) - CE_i``; the bound is
their mean and its standard error is reported beside it. H(F_k) is the generator's exact factor
entropy (``info.json``), not the entropy of the sampled labels: I(F;z) is a property of the
generator, H(F_k) is known exactly, and the held-out cross-entropy is an unbiased estimate of the
probe's; a plug-in entropy would add its own sampling error. The factors of a twin are independent,
so the sum over factors is a lower bound on I(F; z) itself (I(F1,F2; z) = I(F1; z) + I(F2; z | F1)
>= I(F1; z) + I(F2; z)), to be read beside H(factors).

The L2 strength is chosen by cross-validated log-loss inside each training half
(``LogisticRegressionCV``): a probe of pure noise falls back to the label frequencies and its bound
sits at 0 within its error (less the small cost of estimating the frequencies, (K - 1) / (2n)
nats), where a fixed weak penalty would overfit and push it below.

Samples of the posterior, not its means: an encoder whose means differ between sentences by far
less than its posterior spread (an untrained one: tiny means, unit variance) transmits nothing,
yet its means alone are perfectly separable — the nearest-centroid probe on posterior means that
this replaces scored untrained encoders best. The same probe on the model *at initialisation*
(della/training/checkpoints.py ``initial_model``) is reported as a control.

Accuracy is reported too, with its chance level: the accuracy, on the held-out half, of always
guessing the training half's most frequent value.
"""
from __future__ import annotations

import math

import numpy as np
import torch

PROBE_CS = tuple(float(c) for c in 10.0 ** np.arange(-3, 3))  # the L2 strengths the inner cross-validation tries
INNER_FOLDS = 3


def _held_out_probabilities(z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, n_classes: int,
                            seed: int) -> np.ndarray:
    """Class probabilities ``[n_test, n_classes]`` of a logistic probe fitted on the training half
    (features standardised with the training half's mean and standard deviation)."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    mean, std = z_train.mean(0), z_train.std(0)
    std = np.where(std > 0, std, 1.0)
    train, test = (z_train - mean) / std, (z_test - mean) / std
    counts = np.bincount(y_train, minlength=n_classes)
    seen = np.flatnonzero(counts)
    # a value the training half never saw gets its Laplace share (a finite cross-entropy); the seen ones the rest
    probs = np.full((len(test), n_classes), 1.0 / (len(y_train) + n_classes))
    seen_mass = 1.0 - (n_classes - len(seen)) / (len(y_train) + n_classes)
    if len(seen) < 2 or counts[seen].min() < INNER_FOLDS:  # too few to cross-validate: the label frequencies
        probs[:, seen] = seen_mass * counts[seen] / counts.sum()
        return probs
    probe = LogisticRegressionCV(Cs=list(PROBE_CS), l1_ratios=(0.0,), scoring="neg_log_loss", max_iter=1000,
                                 cv=StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=seed),
                                 use_legacy_attributes=False)
    probe.fit(train, y_train)
    probs[:, probe.classes_] = seen_mass * probe.predict_proba(test)
    return probs


def factor_information(z, labels: dict, entropies: dict, n_classes: dict, *, seed: int = 0,
                       threads: int | None = 1) -> tuple[dict, dict]:
    """Lower bounds on I(F_k; z), one per factor.

    ``z`` ``[N, D]``: one posterior sample per probe sentence; ``labels[k]`` ``[N]``: factor k's
    value (ints in ``range(n_classes[k])``); ``entropies[k]``: H(F_k) in nats (exact).

    Returns ``(summary, per_sentence)``: ``summary[k]`` = ``{"info_nats", "info_se",
    "entropy_nats", "cross_entropy_nats", "accuracy", "chance", "n_classes", "n_sentences"}``;
    ``per_sentence[k]`` = ``{"info": [N] held-out H(F_k) - CE_i, "correct": [N] 0/1}``.
    scikit-learn runs with ``threads`` BLAS threads (1: the same bytes on every run)."""
    from threadpoolctl import threadpool_limits

    z = np.asarray(z, dtype=np.float64)
    n = len(z)
    if n < 4:
        raise ValueError(f"factor probe: {n} sentences; at least 4 are needed (two halves of two)")
    halves = (np.arange(n) < n // 2, np.arange(n) >= n // 2)  # the probe sentences are independent draws
    summary, per_sentence = {}, {}
    with threadpool_limits(limits=threads):
        for key, y in labels.items():
            y = np.asarray(y, dtype=np.int64)
            k = n_classes[key]
            probs = np.empty((n, k))
            chance = np.empty(n, dtype=bool)
            for train, test in (halves, halves[::-1]):
                probs[test] = _held_out_probabilities(z[train], y[train], z[test], k, seed)
                chance[test] = y[test] == np.bincount(y[train], minlength=k).argmax()
            info = entropies[key] + np.log(probs[np.arange(n), y])  # H(F_k) - CE_i
            correct = probs.argmax(1) == y
            summary[key] = {"info_nats": float(info.mean()), "info_se": float(info.std(ddof=1) / math.sqrt(n)),
                            "entropy_nats": float(entropies[key]), "cross_entropy_nats": float(entropies[key] - info.mean()),
                            "accuracy": float(correct.mean()), "chance": float(chance.mean()), "n_classes": k,
                            "n_sentences": n}
            per_sentence[key] = {"info": info, "correct": correct.astype(np.int8)}
    return summary, per_sentence


@torch.no_grad()
def posterior_samples(model, batches) -> np.ndarray:
    """One z ~ q(z | x) per sentence of ``batches``, the groups flattened: ``[N, L * d]``."""
    model.eval()
    out = []
    for batch in batches:
        z = model.sample_posterior(model.encode(batch), k=1).z[0]  # [B, L, d]
        out.append(z.reshape(z.shape[0], -1).double().cpu())
    return torch.cat(out).numpy()
