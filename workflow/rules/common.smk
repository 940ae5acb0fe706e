# Shared set-up: validate the config (JSON schema, then names against the model registry) before
# any job runs, and helpers that hash source files into params so that editing the code under
# della/ or baselines/ reruns the jobs it affects.
import hashlib
import sys
from pathlib import Path

from snakemake.utils import validate

REPO = Path(workflow.basedir)
sys.path.insert(0, str(REPO))  # `import della` also works without `pip install -e .`

validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))

from della.config import TASK_NAMES, check_names, resolve_run, runs_of  # noqa: E402

check_names(config)

R = config["results_dir"]
TASKS = config["tasks"]
SEEDS = config["seeds"]


wildcard_constraints:
    task="|".join(TASK_NAMES),  # every task: the depth study may use one outside `tasks`
    recipe="[A-Za-z0-9_.+-]+",
    seed=r"\d+",


def code_hash(*patterns):
    """sha256 of the source files matching ``patterns`` (relative to the repo): a param that
    changes whenever the code a job runs changes."""
    digest = hashlib.sha256()
    for pattern in patterns:
        for path in sorted(REPO.glob(pattern)):
            digest.update(str(path.relative_to(REPO)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


CODE_DATA = code_hash("della/tasks.py", "della/data.py", "della/synthetic.py")
CODE_TOKENIZER = code_hash("della/tokenizer.py")
# the code every model is made of: a change here reruns training and evaluation
MODEL_CODE = ["della/backbone.py", "della/batch.py", "della/vae.py", "della/registry.py", "della/model.py",
              "della/tokenizer.py", "baselines/*.py"]
CODE_TRAIN = code_hash(*MODEL_CODE, "della/objectives.py", "della/train.py", "della/config.py",
                       "workflow/scripts/train.py")
CODE_EVAL = code_hash(*MODEL_CODE, "della/latent_eval.py", "della/evaluate.py", "della/metrics.py",
                      "della/model_metrics.py", "della/decoding.py", "workflow/scripts/evaluate.py")
CODE_TABLES = code_hash("della/tables.py", "workflow/scripts/tables.py")


def run_spec(recipe):
    """Everything that defines a run, as plain data (so that a change to it reruns the run)."""
    spec = resolve_run(config, recipe)
    return {"recipe": spec.recipe, "model": spec.model, "model_kwargs": spec.model_kwargs,
            "objective": spec.objective.to_dict(), "train": spec.train, "evaluate": spec.evaluate,
            "has_latent": spec.has_latent, "tokenizer": spec.tokenizer}


RUN_DIR = R + "/runs/{task}/{recipe}/seed{seed}"
METRICS = [RUN_DIR.format(task=task, recipe=recipe, seed=seed) + "/metrics.json"
           for task, recipe in runs_of(config) for seed in SEEDS]
TABLES = expand(R + "/tables/{kind}.{ext}", kind=["unconditional", "conditional"], ext=["csv", "md"])
