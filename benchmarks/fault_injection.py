"""Fault injection: SIGKILL the whole Snakemake process group at seeded moments of the smoke DAG,
restart with ``--rerun-incomplete`` each time, and compare every output with an undisturbed run.

    python benchmarks/fault_injection.py [--kills 6] [--seed 0] [--tasks ptb] [--models lm embed]

Two copies of the project are made in a temporary folder (``--workdir`` to keep them). The first
runs the DAG undisturbed and gives the reference outputs and the time T it takes. The second is
started ``--kills`` times; each start is killed (``os.killpg(..., SIGKILL)``, as a scheduler or an
out-of-memory killer would) at a seeded moment, defined by what the DAG has done since that start
(not by wall-clock time, so that a slow or busy machine kills at the same points): after the k-th
training checkpoint written (mid-training; every other kill, the first included) or after the k-th
output file written (any job), k drawn from ``--seed``. After the last kill the DAG runs to the end. Then every output under the results
folder is compared byte for byte with the reference, except the job logs, Snakemake's benchmarks
and the ``*_timing.json`` files (wall-clock times); no temporary file or checkpoint may be left.

Prints one markdown table: kill time, the jobs running, the checkpoints left (run @ step), what
the next start's training logs said before it was itself killed or finished ("resumed at step N",
or "fresh" with the reason; "-" when it was killed before a training job got that far), and
whether the final outputs are identical to the undisturbed run.
Exit status 1 when any output differs or a temporary file is left.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
RESULTS = "results-fault"
IGNORE = shutil.ignore_patterns("results*", ".snakemake", ".venv*", "__pycache__", ".git", "*.egg-info",
                                ".pytest_cache", "report.html")
VOLATILE = re.compile(r"^(logs|benchmarks)/|_timing\.json$|^data/\.checksum-cache\.json$")


def make_project(dst: Path, tasks, models) -> Path:
    shutil.copytree(REPO, dst, ignore=IGNORE)
    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    config.update(tasks=list(tasks), models=list(models), results_dir=RESULTS)
    # checkpoints at every step, over a few more epochs: kills land mid-training and resume from them
    config["train"].update(epochs=3, checkpoint_every=1)
    (dst / "config" / "fault.yaml").write_text(yaml.safe_dump(config))
    return dst


def command(*extra) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--cores", "2", "all", "--configfile", "config/fault.yaml", *extra]


def run_to_end(project: Path, *extra) -> float:
    start = time.perf_counter()
    proc = subprocess.run(command(*extra), cwd=project, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake failed in {project}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def running_jobs(console: str) -> list[str]:
    """Jobs started (``rule X:`` ... ``jobid: N``) and not reported finished, from the console."""
    started = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", console):
        head = re.match(r"(?:local)?rule (\w+):", block)
        jobid = re.search(r"jobid: (\d+)", block)
        if head and jobid:
            wildcards = re.search(r"wildcards: ([^\n]+)", block)
            label = head.group(1) + (f" ({wildcards.group(1)})" if wildcards else "")
            started[jobid.group(1)] = label.replace("task=", "").replace("recipe=", "").replace(", seed=0", "")
    for jobid in re.findall(r"Finished job(?:id)?:? (\d+)", console):
        started.pop(jobid, None)
    return list(started.values())


def checkpoints(project: Path) -> list[Path]:
    return sorted((project / RESULTS / "runs").glob("*/*/seed*/checkpoint.pt"))


def snapshot(project: Path) -> dict[str, int]:
    """mtime of every file under the results folder except logs and benchmarks."""
    out = {}
    for path in (project / RESULTS).rglob("*"):
        rel = str(path.relative_to(project / RESULTS))
        if not rel.startswith(("logs", "benchmarks")):
            try:
                out[rel] = path.stat().st_mtime_ns
            except FileNotFoundError:  # renamed away between listing and stat
                pass
    return out


def kill_once(project: Path, moment: tuple[str, float], log_path: Path) -> dict:
    """Start the DAG (``--rerun-incomplete``) and SIGKILL its process group at ``moment``."""
    subprocess.run([sys.executable, "-m", "snakemake", "--unlock", "--configfile", "config/fault.yaml"],
                   cwd=project, capture_output=True)
    with log_path.open("w") as out:
        proc = subprocess.Popen(command("--rerun-incomplete"), cwd=project, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        start = time.perf_counter()
        kind, count = moment
        last, events = snapshot(project), 0
        while proc.poll() is None and events < count:
            time.sleep(0.02)
            now = snapshot(project)
            changed = [rel for rel, mtime in now.items() if last.get(rel) != mtime and not rel.endswith(".tmp")]
            if kind == "checkpoint":
                changed = [rel for rel in changed if rel.endswith("checkpoint.pt")]
            events += len(changed)
            last = now
        elapsed = time.perf_counter() - start
        finished = proc.poll() is not None
        if not finished:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    console = log_path.read_text()
    what = "checkpoint" if kind == "checkpoint" else "output file"
    return {"trigger": f"{what} #{count} written", "at": elapsed,
            "running": running_jobs(console) if not finished else ["(finished before the kill)"],
            "checkpoints": [f"{p.parent.parent.relative_to(project / RESULTS / 'runs')} @ step {checkpoint_step(p)}"
                            for p in checkpoints(project)]}


def checkpoint_step(path: Path):
    """The step a checkpoint holds (what the next start resumes from when its fingerprint matches)."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=False)["step"]
    except Exception:  # noqa: BLE001 - a checkpoint being replaced at this instant
        return "?"


