"""Wall time of a whole run of the workflow and where it goes, per rule.

    python benchmarks/bench_default_run.py --run                      # snakemake --cores 2 all --forceall, timed
    python benchmarks/bench_default_run.py                            # read the last run's results only
    python benchmarks/bench_default_run.py --run --configfile config/smoke.yaml --config 'tasks=[ptb]'
    python benchmarks/bench_default_run.py --run --target study_claims --config results_dir=results-study-claims
    python benchmarks/bench_default_run.py --run --target study_claims --configfile config/study-ptb-real.yaml \
        --config data_root=PATH                                       # the claims study, each part (README "Claims")

Sources: Snakemake's benchmark TSVs (``results/benchmarks/{rule}/...tsv``: wall seconds ``s`` and
``cpu_time`` of each job, the latter sampled and so short for short jobs), the ``[timing]`` lines
that the train and evaluate scripts write to their logs (``imports_cpu_s``: CPU seconds from
interpreter start to the end of the imports; ``cpu_s``: the whole job, used instead of the TSV's) and
the Snakemake log of the last run (first to last timestamp) for its wall time when not ``--run``.
The table gives per rule: jobs, summed and mean wall seconds, summed CPU seconds, and the mean
import CPU seconds of a job; ``CPU / cores`` is the wall time a perfectly packed schedule would
take on that many cores (a lower bound; measure the real one with ``--run`` on an idle machine).
"""
from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
TIMING = re.compile(r"\[timing\] imports_cpu_s=([0-9.]+)")
TRAIN_CPU = re.compile(r"\[timing\] train_cpu_s=([0-9.]+)")
JOB_CPU = re.compile(r"\[timing\] cpu_s=([0-9.]+)")
STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")


def results_dir(configfile: Path, overrides: list[str]) -> Path:
    results = yaml.safe_load(configfile.read_text())["results_dir"]
    for item in overrides:
        key, _, value = item.partition("=")
        if key == "results_dir":
            results = value
    return Path(results)


def job_table(results: Path, since: float | None = None) -> pd.DataFrame:
    """One row per job: rule, wall seconds, CPU seconds and, where the script reports them, its
    split into imports, training and evaluation (a train job evaluates its model in-process).
    ``since`` (epoch seconds): only the benchmark files written from then on, i.e. the jobs of that
    run; older files of jobs no longer in the DAG (a recipe since removed) would inflate the sums."""
    rows = []
    bench = results / "benchmarks"
    for tsv in sorted(bench.rglob("*.tsv")):
        if since is not None and tsv.stat().st_mtime < since:
            continue
        rel = tsv.relative_to(bench)
        rule = rel.parts[0] if len(rel.parts) > 1 else tsv.stem
        frame = pd.read_csv(tsv, sep="\t")
        log = results / "logs" / rel.with_suffix(".log")
        imports = trained = None
        cpu = float(frame["cpu_time"].iloc[-1])
        if log.exists():
            text = log.read_text(errors="replace")
            hit, train_cpu, job_cpu = TIMING.search(text), TRAIN_CPU.search(text), JOB_CPU.search(text)
            imports = float(hit.group(1)) if hit else None
            cpu = float(job_cpu.group(1)) if job_cpu else cpu  # exact, where the script reports it
            trained = float(train_cpu.group(1)) if train_cpu else None
        row = {"rule": rule, "job": str(rel.with_suffix("")), "wall_s": float(frame["s"].iloc[-1]), "cpu_s": cpu,
               "import_cpu_s": imports, "train_cpu_s": None, "eval_cpu_s": None}
        if trained is not None and imports is not None:  # train job: imports | training | in-process evaluation
            row.update(train_cpu_s=trained - imports, eval_cpu_s=cpu - trained)
        elif rule == "evaluate" and imports is not None:
            row.update(eval_cpu_s=cpu - imports)
        rows.append(row)
    if not rows:
        raise SystemExit(f"no benchmark files under {bench}: run the workflow first (or pass --run)")
    return pd.DataFrame(rows)


