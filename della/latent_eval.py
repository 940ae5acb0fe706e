"""Likelihood and latent-space metrics: one code path for every latent model (DESIGN §6).

All figures come from the four methods of ``della.vae.LatentModel``; nothing here knows which
model it evaluates.

* **IW-NLL / PPL** (Burda et al. 2016; DELLA's ``calc_iwnll``, Optimus' ``calc_iwnll``):
  ``log p(x) ≈ logsumexp_k log w_k − log K`` with ``log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x)``,
  z_k ~ q(z|x). The K samples come from one batched posterior pass and one batched decoder pass
  over K·B sequences (in chunks). ``PPL = exp(−Σ_x log p(x) / Σ_x n_tokens(x))`` where n_tokens
  counts the scored tokens (the target's tokens and its <eos>, not <bos>, source or padding).
  For models with several latent groups the latent terms ``log p(z) − log q(z|x)`` are summed
  over groups (the joint density, paper Eq. 6: ``*_sum`` keys, used in tables) and, labelled as
  the official DELLA convention, averaged over groups (``*_official_mean``).
* **ELBO** = E_q[log p(x|z)] − KL, with the reconstruction averaged over the K samples and the
  analytic KL (per group, at the sampled lower groups). ``neg_elbo`` and ``nll_rec`` are nats
  per sentence.
* **MI** (Hoffman & Johnson 2016; ``calc_mi`` of vae-pretraining-encoder / Optimus):
  ``I(x; z) = E_x E_{q(z|x)} log q(z|x) − E_{q(z)} log q(z)`` with one z_i ~ q(z|x_i) per
  sentence and the aggregate posterior q(z) = (1/N) Σ_j q(z|x_j) over ALL N evaluation
  sentences (not per batch), so the estimate is bounded by log N. ``mi`` is the joint latent;
  ``mi_per_group`` uses each group's conditional factor q(z_l | z_{i,<l}, x_j) (for DELLA: the
  layer-l posterior with x_i's own lower latents; for single-latent models it equals ``mi``).
* **AU** (Burda et al. 2016): dimension u is active when Var_x(E_q[z_u|x]) > delta; for DELLA
  the posterior means are taken layer by layer with the lower layers at their means. Reported at
  delta = 0.01 and 0.2, as a count over all dimensions (``au_joint``) and as the mean over groups
  of the per-group count (``au_per_group_mean``, the paper's figure for DELLA).
"""
from __future__ import annotations

import math
import time

import torch
from tqdm import tqdm


def _reduce_groups(t: torch.Tensor, how: str) -> torch.Tensor:
    return t.sum(-1) if how == "sum" else t.mean(-1)


@torch.no_grad()
def evaluate_latent_model(model, batches, *, k: int = 30, k_chunk: int | None = None, mi: bool = True,
                          au_deltas=(0.01, 0.2), progress: bool = True, posterior_means: list | None = None) -> dict:
    """IW-PPL, ELBO, KL (total and per group), MI and AU over ``batches`` (a list of Batch).

    ``posterior_means``: a list that receives the posterior means ``[N, L, d]`` used for AU (so a
    caller can probe them without encoding the data again)."""
    model.eval()
    n_sent = 0
    n_tok = 0
    sums = {"iw_ll_sum": 0.0, "iw_ll_official_mean": 0.0, "rec": 0.0, "kl_sum": 0.0, "kl_mean": 0.0}
    kl_groups = None
    means, encs, z_first, log_q_own = [], [], [], []
    seconds = {"iw_elbo_kl": 0.0, "au": 0.0, "mi": 0.0}
    for batch in tqdm(batches, desc=f"IW-PPL (K={k})", disable=not progress, leave=False):
        start = time.perf_counter()
        enc = model.encode(batch)
        sample = model.sample_posterior(enc, k=k)
        log_px_z = model.log_px_given_z(batch, sample.z, chunk=k_chunk)  # [K, B]
        latent_terms = sample.log_prior() - sample.log_q()  # [K, B, L]
        for key, how in (("iw_ll_sum", "sum"), ("iw_ll_official_mean", "mean")):
            log_w = log_px_z + _reduce_groups(latent_terms, how)
            sums[key] += (torch.logsumexp(log_w, 0) - math.log(k)).sum().item()
        kl = sample.kl().sum(-1).mean(0)  # [B, L]: analytic per group, averaged over the K paths
        sums["rec"] += (-log_px_z.mean(0)).sum().item()
        sums["kl_sum"] += kl.sum(-1).sum().item()
        sums["kl_mean"] += kl.mean(-1).sum().item()
        kl_groups = kl.sum(0) if kl_groups is None else kl_groups + kl.sum(0)
        n_sent += len(batch)
        n_tok += batch.n_tokens.sum().item()
        mid = time.perf_counter()
        seconds["iw_elbo_kl"] += mid - start
        means.append(model.sample_posterior(enc, k=1, use_mean=True).post_mean[0])  # [B, L, d]
        seconds["au"] += time.perf_counter() - mid
        if mi:
            encs.append(enc)
            z_first.append(sample.z[0])  # one z_i ~ q(z | x_i) per sentence
            log_q_own.append(sample.log_q()[0])  # [B, L]
    out = {
        "n_sentences": n_sent,
        "n_tokens": n_tok,
        "token_denominator": "scored target tokens incl. <eos> (excl. <bos>, source, padding)",
        "iw_samples": k,
    }
    for conv, key in (("sum", "iw_ll_sum"), ("official_mean", "iw_ll_official_mean")):
        nll = -sums[key]
        out[f"iw_nll_{conv}"] = nll / n_sent
        out[f"ppl_{conv}"] = math.exp(nll / n_tok)
    out["nll_rec"] = sums["rec"] / n_sent
    out["kl_sum"] = sums["kl_sum"] / n_sent
    out["kl_official_mean"] = sums["kl_mean"] / n_sent
    out["kl_per_group"] = (kl_groups / n_sent).tolist()
    out["neg_elbo_sum"] = out["nll_rec"] + out["kl_sum"]
    out["neg_elbo_official_mean"] = out["nll_rec"] + out["kl_official_mean"]
    start = time.perf_counter()
    means = torch.cat(means)
    if posterior_means is not None:
        posterior_means.append(means)
    out.update(active_units(means, au_deltas))
    seconds["au"] += time.perf_counter() - start
    if mi:
        start = time.perf_counter()
        out.update(mutual_information(model, z_first, encs, log_q_own))
        seconds["mi"] = time.perf_counter() - start
    out["seconds"] = seconds
    return out


