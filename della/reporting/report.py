"""Snakemake's HTML report of a finished run (``snakemake --report report.html``).

Snakemake builds a report from the DAG of the config it is given; given another config than the
run's (a run restricted with ``--config tasks=[ptb]``, then ``--report`` without it) it looks for
files that run never made and fails. So the run that finishes ``all`` records its config in
``results_dir/.della/finished.yaml`` (``record_finished_run``, from ``onsuccess``), and in report mode
``workflow/rules/common.smk`` loads that record (``finished_run_config``): the README's report command
works as written after any finished run. ``--configfile`` still chooses which results folder (the
config's ``results_dir``) is reported.

``results_dir/.della/`` is this checkout's bookkeeping, not a result (like ``logs/`` and
``benchmarks/``): the record keeps the config as given, an absolute ``data_root`` included, because
the report's DAG is checked against it; the config files are recorded relative to the project.

What the report holds (each a ``report()`` output of its rule): every table as HTML
(``della/reporting/html.py``), the figures with their captions, ``summary.html`` (the README results
block), ``config.html`` (the config the run used) and one page per task with its data notes and the
first samples of every recipe (``report/{task}.html``).
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

FINISHED = Path(".della") / "finished.yaml"


class NoFinishedRun(Exception):
    pass


def record_finished_run(results_dir, config: dict, config_files, overrides: dict, root) -> Path:
    """Write ``results_dir/.della/finished.yaml``: the config of the invocation that just finished
    ``all`` (and the files and overrides it came from). Snakemake makes the config files' paths
    absolute; they are recorded as della/paths.py ``shown_path`` shows them (relative to the project
    ``root``), so that two checkouts give the same bytes here too."""
    from della.io import atomic_write_text
    from della.paths import shown_path

    path = Path(results_dir) / FINISHED
    record = {"config_files": [shown_path(f, root) for f in config_files], "overrides": dict(overrides or {}),
              "config": json.loads(json.dumps(dict(config), default=str))}
    atomic_write_text(path, "# the config of the last `snakemake all` that finished here (for --report)\n"
                      + yaml.safe_dump(record, sort_keys=False))
    return path


def finished_run_config(results_dir) -> dict:
    """The config recorded by the last run that finished in ``results_dir`` (relative to the working
    directory, as every output path)."""
    from della.config import ConfigError

    path = Path(results_dir) / FINISHED
    if not path.is_file():
        raise ConfigError(f"no finished run to report in {results_dir}/ (no {FINISHED}): run `snakemake --cores 2 all` "
                          "with the same --configfile first; the report describes the last run that finished there")
    record = yaml.safe_load(path.read_text())
    return record["config"]
