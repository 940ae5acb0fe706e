"""Likelihood and latent-space metrics: one code path for every latent model (README, "Metrics and conventions").

All figures come from the four methods of ``della.models.vae.LatentModel``; nothing here knows which
model it evaluates.

* **IW-NLL / PPL** (Burda et al. 2016; DELLA's ``calc_iwnll``, Optimus' ``calc_iwnll``):
  ``log p(x) ≈ logsumexp_k log w_k − log K`` with ``log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x)``,
  z_k ~ q(z|x). The K samples come from one batched posterior pass and one batched decoder pass
  over K·B sequences (in chunks). Two conventions side by side (README, "Metrics and conventions"):

  - principled: ``ppl_sum = exp(−Σ_x log p(x) / Σ_x n_tokens(x))`` where n_tokens counts the
    scored tokens (the target's tokens and its <eos>, not <bos>, source or padding) and the
    latent terms ``log p(z) − log q(z|x)`` are summed over groups (the joint density, paper
    Eq. 6: a bound on log p(x));
  - paper: ``ppl_paper`` = the official ``calc_iwnll`` (github.com/OpenVLG/DELLA,
    train_utils.py): the latent terms averaged over groups (``GPT2VAEEncoder.forward`` stacks the
    per-layer ``log_prior``/``log_post`` and takes ``.mean(0)``; not a bound) and the token count
    ``attention_mask.sum(-1)`` of ``<bos> x <eos>``, i.e. words + <s> + </s>
    (``n_tokens_paper`` = the scored tokens plus one <bos> per sentence), with the model's official
    number of samples (``iw_samples_paper`` = ``model.official_iw_samples``: DELLA's ``calc_iwnll``
    default 30, Optimus' ``loss_iw`` 100; else ``k``). One batched pass draws ``max(k, K_paper)``
    samples: the principled figures read the first ``k``, the paper figures the first ``K_paper``.
    ``ppl_official_mean`` keeps the mean-over-groups latent term with OUR token count.
* **ELBO** = E_q[log p(x|z)] − KL, with the reconstruction averaged over the K samples and the
  analytic KL (per group, at the sampled lower groups, averaged over the K sample paths; the
  official ``calc_iwnll`` takes DELLA's KL from one extra encoder pass instead, an estimator of
  the same expectation with K times its variance). ``neg_elbo_sum`` / ``kl_sum`` sum the
  groups (principled); ``neg_elbo_paper`` / ``kl_paper`` average them as the official code
  (``kl_loss = torch.stack(all_kl_loss).mean(0)``), over ``K_paper`` samples
  (``nll_rec_paper``). Nats per sentence.
* **MI** (Hoffman & Johnson 2016; ``calc_mi`` of vae-pretraining-encoder / Optimus):
  ``I(x; z) = E_x E_{q(z|x)} log q(z|x) − E_{q(z)} log q(z)`` with the first term analytic
  (``−d/2 log 2π − ½ Σ (1 + log σ²)``, as ``calc_mi``; for DELLA per group at the sampled lower
  latents), one z_i ~ q(z|x_i) per sentence and the aggregate posterior
  q(z) = (1/N) Σ_j q(z|x_j) over ALL N evaluation sentences (not per batch), so the estimate
  is bounded by log N. ``mi`` is the joint latent. ``mi_per_group`` is the chain-rule term
  ``I(x; z_l | z_<l) = E[log q(z_l | z_<l, x)] − E[log q(z_≤l) − log q(z_<l)]`` with
  ``q(z_≤l) = (1/N) Σ_j Π_{m≤l} q(z_m | z_<m, x_j)``: the terms telescope, so the groups sum
  to ``mi`` exactly (for single-latent models ``mi_per_group == [mi]``).
* **AU** (Burda et al. 2016): dimension u is active when Var_x(E_q[z_u|x]) >= delta (the
  ``>=`` of Optimus, vae-pretraining-encoder and DELLA's ``calc_au``; the variance is the
  unbiased one, as ``calc_au``'s ``var_sum / (cnt − 1)``, in float64). Two ways of taking DELLA's
  posterior means: ``au_*`` (principled: layer by layer with the lower layers at their
  means, i.e. the mean of the mean path, the clamped means the model samples around) and
  ``au_paper*`` (official ``calc_au``: ``get_encode_states`` returns each layer's posterior mean,
  UNCLAMPED, given lower layers SAMPLED from the posterior, in two passes with fresh noise:
  ``var = Σ (m2 − mean(m1))² / (N − 1)``; here the passes are the first two of the K samples).
  Reported at delta = 0.01 and 0.2, as a count over all dimensions
  (``au_joint``, ``au_paper_joint``) and as the mean over groups of the per-group count
  (``au_per_group_mean``, ``au_paper``: the paper's figure for DELLA, 0..d). For
  single-latent models both ways coincide.
"""
from __future__ import annotations

