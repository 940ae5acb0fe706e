"""Snakemake script: write results/data/{task}/{train,valid,test}.jsonl and info.json."""
import sys
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake object)
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # noqa: F821

from della.data.readers import prepare_task  # noqa: E402
from della.paths import resolve_path, shown_path  # noqa: E402

REPO = Path(snakemake.scriptdir).resolve().parents[1]  # noqa: F821
data = snakemake.params.data  # noqa: F821
prepare_task(
    snakemake.wildcards.task,  # noqa: F821
    Path(snakemake.output.train).parent,  # noqa: F821
    # a relative data_root resolves against the project root (README, Configs)
    data_root=(None if snakemake.params.data_root is None  # noqa: F821
               else resolve_path(snakemake.params.data_root, REPO)),  # noqa: F821
    data_root_shown=shown_path(snakemake.params.data_root, REPO),  # noqa: F821 (no absolute path in info.json)
    seed=snakemake.params.seed,  # noqa: F821
    max_examples=data.get("max_examples"),
    synthetic_sizes=data.get("synthetic_sizes"),
    missing=data.get("missing", "error"),  # synthetic: a task absent from data_root gets its twin, marked
)
