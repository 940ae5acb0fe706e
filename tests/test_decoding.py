"""della/evaluation/decoding.py: cache vs no cache, left padding, greedy / beam / sampling, for lm and della."""
import pytest
import torch

from della.evaluation.decoding import filter_logits, generate
from della.models.backbone import ModelConfig
from della.models.registry import build_model

EOS, PAD, BOS, SEP = 2, 0, 1, 3
VOCAB = 40


def _model(name, **options):
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=VOCAB, n_layer=2, n_embd=32, n_head=4, latent_size=8, dropout=0.1, options=options)
    model = build_model(name, cfg)
    with torch.no_grad():  # sharpen the tiny random model so that eos and ties matter little
        model.backbone.transformer.wte.weight.mul_(20)
    return model.eval()


PROMPTS_UNCOND = [[BOS], [BOS], [BOS]]
PROMPTS_COND = [[BOS, 5, 6, 7, SEP], [BOS, 9, SEP], [BOS, 11, 12, 13, 14, 15, SEP]]


def _latent(model, prompts):
    if not model.has_latent:
        return None
    torch.manual_seed(1)
    if len(prompts[0]) == 1:
        return model.sample_prior(len(prompts))
    width = max(len(p) for p in prompts)
    src = torch.tensor([p + [PAD] * (width - len(p)) for p in prompts])
    mask = (torch.arange(width)[None] < torch.tensor([len(p) for p in prompts])[:, None]).long()
    return model.sample_prior(len(prompts), model.encode_source(src, mask))


CASES = [("lm", PROMPTS_UNCOND), ("lm", PROMPTS_COND), ("della", PROMPTS_UNCOND), ("della", PROMPTS_COND)]


@pytest.mark.parametrize("name,prompts", CASES)
@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_cache_and_no_cache_give_the_same_tokens(name, prompts, strategy):
    model = _model(name)
    z = _latent(model, prompts)
    kw = dict(z=z, strategy=strategy, num_beams=3, max_new_tokens=8, eos_id=EOS, pad_id=PAD)
    with_cache = generate(model, prompts, use_cache=True, **kw)
    without = generate(model, prompts, use_cache=False, **kw)
    assert with_cache == without
    assert all(EOS not in seq and len(seq) <= 8 for seq in with_cache)


@pytest.mark.parametrize("name", ["lm", "della"])
def test_left_padding_equals_decoding_each_prompt_alone(name):
    model = _model(name)
    z = _latent(model, PROMPTS_COND)
    together = generate(model, PROMPTS_COND, z=z, max_new_tokens=6, eos_id=EOS, pad_id=PAD)
    for i, prompt in enumerate(PROMPTS_COND):
        zi = None if z is None else z[i:i + 1]
        assert generate(model, [prompt], z=zi, max_new_tokens=6, eos_id=EOS, pad_id=PAD) == [together[i]]


@pytest.mark.parametrize("name,prompts", CASES)
def test_beam_with_one_beam_is_greedy(name, prompts):
    model = _model(name)
    z = _latent(model, prompts)
    greedy = generate(model, prompts, z=z, strategy="greedy", max_new_tokens=8, eos_id=EOS, pad_id=PAD)
    beam = generate(model, prompts, z=z, strategy="beam", num_beams=1, max_new_tokens=8, eos_id=EOS, pad_id=PAD)
    assert beam == greedy


def test_sampling_with_top_k_one_or_tiny_top_p_is_greedy():
    model = _model("della")
    z = _latent(model, PROMPTS_UNCOND)
    greedy = generate(model, PROMPTS_UNCOND, z=z, max_new_tokens=8, eos_id=EOS, pad_id=PAD)
    g = torch.Generator().manual_seed(0)
    for kw in ({"top_k": 1}, {"top_p": 1e-6}):
        assert generate(model, PROMPTS_UNCOND, z=z, strategy="sample", max_new_tokens=8, eos_id=EOS, pad_id=PAD,
                        generator=g, **kw) == greedy


def test_sampling_is_reproducible_and_varied():
    model = _model("lm")
    prompts = [[BOS]] * 8
    kw = dict(strategy="sample", max_new_tokens=10, eos_id=EOS, pad_id=PAD, temperature=2.0)
    a = generate(model, prompts, generator=torch.Generator().manual_seed(3), **kw)
    b = generate(model, prompts, generator=torch.Generator().manual_seed(3), **kw)
    assert a == b and len({tuple(x) for x in a}) > 1


def test_filter_logits_top_k_and_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isfinite(filter_logits(logits, top_k=2)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.8)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.81)).tolist() == [[True, True, True, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.1)).tolist() == [[True, False, False, False]]


def test_min_and_max_new_tokens():
    model = _model("lm")
    with torch.no_grad():
        model.backbone.transformer.wte.weight[EOS].mul_(50)  # eos becomes very likely
    out = generate(model, [[BOS]] * 2, max_new_tokens=7, min_new_tokens=4, eos_id=EOS, pad_id=PAD)
    assert all(4 <= len(seq) <= 7 for seq in out)
    beam = generate(model, [[BOS]] * 2, strategy="beam", num_beams=3, max_new_tokens=7, min_new_tokens=4,
                    eos_id=EOS, pad_id=PAD)
    assert all(4 <= len(seq) <= 7 for seq in beam)


def test_generate_restores_training_mode_and_checks_inputs():
    model = _model("lm").train()
    generate(model, [[BOS]], max_new_tokens=2, eos_id=EOS, pad_id=PAD)
    assert model.training
    with pytest.raises(ValueError):
        generate(model, [[BOS]], strategy="nucleus", eos_id=EOS, pad_id=PAD)
    with pytest.raises(ValueError):
        generate(model, [[]], eos_id=EOS, pad_id=PAD)


@pytest.mark.parametrize("seed", [0, 1])
def test_beam_search_matches_transformers_generate(seed):
    """Our beam search = transformers' (length_penalty=1.0, early_stopping=False) on the same GPT-2."""
    from transformers import GPT2LMHeadModel

    model = _model("lm")
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    hf = GPT2LMHeadModel(model.backbone.transformer.config).eval()
    hf.transformer.load_state_dict(model.backbone.transformer.state_dict())
    hf.lm_head.weight = hf.transformer.wte.weight
    prompt = [BOS, 7, 8]
    ours = generate(model, [prompt], strategy="beam", num_beams=4, max_new_tokens=10, eos_id=EOS, pad_id=PAD)[0]
    theirs = hf.generate(torch.tensor([prompt]), num_beams=4, max_new_tokens=10, eos_token_id=EOS, pad_token_id=PAD,
                         do_sample=False, length_penalty=1.0, early_stopping=False)[0, len(prompt):].tolist()
    theirs = theirs[:theirs.index(EOS)] if EOS in theirs else theirs
    assert ours == [t for t in theirs if t != PAD]


@pytest.mark.parametrize("name", ["lm", "della"])
def test_cached_decoding_uses_the_current_cache_keyword(name):
    """transformers deprecates `past_key_values` for GPT2Block (removed in 5.40): the backbone passes
    the cache under the keyword the installed version takes, so no deprecation warning is raised."""
    import warnings

    model = _model(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        generate(model, PROMPTS_UNCOND, z=_latent(model, PROMPTS_UNCOND), strategy="greedy", max_new_tokens=4,
                 eos_id=EOS, pad_id=PAD)
