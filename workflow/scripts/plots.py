"""Snakemake script: every figure of every task (della/reporting/plots.py)."""
import json
import sys
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # noqa: F821

from della.reporting.plots import task_plots  # noqa: E402

params = snakemake.params  # noqa: F821
for info_path in snakemake.input.info:  # noqa: F821
    task = Path(info_path).parent.name
    spec = params.specs[task]
    if not spec["recipes"]:
        continue
    info = json.loads(Path(info_path).read_text())
    written = task_plots(task, Path(params.runs_dir), spec["recipes"], spec["latent"], spec["della"], params.seeds,
                         Path(params.out_dir) / task, factor_entropy=info.get("factor_entropy_nats"))
    print(task, *[str(p) for p in written], sep="\n  ")
