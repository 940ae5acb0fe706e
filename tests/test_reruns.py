"""Reruns follow what changed (issue 12): one small finished project (real-format PTB files under a
relative data_root, lm + embed), copied for each case; `snakemake -n` must list exactly the jobs
that the change affects."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns("results*", ".snakemake", ".venv*", "__pycache__", ".git", "*.egg-info",
                                ".pytest_cache")


def write_tiny_ptb(root: Path) -> None:
    import random

    rng = random.Random(0)
    words = "the cat dog sat on a mat and ran to big small red blue house tree".split()
    (root / "ptb").mkdir(parents=True)
    for split, n in [("train", 48), ("valid", 8), ("test", 12)]:
        lines = [" ".join(rng.choice(words) for _ in range(rng.randint(4, 10))) for _ in range(n)]
        (root / "ptb" / f"ptb.{split}.txt").write_text("\n".join(lines) + "\n")


def snakemake(project, *args):
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *args, "--configfile",
                           "config/rerun.yaml"], cwd=project, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    project = tmp_path_factory.mktemp("reruns") / "project"
    shutil.copytree(REPO, project, ignore=IGNORE)
    write_tiny_ptb(project / "tiny-data")
    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    config.update(tasks=["ptb"], models=["lm", "embed"], data_root="tiny-data", results_dir="results-rerun")
    config["train"]["epochs"] = 1
    (project / "config" / "rerun.yaml").write_text(yaml.safe_dump(config))
    snakemake(project, "all")
    return project


def planned_jobs(project, *args) -> set[tuple[str, str]]:
    """(rule, recipe or '') of every job `snakemake -n` would run."""
    out = snakemake(project, "all", "-n", *args)
    if "Nothing to be done" in out:
        return set()
    jobs = set()
    for block in re.split(r"\n(?=rule \w+:)", out)[1:]:
        rule = block.split(":", 1)[0].split()[1]
        recipe = re.search(r"recipe=([^,\s]+)", block)
        jobs.add((rule, recipe.group(1) if recipe else ""))
    return jobs


@pytest.fixture
def copy(finished, tmp_path):
    """A copy of the finished project in another folder (times kept): moving a project must not
    rerun anything."""
    dst = tmp_path / "moved"
    shutil.copytree(finished, dst, symlinks=True)
    return dst


@pytest.mark.slow
def test_a_moved_project_has_nothing_to_do(copy):
    assert planned_jobs(copy) == set()


@pytest.mark.slow
def test_editing_a_baseline_reruns_only_that_model(copy):
    path = copy / "baselines" / "embed.py"
    path.write_text(path.read_text() + "\n# edited\n")
    assert planned_jobs(copy) == {("train", "embed"), ("evaluate", "embed"), ("tables", ""), ("paper_table", ""), ("plots_ptb", ""), ("claims", ""), ("summary", ""), ("task_page", ""), ("all", "")}


@pytest.mark.slow
def test_editing_shared_model_code_reruns_its_users(copy):
    path = copy / "della" / "models" / "vae.py"
    path.write_text(path.read_text() + "\n# edited\n")
    assert {job for job in planned_jobs(copy) if job[0] == "train"} == {("train", "lm"), ("train", "embed")}


@pytest.mark.slow
def test_adding_a_baseline_file_reruns_nothing(copy):
    (copy / "baselines" / "embed_tanh.py").write_text(
        "import torch\n\nfrom baselines.embed import EmbedVAE\nfrom della.models.registry import register_model\n\n\n"
        '@register_model("embed-tanh")\nclass EmbedTanhVAE(EmbedVAE):\n'
        "    def latent_embedding(self, z):\n        return torch.tanh(super().latent_embedding(z))\n")
    assert planned_jobs(copy) == set()


@pytest.mark.slow
def test_changing_a_data_file_reruns_the_task(copy):
    path = copy / "tiny-data" / "ptb" / "ptb.test.txt"
    path.write_text(path.read_text() + "a new test sentence\n")
    assert planned_jobs(copy) == {("prepare_data", ""), ("tokenizer", ""), ("train", "lm"), ("train", "embed"),
                                  ("evaluate", "lm"), ("evaluate", "embed"), ("tables", ""), ("paper_table", ""), ("plots_ptb", ""), ("claims", ""), ("summary", ""), ("task_page", ""), ("all", "")}


@pytest.mark.slow
def test_changing_an_evaluate_value_reruns_evaluation_only(copy):
    assert planned_jobs(copy, "--config", "evaluate={iw_samples: 3}") == {
        ("evaluate", "lm"), ("evaluate", "embed"), ("tables", ""), ("paper_table", ""), ("plots_ptb", ""), ("claims", ""), ("summary", ""), ("task_page", ""), ("all", "")}


@pytest.mark.slow
def test_an_evaluate_change_evaluates_anew_without_retraining(copy):
    """The train job's stamped evaluation no longer matches: the evaluate job evaluates itself with
    the new value, and model.pt is not touched."""
    run_dir = copy / "results-rerun" / "runs" / "ptb" / "embed" / "seed0"
    model_mtime = (run_dir / "model.pt").stat().st_mtime_ns
    before = (run_dir / "metrics.json").read_bytes()
    snakemake(copy, "all", "--config", "evaluate={iw_samples: 3}")
    log = (copy / "results-rerun" / "logs" / "evaluate" / "ptb" / "embed" / "seed0.log").read_text()
    assert "evaluating anew: no stamped evaluation from the train job" in log  # the first evaluate job took it
    assert (run_dir / "model.pt").stat().st_mtime_ns == model_mtime
    assert (run_dir / "metrics.json").read_bytes() != before


@pytest.mark.slow
def test_editing_the_evaluation_code_reruns_evaluation_only(copy):
    path = copy / "della" / "evaluation" / "evaluate.py"
    path.write_text(path.read_text() + "\n# edited\n")
    assert planned_jobs(copy) == {("evaluate", "lm"), ("evaluate", "embed"), ("tables", ""), ("paper_table", ""),
                                  ("plots_ptb", ""), ("claims", ""), ("summary", ""), ("task_page", ""), ("all", "")}


@pytest.mark.slow
def test_changing_a_train_value_of_one_recipe_reruns_that_recipe(copy):
    config = yaml.safe_load((copy / "config" / "rerun.yaml").read_text())
    config["recipes"]["embed"] = {"model": "embed", "train": {"lr": 0.001}}
    (copy / "config" / "rerun.yaml").write_text(yaml.safe_dump(config))
    assert planned_jobs(copy) == {("train", "embed"), ("evaluate", "embed"), ("tables", ""), ("paper_table", ""), ("plots_ptb", ""), ("claims", ""), ("summary", ""), ("task_page", ""), ("all", "")}


@pytest.mark.slow
def test_a_failing_job_shows_its_error_on_the_console(copy):
    """profiles/default (show-failed-logs): the message naming the file and line reaches the console."""
    path = copy / "tiny-data" / "ptb" / "ptb.valid.txt"
    path.write_bytes(path.read_bytes() + b"bad\x00line\n")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "all", "--configfile",
                           "config/rerun.yaml"], cwd=copy, capture_output=True, text=True, timeout=900)
    assert proc.returncode != 0
    assert "ptb/ptb.valid.txt, line 9: NUL byte" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_report_command_of_the_readme(copy, tmp_path):
    """README: `snakemake --report report.html` with the run's config options."""
    snakemake(copy, "--report", str(tmp_path / "report.html"))
    assert (tmp_path / "report.html").stat().st_size > 10_000