import math
import time

import torch

from della.models.vae import LOG_2PI
from della.progress import track


PAPER_TOKENS = "scored target tokens + one <bos> per sentence (official calc_iwnll: words + <s> + </s>)"
OUR_TOKENS = "scored target tokens incl. <eos> (excl. <bos>, source, padding)"


def _reduce_groups(t: torch.Tensor, how: str) -> torch.Tensor:
    return t.sum(-1) if how == "sum" else t.mean(-1)


def gaussian_neg_entropy(logvar: torch.Tensor) -> torch.Tensor:
    """E_{N(mu, exp(logvar))}[log N(z; mu, exp(logvar))] summed over the last dimension (analytic,
    as ``calc_mi`` of vae-pretraining-encoder / Optimus: ``−d/2 log 2π − ½ Σ (1 + logvar)``)."""
    return -0.5 * (LOG_2PI + 1.0 + logvar).sum(-1)


@torch.no_grad()
def evaluate_latent_model(model, batches, *, k: int = 30, k_chunk: int | None = None, mi: bool = True,
                          au_deltas=(0.01, 0.2), progress: bool = True, posterior_means: list | None = None,
                          iw_eps: list | None = None, per_sentence: dict | None = None) -> dict:
    """IW-PPL, ELBO, KL (total and per group), MI and AU over ``batches`` (a list of Batch).

    ``posterior_means``: a list that receives the posterior means ``[N, L, d]`` used for AU (so a
    caller can probe them without encoding the data again). ``iw_eps``: per batch, the
    standard-normal draws of its ``max(k, K_paper)`` posterior samples ``[K, B, L, d]`` (default:
    fresh draws; the parity tests replay the official code's noise with it). Sample 0 also serves
    MI (its one z per sentence) and the first pass of ``au_paper``, sample 1 its second pass.
    ``per_sentence``: a dict that receives the figures of each sentence, in batch order, as numpy
    arrays (the per-sentence file, della/evaluation/evaluate.py): ``n_tokens``, ``log_p`` and
    ``log_p_paper`` (the IW estimate with the latent terms summed over groups with K samples /
    averaged with the paper's K), ``rec`` (E_q[-log p(x|z)] over the K samples), ``kl_groups``
    ``[N, L]``, ``rec_paper`` / ``kl_paper`` (the same over the paper's K samples, KL averaged over
    layers: the terms of ``neg_elbo_paper``), ``mu`` and ``mu_paper`` ``[N, L, d]`` (posterior means with the lower groups at
    their means / sampled, the first of ``au_paper``'s two passes: AU's two conventions),
    ``mu_paper_pass2`` (the second pass, with fresh noise) and, with
    ``mi``, ``mi_term`` / ``mi_sampled_term`` (the terms whose means are ``mi`` / ``mi_sampled``)."""
    model.eval()
    k_paper = getattr(model, "official_iw_samples", None) or k
    k_draw = max(k, k_paper)
    n_sent = 0
    n_tok = 0
    sums = {"iw_ll_sum": 0.0, "iw_ll_official_mean": 0.0, "rec": 0.0, "rec_paper": 0.0, "kl_sum": 0.0,
            "kl_mean": 0.0}
    kl_groups = None
    means, means_pass1, means_pass2, encs, z_first, neg_entropy, log_q_own = [], [], [], [], [], [], []
    seconds = {"iw_elbo_kl": 0.0, "au": 0.0, "mi": 0.0}
    rows: dict[str, list] = {"n_tokens": [], "log_p": [], "log_p_paper": [], "rec": [], "rec_paper": [],
                             "kl_groups": [], "kl_paper": []}
    bar = track(f"evaluate IW-PPL, ELBO, KL (K={k_draw})", sum(len(b) for b in batches), "sentences",
                enabled=progress)
    for b, batch in enumerate(batches):
        start = time.perf_counter()
        enc = model.encode(batch)
        # eps only when given: a model written before the keyword existed keeps working
        sample = (model.sample_posterior(enc, k=k_draw) if iw_eps is None
                  else model.sample_posterior(enc, k=k_draw, eps=iw_eps[b]))
        log_px_z = model.log_px_given_z(batch, sample.z, chunk=k_chunk)  # [K_draw, B]
        # principled figures: the first k samples; paper figures: the first k_paper
        for key, how, kk, row in (("iw_ll_sum", "sum", k, "log_p"), ("iw_ll_official_mean", "mean", k_paper,
                                                                       "log_p_paper")):
            latent_terms = sample[:kk].log_prior() - sample[:kk].log_q()  # [K, B, L]
            log_w = log_px_z[:kk] + _reduce_groups(latent_terms, how)
            log_p = torch.logsumexp(log_w, 0) - math.log(kk)  # [B]
            sums[key] += log_p.sum().item()
            rows[row].append(log_p.double().cpu())
        sums["rec"] += (-log_px_z[:k].mean(0)).sum().item()
        rows["rec"].append(-log_px_z[:k].mean(0).double().cpu())
        sums["rec_paper"] += (-log_px_z[:k_paper].mean(0)).sum().item()
        rows["rec_paper"].append(-log_px_z[:k_paper].mean(0).double().cpu())
        kl = sample[:k].kl().sum(-1).mean(0)  # [B, L]: analytic per group, averaged over the k paths
        kl_paper = sample[:k_paper].kl().sum(-1).mean(0)  # [B, L] over the k_paper paths
        rows["kl_groups"].append(kl.double().cpu())
        rows["kl_paper"].append(kl_paper.mean(-1).double().cpu())
        rows["n_tokens"].append(batch.n_tokens.cpu())
        sums["kl_sum"] += kl.sum(-1).sum().item()
        sums["kl_mean"] += kl_paper.mean(-1).sum().item()
        kl_groups = kl.sum(0) if kl_groups is None else kl_groups + kl.sum(0)
        n_sent += len(batch)
        n_tok += batch.n_tokens.sum().item()
        mid = time.perf_counter()
        seconds["iw_elbo_kl"] += mid - start
        means.append(model.sample_posterior(enc, k=1, use_mean=True).post_mean[0])  # [B, L, d]
        # official calc_au: each layer's posterior mean (unclamped) given lower layers sampled from the
        # posterior, in two passes with fresh noise: samples 0 and 1 (one pass when k_draw = 1)
        unclamped = sample.post_mean if sample.post_mean_unclamped is None else sample.post_mean_unclamped
        means_pass1.append(unclamped[0])  # [B, L, d]
        means_pass2.append(unclamped[min(1, k_draw - 1)])
        seconds["au"] += time.perf_counter() - mid
        if mi:
            encs.append(enc)
            z_first.append(sample.z[0])  # one z_i ~ q(z | x_i) per sentence
            neg_entropy.append(gaussian_neg_entropy(sample.post_logvar[0]))  # [B, L], at z_i's lower groups
            log_q_own.append(sample[:1].log_q()[0])  # [B, L]: the same term at the sample itself
        bar.update(len(batch))
    bar.close()
    out = {
        "n_sentences": n_sent,
        "n_tokens": n_tok,
        "n_tokens_paper": n_tok + n_sent,
        "token_denominator": OUR_TOKENS,
        "token_denominator_paper": PAPER_TOKENS,
        "iw_samples": k,
        "iw_samples_paper": k_paper,
    }
    for conv, key in (("sum", "iw_ll_sum"), ("official_mean", "iw_ll_official_mean")):
        nll = -sums[key]
        out[f"iw_nll_{conv}"] = nll / n_sent
        out[f"ppl_{conv}"] = math.exp(nll / n_tok)
    out["ppl_paper"] = math.exp(-sums["iw_ll_official_mean"] / (n_tok + n_sent))
    out["nll_rec"] = sums["rec"] / n_sent
    out["nll_rec_paper"] = sums["rec_paper"] / n_sent  # official calc_iwnll's 'nll' (K_paper samples)
    out["kl_sum"] = sums["kl_sum"] / n_sent
    out["kl_official_mean"] = sums["kl_mean"] / n_sent
    out["kl_paper"] = out["kl_official_mean"]
    out["kl_per_group"] = (kl_groups / n_sent).tolist()
    out["neg_elbo_sum"] = out["nll_rec"] + out["kl_sum"]
    out["neg_elbo_official_mean"] = out["nll_rec_paper"] + out["kl_official_mean"]
    out["neg_elbo_paper"] = out["neg_elbo_official_mean"]
    start = time.perf_counter()
    means = torch.cat(means)
    if posterior_means is not None:
        posterior_means.append(means)
    out.update(active_units(means, au_deltas))
    out.update(active_units(torch.cat(means_pass1), au_deltas, prefix="au_paper",
                            means_second_pass=torch.cat(means_pass2)))
    seconds["au"] += time.perf_counter() - start
    if mi:
        start = time.perf_counter()
        out.update(mutual_information(model, z_first, encs, neg_entropy, log_q_own, per_sentence=per_sentence,
                                      progress=progress))
        seconds["mi"] = time.perf_counter() - start
    out["seconds"] = seconds
    if per_sentence is not None:
        per_sentence.update({key: torch.cat(value).numpy() for key, value in rows.items()})
        per_sentence["mu"] = means.float().cpu().numpy()
        per_sentence["mu_paper"] = torch.cat(means_pass1).float().cpu().numpy()
        per_sentence["mu_paper_pass2"] = torch.cat(means_pass2).float().cpu().numpy()
    return out


