"""Model-based and distributional text metrics: BERTScore, MAUVE and CND (README, "Metrics and conventions":
"CND, MAUVE and BERTScore only where their models can be had locally").

Nothing here downloads anything.  Every model is named by a **local folder** (a
``save_pretrained`` directory with its tokenizer) and loaded with
``local_files_only=True``; a folder that does not exist raises
:class:`LocalModelMissing` naming it.  :func:`model_metrics` is the switch the evaluator
calls: a metric whose folder is ``None`` is skipped (and said so in the result).

BERTScore (Zhang et al. 2020, "BERTScore: Evaluating Text Generation with BERT", ICLR)
    Contextual token embeddings of candidate x and reference y from one layer of a
    ``transformers.AutoModel``; each embedding L2-normalised; greedy matching on cosine
    similarity: ``R = mean_{y_j} max_{x_i} cos``, ``P = mean_{x_i} max_{y_j} cos``,
    ``F1 = 2PR/(P+R)``.  As bert-score 0.3.10, [CLS] and [SEP] get zero weight as matched
    tokens but stay in the similarity matrix as match targets (so they can be a token's best
    match); every other token, special or not, weighs 1 (or its idf).  ``idf=False`` by default
    (uniform token weights); ``idf=True`` uses ``log((M+1)/(df+1))`` over the M
    references, as the official code.  No baseline rescaling (its files are not local).
    Layer: ``num_layers`` (hidden_states index, default the last layer); the official
    per-model defaults (e.g. roberta-large: 17) apply to those models only, so pass it
    explicitly when you reproduce a published number.  An empty candidate or reference
    scores P = R = F1 = 0.

MAUVE (Pillutla et al. 2021, "MAUVE: Measuring the Gap Between Neural Text and Human Text
using Divergence Frontiers", NeurIPS)
    Features: the last layer's hidden state at the last token of each text (the official
    featuriser, GPT-2 large there; any local causal LM or encoder here).  Quantisation:
    the p and q features are stacked, L2-normalised, projected by PCA onto the
    components explaining ``explained_variance`` (0.9) of the variance, and clustered by
    k-means (k-means++ init, ``num_redo`` = 5 restarts, ``max_iter`` = 500, a small numpy
    implementation below) into ``num_buckets`` clusters (``"auto"``: ``max(2,
    round(min(|p|, |q|) / 10))``).  Divergence frontier: for mixture weights ``w`` on
    ``linspace(1e-6, 1 - 1e-6, 25)``, ``R_w = w P + (1 - w) Q``, the point
    ``(exp(-c KL(Q || R_w)), exp(-c KL(P || R_w)))`` with scaling ``c = 5``, plus the end
    points (0, 1) and (1, 0); MAUVE is the area under that curve (trapezoids).  All
    defaults are the official package's (``mauve-text``), which is not needed.

CND
    The DELLA paper reports "CND" (lower is better) citing Li et al. (2020, "On the Relation
    between Quality-Diversity Evaluation and Distribution-Fitting Goal in Text Generation",
    ICML), an n-gram based divergence between the generated and the real text
    distributions.  Its exact formula could **not** be established offline (neither the
    paper's text nor DELLA's evaluation code is available here).  :func:`cnd` therefore
    implements the closest documented construction: for each order n = 1..max_n, the
    Jensen-Shannon divergence (natural log, in [0, ln 2]) between the empirical n-gram
    distributions of the samples and of the references, averaged uniformly over n.  It is
    0 iff the two n-gram distributions coincide and needs no model.  Treat numbers from it
    as *not* comparable with the paper's CND column until the definition is confirmed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = [
    "LocalModelMissing",
    "load_local_model",
    "bertscore",
    "mauve",
    "mauve_from_features",
    "mauve_from_histograms",
    "kmeans",
    "cnd",
    "model_metrics",
]


class LocalModelMissing(FileNotFoundError):
    """A model-based metric was asked for but its local model folder is not there."""


# --------------------------------------------------------------------------------------
# loading (local only)
# --------------------------------------------------------------------------------------
_LOADED: dict = {}


def load_local_model(model_dir: str | Path, *, device: str | None = None):
    """``(tokenizer, model, device)`` from a local folder, never from the network.

    Raises :class:`LocalModelMissing` naming the folder when it does not exist or holds
    no ``config.json``.  The last loaded model is kept in memory (one entry) so that
    BERTScore and MAUVE on the same folder load it once.
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = Path(model_dir).expanduser()
    if not path.is_dir():
        raise LocalModelMissing(
            f"model folder {str(path)!r} does not exist: model-based metrics need a local copy of "
            f"the model (nothing is downloaded); pass an existing save_pretrained() folder or None"
        )
    if not (path / "config.json").is_file():
        raise LocalModelMissing(f"model folder {str(path)!r} has no config.json (not a save_pretrained() folder)")
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    key = (str(path.resolve()), dev, (path / "config.json").stat().st_mtime_ns)
    if key in _LOADED:
        return _LOADED[key]
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    tok.padding_side = "right"
    model = AutoModel.from_pretrained(str(path), local_files_only=True)
    model.to(dev).eval()
    _LOADED.clear()
    _LOADED[key] = (tok, model, dev)
    return tok, model, dev


