"""The whole DAG, as a user runs it: a smoke run on config/smoke.yaml in a temporary copy of the
project, the "nothing to do" second invocation, config validation errors, and adding a baseline
as one new file under baselines/."""
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def copy_project(dst: Path) -> Path:
    ignore = shutil.ignore_patterns("results*", ".snakemake", ".venv*", "__pycache__", ".git", "*.egg-info",
                                    ".pytest_cache")
    shutil.copytree(REPO, dst, ignore=ignore)
    return dst


def snakemake(cwd, *args, check=True):
    proc = subprocess.run([*SNAKEMAKE, "--cores", "2", *args], cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("smoke") / "project")
    proc = snakemake(project, "all", "--configfile", "config/smoke.yaml")
    (project / "console.txt").write_text(proc.stdout + proc.stderr)  # what the terminal showed
    return project


@pytest.mark.slow
def test_smoke_dag_writes_both_tables(smoke_run):
    results = smoke_run / "results-smoke"
    uncond = pd.read_csv(results / "tables" / "unconditional.csv")
    cond = pd.read_csv(results / "tables" / "conditional.csv")
    assert set(uncond.task) == {"ptb"} and set(cond.task) == {"quora"}
    uncond = uncond[~uncond.recipe.isin(["H(factors)", "H(X)"])]  # the twins' reference rows
    cond = cond[~cond.recipe.isin(["H(factors)", "H(X)"])]
    smoke = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    assert set(cond.recipe) == set(smoke["models"])  # every model, trick and ablation ran
    assert set(uncond.recipe) == set(smoke["models"]) - {"bart"}  # bart needs a source
    md = (results / "tables" / "unconditional.md").read_text()
    assert "SYNTHETIC" in md
    for table in (1, 2, 4, 5, 8, 9):  # the paper's layouts, four formats each
        for ext in ("csv", "md", "html", "tex"):
            assert (results / "tables" / "paper" / f"table{table}.{ext}").stat().st_size > 0
    t4 = pd.read_csv(results / "tables" / "paper" / "table4.csv")
    assert {"della", "della-no-ltp"} <= set(t4[t4.task == "ptb"].recipe)  # the smoke ablations' rows
    assert "ptb [synthetic]" in (results / "tables" / "paper" / "table8.md").read_text()
    metrics = json.loads((results / "runs" / "ptb" / "della" / "seed0" / "metrics.json").read_text())
    for key in ("ppl", "neg_elbo", "nll_rec", "kl", "kl_per_group", "mi", "au_joint@0.01", "self_bleu", "bleu"):
        assert key in metrics, key
    assert len(metrics["kl_per_group"]) == 2  # one KL per layer
    lm = json.loads((results / "runs" / "ptb" / "lm" / "seed0" / "metrics.json").read_text())
    assert lm["ppl"] > 1 and "kl" not in lm
    assert (results / "runs" / "quora" / "della" / "seed0" / "samples.jsonl").stat().st_size > 0
    log = (results / "runs" / "ptb" / "della" / "seed0" / "train_log.csv").read_text().splitlines()
    assert log[0].startswith("step,epoch,loss,rec,kl")
    # every rule wrote its log and benchmark; a job log holds no progress-bar refreshes
    train_log = (results / "logs" / "train" / "ptb" / "della" / "seed0.log").read_text()
    assert "\r" not in train_log and "it/s" not in train_log
    assert (results / "benchmarks" / "evaluate" / "quora" / "embed" / "seed0.tsv").exists()


@pytest.mark.slow
def test_smoke_dag_decides_the_claims(smoke_run):
    """`all` writes the claims table (issue 19) from every run's per-sentence file."""
    results = smoke_run / "results-smoke"
    claims = pd.read_csv(results / "claims.csv")
    assert set(claims.task) == {"ptb", "quora"}
    assert set(claims.verdict) <= {"held", "not held", "inconclusive", "not run", "n/a"}
    decided = claims[claims.verdict.isin(["held", "not held", "inconclusive"])]
    assert len(decided) >= 10 and (decided.lo <= decided.hi).all()
    assert "cbleu-della-lm" in set(decided[decided.task == "quora"].claim)  # corpus BLEU, sacreBLEU's bootstrap
    md = (results / "claims.md").read_text()
    assert "One seed: the intervals cover the sampling of test sentences only" in md
    rows = pd.read_csv(results / "runs" / "ptb" / "della" / "seed0" / "per_sentence.csv.gz")
    assert set(rows.part) == {"scored", "probe", "sample"}
    factors = (results / "tables" / "factors.md").read_text()
    assert re.search(r"\| della @ init +\| all ", factors)  # the control: the same probe at initialisation


