"""The latent metrics (della/evaluation/latent.py) on a toy VAE small enough to integrate by brute force.

Toy model: x is one token out of V, z ~ N(0, 1) in one dimension, p(x | z) = softmax(w z + b),
q(z | x) = N(a_x, exp(c_x)). log p(x) = log ∫ p(x|z) N(z; 0, 1) dz is computed on a fine grid.
"""
import math

import pytest
import torch

from della.data.batching import Batch, collate
from della.evaluation.latent import (active_counts, active_units, evaluate_latent_model, gaussian_neg_entropy,
                                     mutual_information)
from della.models.backbone import ModelConfig
from della.models.della import Della
from della.models.vae import LatentModel, LatentSample, gaussian_log_density, reparameterize

V = 4


class ToyVAE(LatentModel):
    def __init__(self):
        super().__init__(ModelConfig(vocab_size=V, latent_size=1))
        g = torch.Generator().manual_seed(0)
        self.w = torch.nn.Parameter(torch.randn(V, generator=g) * 2)
        self.b = torch.nn.Parameter(torch.randn(V, generator=g))
        # q(z|x): the true posterior's moments (on a grid), shifted and widened, so that the
        # importance weights are bounded and the estimates converge quickly
        z = torch.linspace(-12, 12, 20001)
        log_joint = torch.log_softmax(self.w.detach() * z[:, None] + self.b.detach(), -1) - 0.5 * z[:, None] ** 2
        post = torch.softmax(log_joint, 0)  # [Z, V]
        mean = (post * z[:, None]).sum(0)
        var = (post * (z[:, None] - mean) ** 2).sum(0)
        self.a = torch.nn.Parameter(mean + 0.3)
        self.c = torch.nn.Parameter((var * 1.5).log())

    def encode(self, batch):
        return batch.input_ids[:, 1]  # the token

    def sample_posterior(self, enc, k=1, use_mean=False):
        mean = self.a[enc][:, None, None]  # [B, 1, 1]
        logvar = self.c[enc][:, None, None]
        z = mean.expand(k, *mean.shape) if use_mean else reparameterize(mean, logvar, k)
        zeros = torch.zeros_like(z)
        return LatentSample(z, mean.expand_as(z), logvar.expand_as(z), zeros, zeros)

    def log_posterior_pairwise(self, z, enc):
        mean = self.a[enc][None, :, None]  # [1, M, 1]
        logvar = self.c[enc][None, :, None]
        return gaussian_log_density(z[:, None, :, :], mean[..., None], logvar[..., None])  # [N, M, 1]

    def decoder_logits(self, input_ids, *, z=None, key_padding=None, position_ids=None, cache=None):
        logits = self.w * z.reshape(-1, 1) + self.b  # [B, V]
        return logits[:, None, :].expand(-1, input_ids.shape[1], -1)


def toy_batch(tokens):
    ids = torch.tensor([[0, t] for t in tokens])
    labels = ids.clone()
    labels[:, 0] = -100
    return Batch(ids, torch.ones_like(ids), labels)


def brute_force_log_px(model, token):
    z = torch.linspace(-12, 12, 200001, dtype=torch.float64)
    log_pxz = torch.log_softmax(model.w.double() * z[:, None] + model.b.double(), -1)[:, token]
    log_pz = -0.5 * (math.log(2 * math.pi) + z**2)
    return (torch.logsumexp(log_pxz + log_pz, 0) + math.log(z[1] - z[0])).item()


def test_iw_nll_converges_to_the_integral():
    torch.manual_seed(0)
    model = ToyVAE()
    batches = [toy_batch(list(range(V)))]
    truth = -sum(brute_force_log_px(model, t) for t in range(V)) / V
    out = evaluate_latent_model(model, batches, k=20000, k_chunk=20000, mi=False, progress=False)
    assert out["iw_nll_sum"] == pytest.approx(truth, abs=0.01)
    assert out["ppl_sum"] == pytest.approx(math.exp(truth), rel=0.02)  # one scored token per sentence
    # with one latent group both latent-term conventions coincide
    assert out["iw_nll_official_mean"] == pytest.approx(out["iw_nll_sum"])


