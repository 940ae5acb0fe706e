"""Pretrained backbones from a folder (GPT-2, BERT for Optimus, BART): tiny random models saved with
``save_pretrained`` into a temp folder are loaded through the workflow config, their weights
arrive, the parameters added on top are reported as newly initialised, and one training step runs.
Optimus with a pretrained BERT reads BERT WordPieces while its decoder reads the task tokenizer."""
import shutil

import pytest
import torch
from transformers import (BartConfig, BartForConditionalGeneration, BertConfig, BertModel, BertTokenizerFast,
                          GPT2Config, GPT2Model)

from della.config import resolve_run
from della.data.batching import collate, encode_example
from della.data.readers import Example
from della.data.tokenizer import TextTokenizer
from della.models.backbone import build_model_config
from della.models.pretrained import initialisation_report
from della.models.registry import build_model
from della.training.checkpoints import load_trained
from della.training.loop import train_run
from della.training.objectives import ObjectiveConfig

TEXTS = ["the cat sat on the mat", "a dog ran in the park", "the bird sang a song", "my cat likes the dog"] * 4
TRAIN = dict(epochs=1, batch_size=16, lr=1e-3, max_length=12, max_source_length=12, checkpoint_every=0)


@pytest.fixture(scope="module")
def tok():
    return TextTokenizer.train(TEXTS, vocab_size=270)


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("gpt2")
    GPT2Model(GPT2Config(vocab_size=260, n_positions=64, n_embd=32, n_layer=2, n_head=4)).save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    torch.manual_seed(1)
    d = tmp_path_factory.mktemp("bert")
    words = sorted({w for t in TEXTS for w in t.split()})
    (d / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words) + "\n")
    BertTokenizerFast(vocab=str(d / "vocab.txt")).save_pretrained(d)  # transformers 5: vocab=
    BertModel(BertConfig(vocab_size=5 + len(words), hidden_size=24, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=48, max_position_embeddings=64)).save_pretrained(d)
    return d


def _config(pretrained, options=None):
    """A workflow config whose ``model.pretrained`` points at the folder (as config/paper.yaml does)."""
    return {"tasks": ["ptb"], "models": ["della"],
            "model": {"n_layer": 9, "n_embd": 8, "n_head": 1, "latent_size": 6, "pretrained": str(pretrained),
                      "options": options or {}}}


def _train_one_step(tmp_path, name, spec, tok, examples):
    path = train_run(model_name=name, model_kwargs=spec.model_kwargs, objective=ObjectiveConfig(),
                     train_cfg=TRAIN, tokenizer=tok, train_examples=examples, out_dir=tmp_path, progress=False)
    model, state = load_trained(path, device=torch.device("cpu"))
    assert state["train"]["epochs"] == 1
    return model


@pytest.mark.parametrize("name", ["della", "lm", "embed", "memory", "softmax"])
def test_gpt2_from_a_folder(tmp_path, tok, gpt2_dir, name, capsys):
    saved = GPT2Model.from_pretrained(gpt2_dir)
    spec = resolve_run(_config(gpt2_dir), name)
    cfg = build_model_config(spec.model_kwargs, tok)
    assert (cfg.n_layer, cfg.n_embd, cfg.n_head) == (2, 32, 4)  # sizes come from the checkpoint, not the config
    model = build_model(name, cfg)
    gpt2 = model.backbone.transformer
    c_attn = gpt2.h[1].attn.c_attn
    torch.testing.assert_close(getattr(c_attn, "proj", c_attn).weight, saved.h[1].attn.c_attn.weight)
    torch.testing.assert_close(gpt2.wte.weight[:260], saved.wte.weight)  # then resized to the tokenizer
    assert gpt2.wte.weight.shape[0] == tok.vocab_size
    report = initialisation_report(model)
    assert "backbone.transformer.h.0.mlp.c_fc.weight" in report["loaded"]
    if name == "della":  # the posterior / prior heads, recurrence and fusion are DELLA's own
        for new in ["pool_weight", "post_pool_weight", "prior_h_weight", "rnn_hh_weight", "lm_head.weight"]:
            assert new in report["new"]
        assert any("fusion.text_weight" in n or n.startswith("fusions.0") for n in report["new"])
        assert not any("fusion" in n for n in report["loaded"])
    if name == "lm":
        assert report["new"] == []  # GPT-2 with its tied head: everything comes from the checkpoint

    examples = [Example(target=t) for t in TEXTS]
    trained = _train_one_step(tmp_path, name, spec, tok, examples)
    log = capsys.readouterr().out
    assert f"pretrained weights from {gpt2_dir}" in log
    if name != "lm":
        assert "newly initialised: " in log
    moved = trained.backbone.transformer.h[1].mlp.c_fc.weight
    assert not torch.equal(moved, saved.h[1].mlp.c_fc.weight)  # one optimiser step changed the loaded weights
    assert (moved - saved.h[1].mlp.c_fc.weight).abs().max() < 0.01


