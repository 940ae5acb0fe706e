"""Speed of DELLA against a plain GPT-2 LM of the same shape (CPU, 2 threads by default).

    python benchmarks/bench_della.py [--threads 2] [--steps 8] [--quick]

Prints a markdown table: tokens/s of one training step (forward + backward + AdamW) for

* ``della``      della/models/della.py (encoder pass + posterior + fused decoder + LM head),
* ``lm``         baselines/lm.py (our backbone, no latent),
* ``hf-gpt2``    transformers' ``GPT2LMHeadModel`` (SDPA attention),

at (a) 4 layers x 256 wide x 4 heads and (b) 6 x 384 x 6, vocab 8000, batch 32 x 40 tokens,
dropout 0.1; the DELLA / LM ratios; the importance-weighted evaluation with K = 30 at (a)
(della/evaluation/latent.py ``evaluate_latent_model``: encoder once, 30 posterior samples, 30 x B decoder
passes in chunks; MI off) in sentences/s; and each model's peak resident memory (``ru_maxrss`` of a fresh subprocess per model, so rows
do not share a high-water mark). The three models' training steps are timed ALTERNATELY in one
process, so that a busy shared CPU slows them alike and the ratios stay meaningful.
Tokens/s count all B x T input positions (no padding in the benchmark batch).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHAPES = {
    "a": dict(n_layer=4, n_embd=256, n_head=4),
    "b": dict(n_layer=6, n_embd=384, n_head=6),
}
VOCAB, BATCH, LENGTH, DROPOUT = 8000, 32, 40, 0.1
MODELS = ("della", "lm", "hf-gpt2")
GOALS = {  # DELLA/LM ratio ceiling and DELLA tokens/s floor (official code: 1,835 and 757 tokens/s)
    "a": {"ratio": 1.72, "della": 2020},
    "b": {"ratio": 1.93, "della": 833},
}


def _batch(seed: int = 0):
    import torch

    from della.data.batching import collate

    g = torch.Generator().manual_seed(seed)
    rows = torch.randint(4, VOCAB, (BATCH, LENGTH - 2), generator=g).tolist()
    return collate([([1] + r + [2], 1, None) for r in rows], pad_id=0)


def _worker(shape: str, what: str, steps: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    from della.models.backbone import ModelConfig
    from della.models.registry import build_model

    cfg = ModelConfig(vocab_size=VOCAB, dropout=DROPOUT, latent_size=32, **SHAPES[shape])
    batch = _batch()
    if what == "hf-gpt2":
        from transformers import GPT2Config, GPT2LMHeadModel

        hf_cfg = GPT2Config(vocab_size=VOCAB, n_positions=cfg.n_positions, n_embd=cfg.n_embd, n_layer=cfg.n_layer,
                            n_head=cfg.n_head, resid_pdrop=DROPOUT, embd_pdrop=DROPOUT, attn_pdrop=DROPOUT)
        hf_cfg._attn_implementation = "sdpa"
        model = GPT2LMHeadModel(hf_cfg)
        labels = batch.labels

        def loss_fn():
            return model(input_ids=batch.input_ids, labels=labels).loss
    else:
        model = build_model("della" if what.startswith("della") else "lm", cfg)

        def loss_fn():
            out = model(batch)
            loss = out.rec.mean()
            if out.kl is not None:
                loss = loss + out.kl.sum(-1).mean(-1).mean()  # official: per-layer KL averaged over layers
            return loss

    if what == "della-iw":
        from della.evaluation.latent import evaluate_latent_model

        model.eval()
        evaluate_latent_model(model, [batch], k=30, k_chunk=10, mi=False, progress=False)  # warm-up
        times = []
        for _ in range(max(2, steps // 3)):
            t0 = time.perf_counter()
            evaluate_latent_model(model, [batch], k=30, k_chunk=10, mi=False, progress=False)
            times.append(time.perf_counter() - t0)
        t = statistics.median(times)
        return {"sent_per_s": BATCH / t, "seconds": t, "maxrss_mb": _maxrss_mb()}

    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5)

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn().backward()
        opt.step()

    if steps == 0:
        return step  # for the interleaved timing
    for _ in range(2):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    t = statistics.median(times)
    return {"tokens_per_s": BATCH * LENGTH / t, "seconds": t, "maxrss_mb": _maxrss_mb()}


def _interleaved(shape: str, steps: int, threads: int) -> dict:
    """Time della, lm and hf-gpt2 steps ALTERNATELY in one process (robust to a shared, busy CPU)."""
    fns = {w: _worker(shape, w, 0, threads) for w in MODELS}
    for fn in fns.values():
        fn(), fn()
    times = {w: [] for w in MODELS}
    for _ in range(steps):
        for w, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[w].append(time.perf_counter() - t0)
    return {w: {"seconds": statistics.median(t), "tokens_per_s": BATCH * LENGTH / statistics.median(t)}
            for w, t in times.items()}


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _run(shape, what, steps, threads) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, __file__, "--worker", shape, what, "--steps", str(steps), "--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--shapes", default="ab")
    parser.add_argument("--worker", nargs=2, metavar=("SHAPE", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.worker[1] == "interleaved":
            print(json.dumps(_interleaved(args.worker[0], args.steps, args.threads)))
        else:
            print(json.dumps(_worker(*args.worker, steps=args.steps, threads=args.threads)))
        return

    print(f"CPU, torch.set_num_threads({args.threads}); batch {BATCH} x {LENGTH} tokens, vocab {VOCAB}, "
          f"dropout {DROPOUT}; median of {args.steps} steps after 2 warm-up steps, the three models' "
          "steps interleaved in one process\n")
    print("| shape | model | tokens/s | step (s) | peak RSS (MB) | DELLA / model | goal |")
    print("|---|---|---:|---:|---:|---:|---|")
    for shape in args.shapes:
        res = _run(shape, "interleaved", args.steps, args.threads)
        for w in MODELS:  # peak memory: one fresh process per model (2 timed steps)
            res[w]["maxrss_mb"] = _run(shape, w, 2, args.threads)["maxrss_mb"]
        dims = SHAPES[shape]
        label = f"({shape}) {dims['n_layer']}L/{dims['n_embd']}/{dims['n_head']}h"
        for w in ("della", "lm", "hf-gpt2"):
            r = res[w]
            ratio = res["della"]["seconds"] / r["seconds"]
            goal = ""
            if w == "della":
                ok = r["tokens_per_s"] >= GOALS[shape]["della"]
                goal = f"≥ {GOALS[shape]['della']} tok/s: {'met' if ok else 'MISSED'}"
            elif w == "lm":
                ok = ratio <= GOALS[shape]["ratio"]
                goal = f"ratio ≤ {GOALS[shape]['ratio']}: {'met' if ok else 'MISSED'}"
            else:
                ok = res["lm"]["tokens_per_s"] >= r["tokens_per_s"]
                goal = f"lm ≥ hf-gpt2: {'met' if ok else 'MISSED'}"
            print(f"| {label} | {w} | {r['tokens_per_s']:,.0f} | {r['seconds']:.3f} | {r['maxrss_mb']:,.0f} | "
                  f"{ratio:.2f}x | {goal} |", flush=True)
        if shape == "a":
            iw = _run(shape, "della-iw", args.steps, args.threads)
            ok = iw["sent_per_s"] >= 6
            print(f"| {label} | della IW eval K=30 | {iw['sent_per_s']:.1f} sentences/s | {iw['seconds']:.2f} "
                  f"(per {BATCH}) | {iw['maxrss_mb']:,.0f} | | ≥ 6 sentences/s: {'met' if ok else 'MISSED'} |",
                  flush=True)


if __name__ == "__main__":
    main()