def test_iw_bound_tightens_with_k_and_k1_is_the_elbo_sample():
    torch.manual_seed(0)
    model = ToyVAE()
    batches = [toy_batch([t % V for t in range(400)])]
    per_token = [brute_force_log_px(model, t) for t in range(V)]
    truth = -sum(per_token[t % V] for t in range(400)) / 400
    nll = {k: evaluate_latent_model(model, batches, k=k, mi=False, progress=False)["iw_nll_sum"] for k in (1, 10, 200)}
    assert nll[1] > nll[10] > nll[200] >= truth - 0.02
    # K = 1: log w = log p(x|z) + log p(z) - log q(z|x), whose expectation is the ELBO
    neg_elbo = evaluate_latent_model(model, batches, k=1, mi=False, progress=False)["neg_elbo_sum"]
    assert nll[1] == pytest.approx(neg_elbo, rel=0.05)


def test_mi_equals_a_direct_double_loop():
    torch.manual_seed(0)
    model = ToyVAE()
    batches = [toy_batch([0, 1, 2, 3, 1]), toy_batch([2, 2, 0])]
    encs = [model.encode(b) for b in batches]
    samples = [model.sample_posterior(e, k=1) for e in encs]
    z = [s.z[0] for s in samples]
    own = [gaussian_neg_entropy(s.post_logvar[0]) for s in samples]  # analytic E_q log q(z|x)
    out = mutual_information(model, z, encs, own)
    tokens = torch.cat(encs).tolist()
    zs = torch.cat(z).reshape(-1).tolist()
    n = len(tokens)

    def log_q(zi, t):
        var = math.exp(model.c[t].item())
        return -0.5 * (math.log(2 * math.pi * var) + (zi - model.a[t].item()) ** 2 / var)

    def neg_entropy(t):
        return -0.5 * (math.log(2 * math.pi) + 1 + model.c[t].item())

    direct = 0.0
    for i in range(n):
        agg = math.log(sum(math.exp(log_q(zs[i], tokens[j])) for j in range(n)) / n)
        direct += (neg_entropy(tokens[i]) - agg) / n
    assert out["mi"] == pytest.approx(direct, abs=1e-5)
    assert out["mi_per_group"][0] == pytest.approx(direct, abs=1e-5)
    assert out["mi"] <= math.log(n) + 1e-6


def test_active_units_counts_dimensions_at_or_above_delta():
    torch.manual_seed(0)
    means = torch.zeros(1000, 2, 3)
    means[:, 0, 0] = torch.randn(1000)  # variance ~1: active at 0.01 and 0.2
    means[:, 1, 2] = torch.randn(1000) * 0.2  # variance ~0.04: active at 0.01 only
    out = active_units(means, (0.01, 0.2))
    assert out["au_joint@0.01"] == 2 and out["au_joint@0.2"] == 1
    assert out["au_per_group@0.01"] == [1, 1]
    assert out["au_per_group_mean@0.2"] == 0.5