# -- issue 20 ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_changing_checkpoint_every_reruns_nothing(copy):
    """Item 7: when state is saved does not change what is trained; nor does how often a job prints its
    progress (issue 21's progress_seconds: both are NOT_RESULT_SHAPING)."""
    assert planned_jobs(copy, "--config", "train={checkpoint_every: 7}") == set()
    assert planned_jobs(copy, "--config", "progress_seconds=5") == set()


@pytest.mark.slow
def test_an_extra_file_in_a_data_folder_reruns_nothing(copy):
    """Item 7: the data checksums cover only the files the task's reader reads."""
    (copy / "tiny-data" / "ptb" / "README.md").write_text("notes on this copy of PTB\n")
    (copy / "tiny-data" / "ptb" / ".ptb.train.txt.swp").write_bytes(b"\x00editor swap file")
    assert planned_jobs(copy) == set()


@pytest.mark.slow
def test_a_dry_run_writes_nothing(copy):
    """Item 8: `snakemake -n` (and any invocation that runs no job) leaves the results folder alone."""
    planned_jobs(copy, "--config", "results_dir=results-dry")
    assert not (copy / "results-dry").exists(), sorted(str(p) for p in (copy / "results-dry").rglob("*"))


@pytest.mark.slow
def test_each_run_records_the_config_that_produced_it(copy):
    """Item 8: the run folder's config.yaml is the config its results came from (written by the
    jobs, so an evaluate change that reruns evaluation updates it), and the tables list the configs
    of the runs they were built from."""
    snakemake(copy, "all", "--config", "evaluate={iw_samples: 3}")
    run_dir = copy / "results-rerun" / "runs" / "ptb" / "embed" / "seed0"
    recorded = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert recorded["task"] == "ptb" and recorded["recipe"] == "embed" and recorded["seed"] == 0
    assert recorded["run"]["evaluate"]["iw_samples"] == 3 and recorded["run"]["train"]["epochs"] == 1
    assert recorded["data"]["data_root"] == "tiny-data"
    tables = yaml.safe_load((copy / "results-rerun" / "tables" / "configs.yaml").read_text())
    assert tables["runs"]["ptb/embed/seed0"] == recorded and set(tables["runs"]) == {"ptb/lm/seed0", "ptb/embed/seed0"}


