"""Train one run from the command line — the entry point for ``torchrun`` (several GPUs, several
machines) outside Snakemake. It trains exactly what the workflow's ``train`` rule trains, reading
the prepared data of the same results folder:

    snakemake --cores 1 results-paper/data/ptb/tokenizer.json --configfile config/paper.yaml   # data first
    torchrun --nproc_per_node 4 -m della.training.cli --config config/paper.yaml --task ptb --recipe della
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
        -m della.training.cli --config config/paper.yaml --task cnndm --recipe della-bart

Every process trains its share of each batch (DistributedDataParallel, NCCL on GPUs, gloo on a
CPU); the effective batch is (number of processes) x ``train.batch_size`` x ``train.grad_accum``.
Process 0 writes ``{results_dir}/runs/{task}/{recipe}/seed{seed}/`` (model.pt, train_log.csv).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


from della.config import ConfigError, check_names, check_paths, load_workflow_config, resolve_run, validate_config
from della.data.readers import read_jsonl
from della.data.tokenizer import TextTokenizer
from della.run_folder import remove_training_state
from della.training.loop import train_run

ROOT = Path(__file__).resolve().parents[2]  # the project root: config paths resolve against it


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m della.training.cli", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="workflow config (YAML), e.g. config/paper.yaml")
    parser.add_argument("--task", required=True)
    parser.add_argument("--recipe", required=True, help="a recipe or model name of the config")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results-dir", help="default: the config's results_dir")
    parser.add_argument("--threads", type=int, help="CPU threads per process")
    args = parser.parse_args(argv)

    try:  # the workflow's start-up validation, whole (a bad value must not cost a cluster allocation)
        config = load_workflow_config(ROOT, [args.config], {})
        validate_config(config, ROOT / "workflow" / "schemas" / "config.schema.yaml")
        check_paths(config, ROOT, data_root_created=True)  # the prepared data is read, not data_root
        check_names({**config, "tasks": [args.task], "models": [args.recipe]})
        spec = resolve_run(config, args.recipe)
    except ConfigError as err:
        print(f"error: {args.config}: {err}", file=sys.stderr)
        return 2
    results = Path(args.results_dir or config["results_dir"])
    data = results / "data" / args.task
    needed = [data / "train.jsonl", data / "valid.jsonl", data / "tokenizer.json"]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        print(f"error: prepared data missing: {', '.join(missing)}; prepare it first: snakemake --cores 1 "
              f"{data / 'tokenizer.json'} {data / 'valid.jsonl'} --configfile {args.config}", file=sys.stderr)
        return 2
    print(json.dumps({"task": args.task, "recipe": args.recipe, "model": spec.model, "train": spec.train}), flush=True)
    run_dir = results / "runs" / args.task / args.recipe / f"seed{args.seed}"
    train_run(model_name=spec.model, model_kwargs=spec.model_kwargs, objective=spec.objective, train_cfg=spec.train,
              tokenizer=TextTokenizer.load(spec.tokenizer or data / "tokenizer.json"),
              train_examples=read_jsonl(data / "train.jsonl"), valid_examples=read_jsonl(data / "valid.jsonl"),
              out_dir=run_dir, seed=args.seed, threads=args.threads, progress=False)
    if int(os.environ.get("RANK", "0")) == 0:  # model.pt is written and nothing here deletes it: the resume state goes
        remove_training_state(run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