def test_optimus_reads_bert_wordpieces(tmp_path, tok, gpt2_dir, bert_dir, capsys):
    saved = BertModel.from_pretrained(bert_dir)
    bert_tok = BertTokenizerFast.from_pretrained(bert_dir)
    spec = resolve_run(_config(gpt2_dir, {"encoder_pretrained": str(bert_dir)}), "optimus")
    model = build_model("optimus", build_model_config(spec.model_kwargs, tok))
    torch.testing.assert_close(model.encoder.encoder.layer[0].attention.self.query.weight,
                               saved.encoder.layer[0].attention.self.query.weight)
    assert model.encoder.embeddings.word_embeddings.weight.shape[0] == bert_tok.vocab_size  # not resized
    report = initialisation_report(model)
    assert any(n.startswith("encoder.") for n in report["loaded"])
    assert "z_to_embedding.weight" in report["new"]

    # the batch carries both id sequences: BERT WordPieces for the encoder, the task tokenizer's for the decoder
    unconditional = encode_example(tok, "the cat sat", None, 12, 12, model.encoder_tokenizer)
    conditional = encode_example(tok, "a dog ran", "the cat sat", 12, 12, model.encoder_tokenizer)
    ids = lambda text: bert_tok.convert_tokens_to_ids(text.split())  # noqa: E731
    cls, sep = bert_tok.cls_token_id, bert_tok.sep_token_id
    assert unconditional[3] == ([cls, *ids("the cat sat"), sep], None)
    assert conditional[3] == ([cls, *ids("the cat sat"), sep, *ids("a dog ran"), sep], [cls, *ids("the cat sat"), sep])
    assert unconditional[0][1:-1] == tok.encode("the cat sat")
    batch = collate([unconditional, encode_example(tok, "the dog", None, 12, 12, model.encoder_tokenizer)],
                    tok.pad_id, bert_tok.pad_token_id)
    assert batch.encoder_ids.tolist()[1] == [cls, *ids("the dog"), sep, bert_tok.pad_token_id]
    assert batch.encoder_mask.tolist()[1] == [1, 1, 1, 1, 0]
    cbatch = collate([conditional], tok.pad_id, bert_tok.pad_token_id)
    enc = model.encode(cbatch)
    assert enc.prior_mean is not None  # the conditional prior reads encoder_source_ids

    # the posterior depends on the BERT ids, not on the decoder's
    model.eval()
    with torch.no_grad():
        mean = model.encode(batch).mean
        swapped = collate([unconditional, unconditional], tok.pad_id, bert_tok.pad_token_id)
        swapped.encoder_ids[1, 1:3] = torch.tensor(ids("my park"))
        changed = model.encode(swapped).mean
    assert not torch.allclose(mean[0], changed[1])
    with pytest.raises(ValueError, match="BERT ids"):
        model.encode(collate([unconditional[:3]], tok.pad_id))

    examples = [Example(target=t) for t in TEXTS]
    trained = _train_one_step(tmp_path, "optimus", spec, tok, examples)
    assert f"pretrained weights from {gpt2_dir}, {bert_dir}" in capsys.readouterr().out
    assert not torch.equal(trained.encoder.encoder.layer[0].attention.self.query.weight,
                           saved.encoder.layer[0].attention.self.query.weight)


def test_bart_from_a_folder(tmp_path, tok, capsys):
    torch.manual_seed(2)
    bart_dir = tmp_path / "bart"
    BartForConditionalGeneration(BartConfig(
        vocab_size=tok.vocab_size, d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
        pad_token_id=tok.pad_id, bos_token_id=tok.bos_id, eos_token_id=tok.eos_id,
        decoder_start_token_id=tok.sep_id)).save_pretrained(bart_dir)
    saved = BartForConditionalGeneration.from_pretrained(bart_dir)
    spec = resolve_run(_config(bart_dir), "bart")
    cfg = build_model_config(spec.model_kwargs, tok)
    assert (cfg.n_layer, cfg.n_embd) == (2, 32)
    model = build_model("bart", cfg)
    torch.testing.assert_close(model.bart.model.decoder.layers[1].fc1.weight, saved.model.decoder.layers[1].fc1.weight)
    assert initialisation_report(model)["new"] == []
    examples = [Example(target=t, source=s) for t, s in zip(TEXTS, reversed(TEXTS))]
    trained = _train_one_step(tmp_path / "run", "bart", spec, tok, examples)
    assert f"pretrained weights from {bart_dir}" in capsys.readouterr().out
    assert not torch.equal(trained.bart.model.decoder.layers[1].fc1.weight, saved.model.decoder.layers[1].fc1.weight)
    # model.pt rebuilds the architecture from the saved config: the checkpoint folder is no longer needed
    shutil.rmtree(bart_dir)
    again, _ = load_trained(tmp_path / "run" / "model.pt", device=torch.device("cpu"))
    assert torch.equal(again.bart.model.decoder.layers[1].fc1.weight, trained.bart.model.decoder.layers[1].fc1.weight)


def test_missing_folder_is_a_clear_error(tmp_path, tok):
    spec = resolve_run(_config(tmp_path / "nothing-here"), "lm")
    with pytest.raises(OSError):
        build_model("lm", build_model_config(spec.model_kwargs, tok))
