"""Snakemake script: the depth study's table and figure (della/reporting/depth_study.py)."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # noqa: F821

from della.progress import job_console  # noqa: E402

with job_console(snakemake, "study_depth", run="study_depth"):  # noqa: F821
    from della.progress import DONE, say
    from della.reporting.depth_study import write_depth_study
    from della.reporting.tables import task_marks

    info = json.loads(Path(snakemake.input.info).read_text())  # noqa: F821
    source = ", ".join(task_marks(info)) or "real data"  # the task's data marks (della/reporting/tables.py)
    write_depth_study(snakemake.input.metrics, Path(snakemake.output.csv).parent, snakemake.params.task,  # noqa: F821
                      source)
    print(Path(snakemake.output.table).read_text())  # noqa: F821
    say(DONE, f"{snakemake.output.table}, {snakemake.output.png}")  # noqa: F821