def _encode(tok, model, dev, texts: Sequence[str], *, layer: int, batch_size: int, max_length: int):
    """Per text ``(hidden states [T, H] float32 CPU tensor, special [T] bool)`` of the ``layer``-th
    hidden states (``hidden_states`` index), padding removed (right padding, so the real
    tokens are a prefix); ``special`` marks special tokens ([CLS], [SEP], ...)."""
    import torch

    max_length = min(max_length, getattr(tok, "model_max_length", max_length) or max_length)
    n_pos = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
    if n_pos:
        max_length = min(max_length, int(n_pos))
    out = []
    for a in range(0, len(texts), batch_size):
        chunk = list(texts[a : a + batch_size])
        enc = tok(chunk, padding=True, truncation=True, max_length=max_length, return_tensors="pt",
                  return_special_tokens_mask=True)
        special = enc.pop("special_tokens_mask").bool()
        lens = enc["attention_mask"].sum(dim=1).tolist()
        if enc["input_ids"].shape[1] == 0:  # every text of the batch is empty
            out.extend((torch.zeros(0, 1), torch.zeros(0, dtype=torch.bool)) for _ in chunk)
            continue
        enc = {k: v.to(dev) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        with torch.no_grad():
            hs = model(**enc, output_hidden_states=True).hidden_states[layer].float().cpu()
        for i, L in enumerate(lens):
            out.append((hs[i, :L], special[i, :L]))
    return out


# --------------------------------------------------------------------------------------
# BERTScore
# --------------------------------------------------------------------------------------
def _idf_weights(tok, references: Sequence[str]) -> dict[int, float]:
    """Official BERTScore idf: ``log((M + 1) / (df + 1))`` over the M references."""
    M = len(references)
    df: dict[int, int] = {}
    for r in references:
        for t in set(tok(r, add_special_tokens=False)["input_ids"]):
            df[t] = df.get(t, 0) + 1
    return {t: math.log((M + 1) / (c + 1)) for t, c in df.items()} | {-1: math.log(M + 1)}


def bertscore(
    candidates: Sequence[str],
    references: Sequence[str],
    model_dir: str | Path,
    *,
    num_layers: int = -1,
    idf: bool = False,
    batch_size: int = 32,
    max_length: int = 512,
    device: str | None = None,
) -> dict:
    """BERTScore (Zhang et al. 2020) of paired texts; see the module docstring.

    Returns ``{"precision", "recall", "f1"}`` (means over pairs, fractions) and the
    per-pair lists ``"p"``, ``"r"``, ``"f"``.
    """
    import torch

    candidates, references = list(candidates), list(references)
    if len(candidates) != len(references):
        raise ValueError(f"{len(candidates)} candidates but {len(references)} references")
    tok, model, dev = load_local_model(model_dir, device=device)
    kw = dict(layer=num_layers, batch_size=batch_size, max_length=max_length)
    cand = _encode(tok, model, dev, candidates, **kw)
    refs = _encode(tok, model, dev, references, **kw)
    idf_map = _idf_weights(tok, references) if idf else None
    max_len = min(max_length, getattr(tok, "model_max_length", max_length) or max_length)
    n_pos = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
    max_len = min(max_len, int(n_pos)) if n_pos else max_len
    # bert-score 0.3.10 (score.py / scorer.py): idf_dict[sep_token_id] = idf_dict[cls_token_id] = 0.
    # [CLS] and [SEP] weigh nothing as the token being matched, but stay in the similarity matrix,
    # so they remain match TARGETS for the other side's tokens (greedy_cos_idf masks padding only).
    zero_ids = {t for t in (tok.cls_token_id, tok.sep_token_id) if t is not None}
    all_ids_c = [tok(c, truncation=True, max_length=max_len)["input_ids"] for c in candidates]
    all_ids_r = [tok(r, truncation=True, max_length=max_len)["input_ids"] for r in references]

    def weights(ids):
        w = torch.tensor([0.0 if t in zero_ids else (idf_map.get(t, idf_map[-1]) if idf_map is not None else 1.0)
                          for t in ids], dtype=torch.float64)
        return w / w.sum() if w.sum() > 0 else w

    P, R, F = [], [], []
    for i, ((hc, _sc), (hr, _sr)) in enumerate(zip(cand, refs)):
        wc, wr = weights(all_ids_c[i]), weights(all_ids_r[i])
        # bert-score: a text with no token besides [CLS] [SEP] (an empty one) scores P = R = 0
        if hc.shape[0] == 0 or hr.shape[0] == 0 or wc.sum() == 0 or wr.sum() == 0:
            P.append(0.0), R.append(0.0), F.append(0.0)
            continue
        xc = torch.nn.functional.normalize(hc.double(), dim=-1)
        xr = torch.nn.functional.normalize(hr.double(), dim=-1)
        sim = xr @ xc.T  # [ref tokens, cand tokens], special tokens included
        r = float((sim.max(dim=1).values * wr).sum())
        p = float((sim.max(dim=0).values * wc).sum())
        f = 2 * p * r / (p + r) if p + r > 0 else 0.0
        P.append(p), R.append(r), F.append(f)
    n = max(len(P), 1)
    return {"precision": sum(P) / n, "recall": sum(R) / n, "f1": sum(F) / n, "p": P, "r": R, "f": F}


# --------------------------------------------------------------------------------------
# MAUVE
# --------------------------------------------------------------------------------------
def featurize(texts: Sequence[str], model_dir: str | Path, *, batch_size: int = 16, max_length: int = 1024,
              device: str | None = None) -> np.ndarray:
    """MAUVE features: last layer hidden state at the last real token of each text ([N, H]).

    An empty text is replaced by the tokenizer's EOS (or BOS/UNK) token so that it has a
    feature (the official featuriser fails on empty texts).
    """
    tok, model, dev = load_local_model(model_dir, device=device)
    filler = tok.eos_token or tok.bos_token or tok.unk_token or " "
    texts = [t if t.strip() else filler for t in texts]
    feats = [h[-1].numpy() for h, _special in _encode(tok, model, dev, texts, layer=-1, batch_size=batch_size,
                                                          max_length=max_length)]
    return np.stack(feats).astype(np.float64)


def kmeans(x: np.ndarray, k: int, *, num_redo: int = 5, max_iter: int = 500, seed: int = 25,
           tol: float = 1e-4) -> tuple[np.ndarray, np.ndarray, float]:
    """Lloyd's k-means with k-means++ seeding (Arthur & Vassilvitskii 2007), best of
    ``num_redo`` restarts by inertia.  Returns ``(labels, centers, inertia)``.

    Stops when no label changes or the centres move less than ``tol`` x mean feature
    variance (scikit-learn's convention).  Empty clusters are re-seeded with the point
    farthest from its centre.
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    k = int(min(k, n))
    if k < 1:
        raise ValueError("k-means needs at least one point and k >= 1")
    rng = np.random.default_rng(seed)
    tol_abs = tol * float(np.mean(np.var(x, axis=0))) if n > 1 else 0.0
    sq = np.einsum("ij,ij->i", x, x)
    best = None
    for _ in range(num_redo):
        # k-means++
        centers = np.empty((k, x.shape[1]))
        centers[0] = x[rng.integers(n)]
        d2 = np.maximum(sq - 2 * x @ centers[0] + centers[0] @ centers[0], 0)
        for c in range(1, k):
            tot = d2.sum()
            j = rng.choice(n, p=d2 / tot) if tot > 0 else rng.integers(n)
            centers[c] = x[j]
            d2 = np.minimum(d2, np.maximum(sq - 2 * x @ centers[c] + centers[c] @ centers[c], 0))
        labels = None
        for _it in range(max_iter):
            dist = sq[:, None] - 2 * x @ centers.T + np.einsum("ij,ij->i", centers, centers)[None, :]
            new = np.argmin(dist, axis=1)
            counts = np.bincount(new, minlength=k)
            sums = np.zeros_like(centers)
            np.add.at(sums, new, x)
            moved = centers.copy()
            nonempty = counts > 0
            moved[nonempty] = sums[nonempty] / counts[nonempty, None]
            for c in np.flatnonzero(~nonempty):  # re-seed an empty cluster
                far = int(np.argmax(dist[np.arange(n), new]))
                moved[c] = x[far]
                new[far] = c
            shift = float(((moved - centers) ** 2).sum())
            centers = moved
            if labels is not None and np.array_equal(new, labels) or shift <= tol_abs:
                labels = new
                break
            labels = new
        dist = sq[:, None] - 2 * x @ centers.T + np.einsum("ij,ij->i", centers, centers)[None, :]
        labels = np.argmin(dist, axis=1)
        inertia = float(np.maximum(dist[np.arange(n), labels], 0).sum())
        if best is None or inertia < best[2]:
            best = (labels, centers, inertia)
    return best


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    if np.any((p > 0) & (q == 0)):
        return math.inf
    m = (p > 0) & (q > 0)
    return float(np.sum(p[m] * np.log(p[m] / q[m])))


def divergence_curve(p_hist: np.ndarray, q_hist: np.ndarray, *, scaling_factor: float = 5.0,
                     discretization: int = 25) -> np.ndarray:
    """MAUVE's divergence frontier: array [K, 2] of ``(exp(-c KL(Q||R)), exp(-c KL(P||R)))``."""
    pts = [[math.inf, 0.0]]
    for w in np.linspace(1e-6, 1 - 1e-6, discretization):
        r = w * p_hist + (1 - w) * q_hist
        pts.append([_kl(q_hist, r), _kl(p_hist, r)])
    pts.append([0.0, math.inf])
    return np.exp(-scaling_factor * np.asarray(pts))


def mauve_from_histograms(p_hist, q_hist, *, scaling_factor: float = 5.0, discretization: int = 25) -> float:
    """Area under the divergence frontier of two histograms over the same buckets."""
    p = np.asarray(p_hist, dtype=np.float64)
    q = np.asarray(q_hist, dtype=np.float64)
    p, q = p / p.sum(), q / q.sum()
    curve = divergence_curve(p, q, scaling_factor=scaling_factor, discretization=discretization)
    order = np.argsort(curve[:, 0], kind="stable")
    x, y = curve[order, 0], curve[order, 1]
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


def mauve_from_features(p_feats: np.ndarray, q_feats: np.ndarray, *, num_buckets: int | str = "auto",
                        explained_variance: float = 0.9, num_redo: int = 5, max_iter: int = 500,
                        scaling_factor: float = 5.0, discretization: int = 25, seed: int = 25) -> dict:
    """MAUVE of two feature sets (``p``: model text, ``q``: human text, as in the paper).

    Returns ``{"mauve", "p_hist", "q_hist", "num_buckets", "pca_dims"}``.
    """
    p_feats, q_feats = np.asarray(p_feats, np.float64), np.asarray(q_feats, np.float64)
    if len(p_feats) == 0 or len(q_feats) == 0:
        raise ValueError("MAUVE needs at least one text on each side")
    k = max(2, int(round(min(len(p_feats), len(q_feats)) / 10))) if num_buckets == "auto" else int(num_buckets)
    data = np.vstack([q_feats, p_feats])
    norms = np.linalg.norm(data, axis=1, keepdims=True)
    data = data / np.where(norms > 0, norms, 1.0)
    dims = data.shape[1]
    if explained_variance < 1:
        centred = data - data.mean(axis=0)
        _u, s, vt = np.linalg.svd(centred, full_matrices=False)
        var = s**2
        if var.sum() > 0:
            ratio = np.cumsum(var) / var.sum()
            dims = int(np.searchsorted(ratio, explained_variance) + 1)  # official: idx + 1 components
            dims = min(dims, vt.shape[0])
            data = centred @ vt[:dims].T
    labels, _, _ = kmeans(data, k, num_redo=num_redo, max_iter=max_iter, seed=seed)
    nq = len(q_feats)
    q_hist = np.bincount(labels[:nq], minlength=k) / nq
    p_hist = np.bincount(labels[nq:], minlength=k) / len(p_feats)
    m = mauve_from_histograms(p_hist, q_hist, scaling_factor=scaling_factor, discretization=discretization)
    return {"mauve": m, "p_hist": p_hist, "q_hist": q_hist, "num_buckets": k, "pca_dims": dims}


def mauve(p_texts: Sequence[str], q_texts: Sequence[str], model_dir: str | Path, *, max_length: int = 1024,
          batch_size: int = 16, device: str | None = None, **kwargs) -> dict:
    """MAUVE (Pillutla et al. 2021) of generated texts ``p_texts`` vs human texts ``q_texts``,
    with features from the local model in ``model_dir``; ``kwargs`` go to
    :func:`mauve_from_features`.  In (0, 1], higher is closer."""
    pf = featurize(p_texts, model_dir, batch_size=batch_size, max_length=max_length, device=device)
    qf = featurize(q_texts, model_dir, batch_size=batch_size, max_length=max_length, device=device)
    return mauve_from_features(pf, qf, **kwargs)


# --------------------------------------------------------------------------------------
# CND (see the module docstring for the caveat)
# --------------------------------------------------------------------------------------
def _ngram_counter(sentences: Sequence[Sequence[str]], n: int) -> dict:
    c: dict = {}
    for s in sentences:
        for i in range(len(s) - n + 1):
            g = tuple(s[i : i + n])
            c[g] = c.get(g, 0) + 1
    return c


def cnd(samples: Sequence[Sequence[str]], references: Sequence[Sequence[str]], max_n: int = 4) -> float:
    """n-gram distribution divergence: mean over n = 1..max_n of JS(P_n^samples, P_n^refs).

    Jensen-Shannon divergence with natural logarithms, in [0, ln 2]; an order for which
    one side has no n-gram counts ln 2 (maximal) unless both have none (then it is
    skipped).  Token lists in, like :mod:`della.evaluation.text_metrics`.  See the module docstring: the
    DELLA paper's exact CND definition could not be confirmed, this is the closest
    documented construction.
    """
    vals = []
    for n in range(1, max_n + 1):
        a, b = _ngram_counter(samples, n), _ngram_counter(references, n)
        ta, tb = sum(a.values()), sum(b.values())
        if ta == 0 and tb == 0:
            continue
        if ta == 0 or tb == 0:
            vals.append(math.log(2))
            continue
        js = 0.0
        for g in a.keys() | b.keys():
            p, q = a.get(g, 0) / ta, b.get(g, 0) / tb
            m = (p + q) / 2
            if p > 0:
                js += 0.5 * p * math.log(p / m)
            if q > 0:
                js += 0.5 * q * math.log(q / m)
        vals.append(js)
    return float(np.mean(vals)) if vals else 0.0


# --------------------------------------------------------------------------------------
# the switch
# --------------------------------------------------------------------------------------
@dataclass
class ModelMetricsConfig:
    """Which model-based metrics to run, each named by a local folder (``None`` = skip)."""

    bertscore_model: str | None = None
    bertscore_layer: int = -1
    bertscore_idf: bool = False
    mauve_model: str | None = None
    mauve_max_length: int = 1024
    cnd: bool = True
    cnd_max_n: int = 4
    device: str | None = None
    seed: int = 25


def model_metrics(
    hyp_strings: Sequence[str],
    ref_strings: Sequence[str],
    cfg: ModelMetricsConfig | None = None,
    *,
    hyp_tokens: Sequence[Sequence[str]] | None = None,
    ref_tokens: Sequence[Sequence[str]] | None = None,
    conditional: bool = False,
) -> dict:
    """Run the metrics ``cfg`` switches on; scaled like the DELLA paper.

    * ``bertscore_p/r/f1`` (x100): conditional tasks only (paired hypothesis/target);
    * ``mauve`` (fraction): samples vs references, any task;
    * ``cnd`` (nats, lower is better): n-gram JS divergence, needs no model.

    A metric whose folder is ``None`` is absent and listed in ``skipped``; a folder that is
    given but missing raises :class:`LocalModelMissing`.
    """
    cfg = cfg or ModelMetricsConfig()
    out: dict = {"skipped": []}
    for name, folder in (("bertscore", cfg.bertscore_model), ("mauve", cfg.mauve_model)):
        if folder is not None and not Path(folder).expanduser().is_dir():
            raise LocalModelMissing(f"{name}: model folder {folder!r} does not exist (nothing is downloaded)")
    if cfg.bertscore_model is not None and conditional:
        bs = bertscore(hyp_strings, ref_strings, cfg.bertscore_model, num_layers=cfg.bertscore_layer,
                       idf=cfg.bertscore_idf, device=cfg.device)
        out.update(bertscore_p=100 * bs["precision"], bertscore_r=100 * bs["recall"], bertscore_f1=100 * bs["f1"],
                   bertscore_model=str(cfg.bertscore_model))
    else:
        out["skipped"].append("bertscore" + ("" if conditional else " (unconditional task)"))
    if cfg.mauve_model is not None:
        m = mauve(hyp_strings, ref_strings, cfg.mauve_model, max_length=cfg.mauve_max_length, device=cfg.device,
                  seed=cfg.seed)
        out.update(mauve=m["mauve"], mauve_buckets=m["num_buckets"], mauve_model=str(cfg.mauve_model))
    else:
        out["skipped"].append("mauve")
    if cfg.cnd:
        ht = hyp_tokens if hyp_tokens is not None else [h.split() for h in hyp_strings]
        rt = ref_tokens if ref_tokens is not None else [r.split() for r in ref_strings]
        out["cnd"] = cnd(ht, rt, cfg.cnd_max_n)
        out["cnd_definition"] = f"mean JS divergence (nats) of 1..{cfg.cnd_max_n}-gram distributions"
    else:
        out["skipped"].append("cnd")
    return out
