"""Snakemake script: collect every metrics.json into the comparison tables, and every run's
config.yaml into tables/configs.yaml (the configs the tables were built from)."""
import sys
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # noqa: F821

import yaml  # noqa: E402

from della.io import atomic_write_text  # noqa: E402
from della.reporting.tables import write_tables  # noqa: E402

out = Path(snakemake.output[0]).parent  # noqa: F821
write_tables(snakemake.input.metrics, out, paper_csv=snakemake.input.paper,  # noqa: F821
             info_files=snakemake.input.info)  # noqa: F821

runs_dir = Path(snakemake.input.configs[0]).parents[3] if snakemake.input.configs else None  # noqa: F821
runs = {str(Path(path).parent.relative_to(runs_dir)): yaml.safe_load(Path(path).read_text())
        for path in snakemake.input.configs}  # noqa: F821
atomic_write_text(snakemake.output.configs,  # noqa: F821
                  "# The config of every run these tables were built from (each run's config.yaml).\n"
                  + yaml.safe_dump({"runs": runs}, sort_keys=False))
