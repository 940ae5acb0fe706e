"""Fault injection: SIGKILL the whole Snakemake process group while the smoke DAG runs, restart with
``--rerun-incomplete``, and compare every output with an undisturbed run.

    python benchmarks/fault_injection.py [--kills 6] [--seed 0] [--tasks ptb] [--models lm embed della]
                                         [--phase-model della] [--no-phases] [--workdir DIR]

A copy of the project in a temporary folder (``--workdir`` to keep the copies) runs the DAG
undisturbed and gives the reference outputs. Then two kinds of faults, each in its own copy:

**Seeded kills** (``--kills``). One copy is started ``--kills`` times; each start is killed
(``os.killpg(..., SIGKILL)``, as a scheduler or an out-of-memory killer would) at a seeded moment,
defined by what the DAG has done since that start (not by wall-clock time, so that a slow or busy
machine kills at the same points): after the k-th training checkpoint written (mid-training; every
other kill, the first included) or after the k-th output file written (any job), k drawn from
``--seed``. After the last kill the DAG runs to the end.

**Phase boundaries** (``PHASES``, one copy each, one model: ``--phase-model``). The fault is
placed at a file event of the run, through ``benchmarks/fault_hook/sitecustomize.py`` (loaded by
every Python process of the DAG through ``PYTHONPATH``; nothing in the project knows about it):
just before and just after ``model.pt`` is renamed into place, mid-evaluation (before the train
job's in-process evaluation renames its samples into place), just before and just after the
training checkpoint is removed, and a raised error in that evaluation. Each is followed by
``--rerun-incomplete`` starts without the fault until the DAG ends (at most ``MAX_RESTARTS``).

After each case every output under the results folder is compared byte for byte with the reference,
except the job logs, Snakemake's benchmarks and the ``*_timing.json`` files (wall-clock times); no
temporary file or checkpoint may be left. Optimiser steps repeated are counted from the training
job logs: a restart that trains logs ``resuming from ... at step R`` (or nothing: it started at
step 0), so it repeats every step the killed start had done beyond R (phase faults happen after
the last step, so all of them).

Prints two markdown tables. Exit status 1 when any output differs, a temporary file is left or a
phase fault repeats an optimiser step.
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
HOOK = REPO / "benchmarks" / "fault_hook"  # sitecustomize.py: faults at file events
RESULTS = "results-fault"
IGNORE = shutil.ignore_patterns("results*", ".snakemake", ".venv*", "__pycache__", ".git", "*.egg-info",
                                ".pytest_cache", "report.html")
VOLATILE = re.compile(r"^(logs|benchmarks)/|_timing\.json$")
MAX_RESTARTS = 3

# name -> (DELLA_FAULT spec of benchmarks/fault_hook/sitecustomize.py, where it lands)
PHASES = {
    "before model.pt": ("kill:before:replace:*/runs/*/model.pt",
                        "training done and checkpointed, model.pt not yet renamed into place"),
    "after model.pt": ("kill:after:replace:*/runs/*/model.pt", "model.pt in place, nothing after it"),
    "mid-evaluation": ("kill:before:replace:*/train_job_evaluation/samples.jsonl",
                       "the train job's evaluation: likelihood and generation done, samples not yet in place"),
    "before checkpoint cleanup": ("kill:before:unlink:*/runs/*/checkpoint.pt",
                                  "just before the training checkpoint is removed"),
    "after checkpoint cleanup": ("kill:after:unlink:*/runs/*/checkpoint.pt",
                                 "just after the training checkpoint is removed"),
    "evaluation error": ("raise:before:replace:*/train_job_evaluation/samples.jsonl",
                         "an exception raised inside the train job's evaluation"),
    "evaluation error in both jobs": ("raise:before:replace:*/samples.jsonl",
                                      "an exception raised in every evaluation (the train job's and the evaluate "
                                      "job's): the start fails; the restart has no fault"),
}


def make_project(dst: Path, tasks, models, config_update=None) -> Path:
    shutil.copytree(REPO, dst, ignore=IGNORE)
    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    config.update(tasks=list(tasks), models=list(models), results_dir=RESULTS)
    # checkpoints at every step, over a few more epochs: kills land mid-training and resume from them
    config["train"].update(epochs=3, checkpoint_every=1)
    for section, values in (config_update or {}).items():
        config[section].update(values)
    (dst / "config" / "fault.yaml").write_text(yaml.safe_dump(config))
    return dst


def command(*extra) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--cores", "2", "all", "--configfile", "config/fault.yaml", *extra]


def unlock(project: Path) -> None:
    subprocess.run([sys.executable, "-m", "snakemake", "--unlock", "--configfile", "config/fault.yaml"],
                   cwd=project, capture_output=True)


def run_to_end(project: Path, *extra) -> float:
    start = time.perf_counter()
    proc = subprocess.run(command(*extra), cwd=project, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake failed in {project}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def start(project: Path, log_path: Path, env: dict | None = None) -> tuple[int, str]:
    """One ``--rerun-incomplete`` start in its own process group (so that a fault's killpg takes
    Snakemake and every job, and nothing else); returns (exit status, console)."""
    unlock(project)
    with log_path.open("w") as out:
        proc = subprocess.run(command("--rerun-incomplete"), cwd=project, stdout=out, stderr=subprocess.STDOUT,
                              start_new_session=True, env={**os.environ, **(env or {})})
    return proc.returncode, log_path.read_text()


def running_jobs(console: str) -> list[str]:
    """Runs that told the console they started and had not yet said they ended (della/progress.py:
    ``▶ ptb/lm/seed0  train ...`` until a ``✓`` / ``■`` / ``✗`` line of the same run). Named by the run:
    its train job and then its evaluate job (which prints no start line) both fall in that window."""
    started = {}
    for line in console.splitlines():
        words = line.split()
        if len(words) < 3 or words[0] not in ("▶", "✓", "■", "✗"):
            continue
        if words[0] == "▶":
            started[words[1]] = f"run {words[1]}"
        else:
            started.pop(words[1], None)
    return list(started.values())


def phases_started(console: str) -> set[str]:
    """The phases (``train``, ``evaluate``) that jobs told the console they started (``▶`` lines)."""
    return {words[2] for words in map(str.split, console.splitlines()) if len(words) > 2 and words[0] == "▶"}


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
    unlock(project)
    with log_path.open("w") as out:
        proc = subprocess.Popen(command("--rerun-incomplete"), cwd=project, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        begin = time.perf_counter()
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
        elapsed = time.perf_counter() - begin
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
                  if p.is_file() and (p.name.endswith(".tmp") or p.name.startswith(("checkpoint", "best.pt"))))


def compare(reference: Path, project: Path) -> dict:
    ref = fingerprint_outputs(reference / RESULTS)
    got = fingerprint_outputs(project / RESULTS)
    return {"differ": sorted(k for k in set(ref) | set(got) if ref.get(k) != got.get(k)), "compared": len(ref),
            "leftovers": leftovers(project / RESULTS)}


def fault_injection(workdir: Path, kills: int = 6, seed: int = 0, tasks=("ptb",), models=("lm", "embed"),
                    reference: Path | None = None) -> dict:
    """The seeded kills (module docstring); ``reference``: an undisturbed project already run."""
    duration = None
    if reference is None:
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
    unlock(disturbed)
    run_to_end(disturbed, "--rerun-incomplete")
    if rows:
        rows[-1]["resumed"] = resumed(disturbed, seen)
    return {"duration": duration, "rows": rows, **compare(reference, disturbed)}


def _train_logs(project: Path) -> dict[str, str]:
    return {str(p.relative_to(project / RESULTS / "logs" / "train")): p.read_text()
            for p in (project / RESULTS / "logs" / "train").glob("*/*/seed*.log")}


def total_steps(project: Path, run: str) -> int:
    """The run's step budget, from its finished train_log.csv."""
    import csv

    with (project / RESULTS / "runs" / run / "train_log.csv").open() as fh:
        return max(int(row["step"]) for row in csv.DictReader(fh))


