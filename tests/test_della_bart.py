"""DELLA on BART (paper table 2: CNN/DM, Quora): ``model: della`` + ``model_config: {backbone: bart}``
resolves to ``della-bart``; layer-wise latents pooled from BART's encoder layers are fused into the
decoder layers' values; it trains a step (from scratch and from a saved BART) and decodes."""
import pytest
import torch
from transformers import BartConfig, BartForConditionalGeneration

from della.config import ConfigError, resolve_run, runs_of
from della.data.batching import collate, encode_example
from della.data.readers import Example
from della.data.tokenizer import TextTokenizer
from della.evaluation.decoding import generate
from della.models.backbone import build_model_config
from della.models.della import DellaBart, FusedValue
from della.models.pretrained import initialisation_report
from della.models.registry import build_model
from della.training.checkpoints import load_trained
from della.training.loop import train_run
from della.training.objectives import ObjectiveConfig

PAIRS = [("the cat sat on the mat", "a cat sat"), ("a dog ran in the park", "dog ran"),
         ("the bird sang a song", "bird sang"), ("my cat likes the dog", "cat likes dog")] * 3
TRAIN = dict(epochs=1, batch_size=12, lr=1e-3, max_length=10, max_source_length=10, checkpoint_every=0)


@pytest.fixture(scope="module")
def tok():
    return TextTokenizer.train([s for p in PAIRS for s in p], vocab_size=270)


def _config(**model):
    return {"tasks": ["ptb", "cnndm", "wp", "quora"], "models": ["della", "della-bart"],
            "model": {"n_layer": 2, "n_embd": 32, "n_head": 2, "latent_size": 4, "dropout": 0.0},
            "recipes": {"della-bart": {"model": "della", "tasks": ["cnndm", "quora"],
                                       "model_config": {"backbone": "bart", **model}}}}


def _batch(tok, pairs):
    return collate([encode_example(tok, t, s, 10, 10) for s, t in pairs], tok.pad_id)


def test_recipe_selects_della_on_bart():
    config = _config()
    spec = resolve_run(config, "della-bart")
    assert spec.model == "della-bart" and spec.has_latent
    assert runs_of(config) == [("ptb", "della"), ("cnndm", "della"), ("cnndm", "della-bart"), ("wp", "della"),
                               ("quora", "della"), ("quora", "della-bart")]
    bad = _config()
    bad["recipes"]["della-bart"]["model"] = "embed"
    with pytest.raises(ConfigError, match="no bart backbone"):
        resolve_run(bad, "della-bart")


def test_latents_reach_every_decoder_layer(tok):
    torch.manual_seed(0)
    cfg = build_model_config(resolve_run(_config(), "della-bart").model_kwargs, tok)
    model = build_model("della-bart", cfg).eval()
    assert isinstance(model, DellaBart) and model.n_groups == 2 and model.pool_layers == [0, 1]
    decoder_layers = model.seq2seq.bart.model.decoder.layers
    assert all(isinstance(layer.self_attn.v_proj, FusedValue) for layer in decoder_layers)
    assert not any(isinstance(m, FusedValue) for m in model.seq2seq.bart.model.encoder.modules())
    batch = _batch(tok, PAIRS[:3])
    with torch.no_grad():
        enc = model.encode(batch)
        assert enc.prior_c is not None and enc.post_x.shape == (3, 2, 8)
        sample = model.sample_posterior(enc, k=1)
        z = sample.z[0]
        base = model.decoder_logits(batch.input_ids, z=z)
        for layer in range(2):  # changing one layer's latent changes the output
            other = z.clone()
            other[:, layer] += 1.0
            assert not torch.allclose(base, model.decoder_logits(batch.input_ids, z=other))
        # the posterior reads the target, the prior only the source
        swapped = _batch(tok, [(PAIRS[0][0], PAIRS[1][1])] + PAIRS[1:3])
        enc2 = model.encode(swapped)
        assert not torch.allclose(enc.post_x[0], enc2.post_x[0])
        torch.testing.assert_close(enc.prior_c[0], enc2.prior_c[0])
        out = model(batch)
        assert out.kl.shape == (3, 2, 4) and torch.isfinite(out.rec).all()


def test_train_one_step_and_decode(tmp_path, tok):
    spec = resolve_run(_config(), "della-bart")
    examples = [Example(target=t, source=s) for s, t in PAIRS]
    path = train_run(model_name=spec.model, model_kwargs=spec.model_kwargs, objective=ObjectiveConfig(),
                     train_cfg=TRAIN, tokenizer=tok, train_examples=examples, out_dir=tmp_path, progress=False)
    model, state = load_trained(path, device=torch.device("cpu"))
    assert state["model_name"] == "della-bart"
    prompts = [encode_example(tok, t, s, 10, 10)[2] for s, t in PAIRS[:2]]
    batch = _batch(tok, PAIRS[:2])
    torch.manual_seed(1)
    z = model.sample_prior(2, model.encode(batch))
    cached = generate(model, prompts, z=z, strategy="greedy", max_new_tokens=6, eos_id=tok.eos_id, pad_id=tok.pad_id)
    plain = generate(model, prompts, z=z, strategy="greedy", max_new_tokens=6, eos_id=tok.eos_id, pad_id=tok.pad_id,
                     use_cache=False)
    assert cached == plain and all(len(ids) > 0 for ids in cached)
    beams = generate(model, prompts, z=z, strategy="beam", num_beams=3, max_new_tokens=6, eos_id=tok.eos_id,
                     pad_id=tok.pad_id)
    assert len(beams) == 2


def test_from_a_saved_bart(tmp_path, tok):
    torch.manual_seed(3)
    folder = tmp_path / "bart"
    BartForConditionalGeneration(BartConfig(
        vocab_size=tok.vocab_size, d_model=16, encoder_layers=4, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
        pad_token_id=tok.pad_id, bos_token_id=tok.bos_id, eos_token_id=tok.eos_id,
        decoder_start_token_id=tok.sep_id)).save_pretrained(folder)
    saved = BartForConditionalGeneration.from_pretrained(folder)
    spec = resolve_run(_config(pretrained=str(folder)), "della-bart")
    model = build_model(spec.model, build_model_config(spec.model_kwargs, tok))
    assert model.pool_layers == [1, 3]  # 4 encoder layers for 2 decoder layers: the top one of each pair
    torch.testing.assert_close(model.seq2seq.bart.model.decoder.layers[0].self_attn.v_proj.proj.weight,
                               saved.model.decoder.layers[0].self_attn.v_proj.weight)
    new = initialisation_report(model)["new"]
    assert "pool_weight" in new and "prior_c_weight" in new
    assert sum("fusion.text_weight" in n for n in new) == 2  # one fusion per decoder layer (inside v_proj)
    assert not any(n.startswith("seq2seq.") and ".fusion." not in n for n in new)  # all of BART is loaded
    examples = [Example(target=t, source=s) for s, t in PAIRS]
    path = train_run(model_name=spec.model, model_kwargs=spec.model_kwargs, objective=ObjectiveConfig(),
                     train_cfg=TRAIN, tokenizer=tok, train_examples=examples, out_dir=tmp_path / "run", progress=False)
    assert load_trained(path, device=torch.device("cpu"))[0].pool_layers == [1, 3]


def test_config_unknown_backbone():
    config = _config()
    config["recipes"]["della-bart"]["model_config"]["backbone"] = "t5"
    with pytest.raises(ConfigError, match="backbone"):
        resolve_run(config, "della-bart")
