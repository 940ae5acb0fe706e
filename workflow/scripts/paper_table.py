"""Snakemake script: one of the paper's tables (della/reporting/paper_tables.py) as CSV, Markdown, HTML
and LaTeX (the final summary names them: no terminal line of its own unless it fails)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # noqa: F821

from della.progress import job_console  # noqa: E402

with job_console(snakemake, "paper table"):  # noqa: F821
    from della.reporting.paper_tables import write_paper_table

    out = Path(snakemake.output.csv)  # noqa: F821
    result = write_paper_table(int(snakemake.wildcards.table), snakemake.input.metrics,  # noqa: F821
                               snakemake.input.info, snakemake.input.paper, out.with_suffix(""),  # noqa: F821
                               families=snakemake.params.families)  # noqa: F821
    print(f"{result['title']}: {len(result['frame'])} rows -> {out.with_suffix('')}.{{csv,md,html,tex}}")
