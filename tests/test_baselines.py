"""The single-latent baselines (embed, memory, softmax, optimus): how z enters each decoder, the
decoder's causality and KV cache, the latent algebra, gradients, the conditional prior, BN-VAE."""
from __future__ import annotations

import importlib
import pkgutil

import pytest
import torch

import baselines
from baselines._single_latent import GaussianEncoding
from baselines.embed import EmbedVAE
from baselines.memory import MemoryVAE
from baselines.optimus import Optimus
from baselines.softmax import SoftmaxVAE
from della.data.batching import collate
from della.models import registry
from della.models.backbone import KVCache, ModelConfig

VOCAB = 40
LATENT = ["embed", "memory", "softmax", "optimus"]
CLASSES = {"embed": EmbedVAE, "memory": MemoryVAE, "softmax": SoftmaxVAE, "optimus": Optimus}
# the weights through which z reaches the decoder, per path
PATHS = {
    "embed": ["z_to_embedding"],
    "memory": ["latent_memory.proj"],
    "softmax": ["z_to_output"],
    "optimus": ["z_to_embedding", "latent_memory.proj"],
}


def tiny_cfg(**options) -> ModelConfig:
    return ModelConfig(vocab_size=VOCAB, n_layer=2, n_embd=32, n_head=4, n_positions=64, dropout=0.0,
                       latent_size=8, pad_id=0, bos_id=1, eos_id=2, sep_id=3, options=options)


def make(name: str, **options):
    torch.manual_seed(0)
    return CLASSES[name](tiny_cfg(**options)).eval()