@pytest.mark.slow
def test_evaluate_jobs_copy_what_the_train_job_evaluated(smoke_run, tmp_path):
    """One process per run (issue 9): the train job evaluates its model and the evaluate rule copies
    the stamped result; a fresh evaluation of the same model.pt in another process gives the same
    bytes, so the copy is what evaluating anew would give."""
    from della.evaluation.evaluate import evaluate_saved_run
    from della.data.tokenizer import TextTokenizer

    results = smoke_run / "results-smoke"
    for task, recipe in (("ptb", "della"), ("quora", "embed"), ("ptb", "lm")):
        log = (results / "logs" / "evaluate" / task / recipe / "seed0.log").read_text()
        assert "copied the evaluation made by the train job" in log, log
        run_dir = results / "runs" / task / recipe / "seed0"
        # taken: the train job's evaluation folder and resume state are gone (della/run_folder.py)
        # (.train_job.json: the settings and code files the train job last completed with, so that a
        # job that trains again names what changed: della/provenance.py JobRecord)
        assert sorted(p.name for p in run_dir.iterdir()) == [
            ".train_job.json", "config.yaml", "eval_timing.json", "metrics.json", "model.pt", "per_sentence.csv.gz", "samples.jsonl",
            "train_log.csv", "train_timing.json"]
    run_dir, data = results / "runs" / "ptb" / "della" / "seed0", results / "data" / "ptb"
    recorded = yaml.safe_load((run_dir / "config.yaml").read_text())
    evaluate_saved_run(model_path=run_dir / "model.pt", test_path=data / "test.jsonl", info_path=data / "info.json",
                       tokenizer=TextTokenizer.load(data / "tokenizer.json"), task="ptb", recipe="della",
                       run=recorded["run"], seed=0, threads=1, metrics_path=tmp_path / "metrics.json",
                       samples_path=tmp_path / "samples.jsonl", timing_path=tmp_path / "timing.json",
                       per_sentence_path=tmp_path / "per_sentence.csv.gz", progress=False, root=smoke_run)
    assert (tmp_path / "metrics.json").read_bytes() == (run_dir / "metrics.json").read_bytes()
    assert (tmp_path / "samples.jsonl").read_bytes() == (run_dir / "samples.jsonl").read_bytes()
    assert (tmp_path / "per_sentence.csv.gz").read_bytes() == (run_dir / "per_sentence.csv.gz").read_bytes()


@pytest.mark.slow
def test_second_invocation_has_nothing_to_do(smoke_run):
    proc = snakemake(smoke_run, "all", "-n", "--configfile", "config/smoke.yaml")
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_code_change_reruns_the_affected_jobs(smoke_run):
    tables = smoke_run / "della" / "reporting" / "tables.py"
    tables.write_text(tables.read_text() + "\n# edited\n")
    proc = snakemake(smoke_run, "all", "-n", "--configfile", "config/smoke.yaml")
    out = proc.stdout + proc.stderr
    assert "tables" in out and "train" not in out.split("Job stats")[1].split("total")[0]


@pytest.mark.slow
def test_console_tells_the_story(smoke_run):
    """Issue 21: a start-up summary (config, runs, each task's data), one start and one end line per run
    (with its budget, wall times and headline figures), a line per task's figures, and a final summary
    naming what was written and the report command; none of Snakemake's job blocks."""
    out = (smoke_run / "console.txt").read_text()
    lines = out.splitlines()
    smoke = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    runs = [f"{task}/{recipe}/seed0" for task in smoke["tasks"] for recipe in smoke["models"]
            if not (recipe == "bart" and task == "ptb")]
    assert any(line.startswith("DELLA-Bench · config config/smoke.yaml · results in results-smoke/") for line in lines)
    assert "  data: synthetic twins of ptb, quora (the offline demo: data_root is null)" in lines
    for run in runs:
        assert sum(line.startswith(f"▶ {run}  train ") for line in lines) == 1, run
        done = [line for line in lines if line.startswith(f"✓ {run}  done: ")]
        assert len(done) == 1 and " steps (" in done[0] and "runs done" in done[0], run
    assert sum("  done: " in line for line in lines) == len(runs)
    for task in smoke["tasks"]:
        assert any(line.startswith(f"✓ {task}  figures: results-smoke/plots/{task}/") for line in lines), task
    end = out.split("Finished. Written:", 1)[1]
    for what in ("tables:", "paper tables:", "plots:", "summary:", "report:       snakemake --report report.html"):
        assert what in end, what
    assert "localrule" not in out and "reason:" not in out and "steps (100%) done" not in out
    assert "" not in lines[:8] and len(lines) < 2 * len(runs) + 60  # 6d70874 printed 1,423 lines for this run