def resumed(project: Path, seen: set) -> list[str]:
    """What the training jobs said about their checkpoint since the last look."""
    out = []
    for log in sorted((project / RESULTS / "logs" / "train").glob("*/*/seed*.log")):
        for line in log.read_text().splitlines():
            if ("resuming from" in line or "not resuming" in line) and (log, line) not in seen:
                seen.add((log, line))
                run = "/".join(log.relative_to(project / RESULTS / "logs" / "train").parts[:2])
                step = re.search(r"at step (\d+)", line)
                out.append(f"{run} at step {step.group(1)}" if step else f"{run} fresh ({line.split(': ', 2)[-1]})")
    return out


def fingerprint_outputs(results: Path) -> dict[str, str]:
    out = {}
    for path in sorted(p for p in results.rglob("*") if p.is_file()):
        rel = str(path.relative_to(results))
        if not VOLATILE.search(rel):
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def leftovers(results: Path) -> list[str]:
    return sorted(str(p.relative_to(results)) for p in results.rglob("*")
                  if p.is_file() and (p.name.endswith(".tmp") or p.name.startswith("checkpoint")))


def fault_injection(workdir: Path, kills: int = 6, seed: int = 0, tasks=("ptb",), models=("lm", "embed")) -> dict:
    reference = make_project(workdir / "reference", tasks, models)
    duration = run_to_end(reference)
    disturbed = make_project(workdir / "disturbed", tasks, models)
    rng = random.Random(seed)
    rows, seen = [], set()
    for i in range(kills):
        moment = ("checkpoint", rng.randint(1, 4)) if i % 2 == 0 else ("files", rng.randint(1, 8))
        row = kill_once(disturbed, moment, workdir / f"kill{i}.log")
        rows.append(row)
        if i > 0:
            rows[i - 1]["resumed"] = resumed(disturbed, seen)
    subprocess.run([sys.executable, "-m", "snakemake", "--unlock", "--configfile", "config/fault.yaml"],
                   cwd=disturbed, capture_output=True)
    run_to_end(disturbed, "--rerun-incomplete")
    if rows:
        rows[-1]["resumed"] = resumed(disturbed, seen)
    ref = fingerprint_outputs(reference / RESULTS)
    got = fingerprint_outputs(disturbed / RESULTS)
    differ = sorted(k for k in set(ref) | set(got) if ref.get(k) != got.get(k))
    return {"duration": duration, "rows": rows, "differ": differ, "compared": len(ref),
            "leftovers": leftovers(disturbed / RESULTS)}


def print_table(result: dict) -> None:
    ok = not result["differ"] and not result["leftovers"]
    print(f"undisturbed run: {result['duration']:.1f} s; {result['compared']} outputs compared byte for byte "
          f"(logs, benchmarks and *_timing.json excluded)\n")
    print("| kill | trigger | killed at (s after start) | jobs running | checkpoints left | next start's training logs | final outputs identical |")
    print("|---|---|---|---|---|---|---|")
    for i, row in enumerate(result["rows"], start=1):
        print(f"| {i} | {row['trigger']} | {row['at']:.1f} | {'; '.join(row['running']) or '-'} | "
              f"{'; '.join(row['checkpoints']) or '-'} | {'; '.join(row.get('resumed', [])) or '-'} | "
              f"{'yes' if ok else 'NO'} |")
    if result["differ"]:
        print("\ndiffering outputs: " + ", ".join(result["differ"]))
    if result["leftovers"]:
        print("\nleft behind: " + ", ".join(result["leftovers"]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", nargs="+", default=["ptb"])
    parser.add_argument("--models", nargs="+", default=["lm", "embed", "della"])
    parser.add_argument("--workdir", type=Path, help="keep the two projects here (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        result = fault_injection(args.workdir, args.kills, args.seed, args.tasks, args.models)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = fault_injection(Path(tmp), args.kills, args.seed, args.tasks, args.models)
    print_table(result)
    return 0 if not result["differ"] and not result["leftovers"] else 1


if __name__ == "__main__":
    sys.exit(main())
