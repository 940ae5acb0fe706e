"""The GPU path, checked on the CPU: benchmarks/bench_gpu.py runs at its tiny shape and prints its
table; ``train.compile`` compiles the training forward pass; bf16 falls back to fp32 off CUDA."""
import importlib.util
from pathlib import Path

import torch

from della.data.synthetic import generate_task
from della.data.tokenizer import TextTokenizer
from della.training.distributed import bf16_supported
import della.training.loop as train_module
from della.training.objectives import ObjectiveConfig

REPO = Path(__file__).resolve().parents[1]


def test_bench_gpu_tiny_on_cpu(capsys):
    spec = importlib.util.spec_from_file_location("bench_gpu", REPO / "benchmarks" / "bench_gpu.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.main(["--tiny", "--steps", "1", "--warmup", "0"])
    assert {(r["model"], r["setting"]) for r in rows} == {(m, s) for m in ("della", "lm") for s in bench.SETTINGS}
    assert all(r["tokens_per_s"] > 0 for r in rows)
    out = capsys.readouterr().out
    assert "| della | bf16-sdpa-compile |" in out and "tokens/s" in out
    # DELLA's model FLOPs count both passes through the stack
    shape = dict(bench.SMALL)
    assert bench.model_flops_per_token("della", shape) > 1.9 * bench.model_flops_per_token("lm", shape) - 6 * 768 * 50261


def test_train_compile_and_bf16_fallback(tmp_path, monkeypatch):
    compiled = []

    def fake_compile(module):  # compiling on a CPU takes minutes; the wiring is what is tested
        compiled.append(module)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    examples = generate_task("ptb", {"train": 8, "valid": 2, "test": 2}, seed=0)["train"]
    tok = TextTokenizer.train([e.target for e in examples], vocab_size=270)
    train_module.train_run(model_name="lm", model_kwargs=dict(n_layer=1, n_embd=16, n_head=2, n_positions=64),
                           objective=ObjectiveConfig(), tokenizer=tok, train_examples=examples, out_dir=tmp_path,
                           train_cfg=dict(epochs=1, batch_size=8, compile=True, precision="bf16", max_length=12),
                           progress=False)
    assert len(compiled) == 1 and compiled[0].name == "lm"
    assert not bf16_supported(torch.device("cpu"))  # bf16 requested, fp32 used on a CPU
