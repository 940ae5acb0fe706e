"""The training loop's promises: same config and seed give identical results on CPU;
a killed run resumes from its checkpoint to exactly the weights of an uninterrupted one; a NaN
stops the run naming the step; the per-step log has its columns."""
import csv

import pytest
import torch

from della.data.synthetic import generate_task
from della.data.tokenizer import TextTokenizer
from della.training.checkpoints import load_trained
import della.training.loop as train_module
from della.training.loop import TrainingDiverged, train_run
from della.training.objectives import ObjectiveConfig
from kills import killed_at

SIZES = dict(n_layer=2, n_embd=16, n_head=2, n_positions=64, latent_size=4, dropout=0.1)
TRAIN = dict(epochs=2, batch_size=8, lr=0.003, max_length=16, max_source_length=16, checkpoint_every=2)


@pytest.fixture(scope="module")
def data():
    examples = generate_task("ptb", {"train": 40, "valid": 4, "test": 4}, seed=0)["train"]
    return examples, TextTokenizer.train([e.target for e in examples], vocab_size=280)


def run(tmp_path, data, name="della", **kw):
    examples, tok = data
    return train_run(model_name=name, model_kwargs=SIZES, objective=ObjectiveConfig(beta_schedule="cyclical"),
                     train_cfg=TRAIN, tokenizer=tok, train_examples=examples, out_dir=tmp_path, seed=3,
                     progress=False, **kw)


def weights(path):
    return load_trained(path, device=torch.device("cpu"))[0].state_dict()


def test_same_seed_same_weights(tmp_path, data):
    a, b = weights(run(tmp_path / "a", data)), weights(run(tmp_path / "b", data))
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = list(csv.DictReader((tmp_path / "a" / "train_log.csv").open()))
    assert len(rows) == 10 and {"loss", "rec", "kl", "beta", "lr"} <= set(rows[0])
    assert float(rows[0]["beta"]) == pytest.approx(1e-5)