@pytest.mark.slow
def test_every_label_of_the_smoke_run_names_its_convention(smoke_run):
    """Every column of every table and every axis of every figure the smoke DAG wrote comes from
    della/reporting/conventions.py and names its convention (tests/test_conventions.py)."""
    from test_conventions import check_figure_labels, check_heading_labels, check_table_labels

    results = smoke_run / "results-smoke"
    tables = sorted((results / "tables").rglob("*.md"))
    assert len(tables) == 9 and check_table_labels(tables) >= 90  # 8 tables and factors.md
    assert check_heading_labels(results / "summary.md") >= 6  # one small table per headline figure
    figures = sorted((results / "plots").rglob("*.png"))
    assert len(figures) == 8 and check_figure_labels(figures) >= 16


@pytest.mark.slow
def test_ctrl_c_ends_with_one_line_and_the_same_command_continues(tmp_path):
    """Ctrl-C (SIGINT to the terminal's process group) during training: each stopped job says where, the
    last lines say how to continue, exit status 130, no Snakemake error block, no traceback; the same
    command then resumes the stopped training from its checkpoint."""
    import signal
    import time

    project = copy_project(tmp_path / "project")
    smoke = yaml.safe_load((project / "config" / "smoke.yaml").read_text())
    smoke.update(tasks=["ptb"], models=["della"], progress_seconds=1)
    smoke["train"] = {**smoke["train"], "steps": 100000}
    (project / "config" / "long.yaml").write_text(yaml.safe_dump(smoke))
    command = [*SNAKEMAKE, "--cores", "2", "all", "--configfile", "config/long.yaml"]
    proc = subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines = []
    deadline = time.time() + 240
    for line in proc.stdout:  # wait for the first progress line of the training job
        lines.append(line)
        if "ptb/della/seed0  train  " in line or time.time() > deadline:
            break
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    rest, _ = proc.communicate(timeout=120)
    out = "".join(lines) + rest
    tail = out.strip().splitlines()
    assert proc.returncode == 130, out[-3000:]
    assert tail[-2].startswith("Interrupted (Ctrl-C):") and tail[-1] == "  snakemake --cores 2 all --configfile config/long.yaml"
    stopped = [line for line in tail if line.startswith("■ ptb/della/seed0  stopped by Ctrl-C at step ")]
    assert len(stopped) == 1 and "checkpoint saved at step" in stopped[0]
    assert "Error in rule" not in out and "Traceback" not in out and "WorkflowError" not in out
    step = int(stopped[0].split("at step ")[1].split()[0])
    # the same command again (the profile's rerun-incomplete: no extra flag) resumes where it stopped
    proc = subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    started = None
    for line in proc.stdout:
        if line.startswith("▶ ptb/della/seed0  train "):
            started = line.strip()
            break
    os.killpg(proc.pid, signal.SIGINT)
    proc.communicate(timeout=120)
    assert started == f"▶ ptb/della/seed0  train della 2×32: 100000 steps, resuming at step {step} of 100000"


@pytest.mark.parametrize("override, key", [
    (["models=[lm,no-such-model]"], "models"),
    (["tasks=[ptb,imdb]"], "tasks"),
    (["seeds=[x]"], "seeds"),
])
def test_bad_config_fails_before_any_job(tmp_path, override, key):
    proc = snakemake(REPO, "-n", "--configfile", "config/smoke.yaml", "--config", *override, check=False)
    assert proc.returncode != 0
    assert key in proc.stdout + proc.stderr


