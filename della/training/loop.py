"""The training loop shared by every model (the loop alone: batching is della/data/batching.py,
checkpoints and their fingerprints della/training/checkpoints.py, devices and DDP processes
della/training/distributed.py).

AdamW (paper: lr 5e-5, batch 16 x 8 accumulation), gradient accumulation, the objective's beta
schedule, progress lines on the terminal (della/progress.py: rate, ETA, loss; KL and beta for latent models)
and a per-step CSV log (loss, rec, KL, beta, ...). Ctrl-C stops the run at the end of a step with a
checkpoint saved there (``Interrupted``), so the next invocation resumes exactly. Reliability:
checkpoints (model, optimiser, step, RNG states, data order, the log rows so far) are written to a
temporary name and renamed into place, and resumed only when their fingerprint matches. A NaN or
infinite loss stops the run with an error naming the step; on CPU the same config and seed give
byte-identical model, log and metrics (timing goes to ``train_timing.json``). CUDA is used when
present; AdamW is fused (CPU and CUDA); ``train.precision: bf16`` autocasts to bfloat16 where the
GPU supports it (fp32 otherwise), attention runs through PyTorch's SDPA kernels, and
``train.compile: true`` compiles the forward pass (benchmarks/bench_gpu.py measures these settings).

Several GPUs (``train.devices: N``) or torchrun: each process runs ``_train_process``; each epoch's
batches are dealt out to the processes (the effective batch is N x batch_size), gradients are
averaged, and only process 0 writes the log, the checkpoints and the model.

Best epoch on validation (``valid_examples``; the workflow passes the task's valid split): after
every epoch (and every ``train.validate_every`` steps) process 0 computes ``train.valid_metric``
(-ELBO for latent models, NLL for language models) on the validation split, logs it in the
``valid`` column of train_log.csv, and keeps the best checkpoint so far in ``best.pt``; at the end
``model.pt`` is that best checkpoint (``selected`` says which step), so evaluation uses it.

What happens after training cannot cost the training: the checkpoint of the last step and ``best.pt``
outlive the job (della/run_folder.py), so a rerun of a job killed while writing its outputs or
during the evaluation that follows resumes at the last step ("training is complete") and repeats
no optimiser step.
"""
from __future__ import annotations

import contextlib
import csv
import math
import os
import random
import time
from dataclasses import asdict
from pathlib import Path

import torch

from della.data.batching import encode_examples, encoder_pad_id, make_batches
from della.io import atomic_torch_save, write_json
from della.models.backbone import build_model_config
from della.models.pretrained import format_initialisation, pretrained_configs
from della.models.registry import build_model
from della.progress import START, Interrupted, deferred_interrupts, format_duration, say, track
from della.run_folder import BEST, CHECKPOINT
from della.training.checkpoints import NOT_RESULT_SHAPING, resume_state, run_fingerprint, seed_everything
from della.training.distributed import (bf16_supported, check_ranks_agree, process_device, run_processes,
                                        sum_across_processes)
from della.training.objectives import ObjectiveConfig, beta_at, training_loss

TRAIN_DEFAULTS = {
    "epochs": 4,
    # optimiser steps of the run; when set it replaces `epochs` (the data is reshuffled every epoch and
    # training stops after exactly this many steps), so that every model of a task gets the same budget
    "steps": None,
    "batch_size": 32,
    "grad_accum": 1,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "warmup_steps": 0,
    "max_grad_norm": 1.0,
    "precision": "fp32",  # fp32 | bf16 (CUDA autocast)
    "checkpoint_every": 200,  # optimisation steps
    "max_length": 48,
    "max_source_length": 96,
    "devices": 1,  # data-parallel processes (DDP): one per GPU, or gloo processes on a CPU
    "validate_every": 0,  # also validate every N optimisation steps (0: after every epoch only)
    "valid_metric": None,  # elbo | nll; None: elbo for latent models, nll for language models
    "compile": False,  # torch.compile the training forward pass (GPU path; see benchmarks/bench_gpu.py)
}
VALID_METRICS = ("elbo", "nll")


class TrainingDiverged(RuntimeError):
    pass


