"""della/models/della.py: DELLA's latent algebra, fusion, masks, gradients, ablations, pretrained init."""
import math

import pytest
import torch
import torch.nn.functional as F

from della.data.batching import collate
from della.evaluation.decoding import generate
from della.models.backbone import ModelConfig
from della.models.della import Della, FusedQKV, LowRankFusion
from della.models.registry import build_model

EOS, PAD, BOS, SEP = 2, 0, 1, 3


def _model(**options) -> Della:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=30, n_layer=3, n_embd=32, n_head=4, latent_size=6, dropout=0.1, options=options)
    return build_model("della", cfg)


def _uncond():
    return collate([([BOS, 5, 6, 7, 8, EOS], 1, None), ([BOS, 9, 10, EOS], 1, None),
                    ([BOS, 11, 12, 13, EOS], 1, None)], PAD)


def _cond():
    rows = [([BOS, 5, 6, SEP, 7, 8, EOS], 4, [BOS, 5, 6, SEP]), ([BOS, 9, SEP, 10, EOS], 3, [BOS, 9, SEP]),
            ([BOS, 11, 12, 13, SEP, 14, EOS], 5, [BOS, 11, 12, 13, SEP])]
    return collate(rows, PAD)


def _sharpen(model):
    """Make the inference network's outputs non-trivial (at init they are ~N(0, I))."""
    with torch.no_grad():
        for name in ("post_pool_weight", "post_h_weight", "prior_h_weight", "rnn_hh_weight", "rnn_ih_weight",
                     "prior_c_weight"):
            getattr(model, name).mul_(20)
        model.rnn_hh_bias.normal_()
        model.prior_bias.normal_(0, 0.3)
    return model


def test_analytic_kl_matches_monte_carlo():
    model = _sharpen(_model()).eval()
    with torch.no_grad():
        sample = model.sample_posterior(model.encode(_uncond()), k=4000)
        mc = sample.log_q() - sample.log_prior()  # [K, B, G]
        analytic = sample.kl().sum(-1)  # [K, B, G], at each sample's lower layers
    diff = (mc - analytic).mean(0)  # E[log q - log p] - E[KL(z_<l)] -> 0
    tol = 5 * (mc - analytic).std(0) / math.sqrt(4000) + 1e-4
    assert (diff.abs() <= tol).all(), (diff, tol)
    assert analytic.mean() > 0.5  # the test is not vacuous


def test_lowrank_fusion_equals_explicit_per_rank_formula():
    torch.manual_seed(0)
    h, d, rank = 16, 5, 4
    fusion = LowRankFusion(h, d, rank)
    with torch.no_grad():
        for p in fusion.parameters():
            p.normal_()
    v, z = torch.randn(3, 7, h), torch.randn(3, d)
    v1 = torch.cat([v, torch.ones(3, 7, 1)], -1)
    z1 = torch.cat([z, torch.ones(3, 1)], -1)
    text = sum(F.linear(v1, fusion.text_weight[r], fusion.text_bias[r]) for r in range(rank))  # Σ_r A_r [v;1]
    latent = sum(F.linear(z1, fusion.latent_weight[r], fusion.latent_bias[r]) for r in range(rank))
    expected = text * latent[:, None, :]
    torch.testing.assert_close(fusion(v, fusion.latent_factor(z)), expected, rtol=1e-5, atol=1e-4)

    # the c_attn wrapper: q, k untouched, v fused; composed weights (many tokens) and not (few)
    from transformers.pytorch_utils import Conv1D

    proj = Conv1D(3 * h, h)
    with torch.no_grad():
        proj.bias.normal_()
    for compose, x in ((True, torch.randn(3, 7, h)), (False, torch.randn(3, 7, h)), (True, torch.randn(2, 1, h))):
        wrapper = FusedQKV(proj, fusion, compose=compose)
        q, k, v = proj(x).split(h, -1)
        assert torch.equal(wrapper(x), proj(x))  # inactive without a latent
        wrapper.factor = fusion.latent_factor(z[:x.shape[0]])
        q2, k2, v2 = wrapper(x).split(h, -1)
        torch.testing.assert_close(q2, q)
        torch.testing.assert_close(k2, k)
        torch.testing.assert_close(v2, fusion(v, wrapper.factor), rtol=1e-4, atol=1e-3)


