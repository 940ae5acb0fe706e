"""Time of the latent-model evaluation (IW-PPL with K samples, ELBO/KL, MI over all pairs, AU) on
N test sentences at the demo config (config/config.yaml's model sizes), with the share of each
metric. The models are untrained: the cost does not depend on the weights.

    python benchmarks/bench_latent_eval.py [--n 1000] [--k 30] [--threads 2] [--models della,embed]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from della.data.batching import encode_examples, make_batches  # noqa: E402
from della.data.synthetic import generate_task  # noqa: E402
from della.data.tokenizer import TextTokenizer  # noqa: E402
from della.evaluation.latent import evaluate_latent_model  # noqa: E402
from della.models.backbone import build_model_config  # noqa: E402
from della.models.registry import build_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--k", type=int, default=30)
    parser.add_argument("--k-chunk", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--task", default="yelp")
    parser.add_argument("--models", default="della,embed,optimus")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())
    data = generate_task(args.task, {"train": 1000, "valid": 10, "test": args.n}, seed=0)
    tokenizer = TextTokenizer.train([ex.target for ex in data["train"]], vocab_size=config["tokenizer"]["vocab_size"])
    encoded = encode_examples(tokenizer, data["test"], config["train"]["max_length"], config["train"]["max_source_length"])
    batches = make_batches(encoded, args.batch_size, tokenizer.pad_id)
    n_tok = sum(int(b.n_tokens.sum()) for b in batches)
    print(f"{args.task} (synthetic), {args.n} sentences, {n_tok} scored tokens, K={args.k}, "
          f"model {config['model']['n_layer']} layers x {config['model']['n_embd']}, {args.threads} threads\n")
    print("| model | total s | sentences/s | IW-PPL + ELBO + KL | MI (all N² pairs) | AU |")
    print("|---|---|---|---|---|---|")
    for name in args.models.split(","):
        model = build_model(name, build_model_config(config["model"], tokenizer)).eval()
        start = time.perf_counter()
        out = evaluate_latent_model(model, batches, k=args.k, k_chunk=args.k_chunk, progress=False)
        total = time.perf_counter() - start
        sec = out["seconds"]
        share = {key: f"{value:.2f} s ({100 * value / total:.0f}%)" for key, value in sec.items()}
        print(f"| {name} | {total:.2f} | {args.n / total:.1f} | {share['iw_elbo_kl']} | {share['mi']} | {share['au']} |")


if __name__ == "__main__":
    main()