def active_counts(var: torch.Tensor, delta: float) -> torch.Tensor:
    """Active dimensions of per-dimension variances ``[L, d]``: ``var >= delta`` (the ``>=`` of
    Optimus / vae-pretraining-encoder / DELLA's ``calc_au``), counted per group ``[L]``."""
    return (var >= delta).sum(-1)


def posterior_mean_variance(means: torch.Tensor, means_second_pass: torch.Tensor | None = None) -> torch.Tensor:
    """Per-dimension variance over sentences of posterior means, in float64: ``[N, L, d] -> [L, d]``,
    ``Σ_i (m_i − mean(m))² / (N − 1)`` (unbiased). With ``means_second_pass`` (the same sentences
    encoded again with fresh noise) it is the official ``calc_au``'s two-pass estimator
    ``Σ_i (m2_i − mean(m1))² / (N − 1)`` (DELLA train_utils.py:55-84, Optimus utils.py:1256-1306)."""
    first = means.double()
    second = first if means_second_pass is None else means_second_pass.double()
    return (second - first.mean(0)).pow(2).sum(0) / (first.shape[0] - 1)


def active_units(post_means: torch.Tensor, deltas=(0.01, 0.2), prefix: str = "au",
                 means_second_pass: torch.Tensor | None = None) -> dict:
    """Active units from posterior means ``[N, L, d]``: Var over x (unbiased, float64) of E_q[z|x] >= delta
    (``posterior_mean_variance``; ``means_second_pass``: the official two-pass estimator).

    ``prefix="au"``: ``au_joint@δ`` (all dimensions), ``au_per_group@δ`` and
    ``au_per_group_mean@δ``; ``prefix="au_paper"``: ``au_paper_joint@δ``, ``au_paper_per_group@δ``
    and ``au_paper@δ`` (the per-group mean, the paper's AU column)."""
    var = posterior_mean_variance(post_means, means_second_pass)  # [L, d]
    out = {}
    for delta in deltas:
        per_group = active_counts(var, delta)
        mean_key = f"{prefix}_per_group_mean@{delta}" if prefix == "au" else f"{prefix}@{delta}"
        out[f"{prefix}_joint@{delta}"] = int(per_group.sum())
        out[mean_key] = float(per_group.double().mean())
        out[f"{prefix}_per_group@{delta}"] = per_group.tolist()
    return out