def phase_fault(workdir: Path, name: str, reference: Path, task: str = "ptb", model: str = "della") -> dict:
    """One phase-boundary fault (``PHASES[name]``) in a fresh copy of the project, then
    ``--rerun-incomplete`` starts without it until the DAG ends; the row of the phase table."""
    spec, where = PHASES[name]
    slug = re.sub(r"\W+", "-", name)
    project = make_project(workdir / f"phase-{slug}", [task], [model])
    marker = workdir / f"phase-{slug}.fired"
    rc, console = start(project, workdir / f"phase-{slug}-0.log",
                        {"PYTHONPATH": os.pathsep.join(filter(None, [str(HOOK), os.environ.get("PYTHONPATH")])),
                         "DELLA_FAULT": spec, "DELLA_FAULT_MARKER": str(marker)})
    fired = marker.read_text().splitlines() if marker.exists() else []
    run = f"{task}/{model}/seed0"
    model_pt_survived = (project / RESULTS / "runs" / run / "model.pt").exists()
    faulted_job = "-"
    if fired:
        faulted_job = ", ".join(running_jobs(console)) or "-"
        if spec.startswith("raise"):  # the train job writes its evaluation in train_job_evaluation/
            jobs = list(dict.fromkeys("train" if "/train_job_evaluation/" in line else "evaluate" for line in fired))
            faulted_job = f"raised in the {' and '.join(jobs)} job{'s' if len(jobs) > 1 else ''}"
    restarts = []
    for _ in range(MAX_RESTARTS):
        if rc == 0:
            break
        rc, console = start(project, workdir / f"phase-{slug}-{len(restarts) + 1}.log")
        log = _train_logs(project).get(f"{run}.log", "")
        trained = "train" in phases_started(console)
        step = re.search(r"resuming from \S+ at step (\d+)", log) if trained else None
        restarts.append({"rc": rc, "trained": trained, "resumed_at": int(step.group(1)) if step else 0,
                         "log_error": next((line for line in log.splitlines() if "Error" in line), None)})
    total = total_steps(project, run) if (project / RESULTS / "runs" / run / "train_log.csv").exists() else None
    # every phase fault happens after the last optimiser step: a restart that trains repeats the steps
    # from where it resumed to the end
    repeated = sum(total - r["resumed_at"] for r in restarts if r["trained"]) if total is not None else None
    what = [] if restarts else ["none needed: the first start finished"]
    for r in restarts:
        if r["trained"]:
            what.append(f"train resumed at step {r['resumed_at']} of {total}" if r["resumed_at"]
                        else "train from step 0")
        else:
            what.append("evaluate only (train not rerun)")
        if r["rc"] != 0:
            what[-1] += f" -> failed ({r['log_error'] or 'see log'})"
    return {"phase": name, "where": where, "fired": bool(fired),
            "faulted_job": faulted_job, "model_pt_after_fault": model_pt_survived, "restarts": restarts,
            "what_resumed": "; ".join(what), "steps_repeated": repeated, "total_steps": total,
            "finished": rc == 0, **compare(reference, project)}


