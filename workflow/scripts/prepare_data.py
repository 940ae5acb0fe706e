"""Snakemake script: write results/data/{task}/{train,valid,test}.jsonl and info.json."""
import json
import sys
from pathlib import Path

REPO = Path(snakemake.scriptdir).resolve().parents[1]  # noqa: F821
sys.path.insert(0, str(REPO))

from della.progress import job_console  # noqa: E402

with job_console(snakemake, "data"):  # noqa: F821
    from della.data.readers import prepare_task
    from della.paths import resolve_path, shown_path
    from della.progress import DONE, say

    params = snakemake.params  # noqa: F821
    paths = prepare_task(
        snakemake.wildcards.task,  # noqa: F821
        Path(snakemake.output.train).parent,  # noqa: F821
        # a relative data_root resolves against the project root (README, Configs)
        data_root=None if params.data_root is None else resolve_path(params.data_root, REPO),
        data_root_shown=shown_path(params.data_root, REPO),  # no absolute path in info.json
        seed=params.seed,
        max_examples=params.data.get("max_examples"),
        synthetic_sizes=params.data.get("synthetic_sizes"),
        # synthetic: this task has no file under data_root and the config lets its twin stand in (marked)
        missing={snakemake.wildcards.task: params.missing},  # noqa: F821
    )
    info = json.loads(paths["info"].read_text())
    counts = ", ".join(f"{split} {info['counts'][split]}" for split in ("train", "valid", "test"))
    say(DONE, f"data: {info['data_kind']} ({counts})")
