"""Training launched by ``torchrun`` (2 gloo processes on a CPU) through ``python -m della.training.cli``:
both processes end with identical weights (the run checks it and says so), and the result matches
one process with the same effective batch (2 x batch_size) within tolerance."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from della.data.readers import write_jsonl
from della.data.synthetic import generate_task
from della.data.tokenizer import TextTokenizer
from della.training.checkpoints import load_trained
from della.training.loop import train_run
from della.training.objectives import ObjectiveConfig

REPO = Path(__file__).resolve().parents[1]
SIZES = dict(n_layer=2, n_embd=16, n_head=2, n_positions=64, latent_size=4, dropout=0.0)
TRAIN = dict(epochs=2, batch_size=4, lr=0.003, max_length=16, max_source_length=16, checkpoint_every=0)


def complete_config(tmp_path, **sections) -> dict:
    """A complete workflow config (the CLI validates it whole, as the workflow does): the smoke
    config on ptb and lm, results under ``tmp_path``, ``sections`` replacing whole sections."""
    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    config.update(results_dir=str(tmp_path / "results"), tasks=["ptb"], models=["lm"], seeds=[0], recipes={},
                  **sections)
    return config


@pytest.mark.slow
def test_torchrun_two_processes_match_one(tmp_path):
    split = generate_task("ptb", {"train": 32, "valid": 8, "test": 4}, seed=0)
    tok = TextTokenizer.train([e.target for e in split["train"]], vocab_size=280)
    data = tmp_path / "results" / "data" / "ptb"
    data.mkdir(parents=True)
    write_jsonl(split["train"], data / "train.jsonl")
    write_jsonl(split["valid"], data / "valid.jsonl")
    tok.save(data / "tokenizer.json")
    config = complete_config(tmp_path, model=SIZES, train=TRAIN, objective={"beta_schedule": "constant"})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))

    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "della.training.cli", "--config", str(tmp_path / "config.yaml"), "--task", "ptb",
                           "--recipe", "lm", "--threads", "1"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "all 2 processes hold identical weights" in proc.stdout + proc.stderr
    two, state = load_trained(tmp_path / "results" / "runs" / "ptb" / "lm" / "seed0" / "model.pt",
                              device=torch.device("cpu"))
    assert state["selected"]["metric"] == "nll"  # validated on valid.jsonl

    # one process, same effective batch (2 x 4), same validation: the same weights up to float error
    one_path = train_run(model_name="lm", model_kwargs=SIZES, objective=ObjectiveConfig(beta_schedule="constant"),
                         train_cfg=dict(TRAIN, batch_size=8), tokenizer=tok, train_examples=split["train"],
                         valid_examples=split["valid"], out_dir=tmp_path / "one", progress=False)
    one, one_state = load_trained(one_path, device=torch.device("cpu"))
    assert one_state["selected"]["step"] == state["selected"]["step"]
    for (name, a), b in zip(one.state_dict().items(), two.state_dict().values()):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4, msg=name)


def test_cli_refuses_missing_data(tmp_path, capsys):
    from della.training.cli import main

    (tmp_path / "c.yaml").write_text(yaml.safe_dump(complete_config(tmp_path)))
    assert main(["--config", str(tmp_path / "c.yaml"), "--task", "ptb", "--recipe", "lm"]) == 2
    assert "prepared data missing" in capsys.readouterr().err
    assert main(["--config", str(tmp_path / "c.yaml"), "--task", "ptb", "--recipe", "nope"]) == 2


def test_cli_validates_the_config_as_the_workflow_does(tmp_path, capsys):
    """Issue 20: a value the workflow refuses at start-up is refused before torchrun trains anything."""
    from della.training.cli import main

    config = complete_config(tmp_path)
    config["recipes"] = {"x": {"model": "embed", "model_config": {"n_embd": 30, "n_head": 4}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert main(["--config", str(tmp_path / "c.yaml"), "--task", "ptb", "--recipe", "lm"]) == 2
    assert "n_embd = 30 is not a multiple of n_head = 4" in capsys.readouterr().err