def test_factor_probe_reports_accuracy_and_chance_per_factor():
    """The probe (della/evaluation/evaluate.py) reads a factor that the posterior means encode and not one
    they ignore; chance is the majority-class rate on the probe's test half."""
    from della.evaluation.evaluate import factor_probe

    g = torch.Generator().manual_seed(0)
    n = 400
    coded = torch.randint(0, 4, (n,), generator=g)
    ignored = torch.randint(0, 3, (n,), generator=g)
    skewed = (torch.rand(n, generator=g) < 0.8).long()  # 80 % one class
    means = torch.randn(n, 8, generator=g) * 0.1
    means[:, 0] += coded.float() * 3
    factors = [{"coded": int(a), "ignored": int(b), "skewed": int(c)} for a, b, c in zip(coded, ignored, skewed)]
    probe = factor_probe(means, factors)
    assert set(probe) == {"coded", "ignored", "skewed"}
    assert probe["coded"]["accuracy"] == 1.0 and probe["coded"]["n_classes"] == 4
    test_half = skewed[n // 2:]
    assert probe["skewed"]["chance"] == pytest.approx(max((test_half == c).float().mean().item() for c in (0, 1)))
    assert probe["ignored"]["accuracy"] < probe["ignored"]["chance"] + 0.15
    assert factor_probe(means[:3], factors[:3]) == {}


def test_active_units_use_greater_or_equal():
    # a variance exactly at delta (float32) is active, as in calc_au of Optimus / DELLA: `>=`
    var = torch.tensor([[0.2, 0.19999, 0.3]], dtype=torch.float32)
    assert active_counts(var, 0.2).tolist() == [2]


def test_paper_ppl_counts_bos_as_the_official_calc_iwnll():
    # Official calc_iwnll divides by attention_mask.sum() of <bos> x <eos>: here one scored token
    # per sentence plus <bos>, so PPL_paper = exp(NLL / 2) = sqrt(PPL_ours) on the same log p(x).
    torch.manual_seed(0)
    model = ToyVAE()
    batches = [toy_batch(list(range(V)))]
    truth = -sum(brute_force_log_px(model, t) for t in range(V)) / V
    out = evaluate_latent_model(model, batches, k=20000, k_chunk=20000, mi=False, progress=False)
    assert out["n_tokens"] == V and out["n_tokens_paper"] == 2 * V
    assert out["ppl_sum"] == pytest.approx(math.exp(truth), rel=0.02)
    assert out["ppl_paper"] == pytest.approx(math.exp(truth / 2), rel=0.01)


def _della(n_layer=3, d=4, **options):
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=30, n_layer=n_layer, n_embd=16, n_head=2, latent_size=d, dropout=0.0,
                      options=options)
    return Della(cfg).eval()


def _della_batches(n=24, bs=8):
    g = torch.Generator().manual_seed(1)
    enc = [([1] + torch.randint(4, 30, (int(torch.randint(2, 7, (1,), generator=g)),), generator=g).tolist()
            + [2], 1, None) for _ in range(n)]
    return [collate(enc[s:s + bs], 0) for s in range(0, n, bs)]


def test_della_paper_columns_are_layer_means():
    model = _della(n_layer=3)
    torch.manual_seed(0)
    # k = DELLA's official 30 samples: the principled and the paper columns read the same samples
    out = evaluate_latent_model(model, _della_batches(), k=30, mi=False, progress=False)
    assert out["iw_samples"] == out["iw_samples_paper"] == 30 and out["nll_rec_paper"] == out["nll_rec"]
    assert out["kl_sum"] == pytest.approx(sum(out["kl_per_group"]), rel=1e-5)
    assert out["kl_paper"] == pytest.approx(out["kl_sum"] / 3, rel=1e-5)
    assert out["neg_elbo_paper"] == pytest.approx(out["nll_rec"] + out["kl_sum"] / 3, rel=1e-5)
    assert out["neg_elbo_sum"] == pytest.approx(out["nll_rec"] + out["kl_sum"], rel=1e-5)
    # paper PPL: mean-over-layers latent term and words + <s> + </s>
    n_tok, n_sent = out["n_tokens"], out["n_sentences"]
    assert out["n_tokens_paper"] == n_tok + n_sent
    assert out["ppl_paper"] == pytest.approx(math.exp(out["iw_nll_official_mean"] * n_sent / (n_tok + n_sent)))