def test_posterior_of_layer_l_depends_on_lower_latent_and_first_prior_not_on_x():
    model = _sharpen(_model()).eval()
    enc = model.encode(_uncond())
    eps = torch.randn(1, 3, 3, 6)
    eps2 = eps.clone()
    eps2[:, :, 0] += 1.0  # change z_1 only
    a, b = model.sample_posterior(enc, eps=eps), model.sample_posterior(enc, eps=eps2)
    assert torch.equal(a.post_mean[:, :, 0], b.post_mean[:, :, 0])
    assert not torch.allclose(a.post_mean[:, :, 1], b.post_mean[:, :, 1])
    assert not torch.allclose(a.prior_mean[:, :, 1], b.prior_mean[:, :, 1])
    # p(z_1) is a learned constant: the same for every sentence
    other_x = collate([([BOS, 20, 21, EOS], 1, None)] * 3, PAD)
    other = model.sample_posterior(model.encode(other_x), eps=eps)
    torch.testing.assert_close(a.prior_mean[:, :, 0], other.prior_mean[:, :, 0])
    assert torch.allclose(a.prior_mean[0, 0, 0], a.prior_mean[0, 1, 0])
    assert not torch.allclose(a.post_mean[0, 0, 0], a.post_mean[0, 1, 0])  # q(z_1 | x) does depend on x


def test_conditional_prior_depends_on_the_source():
    model = _sharpen(_model()).eval()
    enc = model.encode(_cond())
    sample = model.sample_posterior(enc, k=1)
    assert not torch.allclose(sample.prior_mean[0, 0, 0], sample.prior_mean[0, 1, 0])
    src = model.encode_source(_cond().source_ids, _cond().source_mask)
    torch.testing.assert_close(src.prior_c, enc.prior_c)
    assert model.sample_prior(3, src).shape == (3, 3, 6)
    assert model.sample_prior(3, enc).shape == (3, 3, 6)
    assert model.sample_prior(4).shape == (4, 3, 6)
    with pytest.raises(ValueError):
        model.sample_prior(2, src)


@pytest.mark.parametrize("conditional", [False, True])
def test_gradients_reach_every_layer(conditional):
    model = _model(bow=True)
    with torch.no_grad():
        model.rnn_hh_bias.normal_()  # h_1 = tanh(b) != 0, as after any training step
    batch = _cond() if conditional else _uncond()
    out = model(batch)
    loss = out.rec.mean() + out.kl.sum((-1, -2)).mean() - model.bow_log_likelihood(out.z, batch).mean()
    loss.backward()
    g = model.n_groups
    per_layer = ["pool_weight", "post_pool_weight", "post_bias", "post_h_weight", "prior_h_weight", "prior_bias",
                 "rnn_hh_bias", "rnn_ih_bias"] + (["prior_c_weight"] if conditional else [])
    for name in per_layer:
        grad = getattr(model, name).grad
        for layer in range(g):
            assert grad[layer].abs().sum() > 0, (name, layer)
    # W_hh / W_ih of layer 1 multiply h_0 = z_0 = 0 (as in the official code): only layers >= 2 learn them
    for name in ("rnn_hh_weight", "rnn_ih_weight"):
        assert all(getattr(model, name).grad[layer].abs().sum() > 0 for layer in range(1, g))
    for fusion in model.fusions:
        for p in fusion.parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0
    for p in (model.lm_head.weight, model.mlp_bow.weight, model.backbone.transformer.wte.weight):
        assert p.grad.abs().sum() > 0