@torch.no_grad()
def mutual_information(model, z_batches, enc_batches, neg_entropy_batches, log_q_own_batches=None,
                       per_sentence: dict | None = None, progress: bool = False) -> dict:
    """Aggregate-posterior MI estimate over all N sentences (see the module docstring).

    ``z_batches[b]`` ``[B_b, L, d]`` one sample per sentence; ``enc_batches[b]`` the encodings;
    ``neg_entropy_batches[b]`` ``[B_b, L]`` the analytic E_q[log q(z_l | z_<l, x_i)] per group
    (``gaussian_neg_entropy``). Pairs are computed block by block with
    ``model.log_posterior_pairwise`` (the encoder is never re-run). ``mi_per_group[l]`` is the
    chain-rule term I(x; z_l | z_<l); the groups sum to ``mi``.

    ``log_q_own_batches`` (optional, ``[B_b, L]`` log q(z_i | x_i) at the sample itself) adds
    ``mi_sampled``: the same estimator with the first term sampled instead of analytic. It is not
    the references' convention, but its two terms are evaluated at the same z_i and their noise
    cancels: near posterior collapse the analytic form carries a sampling error of about
    sqrt(D / 2N) nats (D latent dimensions) that the sampled one does not.

    ``per_sentence`` (optional dict) receives the per-sentence terms ``mi_term`` (and
    ``mi_sampled_term``), whose means are ``mi`` (``mi_sampled``): with the aggregate posterior
    held fixed, what a bootstrap over sentences resamples.
    """
    n = sum(z.shape[0] for z in z_batches)
    neg_entropy = torch.cat(neg_entropy_batches)  # [N, L]
    log_agg = []
    bar = track("evaluate MI (all sentence pairs)", n, "sentences", enabled=progress)
    for z in z_batches:
        blocks = [model.log_posterior_pairwise(z, enc) for enc in enc_batches]  # each [B_i, B_j, L]
        pair = torch.cat(blocks, dim=1).double()  # [B_i, N, L]: log q(z_{i,l} | z_{i,<l}, x_j)
        # log q(z_{i,<=l}) of the aggregate posterior, l = 1..L (the last one is the joint)
        log_agg.append(torch.logsumexp(pair.cumsum(-1), dim=1) - math.log(n))  # [B_i, L]
        bar.update(z.shape[0])
    bar.close()
    log_agg = torch.cat(log_agg)  # [N, L]
    mi_terms = neg_entropy.double().sum(-1) - log_agg[:, -1]  # [N]
    mi_joint = mi_terms.mean().item()
    # log q(z_l | z_<l) = log q(z_<=l) - log q(z_<l), with log q(z_<1) = 0
    log_cond = log_agg - torch.cat([torch.zeros_like(log_agg[:, :1]), log_agg[:, :-1]], dim=1)
    mi_groups = (neg_entropy.double() - log_cond).mean(0).tolist()
    out = {"mi": mi_joint, "mi_per_group": mi_groups, "mi_n": n, "mi_bound_log_n": math.log(n)}
    if per_sentence is not None:
        per_sentence["mi_term"] = mi_terms.cpu().numpy()
    if log_q_own_batches is not None:
        sampled_terms = torch.cat(log_q_own_batches).double().sum(-1) - log_agg[:, -1]
        out["mi_sampled"] = sampled_terms.mean().item()
        if per_sentence is not None:
            per_sentence["mi_sampled_term"] = sampled_terms.cpu().numpy()
    return out


