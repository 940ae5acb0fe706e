# Shared set-up: validate the config (JSON schema, then names against the model registry) before
# any job runs, and helpers that hash source files into params so that editing the code under
# della/ or baselines/ reruns the jobs it affects.
import hashlib
import sys
from pathlib import Path

import yaml

REPO = Path(workflow.basedir)
sys.path.insert(0, str(REPO))  # `import della` also works without `pip install -e .`

from della.config import (TASK_NAMES, ConfigError, check_paths, load_workflow_config, resolve_run,  # noqa: E402
                          runs_of, validate_config)

# No `configfile:` directive: a profile given with --configfile is used alone (not layered over
# config/config.yaml), and --config values are retyped and merged into their sections.
try:
    _loaded = load_workflow_config(REPO, workflow.config_settings.configfiles, workflow.config_settings.config)
    validate_config(_loaded, REPO / "workflow" / "schemas" / "config.schema.yaml")
    check_paths(_loaded, REPO)
except ConfigError as err:  # the message first on the console, without a traceback
    print(f"DELLA-Bench config error: {err}", file=sys.stderr)
    sys.exit(1)
config.clear()
config.update(_loaded)

R = config["results_dir"]


def write_effective_config():
    """results_dir/config.effective.yaml: the config this invocation runs with (rewritten only when
    it changes)."""
    path = Path(R) / "config.effective.yaml"
    text = ("# The effective config of the last snakemake invocation (files + --config overrides).\n"
            + yaml.safe_dump(dict(config), sort_keys=False))
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


write_effective_config()
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