def train_run(*, model_name: str, model_kwargs: dict, objective: ObjectiveConfig, train_cfg: dict, tokenizer,
              train_examples, out_dir: Path, seed: int = 0, threads: int | None = None,
              progress: bool = True, valid_examples=None, code_version: str = "") -> Path:
    """Train one run; writes ``model.pt`` (weights + configs), ``train_log.csv`` and
    ``train_timing.json``; returns model.pt's path. ``checkpoint.pt`` (at the last step) and
    ``best.pt`` stay beside them: a rerun after a later kill resumes there without an optimiser step;
    remove them with ``della.run_folder.remove_training_state`` once model.pt is safe.

    With ``valid_examples`` the run is validated after every epoch (and every ``validate_every``
    steps) and ``model.pt`` holds the best checkpoint on validation (``Validator``).
    ``code_version`` (the hash of the code the job runs) is part of the checkpoint fingerprint."""
    cfg = {**TRAIN_DEFAULTS, **train_cfg}
    unknown = set(train_cfg) - set(TRAIN_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown train key(s) {sorted(unknown)}; known: {sorted(TRAIN_DEFAULTS)}")
    if cfg["lr"] <= 0:
        raise ValueError(f"train.lr must be positive, got {cfg['lr']}")
    if cfg["valid_metric"] not in (None, *VALID_METRICS):
        raise ValueError(f"train.valid_metric must be one of {VALID_METRICS} (or null), got {cfg['valid_metric']!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    job = dict(model_name=model_name, model_kwargs=model_kwargs, objective=objective, cfg=cfg, tokenizer=tokenizer,
               train_examples=train_examples, out_dir=out_dir, seed=seed, threads=threads, progress=progress,
               valid_examples=list(valid_examples or []), code_version=code_version)
    run_processes(_train_process, job, devices=int(cfg["devices"]))
    return out_dir / "model.pt"


class Validator:
    """Best epoch on validation (the official DELLA code leaves model selection to the user).

    ``figure()`` is the validation split's mean per-sentence ``train.valid_metric``: ``elbo`` =
    -ELBO = reconstruction + KL summed over every latent group and dimension (paper Eq. 6, one
    posterior sample per sentence), ``nll`` = the reconstruction term alone (a language model's
    NLL); lower is better. It runs with a fixed seed in a forked RNG, so it does not move the
    training's random stream (resume stays exact) and the same weights give the same figure.
    ``update`` keeps the best so far: ``best.pt`` (model.pt's format) is rewritten whenever the figure
    improves, and becomes ``model.pt`` at the end of training, so evaluation uses the best epoch.
    """

    def __init__(self, model, batches, metric: str | None, seed: int, device: torch.device, use_bf16: bool):
        metric = metric or ("elbo" if model.has_latent else "nll")
        if metric == "elbo" and not model.has_latent:
            raise ValueError(f"train.valid_metric = elbo needs a latent model; {model.name} has no latent (use nll)")
        self.model, self.batches, self.metric, self.seed = model, batches, metric, seed
        self.device, self.use_bf16 = device, use_bf16
        self.best: dict | None = None  # {"value", "step", "epoch"}

    @torch.no_grad()
    def figure(self) -> float:
        was_training = self.model.training
        self.model.eval()
        total, count = 0.0, 0
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(self.seed)
            for batch in self.batches:
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_bf16):
                    out = self.model(batch.to(self.device))
                per_sentence = out.rec.float()
                if self.metric == "elbo":
                    per_sentence = per_sentence + out.kl.float().flatten(1).sum(-1)
                total += per_sentence.sum().item()
                count += per_sentence.shape[0]
        self.model.train(was_training)
        return total / count

    def update(self, value: float, step: int, epoch: int, save_best) -> bool:
        """Record ``value``; when it is the best so far call ``save_best()`` and return True."""
        if self.best is not None and not value < self.best["value"]:
            return False
        self.best = {"value": value, "step": step, "epoch": epoch, "metric": self.metric}
        save_best()
        return True