@torch.no_grad()
def evaluate_language_model(model, batches, progress: bool = True, per_sentence: dict | None = None) -> dict:
    """Exact NLL / PPL of a model without a latent. ``per_sentence`` (optional dict) receives
    ``n_tokens`` and ``log_p`` (exact) of each sentence, in batch order."""
    model.eval()
    nll = 0.0
    n_sent = n_tok = 0
    log_p, n_tokens = [], []
    bar = track("evaluate PPL", sum(len(b) for b in batches), "sentences", enabled=progress)
    for batch in batches:
        rec = model(batch).rec
        nll += rec.sum().item()
        n_sent += len(batch)
        n_tok += batch.n_tokens.sum().item()
        log_p.append(-rec.detach().double().cpu())
        n_tokens.append(batch.n_tokens.cpu())
        bar.update(len(batch))
    bar.close()
    if per_sentence is not None:
        per_sentence.update(log_p=torch.cat(log_p).numpy(), n_tokens=torch.cat(n_tokens).numpy())
    return {"n_sentences": n_sent, "n_tokens": n_tok, "n_tokens_paper": n_tok + n_sent,
            "token_denominator": OUR_TOKENS, "token_denominator_paper": PAPER_TOKENS,
            "nll": nll / n_sent, "ppl": math.exp(nll / n_tok), "ppl_paper": math.exp(nll / (n_tok + n_sent))}