def print_table(result: dict) -> None:
    ok = not result["differ"] and not result["leftovers"]
    if result.get("duration") is not None:
        print(f"undisturbed run: {result['duration']:.1f} s; ", end="")
    print(f"{result['compared']} outputs compared byte for byte (logs, benchmarks and *_timing.json excluded)\n")
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


def phase_ok(row: dict) -> bool:
    return (row["fired"] and row["finished"] and row["steps_repeated"] == 0 and not row["differ"]
            and not row["leftovers"])


def print_phase_table(rows: list[dict]) -> None:
    print("| fault | where | job hit | model.pt after the fault | restarts: what resumed | optimiser steps repeated | final outputs identical |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        identical = "yes" if row["finished"] and not row["differ"] and not row["leftovers"] else (
            "NO: " + ", ".join(row["differ"] + [f"left {x}" for x in row["leftovers"]]
                               + ([] if row["finished"] else ["did not finish"])))
        print(f"| {row['phase']} | {row['where']} | {row['faulted_job'] if row['fired'] else 'NOT REACHED'} | "
              f"{'kept' if row['model_pt_after_fault'] else 'gone'} | {row['what_resumed'] or '-'} | "
              f"{row['steps_repeated'] if row['steps_repeated'] is not None else '?'} | {identical} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", nargs="+", default=["ptb"])
    parser.add_argument("--models", nargs="+", default=["lm", "embed", "della"])
    parser.add_argument("--phase-model", default="della", help="the model of the phase-boundary faults")
    parser.add_argument("--no-phases", action="store_true", help="seeded kills only")
    parser.add_argument("--workdir", type=Path, help="keep the projects here (default: a temporary folder)")
    args = parser.parse_args(argv)

    def run(workdir: Path) -> int:
        result = fault_injection(workdir, args.kills, args.seed, args.tasks, args.models)
        print_table(result)
        ok = not result["differ"] and not result["leftovers"]
        if not args.no_phases:
            reference = make_project(workdir / "phase-reference", args.tasks[:1], [args.phase_model])
            run_to_end(reference)
            rows = [phase_fault(workdir, name, reference, args.tasks[0], args.phase_model) for name in PHASES]
            print()
            print_phase_table(rows)
            ok = ok and all(phase_ok(row) for row in rows)
        return 0 if ok else 1

    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        return run(args.workdir)
    with tempfile.TemporaryDirectory() as tmp:
        return run(Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
