"""Snakemake script: one task's page of the report, its data notes and the first samples of every recipe
(della/reporting/summary.py)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # noqa: F821

from della.progress import job_console  # noqa: E402

with job_console(snakemake, "report page"):  # noqa: F821
    from della.reporting.summary import write_task_page

    samples, metrics = snakemake.input.samples, snakemake.input.metrics  # noqa: F821
    runs = {Path(s).parents[1].name: (Path(s), Path(m)) for s, m in zip(samples, metrics)}
    write_task_page(snakemake.wildcards.task, snakemake.input.info, runs, snakemake.output[0])  # noqa: F821
