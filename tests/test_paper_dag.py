"""config/paper.yaml plans the full paper DAG (dry run, nothing is trained): all seven tasks, every
recipe of tables 1, 2, 4 and 5, and DELLA on BART (``della-bart``) and BART for CNN/DM and Quora only."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def planned_jobs(*extra):
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "all", "--configfile", "config/paper.yaml",
                           "--cores", "2", *extra], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", proc.stdout):
        head = re.match(r"(?:local)?rule (\w+):", block)
        wildcards = re.search(r"wildcards: (.*)", block)
        if head and wildcards:
            jobs.append((head.group(1), dict(kv.split("=", 1) for kv in wildcards.group(1).split(", ")), block))
    return jobs


@pytest.mark.slow
def test_paper_dag_plans_every_task_and_recipe():
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    train = {(w["task"], w["recipe"]) for rule, w, _ in planned_jobs() if rule == "train"}
    assert {task for task, _ in train} == {"yelp", "yahoo", "ptb", "snli", "cnndm", "wp", "quora"}
    assert {recipe for _, recipe in train} == set(config["models"])
    for recipe in ("della-bart", "bart"):  # table 2: BART backbones on CNN/DM and Quora only
        assert {task for task, r in train if r == recipe} == {"cnndm", "quora"}
    assert {task for task, r in train if r == "della"} == {"yelp", "yahoo", "ptb", "snli", "cnndm", "wp", "quora"}
