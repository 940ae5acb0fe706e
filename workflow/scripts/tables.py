"""Snakemake script: collect every metrics.json into the result tables (Markdown, HTML, CSV)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # noqa: F821

from della.progress import job_console  # noqa: E402

with job_console(snakemake, "tables", run="tables"):  # noqa: F821
    from della.progress import DONE, say
    from della.reporting.tables import write_tables

    out = Path(snakemake.output.md[0]).parent  # noqa: F821
    write_tables(snakemake.input.metrics, out, info_files=snakemake.input.info)  # noqa: F821
    say(DONE, f"{out}/{{unconditional,conditional}}.{{md,html,csv}}")