def test_negative_learning_rate_is_refused(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text((REPO / "config" / "smoke.yaml").read_text().replace("lr: 0.002", "lr: -0.001"))
    proc = snakemake(REPO, "-n", "--configfile", str(cfg), check=False)
    assert proc.returncode != 0
    assert "config key 'train.lr': -0.001 is less than or equal to the minimum of 0" in proc.stderr


@pytest.mark.slow
def test_adding_a_baseline_is_one_file(tmp_path):
    """README "Add a baseline": a new file under baselines/ and a name in the config, nothing else.
    The file is the README's own example, read from the README."""
    project = copy_project(tmp_path / "project")
    section = (REPO / "README.md").read_text().split("## Add a baseline", 1)[1]
    example = textwrap.dedent(section.split("```python\n", 1)[1].split("```", 1)[0])
    assert '@register_model("embed-tanh")' in example
    (project / "baselines" / "embed_tanh.py").write_text(example)
    smoke = yaml.safe_load((project / "config" / "smoke.yaml").read_text())
    smoke.update(tasks=["ptb"], models=["lm", "embed-tanh"])
    (project / "config" / "smoke-new.yaml").write_text(yaml.safe_dump(smoke))
    snakemake(project, "all", "--configfile", "config/smoke-new.yaml")
    table = pd.read_csv(project / "results-smoke" / "tables" / "unconditional.csv")
    assert "embed-tanh" in set(table.recipe)
    assert table.set_index("recipe").loc["embed-tanh", "ppl_mean"] > 1  # one seed: the mean is the run


@pytest.mark.slow
def test_real_data_dag(tmp_path):
    """The DAG on the real files under DELLA_DATA (capped to a few sentences): readers, BPE, train,
    evaluate and tables on real text, one unconditional and one conditional task."""
    data_root = os.environ.get("DELLA_DATA")
    if not data_root:
        pytest.skip("DELLA_DATA is not set: the real-data DAG is not run")
    project = copy_project(tmp_path / "project")
    smoke = yaml.safe_load((project / "config" / "smoke.yaml").read_text())
    smoke.update(tasks=["ptb", "wp"], models=["lm", "della"], data_root=str(Path(data_root).resolve()),
                 results_dir="results-real")
    smoke["data"]["max_examples"] = {"train": 64, "valid": 8, "test": 8}
    (project / "config" / "real-tiny.yaml").write_text(yaml.safe_dump(smoke))
    snakemake(project, "all", "--configfile", "config/real-tiny.yaml")
    results = project / "results-real"
    info = json.loads((results / "data" / "wp" / "info.json").read_text())
    # the data root outside the project is named by its folder's name (issue 20, item 9), ...
    assert info["source"] == Path(data_root).resolve().name and info["counts"]["train"] == 64
    # ... and no result file, paper tables included, holds its path or the project's
    needles = {str(Path(data_root).resolve()).encode(), str(project).encode()}
    assert [str(p.relative_to(results)) for p in results.rglob("*") if p.is_file()
            and not str(p.relative_to(results)).startswith(("logs/", "benchmarks/", ".della/"))
            and any(n in p.read_bytes() for n in needles)] == []
    md = (results / "tables" / "unconditional.md").read_text()
    assert "SYNTHETIC" not in md and re.search(r"^\| ptb \[capped\]\s*\| della ", md, re.M)
    cond = pd.read_csv(results / "tables" / "conditional.csv")
    assert set(cond.recipe) == {"lm", "della"} and (cond.rouge1_mean >= 0).all()


def test_a_broken_baselines_file_stops_only_its_own_models(tmp_path):
    """Issue 21 item 10: one file of baselines/ that fails to import (here a syntax error on line 2)
    used to stop every run, even ``models=[lm]``. Now start-up names the file and its line, the
    other models plan as before, and asking for a model that file would define is refused naming it."""
    project = copy_project(tmp_path / "project")
    (project / "baselines" / "half_written.py").write_text(
        '"""A baseline being written."""\ndef broken(:\n    pass\n')
    proc = snakemake(project, "-n", "all", "--configfile", "config/smoke.yaml", "--config", "models=[lm]")
    console = proc.stdout + proc.stderr
    assert re.search(r"not imported.*baselines/half_written\.py: SyntaxError: .* \(line 2\)", console), console[-3000:]
    assert "train" in console  # the lm runs still plan
    refused = snakemake(project, "-n", "all", "--configfile", "config/smoke.yaml",
                        "--config", "models=[lm,half-written]", check=False)
    assert refused.returncode != 0
    message = refused.stdout + refused.stderr
    assert "unknown model or recipe 'half-written'" in message
    assert "baselines/half_written.py: SyntaxError" in message