@pytest.mark.slow
def test_no_result_file_holds_an_absolute_path(finished):
    """Item 9: with a data_root, results (metrics, info, tables, paper tables, plots) hold paths
    relative to the project root, so two checkouts give the same bytes (.della/finished.yaml too: the
    config files of the finished run are recorded relative to the project)."""
    results = finished / "results-rerun"
    needles = {str(finished).encode(), str(finished.resolve()).encode()}
    holding = [str(p.relative_to(results)) for p in results.rglob("*")
               if p.is_file() and not str(p.relative_to(results)).startswith(("logs/", "benchmarks/"))
               and any(n in p.read_bytes() for n in needles)]
    assert holding == []


def test_a_job_that_runs_again_names_what_changed():
    """Snakemake's rerun reason names a hash ("Params have changed ... code=3f2a..."); the train job's
    first line names the changed settings and files (della/provenance.py describe_changes)."""
    from della.provenance import describe_changes

    old = {"run": {"train": {"lr": 0.001, "steps": 1000}}, "code": {"della/models/della.py": "a", "della/io.py": "b"}}
    new = {"run": {"train": {"lr": 0.002, "steps": 1000}}, "code": {"della/models/della.py": "c", "della/io.py": "b",
                                                                    "della/progress.py": "d"}}
    assert describe_changes(old, new) == ["train.lr 0.001 -> 0.002", "della/models/della.py changed",
                                          "now imports della/progress.py"]
    assert describe_changes(new, new) == []


@pytest.mark.slow
def test_the_console_names_the_edited_file(copy):
    path = copy / "baselines" / "embed.py"
    path.write_text(path.read_text() + "\n# edited\n")
    out = snakemake(copy, "all")
    assert "  ptb/embed/seed0  trains again: baselines/embed.py changed" in out
    assert "ptb/lm/seed0  trains again" not in out
