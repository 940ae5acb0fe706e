"""Snakemake script: the figures of one task (della/reporting/plots.py)."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # noqa: F821

from della.progress import job_console  # noqa: E402

params = snakemake.params  # noqa: F821
with job_console(snakemake, "plots", run=params.task):  # noqa: F821
    from della.data.tasks import TASKS
    from della.progress import DONE, say
    from della.reporting.plots import task_plots

    spec = params.spec
    info = json.loads(Path(snakemake.input.info).read_text())  # noqa: F821
    written = task_plots(params.task, Path(params.runs_dir), spec["recipes"], spec["latent"], spec["della"],
                         params.seeds, Path(params.out_dir), factor_entropy=info.get("factor_entropy_nats"),
                         conditional=TASKS[params.task].conditional)
    print(*[str(p) for p in written], sep="\n")
    figures = sorted({p.stem for p in written})
    say(DONE, f"figures: {params.out_dir}/{{{','.join(figures)}}}.{{png,pdf}}")
