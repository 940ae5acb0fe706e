"""Snakemake script: the results summary (summary.md / .html, the README's results block) and the
report's config page (della/reporting/summary.py)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # noqa: F821

from della.progress import job_console  # noqa: E402

with job_console(snakemake, "summary", run="summary"):  # noqa: F821
    from della.progress import DONE, say
    from della.reporting.summary import write_config_page, write_summary

    out, params = snakemake.output, snakemake.params  # noqa: F821
    write_summary(snakemake.input.metrics, snakemake.input.info, {"results_dir": params.results_dir},  # noqa: F821
                  params.config_files, out.md, out.html, sections=snakemake.input.sections)  # noqa: F821
    write_config_page(snakemake.input.configs, params.config_files, out.config)  # noqa: F821
    say(DONE, f"{out.md} (the README's results block: python -m della.reporting.readme)")
