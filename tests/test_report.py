"""The README's report command works as written for any finished run (issue 21): after a run restricted
with --config, `snakemake --report report.html --configfile config/smoke.yaml` (no restriction: the README
does not repeat the run's options) reports that run — the config it finished with, from
results_dir/.della/finished.yaml — and the report holds the tables as HTML, the figures, the effective
config, every task's samples and data notes."""
import base64
import re

import pytest

from test_workflow import copy_project, snakemake


def embedded_files(html: str) -> dict[str, bytes]:
    """The files Snakemake's HTML report embeds (``data_uri`` entries: base64 with their file name)."""
    files = {}
    for name, payload in re.findall(r'"data_uri": "data:[^;]+;charset=utf8;filename=([^;]+);base64,([^"]+)"', html):
        files[name] = base64.b64decode(payload)
    return files


@pytest.fixture(scope="module")
def restricted_run(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("report") / "project")
    snakemake(project, "all", "--configfile", "config/smoke.yaml", "--config", "tasks=[ptb]", "models=[lm,della]")
    return project


@pytest.mark.slow
def test_report_command_as_written_after_a_restricted_run(restricted_run):
    proc = snakemake(restricted_run, "--report", "report.html", "--configfile", "config/smoke.yaml")
    out = proc.stdout + proc.stderr
    assert "does not exist" not in out and out.count("Missing metadata") == 0
    files = embedded_files((restricted_run / "report.html").read_text(errors="replace"))
    for name in ("unconditional.html", "conditional.html", "table8.html", "summary.html", "config.html", "ptb.html",
                 "ppl_vs_kl.png", "kl_over_training.png", "della_kl_per_layer.png", "bleu_vs_selfbleu.png"):
        assert name in files, name
    assert b"<table>" in files["unconditional.html"] and b"PPL (layer sum)" in files["unconditional.html"]
    config = files["config.html"].decode()
    # the effective config of every run of the restricted invocation (tables/configs.yaml), and no other
    assert "ptb/lm/seed0 (from" in config and "ptb/della/seed0 (from" in config and "recipe: della" in config
    assert "quora/" not in config
    task = files["ptb.html"].decode()
    assert "data: synthetic twin" in task and "synthetic offline demo data" in task  # data notes
    assert "della: first 6 samples (decoding sample)" in task and "lm: first 6 samples" in task


@pytest.mark.slow
def test_report_without_a_finished_run_says_so(tmp_path):
    project = copy_project(tmp_path / "project")
    proc = snakemake(project, "--report", "report.html", "--configfile", "config/smoke.yaml", check=False)
    assert proc.returncode == 1
    assert "DELLA-Bench config error: no finished run to report in results-smoke/" in proc.stderr
