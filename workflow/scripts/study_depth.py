"""Snakemake script: the depth study's table and figure (della/reporting/depth_study.py)."""
import json
import sys
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # noqa: F821

from della.reporting.depth_study import write_depth_study  # noqa: E402

info = json.loads(Path(snakemake.input.info).read_text())  # noqa: F821
source = "synthetic twin" if info.get("source") == "synthetic" else f"real data: {info.get('source')}"
write_depth_study(snakemake.input.metrics, Path(snakemake.output.csv).parent, snakemake.params.task,  # noqa: F821
                  source)
print(Path(snakemake.output.table).read_text())  # noqa: F821
