"""Snakemake script: collect every metrics.json into the comparison tables."""
import sys
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # noqa: F821

from della.reporting.tables import write_tables  # noqa: E402

out = Path(snakemake.output[0]).parent  # noqa: F821
write_tables(snakemake.input.metrics, out, paper_csv=snakemake.input.paper,  # noqa: F821
             info_files=snakemake.input.info)  # noqa: F821