def test_paper_columns_use_the_official_sample_count_whatever_iw_samples_says():
    # DELLA's calc_iwnll draws 30 samples (official main.py --sample_times 30): the paper columns
    # read the first 30 of one draw of max(k, 30), the principled ones the first k
    model = _della(n_layer=3)
    batches = _della_batches()
    torch.manual_seed(0)
    few = evaluate_latent_model(model, batches, k=4, mi=False, progress=False)
    torch.manual_seed(0)
    official = evaluate_latent_model(model, batches, k=30, mi=False, progress=False)
    assert few["iw_samples"] == 4 and few["iw_samples_paper"] == 30
    for key in ("ppl_paper", "kl_paper", "neg_elbo_paper", "nll_rec_paper", "ppl_official_mean"):
        assert few[key] == official[key], key
    assert few["ppl_sum"] != official["ppl_sum"]  # the first 4 samples only
    assert few["neg_elbo_paper"] == pytest.approx(few["nll_rec_paper"] + few["kl_paper"], rel=1e-12)


def test_della_paper_au_samples_the_lower_layers():
    # Posterior means independent of x at layer 1, and of the lower latent only above it
    # (mean_l = 2 tanh(z_{l-1})): with the lower layers at their means nothing varies (0 active
    # units); with them sampled from the posterior (official calc_au) layers 2..4 are active.
    d = 8
    model = _della(n_layer=4, d=d)
    with torch.no_grad():
        model.post_pool_weight.zero_()
        model.post_bias.zero_()  # mean 0, log-variance 0 before the h_l part
        model.rnn_hh_weight.zero_(); model.rnn_hh_bias.zero_(); model.rnn_ih_bias.zero_()
        model.rnn_ih_weight.copy_(torch.eye(d).expand(4, d, d))  # h_l = tanh(z_{l-1})
        model.post_h_weight.zero_()
        model.post_h_weight[:, :d].copy_(2 * torch.eye(d).expand(4, d, d))  # mean_l = 2 h_l
    torch.manual_seed(0)
    out = evaluate_latent_model(model, _della_batches(n=200, bs=50), k=1, mi=False, progress=False)
    assert out["au_joint@0.2"] == 0 and out["au_per_group_mean@0.2"] == 0.0
    assert out["au_paper_per_group@0.2"] == [0, d, d, d]
    assert out["au_paper_joint@0.2"] == 3 * d and out["au_paper@0.2"] == 3 * d / 4


@pytest.mark.parametrize("options", [{}, {"recurrence": False}, {"layerwise": False}])
def test_chain_rule_mi_per_layer_sums_to_the_joint(options):
    model = _della(n_layer=3, **options)
    torch.manual_seed(0)
    out = evaluate_latent_model(model, _della_batches(n=40), k=2, mi=True, progress=False)
    assert len(out["mi_per_group"]) == model.n_groups
    assert sum(out["mi_per_group"]) == pytest.approx(out["mi"], abs=1e-6)
    assert out["mi"] <= math.log(40) + 1e-6


def test_chain_rule_mi_matches_a_direct_double_loop():
    # I(x; z_2 | z_1) = E[log q(z_2|z_1,x)] - E[log q(z_<=2) - log q(z_1)], aggregate posteriors over all N
    model = _della(n_layer=2, d=3)
    batches = _della_batches(n=10, bs=5)
    torch.manual_seed(0)
    encs = [model.encode(b) for b in batches]
    samples = [model.sample_posterior(e, k=1) for e in encs]
    z = [s.z[0] for s in samples]
    own = [gaussian_neg_entropy(s.post_logvar[0]) for s in samples]
    out = mutual_information(model, z, encs, own)
    zs, enc_all, ne = torch.cat(z), type(encs[0]).cat(encs), torch.cat(own)
    pair = model.log_posterior_pairwise(zs, enc_all).double()  # [N, N, 2]
    n = zs.shape[0]
    direct = [0.0, 0.0]
    for i in range(n):
        q1 = math.log(sum(math.exp(pair[i, j, 0].item()) for j in range(n)) / n)
        q12 = math.log(sum(math.exp(pair[i, j, 0].item() + pair[i, j, 1].item()) for j in range(n)) / n)
        direct[0] += (ne[i, 0].item() - q1) / n
        direct[1] += (ne[i, 1].item() - (q12 - q1)) / n
    assert out["mi_per_group"] == pytest.approx(direct, abs=1e-5)