def _train_process(rank: int, world: int, job: dict, local_rank: int | None = None) -> None:
    """The training loop of one process (``world`` > 1: one of the DDP processes; ``local_rank``:
    its GPU on its machine, = ``rank`` on one machine)."""
    model_name, objective, cfg, tokenizer = job["model_name"], job["objective"], job["cfg"], job["tokenizer"]
    out_dir, seed, progress = job["out_dir"], job["seed"], job["progress"] and rank == 0
    if job["threads"]:
        torch.set_num_threads(job["threads"])
    device = process_device(rank, world, local_rank)
    seed_everything(seed)  # the initial weights: checkpoints.initial_model rebuilds them the same way
    model_cfg = build_model_config(job["model_kwargs"], tokenizer)
    model = build_model(model_name, model_cfg).to(device)
    if rank == 0:  # which tensors came from a checkpoint and which are "newly initialised" (della/models/pretrained.py)
        print(format_initialisation(model), flush=True)
    trained = model  # what the forward pass goes through: the model, or its DDP wrapper
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        # some parameters see no gradient in some runs (the conditional prior on unconditional data)
        trained = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                          find_unused_parameters=True)
    if cfg["compile"]:  # the module is compiled in place of its forward; state_dict keys stay the same
        trained = torch.compile(trained)
    # fused AdamW (one kernel per parameter, no per-op dispatch) on CUDA and CPU: PyTorch's default on CPU
    # is the per-tensor loop, a third of a small model's step on one CPU core; fused takes 1.3 ms of a
    # DELLA 2 x 64 step against 3.8 ms for the for-each version. The for-each implementation elsewhere.
    fused = device.type in ("cuda", "cpu")
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                                  fused=fused, foreach=not fused)
    encoded = encode_examples(tokenizer, job["train_examples"], cfg["max_length"], cfg["max_source_length"],
                              getattr(model, "encoder_tokenizer", None))
    n_batches = math.ceil(len(encoded) / cfg["batch_size"]) // world  # batches of this process per epoch
    if n_batches == 0:
        raise ValueError(f"{len(encoded)} training examples make fewer batches than train.devices = {world}")
    steps_per_epoch = max(1, n_batches // cfg["grad_accum"])
    total_steps = int(cfg["steps"]) if cfg["steps"] else steps_per_epoch * cfg["epochs"]
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / cfg["warmup_steps"]) if cfg["warmup_steps"] else 1.0)

    ckpt_path = out_dir / CHECKPOINT
    log_path = out_dir / "train_log.csv"
    best_path = out_dir / BEST
    use_bf16 = cfg["precision"] == "bf16" and bf16_supported(device)
    validator = None
    valid = encode_examples(tokenizer, job["valid_examples"], cfg["max_length"], cfg["max_source_length"],
                            getattr(model, "encoder_tokenizer", None))
    if valid and rank == 0:  # process 0 validates; the others wait for it at the next step
        validator = Validator(model, make_batches(valid, cfg["batch_size"], tokenizer.pad_id, None,
                                                  encoder_pad_id(model)),
                              cfg["valid_metric"], seed, device, use_bf16)
    # every process fingerprints the validation split too (they must all agree on resuming)
    fingerprint = run_fingerprint(model_name=model_name, model_kwargs=job["model_kwargs"], objective=objective,
                                  cfg=cfg, encoded=encoded, seed=seed, code_version=job["code_version"],
                                  valid_encoded=valid)
    step, epoch, batch_in_epoch, tokens = 0, 0, 0, 0
    elapsed = 0.0  # training seconds so far (train_timing.json)
    had_checkpoint = ckpt_path.exists()
    state = resume_state(ckpt_path, fingerprint, device, move_stale=rank == 0, who=f"train {model_name}")
    if state is not None:  # resume where a killed job stopped
        done = "" if state["step"] < total_steps else ": training is complete, writing model.pt from it"
        print(f"train {model_name}: resuming from {ckpt_path} at step {state['step']} of {total_steps}{done}",
              flush=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, epoch, batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        tokens = state.get("tokens", 0)
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["python_rng"])
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        if validator is not None:
            validator.best = state.get("best_valid")  # best-so-far (its weights are in best.pt)
        # the rows so far travel in the checkpoint: Snakemake deletes the failed job's train_log.csv
        log_rows = list(state["log_rows"])
        elapsed = state.get("elapsed", 0.0)
    else:
        log_rows = []

    def save_checkpoint():
        if rank != 0:
            return
        atomic_torch_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                           "scheduler": scheduler.state_dict(), "step": step, "epoch": epoch,
                           "batch_in_epoch": batch_in_epoch, "tokens": tokens, "torch_rng": torch.get_rng_state(),
                           "python_rng": random.getstate(),
                           "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
                           "best_valid": validator.best if validator is not None else None,
                           "fingerprint": fingerprint, "log_rows": log_rows, "elapsed": elapsed},
                          ckpt_path)
        write_log()

    fieldnames = ["step", "epoch", "loss", "rec", "kl", "kl_term", "beta", "bow", "lr", "tokens", "valid"]

    def final_state():
        """What model.pt / best.pt hold: the weights and everything needed to rebuild the model."""
        # the train settings that shape the result (not checkpoint_every: two runs that differ only in it
        # write the same bytes)
        return {"model_name": model_name, "model_config": asdict(model_cfg), "objective": objective.to_dict(),
                "train": {k: v for k, v in cfg.items() if k not in NOT_RESULT_SHAPING},
                "state_dict": model.state_dict(), "pretrained_configs": pretrained_configs(model),
                "steps": step, "tokens": tokens, "epoch": epoch}

    def validate():
        """Validation figure into the log's ``valid`` column; best.pt when it is the best so far."""
        value = validator.figure()
        log_rows[-1]["valid"] = round(value, 6)
        improved = validator.update(value, step, epoch, lambda: atomic_torch_save(final_state(), best_path))
        print(f"step {step} epoch {epoch}: valid {validator.metric} {value:.4f}"
              + (" (best so far)" if improved else f" (best {validator.best['value']:.4f} at step "
                                                   f"{validator.best['step']})"), flush=True)

    def write_log():
        if rank != 0:
            return
        # the per-group KL columns (kl_group0, kl_group1, ...: DELLA's layers) follow the fixed ones
        extra = sorted({key for row in log_rows for key in row} - set(fieldnames))
        tmp = log_path.with_name(log_path.name + ".tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fieldnames + extra, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(log_rows)
        os.replace(tmp, log_path)

    if progress:  # the run's start line on the terminal (della/progress.py)
        how = (f"resuming at step {step} of {total_steps}" if state is not None
               else "new run (a checkpoint of other settings was moved aside)" if had_checkpoint else "new run")
        say(START, f"train {model_name} {model_cfg.n_layer}×{model_cfg.n_embd}: {total_steps} steps, {how}")
    bar = track("train", total_steps, "steps", initial=step, enabled=progress)
    model.train()
    # Ctrl-C ends the run at the end of a step, with a checkpoint there (one process only: DDP processes
    # would stop at different steps)
    stop = deferred_interrupts() if world == 1 else contextlib.nullcontext(None)
    with stop as interrupt:
        while step < total_steps:
            # The data order of an epoch depends only on (seed, epoch): resuming mid-epoch replays it.
            order = torch.randperm(len(encoded), generator=torch.Generator().manual_seed(seed * 100003 + epoch))
            batches = make_batches(encoded, cfg["batch_size"], tokenizer.pad_id, order.tolist(),
                                   encoder_pad_id(model))[rank::world]
            usable = steps_per_epoch * cfg["grad_accum"]
            while batch_in_epoch < usable and step < total_steps:
                t0 = time.perf_counter()
                beta = beta_at(objective, step, total_steps, steps_per_epoch)
                optimizer.zero_grad(set_to_none=True)
                acc_logs: dict[str, float] = {}
                n_tok = 0
                for _ in range(cfg["grad_accum"]):
                    batch = batches[batch_in_epoch].to(device)
                    batch_in_epoch += 1
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                        out = trained(batch)
                        loss, logs = training_loss(out, objective, beta)
                    if not torch.isfinite(loss):
                        raise TrainingDiverged(f"{model_name}: non-finite loss ({loss.item()}) at step {step} "
                                               f"(epoch {epoch}, batch {batch_in_epoch - 1}); logs {logs}")
                    (loss / cfg["grad_accum"]).backward()
                    for key, value in logs.items():
                        acc_logs[key] = acc_logs.get(key, 0.0) + value / cfg["grad_accum"]
                    n_tok += int(batch.attention_mask.sum())
                if cfg["max_grad_norm"]:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["max_grad_norm"])
                optimizer.step()
                scheduler.step()
                step += 1
                if world > 1:  # the budget counts the tokens of every process
                    n_tok = sum_across_processes(n_tok, device)
                tokens += n_tok
                acc_logs.update(step=step, epoch=epoch, tokens=tokens, lr=scheduler.get_last_lr()[0])
                elapsed += time.perf_counter() - t0  # wall-clock: train_timing.json, not the log
                log_rows.append({k: (round(v, 6) if isinstance(v, float) else v) for k, v in acc_logs.items()})
                # latent models: their KL (summed over groups, as in the log) and beta; a language model has neither
                latent = {"KL (layer sum)": acc_logs["kl"], "β": beta} if "kl" in acc_logs else {}
                bar.update(1, loss=acc_logs["loss"], **latent)
                if validator is not None and cfg["validate_every"] and step % cfg["validate_every"] == 0:
                    validate()
                # A checkpoint holds a complete step: the last step of an epoch or of the budget is saved
                # below, after its validation and epoch count (a resume at the budget's last step runs
                # neither again, so a checkpoint taken before them would lose them).
                if batch_in_epoch < usable and step < total_steps:
                    if cfg["checkpoint_every"] and step % cfg["checkpoint_every"] == 0:
                        save_checkpoint()
                    if interrupt is not None and interrupt.requested:  # Ctrl-C: stop here, resumable
                        save_checkpoint()
                        raise Interrupted(f"at step {step} of {total_steps} (checkpoint saved at step {step}: "
                                          "the next invocation resumes there)")
            validated_now = bool(cfg["validate_every"]) and step % cfg["validate_every"] == 0
            if validator is not None and (batch_in_epoch >= usable or step >= total_steps) and not validated_now:
                validate()  # after every epoch and at the end of the step budget (unless this step just was)
            if batch_in_epoch >= usable:
                epoch += 1
                batch_in_epoch = 0
            save_checkpoint()
            if interrupt is not None and interrupt.requested:  # Ctrl-C during an epoch's or the budget's last step
                raise Interrupted(f"at step {step} of {total_steps} (checkpoint saved at step {step}: "
                                  "the next invocation resumes there)")
    seconds = bar.close()
    if progress:  # the job log only: the run's end line (evaluate job) gives the training time
        print(f"trained {step} steps in {format_duration(seconds)}", flush=True)
    if world > 1:
        check_ranks_agree(model, device)

    if rank == 0:
        # The training artefacts, each renamed into place. checkpoint.pt (at the last step) and best.pt are
        # NOT removed here: if anything after this point kills or fails the job, Snakemake deletes these
        # outputs and reruns it, and the rerun resumes at the last step and rewrites them (byte-identical)
        # without an optimiser step. della/run_folder.py remove_training_state removes them once the job
        # is complete (the evaluate job; della/training/cli.py).
        if validator is not None:  # evaluation uses the best checkpoint on validation
            best = torch.load(best_path, map_location="cpu", weights_only=False)
            # steps / tokens: the whole run's budget (what every model of a task gets); the weights are the
            # selected step's
            best.update(steps=step, tokens=tokens, selected={**validator.best, "last_step": step})
            atomic_torch_save(best, out_dir / "model.pt")
            print(f"model.pt = the best on validation: {validator.metric} {validator.best['value']:.4f} at step "
                  f"{validator.best['step']} (epoch {validator.best['epoch']}) of {step}", flush=True)
        else:
            atomic_torch_save(final_state(), out_dir / "model.pt")
        write_log()
        write_json(out_dir / "train_timing.json", {"seconds": round(elapsed, 3), "tokens": tokens,
                                                   "tokens_per_s": round(tokens / max(elapsed, 1e-9), 1),
                                                   "steps": step, "device": str(device), "processes": world})



