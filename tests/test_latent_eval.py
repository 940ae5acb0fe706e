"""The latent metrics (della/latent_eval.py) on a toy VAE small enough to integrate by brute force.

Toy model: x is one token out of V, z ~ N(0, 1) in one dimension, p(x | z) = softmax(w z + b),
q(z | x) = N(a_x, exp(c_x)). log p(x) = log ∫ p(x|z) N(z; 0, 1) dz is computed on a fine grid.
"""
import math

import pytest
import torch

from della.backbone import ModelConfig
from della.batch import Batch
from della.latent_eval import active_units, evaluate_latent_model, mutual_information
from della.vae import LatentModel, LatentSample, gaussian_log_density, reparameterize

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
    own = [s.log_q()[0] for s in samples]
    out = mutual_information(model, z, encs, own)
    tokens = torch.cat(encs).tolist()
    zs = torch.cat(z).reshape(-1).tolist()
    n = len(tokens)

    def log_q(zi, t):
        var = math.exp(model.c[t].item())
        return -0.5 * (math.log(2 * math.pi * var) + (zi - model.a[t].item()) ** 2 / var)

    direct = 0.0
    for i in range(n):
        agg = math.log(sum(math.exp(log_q(zs[i], tokens[j])) for j in range(n)) / n)
        direct += (log_q(zs[i], tokens[i]) - agg) / n
    assert out["mi"] == pytest.approx(direct, abs=1e-5)
    assert out["mi_per_group"][0] == pytest.approx(direct, abs=1e-5)
    assert out["mi"] <= math.log(n) + 1e-6


def test_active_units_counts_dimensions_above_delta():
    torch.manual_seed(0)
    means = torch.zeros(1000, 2, 3)
    means[:, 0, 0] = torch.randn(1000)  # variance ~1: active at 0.01 and 0.2
    means[:, 1, 2] = torch.randn(1000) * 0.2  # variance ~0.04: active at 0.01 only
    out = active_units(means, (0.01, 0.2))
    assert out["au_joint@0.01"] == 2 and out["au_joint@0.2"] == 1
    assert out["au_per_group@0.01"] == [1, 1]
    assert out["au_per_group_mean@0.2"] == 0.5


def test_factor_probe_reports_accuracy_and_chance_per_factor():
    """The probe (della/evaluate.py) reads a factor that the posterior means encode and not one
    they ignore; chance is the majority-class rate on the probe's test half."""
    from della.evaluate import factor_probe

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
