"""Where a run trains: the device, and the processes of a data-parallel run.

* ``train.devices: N`` (N > 1): the job spawns N processes that train one model with PyTorch's
  DistributedDataParallel (NCCL on GPUs, gloo on a CPU), joined on a free local port.
* Under ``torchrun`` (or any launcher setting PyTorch's standard variables RANK, WORLD_SIZE,
  LOCAL_RANK, MASTER_ADDR, MASTER_PORT) this process is one of the launcher's and trains its share.
* Otherwise one process trains.

The training loop itself (``della/training/loop.py``) is passed in as ``train_process(rank, world,
job, local_rank=None)``, so this module knows nothing of what is trained.
"""
from __future__ import annotations

import os
import socket

import torch


def pick_device() -> torch.device:
    """CUDA when the machine has it, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def bf16_supported(device: torch.device) -> bool:
    """bfloat16 autocast on this device: CUDA GPUs with native bf16 (Ampere and later); else fp32."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def process_device(rank: int, world: int, local_rank: int | None = None) -> torch.device:
    """The device of process ``rank``: its own GPU (``local_rank`` on its machine, = ``rank`` on one
    machine) in a multi-GPU run, else ``pick_device()``."""
    device = pick_device()
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", rank if local_rank is None else local_rank)
        torch.cuda.set_device(device)
    return device


def run_processes(train_process, job: dict, devices: int) -> None:
    """Run ``train_process`` as this run's process(es): torchrun's, ``devices`` spawned DDP processes,
    or this process alone."""
    launched = torchrun_environment()
    if launched is not None:  # this process is one of torchrun's: it trains its share, no spawning
        _torchrun_process(train_process, *launched, job)
    elif devices <= 1:
        train_process(0, 1, job)
    else:
        with socket.socket() as sock:  # a free port for the processes' rendezvous
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        torch.multiprocessing.spawn(_ddp_worker, args=(train_process, devices, port, job), nprocs=devices,
                                    join=True)


def torchrun_environment() -> tuple[int, int, int] | None:
    """``(rank, world size, local rank)`` when this process was started by ``torchrun`` (or any
    launcher setting PyTorch's standard variables RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
    MASTER_PORT) with more than one process; None otherwise."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    missing = [v for v in ("WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise RuntimeError(f"RANK is set but {', '.join(missing)} is not: launch with torchrun (README, 'Scale')")
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0"))


def _backend() -> str:
    return "nccl" if torch.cuda.is_available() else "gloo"


def _torchrun_process(train_process, rank: int, world: int, local_rank: int, job: dict) -> None:
    """One torchrun process: join the process group from the environment (``env://``) and train.
    ``train.devices`` is ignored here (the launcher decides: ``--nnodes`` x ``--nproc_per_node``)."""
    import torch.distributed as dist

    owns_group = not dist.is_initialized()
    if owns_group:
        dist.init_process_group(_backend(), init_method="env://", rank=rank, world_size=world)
    try:
        train_process(rank, world, job, local_rank=local_rank)
    finally:
        if owns_group:
            dist.destroy_process_group()


def _ddp_worker(rank: int, train_process, world: int, port: int, job: dict) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group(_backend(), rank=rank, world_size=world)
    try:
        train_process(rank, world, job)
    finally:
        dist.destroy_process_group()


def sum_across_processes(value: int, device: torch.device) -> int:
    """``value`` summed over the processes of a DDP run (e.g. the tokens of one optimiser step)."""
    import torch.distributed as dist

    total = torch.tensor(value, device=device)
    dist.all_reduce(total)
    return int(total)


def check_ranks_agree(model, device) -> None:
    """After DDP training every process must hold the same weights: compare per-tensor checksums
    across processes (all_gather) and stop with an error if any differ."""
    import torch.distributed as dist

    sums = torch.stack([p.detach().double().sum() for p in model.parameters()]).to(device)
    gathered = [torch.zeros_like(sums) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, sums)
    spread = max((g - gathered[0]).abs().max().item() for g in gathered)
    if spread != 0:
        raise RuntimeError(f"DDP processes ended with different weights (checksum spread {spread})")
    if dist.get_rank() == 0:
        print(f"all {len(gathered)} processes hold identical weights (per-tensor checksums agree)", flush=True)
