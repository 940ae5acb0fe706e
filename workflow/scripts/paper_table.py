"""Snakemake script: one of the paper's tables (della/reporting/paper_tables.py) as CSV, Markdown and LaTeX."""
import sys
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # noqa: F821

from della.reporting.paper_tables import write_paper_table  # noqa: E402

out = Path(snakemake.output.csv)  # noqa: F821
result = write_paper_table(int(snakemake.wildcards.table), snakemake.input.metrics,  # noqa: F821
                           snakemake.input.info, snakemake.input.paper, out.with_suffix(""))  # noqa: F821
print(f"{result['title']}: {len(result['frame'])} rows -> {out.with_suffix('')}.{{csv,md,tex}}")
