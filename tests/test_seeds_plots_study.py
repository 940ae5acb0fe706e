"""Issue 9 (items 2-6) on the smoke config: two seeds give mean ± std cells, every run of a task
trains the same budget, the plots are written and listed in the report, the benchmark script
reads the run, and `snakemake -n study_depth` plans the depth study."""
import json
import re
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from test_workflow import REPO, copy_project, snakemake

PLOTS = ("della_kl_per_layer", "kl_over_training", "bleu_vs_selfbleu", "ppl_vs_kl")


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("seeds") / "project")
    smoke = yaml.safe_load((project / "config" / "smoke.yaml").read_text())
    smoke.update(tasks=["ptb"], models=["lm", "della"], seeds=[0, 1])
    (project / "config" / "smoke-seeds.yaml").write_text(yaml.safe_dump(smoke))
    snakemake(project, "all", "--configfile", "config/smoke-seeds.yaml")
    return project


@pytest.mark.slow
def test_two_seeds_give_mean_and_std_cells(two_seeds):
    tables = two_seeds / "results-smoke" / "tables"
    table = pd.read_csv(tables / "unconditional.csv").set_index("recipe")
    assert table.loc["della", "n_seeds"] == 2 and table.loc["lm", "n_seeds"] == 2
    for col in ("ppl", "kl", "bleu"):
        assert table.loc["della", f"{col}_mean"] > 0 and table.loc["della", f"{col}_std"] >= 0, col
    assert "ppl" not in table.columns  # only the aggregates
    md = (tables / "unconditional.md").read_text()
    row = next(line for line in md.splitlines() if re.match(r"\| ptb \[synthetic\]\s*\| della ", line))
    assert row.count(" ± ") >= 5


@pytest.mark.slow
def test_every_run_of_a_task_trains_the_same_budget(two_seeds):
    runs = two_seeds / "results-smoke" / "runs" / "ptb"
    budgets = {(json.loads(p.read_text())["train_steps"], json.loads(p.read_text())["train_tokens"])
               for p in runs.glob("*/seed0/metrics.json")}
    assert len(budgets) == 1 and next(iter(budgets))[0] > 0
    header = (runs / "della" / "seed0" / "train_log.csv").read_text().splitlines()[0].split(",")
    assert {"tokens", "kl_group0", "kl_group1"} <= set(header)  # DELLA's KL of each layer


@pytest.mark.slow
def test_plots_are_written_and_in_the_report(two_seeds):
    plots = two_seeds / "results-smoke" / "plots" / "ptb"
    for name in PLOTS:
        for ext in ("png", "pdf"):
            assert (plots / f"{name}.{ext}").stat().st_size > 1000, f"{name}.{ext}"
    snakemake(two_seeds, "--report", "report.html", "--configfile", "config/smoke-seeds.yaml")
    html = (two_seeds / "report.html").read_text(errors="replace")
    assert all(f"{name}.png" in html for name in PLOTS)


@pytest.mark.slow
def test_benchmark_script_prints_the_breakdown(two_seeds):
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_default_run.py"), "--workdir",
                           str(two_seeds), "--configfile", "config/smoke-seeds.yaml"],
                          capture_output=True, text=True, check=True)
    lines = proc.stdout.splitlines()
    train = next(line.split() for line in lines if line.startswith("train "))
    assert int(train[1]) == 4  # 2 recipes x 2 seeds
    assert any(line.startswith("evaluate ") for line in lines) and any(line.startswith("plots ") for line in lines)
    assert "imports:" in proc.stdout and "wall time of the last logged run" in proc.stdout


def test_study_depth_is_planned():
    proc = snakemake(REPO, "-n", "study_depth", "--configfile", "config/smoke.yaml")
    stats = (proc.stdout + proc.stderr).split("Job stats")[1].split("total")[0]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)}
    assert counts["train"] == 8 and counts["evaluate"] == 8 and counts["study_depth"] == 1  # 4 depths x mean/sum