def ids(batch: int, length: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    out = torch.randint(4, VOCAB, (batch, length), generator=g)
    out[:, 0] = 1
    return out


def unconditional_batch(lengths=(7, 5, 6), seed: int = 2):
    g = torch.Generator().manual_seed(seed)
    rows = [([1] + torch.randint(4, VOCAB, (n,), generator=g).tolist() + [2], 1, None) for n in lengths]
    return collate(rows, pad_id=0)


def conditional_batch(sources, targets):
    rows = []
    for s, t in zip(sources, targets):
        src = [1] + s + [3]
        rows.append((src + t + [2], len(src), src))
    return collate(rows, pad_id=0)


def module(model, dotted):
    for part in dotted.split("."):
        model = getattr(model, part)
    return model


@pytest.mark.parametrize("name", LATENT)
def test_z_enters_through_its_paths_only(name):
    model = make(name)
    x = ids(2, 6)
    z1, z2 = torch.randn(2, 1, 8), torch.randn(2, 1, 8)
    with torch.no_grad():
        assert not torch.allclose(model.decoder_logits(x, z=z1), model.decoder_logits(x, z=z2))
        paths = PATHS[name]
        for path in paths:  # every path alone carries z
            saved = module(model, path).weight.clone()
            module(model, path).weight.zero_()
            if len(paths) > 1:
                assert not torch.allclose(model.decoder_logits(x, z=z1), model.decoder_logits(x, z=z2))
            else:
                assert torch.allclose(model.decoder_logits(x, z=z1), model.decoder_logits(x, z=z2), atol=1e-6)
            module(model, path).weight.copy_(saved)
        for path in paths:  # and no other route exists
            module(model, path).weight.zero_()
        assert torch.allclose(model.decoder_logits(x, z=z1), model.decoder_logits(x, z=z2), atol=1e-6)


def test_softmax_leaves_hidden_states_alone():
    model = make("softmax")
    x = ids(2, 6)
    seen = []
    handle = model.backbone.transformer.ln_f.register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        model.decoder_logits(x, z=torch.randn(2, 1, 8))
        model.decoder_logits(x, z=torch.randn(2, 1, 8))
    handle.remove()
    assert torch.equal(seen[0], seen[1])


@pytest.mark.parametrize("name", LATENT)
def test_decoder_is_causal(name):
    model = make(name)
    x = ids(2, 8)
    y = x.clone()
    y[:, 5] = (y[:, 5] + 1 - 4) % (VOCAB - 4) + 4
    z = torch.randn(2, 1, 8)
    with torch.no_grad():
        a, b = model.decoder_logits(x, z=z), model.decoder_logits(y, z=z)
    assert torch.allclose(a[:, :5], b[:, :5], atol=1e-5)
    assert not torch.allclose(a[:, 5:], b[:, 5:])


@pytest.mark.parametrize("name", LATENT)
def test_kv_cache_matches_full_pass(name):
    model = make(name)
    x = ids(3, 9)
    z = torch.randn(3, 1, 8)
    with torch.no_grad():
        full = model.decoder_logits(x, z=z)
        cache = KVCache()
        steps = [model.decoder_logits(x[:, :4], z=z, cache=cache)]
        for t in range(4, 9):
            steps.append(model.decoder_logits(x[:, t:t + 1], z=z, cache=cache))
    assert torch.allclose(full, torch.cat(steps, 1), atol=1e-5)
    assert cache.get_seq_length() == 9 + model.memory_slots


@pytest.mark.parametrize("name", LATENT)
def test_left_padding_with_positions_and_cache(name):
    """Row 1 is left-padded by 3; with key_padding + position_ids its logits equal an unpadded run,
    both in one pass and incrementally with a cache (as batched generation does)."""
    model = make(name)
    x = ids(2, 8)
    z = torch.randn(2, 1, 8)
    pad = 3
    padded = x.clone()
    padded[1, pad:] = x[1, :-pad]
    padded[1, :pad] = 0
    key_padding = torch.ones_like(padded)
    key_padding[1, :pad] = 0
    positions = (key_padding.cumsum(1) - 1).clamp(min=0)
    with torch.no_grad():
        alone = model.decoder_logits(x[1:, :-pad], z=z[1:])  # [1, 5, V]
        full = model.decoder_logits(padded, z=z, key_padding=key_padding, position_ids=positions)
        cache = KVCache()
        steps = [model.decoder_logits(padded[:, :5], z=z, key_padding=key_padding[:, :5],
                                      position_ids=positions[:, :5], cache=cache)]
        for t in range(5, 8):
            steps.append(model.decoder_logits(padded[:, t:t + 1], z=z, key_padding=key_padding[:, :t + 1],
                                              position_ids=positions[:, t:t + 1], cache=cache))
    assert torch.allclose(full[1, pad:], alone[0], atol=1e-5)
    assert torch.allclose(full[0], model.decoder_logits(x[:1], z=z[:1])[0].detach(), atol=1e-5)
    incremental = torch.cat(steps, 1)
    assert torch.allclose(incremental[0], full[0], atol=1e-5)
    assert torch.allclose(incremental[1, pad:], full[1, pad:], atol=1e-5)


@pytest.mark.parametrize("name", LATENT)
def test_latent_algebra(name):
    model = make(name)
    batch = unconditional_batch()
    with torch.no_grad():
        enc = model.encode(batch)
        sample = model.sample_posterior(enc, k=4)
        assert sample.z.shape == (4, 3, 1, 8) and sample.prior_mean.abs().sum() == 0
        pair = model.log_posterior_pairwise(sample.z[0], enc)  # [N, M, 1]
        assert pair.shape == (3, 3, 1)
        assert torch.allclose(pair.diagonal(dim1=0, dim2=1).T, sample.log_q()[0], atol=1e-5)
        mean_sample = model.sample_posterior(enc, k=2, use_mean=True)
        assert torch.equal(mean_sample.z[1], enc.mean)
        assert model.sample_prior(5).shape == (5, 1, 8)
        # encodings of several batches concatenate (aggregate-posterior MI over a data set)
        both = GaussianEncoding.cat([enc, enc])
        assert model.log_posterior_pairwise(sample.z[0], both).shape == (3, 6, 1)
        # log p(x | z) for K latents agrees with the forward pass' reconstruction term
        out = model(batch)
        lp = model.log_px_given_z(batch, out.z[None])
        assert torch.allclose(-lp[0], out.rec, atol=1e-4)
        assert out.kl.shape == (3, 1, 8)


@pytest.mark.parametrize("name", LATENT)
def test_gradients_reach_encoder_heads_and_injection(name):
    model = make(name).train()
    out = model(unconditional_batch())
    (out.rec + out.kl.sum((1, 2))).mean().backward()
    for path in ["posterior_head.proj"] + PATHS[name]:
        grad = module(model, path).weight.grad
        assert grad is not None and grad.abs().sum() > 0, path
    if name == "optimus":  # the BERT encoder, up to its pooler
        encoder_weights = [model.encoder.encoder.layer[0].attention.self.query.weight, model.encoder.pooler.dense.weight,
                           model.encoder.embeddings.word_embeddings.weight]
    else:  # the shared backbone (its encoder-only route: test_encoder_gradient_flows_through_kl)
        encoder_weights = [model.backbone.blocks[0].attn.c_attn.weight]
    for weight in encoder_weights:
        assert weight.grad is not None and weight.grad.abs().sum() > 0


def test_encoder_gradient_flows_through_kl():
    """The shared backbone also gets gradient as the encoder: the KL alone (no decoder pass)
    reaches it through the bidirectional run."""
    model = make("embed").train()
    out = model(unconditional_batch())
    out.kl.sum().backward()
    assert model.backbone.blocks[0].attn.c_attn.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", LATENT)
def test_conditional_prior_depends_on_source_only(name):
    model = make(name)
    a = conditional_batch([[5, 6, 7], [8, 9]], [[10, 11], [12, 13, 14]])
    b = conditional_batch([[5, 6, 7], [8, 9]], [[20, 21, 22, 23], [24]])  # other targets
    c = conditional_batch([[15, 6, 7], [8, 19]], [[10, 11], [12, 13, 14]])  # other sources
    with torch.no_grad():
        ea, eb, ec = model.encode(a), model.encode(b), model.encode(c)
        assert torch.allclose(ea.prior_mean, eb.prior_mean, atol=1e-6)
        assert torch.allclose(ea.prior_logvar, eb.prior_logvar, atol=1e-6)
        assert not torch.allclose(ea.prior_mean, ec.prior_mean)
        assert not torch.allclose(ea.mean, eb.mean)  # the posterior sees the target
        sample = model.sample_posterior(ea, k=3)
        assert torch.equal(sample.prior_mean[2], ea.prior_mean)
        src = model.encode_source(a.source_ids, a.source_mask)
        assert src.mean is None and torch.allclose(src.prior_mean, ea.prior_mean, atol=1e-6)
        assert model.sample_prior(2, src).shape == (2, 1, 8)
        torch.manual_seed(3)
        z1 = model.sample_prior(2, src)
        torch.manual_seed(3)
        z2 = model.sample_prior(2, model.encode_source(c.source_ids, c.source_mask))
        assert not torch.allclose(z1, z2)
        with pytest.raises(ValueError):
            model.sample_prior(5, src)


@pytest.mark.parametrize("name", ["embed", "optimus"])
def test_bn_vae_option(name):
    model = make(name, bn=True, bn_gamma=0.7).train()
    assert model.posterior_head.bn is not None
    batch = unconditional_batch(lengths=(7, 5, 6, 4, 8, 3))
    out = model(batch)
    mean = out.post_mean[:, 0]  # [B, d]
    assert torch.allclose(mean.mean(0), torch.zeros(8), atol=1e-5)
    std = mean.var(0, unbiased=False).sqrt()
    # BN scales every dimension to gamma (below it when the raw means barely vary across the batch,
    # as with a freshly initialised BERT, whose pooled features differ by ~1e-3: BN's eps dominates)
    assert (std <= 0.7 + 1e-3).all()
    if name == "embed":
        assert torch.allclose(std, torch.full((8,), 0.7), atol=1e-2)
    (out.rec.mean() + out.kl.sum(-1).mean()).backward()
    model.eval()
    with torch.no_grad():
        model(batch)


def test_memory_kv_separate_and_optimus_recipe():
    model = make("memory", memory_kv="separate")
    x = ids(2, 5)
    z = torch.randn(2, 1, 8)
    with torch.no_grad():
        cache = KVCache()
        step = torch.cat([model.decoder_logits(x[:, :2], z=z, cache=cache),
                          model.decoder_logits(x[:, 2:], z=z, cache=cache)], 1)
        assert torch.allclose(step, model.decoder_logits(x, z=z), atol=1e-5)
    assert Optimus.default_recipe == {"beta_schedule": "optimus", "free_bits": 0.5, "free_bits_mode": "dimension"}


def test_registry_lists_the_baselines():
    for mod in pkgutil.iter_modules(baselines.__path__):
        importlib.import_module(f"baselines.{mod.name}")
    assert {"lm", "optimus", "embed", "memory", "softmax", "bart"} <= set(registry._REGISTRY)
    assert "_single_latent" not in registry._REGISTRY
    try:
        importlib.import_module("della.models.della")
    except ModuleNotFoundError:
        return  # DELLA not in this tree yet: the full registry listing needs it
    assert {"lm", "optimus", "embed", "memory", "softmax"} <= set(registry.available_models())
    assert registry.get_model_class("memory") is MemoryVAE


# ----------------------------------------------------------------------------------------------
# bart: the encoder-decoder lm for the seq2seq tasks
# ----------------------------------------------------------------------------------------------
def make_bart():
    from baselines.bart import BartLM

    torch.manual_seed(0)
    return BartLM(tiny_cfg()).eval()


def test_bart_matches_transformers_and_aligns_with_labels():
    model = make_bart()
    batch = conditional_batch([[5, 6, 7], [8, 9]], [[10, 11], [12, 13, 14]])  # right-padded, <sep> at 4 and 3
    with torch.no_grad():
        logits = model.decoder_logits(batch.input_ids)
        for row in range(2):
            sep = int((batch.input_ids[row] == 3).nonzero()[0])
            n = int(batch.attention_mask[row].sum())
            ref = model.bart(input_ids=batch.input_ids[row:row + 1, :sep + 1],
                             decoder_input_ids=batch.input_ids[row:row + 1, sep:n]).logits[0]
            assert torch.allclose(logits[row, sep:n], ref, atol=1e-5)
            assert logits[row, :sep].abs().sum() == 0  # never scored
        out = model(batch)
        assert out.rec.shape == (2,) and torch.isfinite(out.rec).all()
    with pytest.raises(ValueError):
        model.decoder_logits(unconditional_batch().input_ids)


def test_bart_cache_and_left_padding():
    model = make_bart()
    full_rows = [torch.tensor([[1, 5, 6, 7, 3, 10, 11, 12]]), torch.tensor([[1, 8, 3, 13, 14, 15]])]
    prompt_len = [5, 3]
    # left-pad the prompts so both <sep> share a column, as batched generation does
    width = max(prompt_len)
    padded = torch.zeros(2, width + 3, dtype=torch.long)
    key_padding = torch.zeros_like(padded)
    for row, (seq, p) in enumerate(zip(full_rows, prompt_len)):
        padded[row, width - p: width + 3] = seq[0, : p + 3]
        key_padding[row, width - p:] = 1
    with torch.no_grad():
        cache = KVCache()
        steps = [model.decoder_logits(padded[:, :width], key_padding=key_padding[:, :width], cache=cache)]
        for t in range(width, width + 3):
            steps.append(model.decoder_logits(padded[:, t:t + 1], key_padding=key_padding[:, :t + 1], cache=cache))
        incremental = torch.cat(steps, 1)
        for row, (seq, p) in enumerate(zip(full_rows, prompt_len)):
            alone = model.decoder_logits(seq[:, : p + 3])[0]
            assert torch.allclose(incremental[row, width - 1:], alone[p - 1:], atol=1e-5)
        cache.reorder(torch.tensor([1, 1]))  # beam search reorders the encoder output too
        nxt = model.decoder_logits(padded[[1, 1], -1:], key_padding=torch.cat([key_padding[[1, 1]],
                                                                         torch.ones(2, 1, dtype=torch.long)], 1),
                                   cache=cache)
        assert torch.allclose(nxt[0], nxt[1], atol=1e-6)


def test_bart_gradients_reach_encoder():
    model = make_bart().train()
    out = model(conditional_batch([[5, 6, 7], [8, 9]], [[10, 11], [12, 13, 14]]))
    out.rec.mean().backward()
    assert model.bart.model.encoder.layers[0].self_attn.q_proj.weight.grad.abs().sum() > 0
    assert model.bart.model.decoder.layers[0].encoder_attn.k_proj.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", LATENT + ["bart"])
def test_generation_with_and_without_cache_agree(name):
    decoding = pytest.importorskip("della.evaluation.decoding")
    model = make_bart() if name == "bart" else make(name)
    prompts = [[1, 5, 6, 7, 3], [1, 8, 3]]  # conditional prompts of two lengths (left-padded inside)
    z = None if name == "bart" else torch.randn(2, 1, 8)
    runs = [decoding.generate(model, prompts, z=z, strategy=strategy, num_beams=3, max_new_tokens=6, eos_id=2,
                              pad_id=0, use_cache=use_cache)
            for strategy in ("greedy", "beam") for use_cache in (True, False)]
    assert runs[0] == runs[1] and runs[2] == runs[3]
    assert all(len(r) == 2 for r in runs)


@pytest.mark.parametrize("name", ["lm", "embed", "memory", "softmax", "optimus"])
def test_scored_positions_equal_the_full_logits(name):
    """Models run their LM head on scored positions only; the value must not change."""
    from della.data.batching import collate
    from della.models.registry import build_model
    from della.models.vae import token_log_likelihood

    torch.manual_seed(0)
    model = build_model(name, ModelConfig(vocab_size=50, n_layer=2, n_embd=16, n_head=2, dropout=0.0,
                                          latent_size=4)).eval()
    batch = collate([([1, 5, 6, 7, 2], 1, None), ([1, 8, 3, 9, 10, 11, 2], 4, None)], pad_id=0)
    z = torch.randn(2, 1, 4) if model.has_latent else None
    full = token_log_likelihood(model.decoder_logits(batch.input_ids, z=z), batch.labels)
    torch.testing.assert_close(model.sequence_log_likelihood(batch.input_ids, batch.labels, z), full)


def test_load_all_records_a_broken_baselines_file_and_keeps_the_others(tmp_path, monkeypatch):
    """A baselines/ module that raises on import is recorded with its file and line (``BROKEN``),
    every other model stays registered, and an unknown model's error names the broken file."""
    folder = tmp_path / "baselines"
    folder.mkdir()
    (folder / "raises_on_import.py").write_text("import math\n\nraise RuntimeError('not finished')\n")
    monkeypatch.setattr(baselines, "__path__", [*baselines.__path__, str(folder)])
    monkeypatch.setattr(registry, "BROKEN", {})
    registry.load_all()
    assert registry.broken_modules() == [
        "baselines/raises_on_import.py: RuntimeError: not finished (line 3)"]
    assert {"lm", "della", "optimus", "embed"} <= set(registry.available_models())
    with pytest.raises(KeyError, match=r"raises_on_import\.py: RuntimeError"):
        registry.get_model_class("raises-on-import")