def test_decoder_is_causal_and_encoder_bidirectional():
    model = _model().eval()
    ids = torch.tensor([[BOS, 5, 6, 7, 8, 9]])
    ids2 = ids.clone()
    ids2[0, -1] = 20
    z = model.sample_prior(1)
    a, b = model.decoder_logits(ids, z=z), model.decoder_logits(ids2, z=z)
    torch.testing.assert_close(a[:, :-1], b[:, :-1])
    assert not torch.allclose(a[:, -1], b[:, -1])
    # the encoder: the first position sees the last token
    bb = model.backbone
    first = lambda x: bb(bb.embed(x), causal=False, return_layers=True)[1][0][:, 0]  # noqa: E731
    assert not torch.allclose(first(ids), first(ids2))
    # and the fusion is inactive in the encoder pass
    assert all(w.factor is None for w in model._fused)


@pytest.mark.parametrize("mask_padding", [True, False])
def test_pooling_padding_mask(mask_padding):
    model = _model(pool_mask_padding=mask_padding).eval()
    short = collate([([BOS, 5, 6, EOS], 1, None)], PAD)
    padded = collate([([BOS, 5, 6, EOS], 1, None), ([BOS, 5, 6, 7, 8, 9, EOS], 1, None)], PAD)
    same = torch.allclose(model.encode(short).pooled[0], model.encode(padded).pooled[0], atol=1e-5)
    assert same == mask_padding  # official behaviour (False): padding leaks into the pooled state


def test_pairwise_log_q_diagonal_equals_sample_log_q():
    model = _sharpen(_model()).eval()
    enc = model.encode(_uncond())
    sample = model.sample_posterior(enc, k=1)
    pair = model.log_posterior_pairwise(sample.z[0], enc, chunk=2)  # [N, M, G]
    assert pair.shape == (3, 3, 3)
    torch.testing.assert_close(torch.diagonal(pair, 0, 0, 1).T, sample.log_q()[0], rtol=1e-5, atol=1e-4)
    assert not torch.allclose(pair[0, 0], pair[0, 1])


def test_k_samples_in_one_pass_equal_k_single_passes():
    model = _sharpen(_model()).eval()
    enc = model.encode(_uncond())
    eps = torch.randn(5, 3, 3, 6)
    many = model.sample_posterior(enc, k=5, eps=eps)
    for k in range(5):
        one = model.sample_posterior(enc, k=1, eps=eps[k:k + 1])
        for field in ("z", "post_mean", "post_logvar", "prior_mean", "prior_logvar"):
            torch.testing.assert_close(getattr(many, field)[k], getattr(one, field)[0])


def test_log_likelihood_on_scored_positions_equals_full_logits():
    from della.models.vae import token_log_likelihood

    model = _model().eval()
    for batch in (_uncond(), _cond()):
        z = model.sample_prior(3)
        full = token_log_likelihood(model.decoder_logits(batch.input_ids, z=z), batch.labels)
        torch.testing.assert_close(model.sequence_log_likelihood(batch.input_ids, batch.labels, z), full)
        torch.testing.assert_close(model.log_px_given_z(batch, torch.stack([z, z, z]), chunk=2)[1], full)


def test_iw_with_one_sample_is_the_one_sample_elbo():
    from della.evaluation.latent import evaluate_latent_model

    model = _sharpen(_model()).eval()
    batch = _uncond()
    # DELLA's paper columns draw its official 30 samples; the principled K = 1 reads the first
    eps = torch.randn(model.official_iw_samples, len(batch), model.n_groups, model.latent_size)
    metrics = evaluate_latent_model(model, [batch], k=1, mi=False, progress=False, iw_eps=[eps])
    with torch.no_grad():
        sample = model.sample_posterior(model.encode(batch), k=1, eps=eps[:1])
        log_px = model.log_px_given_z(batch, sample.z)[0]  # [B]
        log_w = log_px + sample.log_prior()[0].sum(-1) - sample.log_q()[0].sum(-1)
    assert metrics["iw_nll_sum"] == pytest.approx(-log_w.mean().item(), rel=1e-5)
    torch.manual_seed(3)
    with torch.no_grad():
        out = model(batch)  # forward shares the encoder pass: the same z and reconstruction
    torch.manual_seed(3)
    with torch.no_grad():
        z = model.sample_posterior(model.encode(batch), k=1).z
        torch.testing.assert_close(-out.rec, model.log_px_given_z(batch, z)[0])


