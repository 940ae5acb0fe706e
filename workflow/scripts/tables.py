"""Snakemake script: collect every metrics.json into the result tables (Markdown, HTML, CSV), and
every run's config.yaml into tables/configs.yaml (the configs the tables were built from)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # noqa: F821

from della.progress import job_console  # noqa: E402

with job_console(snakemake, "tables", run="tables"):  # noqa: F821
    import yaml

    from della.io import atomic_write_text
    from della.progress import DONE, say
    from della.reporting.tables import write_tables

    out = Path(snakemake.output.md[0]).parent  # noqa: F821
    write_tables(snakemake.input.metrics, out, info_files=snakemake.input.info)  # noqa: F821

    runs_dir = Path(snakemake.input.configs[0]).parents[3] if snakemake.input.configs else None  # noqa: F821
    runs = {str(Path(path).parent.relative_to(runs_dir)): yaml.safe_load(Path(path).read_text())
            for path in snakemake.input.configs}  # noqa: F821
    atomic_write_text(snakemake.output.configs,  # noqa: F821
                      "# The config of every run these tables were built from (each run's config.yaml).\n"
                      + yaml.safe_dump({"runs": runs}, sort_keys=False))
    say(DONE, f"{out}/{{unconditional,conditional,factors}}.{{md,html,csv}}, {out}/configs.yaml")