def last_run(workdir: Path) -> tuple[float, float] | None:
    """(wall seconds, start in epoch seconds) of the newest Snakemake log under .snakemake/log that
    ran jobs to the end (first to last timestamp; a later `--report` or dry run writes a log without
    jobs)."""
    for log in sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"), reverse=True):
        text = log.read_text(errors="replace")
        if "steps (100%) done" not in text:
            continue
        stamps = [datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
                  for line in text.splitlines() if (m := STAMP.match(line.strip()))]
        if len(stamps) > 1:
            return (stamps[-1] - stamps[0]).total_seconds(), stamps[0].timestamp()  # local time, as logged
    return None


def summary(jobs: pd.DataFrame) -> pd.DataFrame:
    grouped = jobs.groupby("rule", sort=False)
    out = pd.DataFrame({"jobs": grouped.size(), "wall_s_sum": grouped.wall_s.sum(),
                        "wall_s_mean": grouped.wall_s.mean(), "cpu_s_sum": grouped.cpu_s.sum(),
                        "import_cpu_s_sum": grouped.import_cpu_s.sum(min_count=1),
                        "train_cpu_s_sum": grouped.train_cpu_s.sum(min_count=1),
                        "eval_cpu_s_sum": grouped.eval_cpu_s.sum(min_count=1)})
    order = ["prepare_data", "tokenizer", "train", "evaluate", "tables", "paper_tables", "plots", "summary", "report"]
    out = out.reindex([r for r in order if r in out.index] + [r for r in out.index if r not in order])
    out.loc["total"] = [out.jobs.sum(), out.wall_s_sum.sum(), jobs.wall_s.mean(), out.cpu_s_sum.sum(),
                        out.import_cpu_s_sum.sum(), out.train_cpu_s_sum.sum(), out.eval_cpu_s_sum.sum()]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="store_true", help="run `snakemake TARGET --forceall` first and time it")
    parser.add_argument("--target", default="all", help="the Snakemake target to run (default: all; e.g. study_claims)")
    parser.add_argument("--configfile", default="config/config.yaml")
    parser.add_argument("--config", nargs="*", default=[], help="snakemake --config overrides")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", default=str(REPO), help="the project folder (default: this checkout)")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    configfile = workdir / args.configfile
    results = workdir / results_dir(configfile, args.config)
    wall = all_cpu = since = None
    if args.run:
        cmd = [sys.executable, "-m", "snakemake", "--cores", str(args.cores), args.target, "--forceall",
               "--configfile", args.configfile] + (["--config", *args.config] if args.config else [])
        print("$", " ".join(cmd), flush=True)
        since = time.time() - 1  # benchmark files of this run only (the log's clock has 1 s steps)
        t0, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # Snakemake and every job it started (children are counted once they have exited)
        all_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
            return proc.returncode
    elif (last := last_run(workdir)) is not None:
        wall, since = last[0], last[1] - 1
    jobs = job_table(results, since)
    table = summary(jobs)
    print(f"results: {results}")
    print(table.to_string(float_format=lambda x: f"{x:.2f}"))
    cpu = table.loc["total", "cpu_s_sum"]
    print(f"\nCPU seconds, all jobs: {cpu:.1f}  ->  CPU / {args.cores} cores = {cpu / args.cores / 60:.1f} min "
          "(a perfectly packed schedule; lower bound of the wall time)")
    imports = jobs.import_cpu_s.dropna()
    if len(imports):
        print(f"imports: {imports.sum():.1f} CPU s in {len(imports)} jobs that report them "
              f"({imports.mean():.2f} s per job, {imports.sum() / max(cpu, 1e-9):.0%} of the jobs' CPU)")
    if all_cpu is not None:
        print(f"CPU seconds of the whole invocation (Snakemake, its script wrappers and every job): {all_cpu:.1f}; "
              f"outside the jobs' own measurement: {all_cpu - cpu:.1f}")
    if wall is not None:
        print(f"wall time of the {'timed' if args.run else 'last logged'} run: {wall:.0f} s = {wall / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
