"""config/paper.yaml plans the full paper DAG (dry run, nothing is trained): all seven tasks, every
recipe of tables 1, 2, 4 and 5, and DELLA on BART (``della-bart``) and BART for CNN/DM and Quora only."""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


# one (empty) upstream file per task: start-up refuses a data_root without a task's files
# (della/data/readers.py locate_task), and a dry run reads nothing else
TASK_FILES = ["yelp/yelp.train.txt", "yahoo/yahoo.train.txt", "ptb/ptb.train.txt", "snli/snli.train.txt",
              "cnndm/train.jsonl", "writingprompts/train.wp_source", "quora/train.src.txt"]


def dry_run(data_root, *extra, configfile="config/paper.yaml") -> str:
    """The output of a dry run; ``data_root`` must exist (config/paper.yaml's placeholder is refused
    at start-up) and hold a file of every task; empty files are enough to plan."""
    for name in TASK_FILES:
        (Path(data_root) / name).parent.mkdir(parents=True, exist_ok=True)
        (Path(data_root) / name).touch()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "all", "--configfile", str(configfile), *extra,
                           "--config", f"data_root={data_root}"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def planned_jobs(data_root, *extra, configfile="config/paper.yaml", stdout=None):
    """The jobs of a dry run (or of its ``stdout``) as (rule, wildcards, text)."""
    stdout = dry_run(data_root, *extra, configfile=configfile) if stdout is None else stdout
    jobs = []
    # jobs of a group job (the slurm profile's `run` group) are printed indented under it
    for block in re.split(r"\n(?=\s*(?:local)?rule \w+:)", stdout):
        head = re.match(r"\s*(?:local)?rule (\w+):", block)
        wildcards = re.search(r"wildcards: (.*)", block)
        if head and wildcards:
            jobs.append((head.group(1), dict(kv.split("=", 1) for kv in wildcards.group(1).split(", ")), block))
    return jobs


@pytest.mark.slow
def test_paper_dag_plans_every_task_and_recipe(tmp_path):
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    train = {(w["task"], w["recipe"]) for rule, w, _ in planned_jobs(tmp_path, "--cores", "2") if rule == "train"}
    assert {task for task, _ in train} == {"yelp", "yahoo", "ptb", "snli", "cnndm", "wp", "quora"}
    assert {recipe for _, recipe in train} == set(config["models"])
    for recipe in ("della-bart", "bart"):  # table 2: BART backbones on CNN/DM and Quora only
        assert {task for task, r in train if r == recipe} == {"cnndm", "quora"}
    assert {task for task, r in train if r == "della"} == {"yelp", "yahoo", "ptb", "snli", "cnndm", "wp", "quora"}


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("snakemake_executor_plugin_slurm") is None,
                    reason='the Slurm executor plugin is not installed (pip install -e ".[slurm]")')
def test_slurm_profile_requests_the_configured_gpus(tmp_path):
    """The paper DAG planned with workflow/profiles/slurm: each training job asks Slurm for
    ``train.devices`` GPUs (here 2 for one recipe), evaluation for 1; a run's train and evaluate
    jobs form one Slurm job (group ``run``), so the evaluate job's copy needs no GPU job of its own."""
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    config["recipes"]["della"]["train"] = {"devices": 2}
    (tmp_path / "paper-2gpu.yaml").write_text(yaml.safe_dump(config))
    stdout = dry_run(tmp_path, "--profile", "workflow/profiles/slurm", configfile=tmp_path / "paper-2gpu.yaml")
    jobs = planned_jobs(tmp_path, stdout=stdout)

    def resources(rule, task, recipe):
        block = next(b for r, w, b in jobs if r == rule and (w["task"], w["recipe"]) == (task, recipe))
        line = re.search(r"resources: (.*)", block).group(1)
        return dict(kv.split("=", 1) for kv in line.split(", "))

    della, lm = resources("train", "ptb", "della"), resources("train", "ptb", "lm")
    assert della["gpu"] == "2" and lm["gpu"] == "1"
    assert della["cpus_per_task"] == "8" and della["slurm_partition"] == "gpu"
    assert resources("evaluate", "ptb", "della")["gpu"] == "1"
    groups = re.split(r"\n(?=\[[^\]]*\] Group job run)", stdout)
    ptb_della = [g for g in groups if "Group job run" in g and "runs/ptb/della/seed0/model.pt" in g]
    assert len(ptb_della) == 1 and {"rule train:", "rule evaluate:"} <= {
        m.strip() for m in re.findall(r"\n\s*rule \w+:", ptb_della[0])}
