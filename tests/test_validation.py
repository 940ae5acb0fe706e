"""Best epoch on validation: the validation figure is logged every epoch (or every N steps), the best
checkpoint becomes model.pt (so evaluation uses it), validation does not move the training's random
stream, and a killed run resumes with its best-so-far."""
import csv

import pytest
import torch

from della.data.synthetic import generate_task
from della.data.tokenizer import TextTokenizer
from della.training.checkpoints import load_trained
from della.training.loop import Validator, train_run
from della.training.objectives import ObjectiveConfig
from kills import killed_at

SIZES = dict(n_layer=2, n_embd=16, n_head=2, n_positions=64, latent_size=4, dropout=0.1)
TRAIN = dict(epochs=3, batch_size=8, lr=0.003, max_length=16, max_source_length=16, checkpoint_every=2)


@pytest.fixture(scope="module")
def data():
    split = generate_task("ptb", {"train": 40, "valid": 12, "test": 4}, seed=0)
    return split["train"], split["valid"], TextTokenizer.train([e.target for e in split["train"]], vocab_size=280)


def run(out, data, name="della", valid=True, schedule="cyclical", **train):
    examples, valid_examples, tok = data
    return train_run(model_name=name, model_kwargs=SIZES, objective=ObjectiveConfig(beta_schedule=schedule),
                     train_cfg={**TRAIN, **train}, tokenizer=tok, train_examples=examples, out_dir=out, seed=3,
                     progress=False, valid_examples=valid_examples if valid else None)


def log(out):
    return list(csv.DictReader((out / "train_log.csv").open()))


def scripted_figures(monkeypatch, values):
    """Validation figures in a known order (the choice of checkpoint is what is tested here)."""
    it = iter(values)
    monkeypatch.setattr(Validator, "figure", lambda self: next(it))


def test_best_epoch_becomes_model_pt(tmp_path, data, monkeypatch):
    scripted_figures(monkeypatch, [3.0, 1.0, 2.0])
    path = run(tmp_path / "valid", data, schedule="constant")  # beta does not depend on the run's length
    rows = log(tmp_path / "valid")
    assert [(r["step"], r["valid"]) for r in rows if r["valid"]] == [("5", "3.0"), ("10", "1.0"), ("15", "2.0")]
    state = torch.load(path, weights_only=False)
    assert state["selected"] == {"value": 1.0, "step": 10, "epoch": 1, "metric": "elbo", "last_step": 15}
    assert state["steps"] == 15  # the run's budget; the weights are step 10's
    assert (tmp_path / "valid" / "best.pt").exists()  # kept until the run is complete (della/run_folder.py)
    # the weights are those after epoch 2: the same as a 2-epoch run without validation (validation
    # runs in a forked RNG, so it does not change what training draws)
    two = load_trained(run(tmp_path / "two", data, valid=False, schedule="constant", epochs=2),
                       device=torch.device("cpu"))[0]
    best = load_trained(path, device=torch.device("cpu"))[0]
    assert all(torch.equal(a, b) for a, b in zip(two.state_dict().values(), best.state_dict().values()))


def test_real_figure_is_the_models_elbo(tmp_path, data):
    path = run(tmp_path, data, epochs=2)
    rows = log(tmp_path)
    values = [float(r["valid"]) for r in rows if r["valid"]]
    assert len(values) == 2 and all(v > 0 for v in values)
    model, state = load_trained(path, device=torch.device("cpu"))
    assert state["selected"]["value"] == pytest.approx(min(values), abs=1e-6)
    # recomputing the figure on the selected weights gives the logged value (fixed seed)
    from della.data.batching import encode_examples, make_batches
    _, valid_examples, tok = data
    batches = make_batches(encode_examples(tok, valid_examples, 16, 16), 8, tok.pad_id)
    figure = Validator(model, batches, None, 3, torch.device("cpu"), False).figure()
    assert figure == pytest.approx(min(values), rel=1e-5)


def test_validate_every_steps_and_lm_metric(tmp_path, data):
    run(tmp_path, data, name="lm", epochs=2, validate_every=3)
    rows = log(tmp_path)
    assert [r["step"] for r in rows if r["valid"]] == ["3", "5", "6", "9", "10"]  # every 3 steps + epoch ends
    assert torch.load(tmp_path / "model.pt", weights_only=False)["selected"]["metric"] == "nll"
    with pytest.raises(ValueError, match="latent"):
        run(tmp_path / "bad", data, name="lm", valid_metric="elbo")
    with pytest.raises(ValueError, match="valid_metric"):
        run(tmp_path / "bad2", data, valid_metric="bleu")


def test_resume_keeps_best_so_far(tmp_path, data, monkeypatch):
    scripted_figures(monkeypatch, [1.0, 2.0, 3.0])
    reference = torch.load(run(tmp_path / "full", data), weights_only=False)
    assert reference["selected"]["step"] == 5

    scripted_figures(monkeypatch, [1.0, 2.0])
    with killed_at(monkeypatch, 12):
        run(tmp_path / "resumed", data)
    assert (tmp_path / "resumed" / "best.pt").exists()
    scripted_figures(monkeypatch, [3.0])  # only epoch 3 is validated after the resume
    resumed = torch.load(run(tmp_path / "resumed", data), weights_only=False)
    assert resumed["selected"] == reference["selected"]
    assert all(torch.equal(reference["state_dict"][k], resumed["state_dict"][k]) for k in reference["state_dict"])
    assert [r["valid"] for r in log(tmp_path / "resumed") if r["valid"]] == ["1.0", "2.0", "3.0"]


def test_a_checkpoint_without_its_best_weights_is_not_resumed(tmp_path, data, capsys):
    """Issue 20, item 3: a checkpoint whose best-so-far refers to a best.pt that is gone (6d70874
    deleted best.pt before the checkpoint: every rerun then failed on the missing file) is moved
    aside and the run trains afresh, to the same result."""
    reference = run(tmp_path / "reference", data).read_bytes()
    run(tmp_path / "wedged", data)
    for name in ("best.pt", "model.pt", "train_log.csv"):
        (tmp_path / "wedged" / name).unlink()
    capsys.readouterr()
    path = run(tmp_path / "wedged", data)
    out = capsys.readouterr().out
    assert "not resuming from" in out and "best.pt, the best weights on validation it refers to, is missing" in out
    assert len(list((tmp_path / "wedged").glob("checkpoint.stale-*.pt"))) == 1
    assert path.read_bytes() == reference


def test_a_changed_validation_split_starts_afresh(tmp_path, data, monkeypatch, capsys):
    """Issue 20, item 5: the best checkpoint so far was chosen on the validation split; another
    split must not resume it (best-checkpoint selection would mix two validation sets)."""
    examples, valid_examples, tok = data
    with killed_at(monkeypatch, 7):
        run(tmp_path, data)
    capsys.readouterr()
    train_run(model_name="della", model_kwargs=SIZES, objective=ObjectiveConfig(beta_schedule="cyclical"),
              train_cfg=TRAIN, tokenizer=tok, train_examples=examples, out_dir=tmp_path, seed=3, progress=False,
              valid_examples=valid_examples[:6])
    out = capsys.readouterr().out
    assert "not resuming from" in out and "valid changed since it was written" in out