def test_killed_run_resumes_to_the_same_weights(tmp_path, data, monkeypatch):
    reference = weights(run(tmp_path / "full", data))
    with killed_at(monkeypatch, 7):
        run(tmp_path / "resumed", data)
    assert (tmp_path / "resumed" / "checkpoint.pt").exists() and not (tmp_path / "resumed" / "model.pt").exists()
    resumed = weights(run(tmp_path / "resumed", data))
    assert all(torch.equal(reference[k], resumed[k]) for k in reference)
    # the checkpoint of the last step stays (della/run_folder.py: removed once the job is complete)
    assert torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)["step"] == 10
    rows = list(csv.DictReader((tmp_path / "resumed" / "train_log.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 11))


def kill_at_step(monkeypatch, tmp_path, data, killed_step, **kw):
    """Run until ``killed_step`` starts, then raise as a SIGKILL would stop the job."""
    with killed_at(monkeypatch, killed_step):
        run(tmp_path, data, **kw)


def test_log_survives_resume_after_snakemake_deletes_it(tmp_path, data, monkeypatch):
    """Snakemake deletes the outputs of a failed job (train_log.csv among them); the rows before
    the kill come back from the checkpoint, and the files are byte-identical to an uninterrupted run."""
    run(tmp_path / "full", data)
    kill_at_step(monkeypatch, tmp_path / "resumed", data, 7)
    (tmp_path / "resumed" / "train_log.csv").unlink()
    run(tmp_path / "resumed", data)
    for name in ("train_log.csv", "model.pt"):
        assert (tmp_path / "resumed" / name).read_bytes() == (tmp_path / "full" / name).read_bytes(), name


def test_changed_lr_starts_afresh_and_keeps_the_stale_checkpoint(tmp_path, data, monkeypatch, capsys):
    kill_at_step(monkeypatch, tmp_path, data, 7)
    capsys.readouterr()
    examples, tok = data
    changed = train_run(model_name="della", model_kwargs=SIZES, objective=ObjectiveConfig(beta_schedule="cyclical"),
                        train_cfg={**TRAIN, "lr": 0.001}, tokenizer=tok, train_examples=examples, out_dir=tmp_path,
                        seed=3, progress=False)
    out = capsys.readouterr().out
    assert "not resuming from" in out and "train changed since it was written" in out and "starting afresh" in out
    assert len(list(tmp_path.glob("checkpoint.stale-*.pt"))) == 1  # moved aside, not deleted
    rows = list(csv.DictReader((tmp_path / "train_log.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 11))
    assert all(float(r["lr"]) == pytest.approx(0.001) for r in rows)  # no step ran at the old lr
    reference = weights(train_run(model_name="della", model_kwargs=SIZES,
                                  objective=ObjectiveConfig(beta_schedule="cyclical"), train_cfg={**TRAIN, "lr": 0.001},
                                  tokenizer=tok, train_examples=examples, out_dir=tmp_path / "ref", seed=3,
                                  progress=False))
    assert all(torch.equal(reference[k], v) for k, v in weights(changed).items())


def test_changed_model_size_or_code_starts_afresh(tmp_path, data, monkeypatch, capsys):
    kill_at_step(monkeypatch, tmp_path, data, 7, code_version="aaaa")
    capsys.readouterr()
    run(tmp_path, data, code_version="bbbb")  # same settings, other code
    assert "code changed since it was written" in capsys.readouterr().out
    kill_at_step(monkeypatch, tmp_path / "size", data, 7)
    examples, tok = data
    train_run(model_name="della", model_kwargs={**SIZES, "n_embd": 24}, objective=ObjectiveConfig(beta_schedule="cyclical"),
              train_cfg=TRAIN, tokenizer=tok, train_examples=examples, out_dir=tmp_path / "size", seed=3, progress=False)
    assert "model changed since it was written" in capsys.readouterr().out


def test_unreadable_checkpoint_is_moved_aside(tmp_path, data, capsys):
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "checkpoint.pt").write_bytes(b"torn")
    run(tmp_path, data)
    assert "cannot be read" in capsys.readouterr().out and (tmp_path / "model.pt").exists()
    assert len(list(tmp_path.glob("checkpoint.stale-*.pt"))) == 1


def test_a_rerun_after_training_repeats_no_step(tmp_path, data, monkeypatch, capsys):
    """Issue 20: a train job killed or failing after its last step (writing model.pt, or in the
    evaluation that follows) is rerun by Snakemake, which first deletes its outputs; the checkpoint
    of the last step is still there, so the rerun trains nothing and writes the same bytes."""
    run(tmp_path, data)
    before = {name: (tmp_path / name).read_bytes() for name in ("model.pt", "train_log.csv")}
    for name in ("model.pt", "train_log.csv", "train_timing.json"):  # what Snakemake deletes
        (tmp_path / name).unlink()

    def no_step(*args):
        raise AssertionError("an optimiser step was repeated")

    monkeypatch.setattr(train_module, "beta_at", no_step)
    capsys.readouterr()
    run(tmp_path, data)
    assert "at step 10 of 10: training is complete" in capsys.readouterr().out
    assert {name: (tmp_path / name).read_bytes() for name in before} == before


def test_remove_training_state_keeps_stale_checkpoints(tmp_path, data):
    from della.run_folder import remove_training_state

    run(tmp_path, data)
    (tmp_path / "checkpoint.stale-1234abcd.pt").write_bytes(b"hours of other training")
    (tmp_path / "best.pt").write_bytes(b"best weights")
    assert remove_training_state(tmp_path) == ["checkpoint.pt", "best.pt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint.stale-1234abcd.pt", "model.pt", "train_log.csv", "train_timing.json"]
    assert remove_training_state(tmp_path) == []


def test_timing_is_kept_out_of_the_log(tmp_path, data):
    run(tmp_path, data)
    import json

    timing = json.loads((tmp_path / "train_timing.json").read_text())
    assert timing["seconds"] > 0 and timing["tokens"] > 0 and timing["steps"] == 10
    assert "tokens_per_s" not in (tmp_path / "train_log.csv").read_text()


def test_nan_loss_stops_naming_the_step(tmp_path, data, monkeypatch):
    real = train_module.training_loss

    def nan_at_step_3(out, cfg, beta):
        loss, logs = real(out, cfg, beta)
        if nan_at_step_3.calls == 3:
            loss = loss * float("nan")
        nan_at_step_3.calls += 1
        return loss, logs

    nan_at_step_3.calls = 0
    monkeypatch.setattr(train_module, "training_loss", nan_at_step_3)
    with pytest.raises(TrainingDiverged, match="at step 3"):
        run(tmp_path, data)
    assert not (tmp_path / "model.pt").exists()


def test_bad_train_settings_are_refused(tmp_path, data):
    examples, tok = data
    with pytest.raises(ValueError, match="lr"):
        train_run(model_name="lm", model_kwargs=SIZES, objective=ObjectiveConfig(), train_cfg={"lr": -1.0},
                  tokenizer=tok, train_examples=examples, out_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown train key"):
        train_run(model_name="lm", model_kwargs=SIZES, objective=ObjectiveConfig(), train_cfg={"learning_rate": 1},
                  tokenizer=tok, train_examples=examples, out_dir=tmp_path)


@pytest.mark.slow
def test_latent_models_learn_as_well_as_the_lm(tmp_path):
    """A latent model must not learn far worse than the plain LM because of how z is injected: the
    embedding path once drowned the tokens in z's projection (PyTorch's default init, ~10x the token
    embeddings); after 80 steps its loss stood at 2.3x the LM's (now ~1.4x: z is still noise early)."""
    examples = generate_task("yelp", {"train": 320, "valid": 4, "test": 4}, seed=0)["train"]
    tok = TextTokenizer.train([e.target for e in examples], vocab_size=400)
    final = {}
    for name in ("lm", "embed", "optimus", "memory", "softmax", "della"):
        train_run(model_name=name, model_kwargs=dict(SIZES, n_embd=64, latent_size=32),
                  objective=ObjectiveConfig(beta_schedule="cyclical"),
                  train_cfg=dict(TRAIN, epochs=4, batch_size=16, checkpoint_every=0), tokenizer=tok,
                  train_examples=examples, out_dir=tmp_path / name, progress=False)
        rows = list(csv.DictReader((tmp_path / name / "train_log.csv").open()))
        final[name] = sum(float(r["rec"]) for r in rows[-10:]) / 10
    for name, rec in final.items():
        assert rec < 1.6 * final["lm"], final


def test_data_parallel_training_on_two_processes(tmp_path, data):
    """train.devices = 2: two gloo processes (NCCL on GPUs) train one model with DDP; process 0
    writes the model and a log of the per-process steps (each process sees half the batches)."""
    examples, tok = data
    path = train_run(model_name="della", model_kwargs=dict(SIZES, options={"bow": True}),
                     objective=ObjectiveConfig(beta_schedule="cyclical",
                     bow_weight=0.2), train_cfg=dict(TRAIN, devices=2), tokenizer=tok, train_examples=examples,
                     out_dir=tmp_path, seed=3, threads=1, progress=False)
    rows = list(csv.DictReader((tmp_path / "train_log.csv").open()))
    assert len(rows) == 2 * (5 // 2)  # 40 examples / batch 8 = 5 batches -> 2 per process per epoch, 2 epochs
    model, _ = load_trained(path, device=torch.device("cpu"))
    assert model.n_groups == 2 and torch.load(tmp_path / "checkpoint.pt", weights_only=False)["step"] == 4


def test_step_budget_is_the_same_for_every_model(tmp_path, data):
    """`train.steps` fixes the optimiser steps (and so the tokens) whatever the model; the data is
    reshuffled every epoch and the run stops mid-epoch when the budget is spent. DELLA logs its KL
    per layer."""
    examples, tok = data
    logs = {}
    for name in ("lm", "della"):
        path = train_run(model_name=name, model_kwargs=SIZES, objective=ObjectiveConfig(beta_schedule="cyclical", cycles=2),
                         train_cfg={**TRAIN, "steps": 13}, tokenizer=tok, train_examples=examples,
                         out_dir=tmp_path / name, seed=3, progress=False)
        state = torch.load(path, weights_only=False)
        assert state["steps"] == 13
        logs[name] = list(csv.DictReader((tmp_path / name / "train_log.csv").open()))
    assert [int(r["step"]) for r in logs["della"]] == list(range(1, 14))
    assert [r["tokens"] for r in logs["lm"]] == [r["tokens"] for r in logs["della"]]  # same batches, same tokens
    assert int(logs["della"][-1]["epoch"]) == 2  # 5 steps per epoch: the budget ends in the third epoch
    della = logs["della"]
    assert float(della[0]["kl"]) == pytest.approx(float(della[0]["kl_group0"]) + float(della[0]["kl_group1"]), abs=1e-4)
    assert "kl_group0" not in logs["lm"][0]
