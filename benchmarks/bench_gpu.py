"""Training throughput of DELLA and the GPT-2 LM on a GPU: the official code's settings against ours.

    python benchmarks/bench_gpu.py                 # GPT-2-small shape on CUDA
    python benchmarks/bench_gpu.py --tiny          # a tiny shape on the CPU (what the test suite runs)

Models: ``della`` (della/models/della.py) and ``lm`` (baselines/lm.py) at GPT-2-small shape — 12 layers x
768 wide x 12 heads, vocabulary 50,257 (+4 special tokens), random weights — with the paper's batch
(16 sentences per step; the paper accumulates 8 such steps, which does not change tokens/s) and
sequence length (``--length``, 128 = config/paper.yaml's ``train.max_length``).
Settings:

* ``fp32-eager`` — the official code's: fp32, no compilation, attention computed explicitly
  (PyTorch's MATH SDPA backend: softmax(QK^T/sqrt(d)) V as separate operations), plain AdamW;
* ``bf16-sdpa-compile`` — ours at paper scale: bf16 autocast, SDPA's fused (flash / memory-efficient)
  kernels, ``torch.compile`` of the forward pass, fused AdamW (``train.precision: bf16``,
  ``train.compile: true``; della/training/loop.py).

Printed per model and setting: tokens/s of a whole training step (forward, backward, AdamW), the peak
GPU memory (``torch.cuda.max_memory_allocated``), and the model-FLOPs utilisation against
``--peak-tflops`` (default 989: an H100/H200's dense bf16 peak): model FLOPs per token =
passes x (6 N + 12 L T H) + 6 H V, with N the Transformer blocks' parameters, L layers, T length,
H width, V vocabulary; DELLA makes 2 passes (the bidirectional encoder pass, backpropagated, and the
decoder pass), the LM 1. On the CPU (``--tiny``) memory and MFU are not measured and compilation is
skipped unless ``--compile``.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402

from della.data.batching import Batch  # noqa: E402
from della.models.backbone import ModelConfig  # noqa: E402
from della.models.registry import build_model  # noqa: E402
from della.training.objectives import ObjectiveConfig, training_loss  # noqa: E402

SMALL = dict(n_layer=12, n_embd=768, n_head=12, vocab=50257 + 4, batch=16, length=128)
TINY = dict(n_layer=2, n_embd=64, n_head=2, vocab=1000, batch=2, length=32)
SETTINGS = ("fp32-eager", "bf16-sdpa-compile")


def make_batch(batch: int, length: int, vocab: int, device) -> Batch:
    ids = torch.randint(4, vocab, (batch, length), device=device)
    ids[:, 0] = 1  # <bos>
    mask = torch.ones_like(ids)
    labels = ids.clone()
    labels[:, 0] = -100
    return Batch(ids, mask, labels, prompt_length=torch.ones(batch, dtype=torch.long, device=device))


def model_flops_per_token(name: str, shape: dict) -> float:
    h, n_layer, t, v = shape["n_embd"], shape["n_layer"], shape["length"], shape["vocab"]
    blocks = 12 * n_layer * h * h  # attention 4 H^2 + MLP 8 H^2 per layer
    passes = 2 if name == "della" else 1
    return passes * (6 * blocks + 12 * n_layer * t * h) + 6 * h * v


def run(name: str, setting: str, shape: dict, device, steps: int, warmup: int, compile_model: bool) -> dict:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=shape["vocab"], n_layer=shape["n_layer"], n_embd=shape["n_embd"],
                      n_head=shape["n_head"], n_positions=max(1024, shape["length"]), latent_size=32, dropout=0.1)
    model = build_model(name, cfg).to(device).train()
    fast = setting == "bf16-sdpa-compile"
    trained = torch.compile(model) if fast and compile_model else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, fused=fast and device.type == "cuda")
    objective = ObjectiveConfig(beta_schedule="constant")
    batch = make_batch(shape["batch"], shape["length"], shape["vocab"], device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast)
    kernels = ([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH] if fast
               else [SDPBackend.MATH])

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast, sdpa_kernel(kernels):
            loss, _ = training_loss(trained(batch), objective, 1.0)
        loss.backward()
        optimizer.step()

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        step()
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    seconds = (time.perf_counter() - start) / steps
    tokens_per_s = shape["batch"] * shape["length"] / seconds
    out = {"model": name, "setting": setting, "tokens_per_s": tokens_per_s, "step_ms": 1000 * seconds,
           "compiled": fast and compile_model}
    if device.type == "cuda":
        out["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    del model, trained, optimizer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shape, CPU allowed (the test suite)")
    parser.add_argument("--length", type=int, help="sequence length (default 128; tiny: 32)")
    parser.add_argument("--batch", type=int, help="sentences per step (default 16; tiny: 2)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation happens here)")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="the GPU's dense bf16 peak, TFLOP/s")
    parser.add_argument("--compile", action="store_true", help="compile on the CPU too (slow to start)")
    parser.add_argument("--models", default="della,lm")
    args = parser.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu" and not args.tiny:
        parser.error("no CUDA device: the GPT-2-small benchmark needs a GPU (use --tiny on a CPU)")
    shape = dict(TINY if args.tiny else SMALL)
    shape.update({k: v for k, v in (("length", args.length), ("batch", args.batch)) if v})
    compile_model = device.type == "cuda" or args.compile
    rows = []
    for name in args.models.split(","):
        for setting in SETTINGS:
            row = run(name, setting, shape, device, args.steps, args.warmup, compile_model)
            if device.type == "cuda":
                row["mfu"] = model_flops_per_token(name, shape) * row["tokens_per_s"] / (args.peak_tflops * 1e12)
            rows.append(row)
    gpu = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"{gpu}; {shape['n_layer']} x {shape['n_embd']} x {shape['n_head']} heads, vocab {shape['vocab']}, "
          f"batch {shape['batch']} x {shape['length']} tokens, {args.steps} timed steps after {args.warmup}")
    print("| model | setting | compiled | tokens/s | step ms | peak memory GiB | MFU |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        mem = f"{r['peak_mem_gib']:.2f}" if "peak_mem_gib" in r else "-"
        mfu = f"{100 * r['mfu']:.1f}%" if "mfu" in r else "-"
        print(f"| {r['model']} | {r['setting']} | {'yes' if r['compiled'] else 'no'} | {r['tokens_per_s']:.0f} | "
              f"{r['step_ms']:.1f} | {mem} | {mfu} |")
    for name in args.models.split(","):
        a, b = (next(r for r in rows if r["model"] == name and r["setting"] == s) for s in SETTINGS)
        print(f"{name}: {SETTINGS[1]} / {SETTINGS[0]} = {b['tokens_per_s'] / a['tokens_per_s']:.2f}x tokens/s")
    return rows


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main()