def active_units(post_means: torch.Tensor, deltas=(0.01, 0.2)) -> dict:
    """Active units from posterior means ``[N, L, d]``: Var over x of E_q[z|x] > delta."""
    var = post_means.float().var(0, unbiased=True)  # [L, d]
    out = {}
    for delta in deltas:
        active = var > delta
        out[f"au_joint@{delta}"] = int(active.sum())
        out[f"au_per_group_mean@{delta}"] = float(active.sum(-1).float().mean())
        out[f"au_per_group@{delta}"] = active.sum(-1).tolist()
    return out


@torch.no_grad()
def mutual_information(model, z_batches, enc_batches, log_q_own_batches) -> dict:
    """Aggregate-posterior MI estimate over all N sentences (see the module docstring).

    ``z_batches[b]`` ``[B_b, L, d]`` one sample per sentence; ``enc_batches[b]`` the encodings;
    ``log_q_own_batches[b]`` ``[B_b, L]`` log q(z_i | x_i) per group. Pairs are computed block by
    block with ``model.log_posterior_pairwise`` (the encoder is never re-run).
    """
    n = sum(z.shape[0] for z in z_batches)
    log_q_own = torch.cat(log_q_own_batches)  # [N, L]
    log_agg = []
    for z in z_batches:
        blocks = [model.log_posterior_pairwise(z, enc) for enc in enc_batches]  # each [B_i, B_j, L]
        pair = torch.cat(blocks, dim=1)  # [B_i, N, L]
        per_group = torch.logsumexp(pair, dim=1) - math.log(n)  # [B_i, L]
        joint = torch.logsumexp(pair.sum(-1), dim=1) - math.log(n)  # [B_i]
        log_agg.append(torch.cat([per_group, joint[:, None]], dim=-1))
    log_agg = torch.cat(log_agg)  # [N, L + 1]
    mi_joint = (log_q_own.sum(-1) - log_agg[:, -1]).mean().item()
    mi_groups = (log_q_own - log_agg[:, :-1]).mean(0).tolist()
    return {"mi": mi_joint, "mi_per_group": mi_groups, "mi_n": n, "mi_bound_log_n": math.log(n)}


@torch.no_grad()
def evaluate_language_model(model, batches, progress: bool = True) -> dict:
    """Exact NLL / PPL of a model without a latent."""
    model.eval()
    nll = 0.0
    n_sent = n_tok = 0
    for batch in tqdm(batches, desc="PPL", disable=not progress, leave=False):
        nll += model(batch).rec.sum().item()
        n_sent += len(batch)
        n_tok += batch.n_tokens.sum().item()
    return {"n_sentences": n_sent, "n_tokens": n_tok,
            "token_denominator": "scored target tokens incl. <eos> (excl. <bos>, source, padding)",
            "nll": nll / n_sent, "ppl": math.exp(nll / n_tok)}