ABLATIONS = [{}, {"fusion": "add"}, {"layerwise": False}, {"recurrence": False}, {"pool_mask_padding": False},
             {"bow": True}, {"compose_qkv": False}, {"layerwise": False, "recurrence": False}]


@pytest.mark.parametrize("options", ABLATIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
@pytest.mark.parametrize("conditional", [False, True])
def test_each_switch_trains_a_step_and_decodes(options, conditional):
    model = _model(**options)
    batch = _cond() if conditional else _uncond()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    out = model(batch)
    g = 1 if options.get("layerwise") is False else 3
    assert out.kl.shape == (3, g, 6) and out.z.shape == (3, g, 6) and out.rec.shape == (3,)
    loss = out.rec.mean() + out.kl.sum(-1).mean()
    if options.get("bow"):
        loss = loss - 0.2 * model.bow_log_likelihood(out.z, batch).mean()
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    enc = model.encode(batch) if conditional else None
    z = model.sample_prior(3, enc)
    prompts = [row[:int(n)] for row, n in zip(batch.input_ids.tolist(), batch.prompt_length)]
    for strategy in ("greedy", "beam"):
        out_ids = generate(model, prompts, z=z, strategy=strategy, num_beams=2, max_new_tokens=4, eos_id=EOS,
                           pad_id=PAD)
        assert len(out_ids) == 3
    pair = model.log_posterior_pairwise(model.sample_posterior(model.encode(batch)).z[0], model.encode(batch))
    assert pair.shape == (3, 3, g)


def test_fusion_add_and_recurrence_off_are_what_they_say():
    model = _model(recurrence=False).eval()
    sample = model.sample_posterior(model.encode(_uncond()), k=1)
    assert torch.equal(sample.prior_mean, torch.zeros_like(sample.prior_mean))  # N(0, I) prior
    assert torch.equal(sample.prior_logvar, torch.zeros_like(sample.prior_logvar))
    model = _model(fusion="add")
    assert not hasattr(model.fusions[0], "text_weight")


def test_options_are_checked():
    with pytest.raises(ValueError, match="has no option 'rnak' \\(did you mean 'rank'\\?\\)"):
        _model(rnak=4)
    with pytest.raises(ValueError, match="fusion"):
        _model(fusion="concat")
    with pytest.raises(ValueError, match="z"):
        _model().decoder_logits(torch.tensor([[BOS]]))


@pytest.mark.parametrize("head_init", ["copy", "random"])
def test_pretrained_init(tmp_path, head_init):
    from transformers import GPT2Config, GPT2Model

    torch.manual_seed(0)
    gpt2 = GPT2Model(GPT2Config(vocab_size=30, n_positions=64, n_embd=32, n_layer=2, n_head=4))
    gpt2.save_pretrained(tmp_path)
    cfg = ModelConfig(vocab_size=30, n_layer=2, n_embd=32, n_head=4, latent_size=6, pretrained=str(tmp_path),
                      options={"lm_head_init": head_init})
    model = build_model("della", cfg)
    torch.testing.assert_close(model.backbone.blocks[0].attn.c_attn.proj.weight, gpt2.h[0].attn.c_attn.weight)
    same = torch.equal(model.lm_head.weight, gpt2.wte.weight)
    assert same == (head_init == "copy")
    assert model.lm_head.weight.data_ptr() != model.backbone.transformer.wte.weight.data_ptr()  # untied
    assert model.fusions[0].text_weight.std().item() == pytest.approx(0.02, rel=0.1)
