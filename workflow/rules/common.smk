# Shared set-up: validate the config (JSON schema, then names against the model registry) before
# any job runs, and helpers that hash source files into params so that editing the code under
# della/ or baselines/ reruns the jobs it affects.
import sys
from pathlib import Path

REPO = Path(workflow.basedir)
sys.path.insert(0, str(REPO))  # `import della` also works without `pip install -e .`

from della.config import (TASK_NAMES, ConfigError, check_claims, check_data, check_paths,  # noqa: E402
                          load_workflow_config, resolve_run, runs_of, study_claims_spec, validate_config)
from della.config import run_config as config_run_config  # noqa: E402
from della.config import run_spec as config_run_spec, train_spec as config_train_spec  # noqa: E402
from della.data.readers import missing_policy  # noqa: E402
from della.paths import resolve_path, shown_path  # noqa: E402 (shown_path: how results name a path)
from della.reporting.console import invocation, is_inspecting  # noqa: E402
from della.reporting.report import finished_run_config  # noqa: E402

# The command line as Snakemake parsed it: the Snakefile is read before Snakemake tells it the targets
INVOCATION = invocation()
TARGETS = set(INVOCATION.targets) if INVOCATION is not None else set()
DRY_RUN = bool(INVOCATION is not None and INVOCATION.dryrun)
REPORT = bool(INVOCATION is not None and INVOCATION.report)
# a run that trains (not a dry run, a report, an unlock...): the only kind that needs the hub
REAL_RUN = workflow.is_main_process and not DRY_RUN and not is_inspecting()

# No `configfile:` directive: a profile given with --configfile is used alone (not layered over
# config/config.yaml), and --config values are retyped and merged into their sections.
try:
    _loaded = load_workflow_config(REPO, workflow.config_settings.configfiles, workflow.config_settings.config)
    if REPORT:  # `snakemake --report FILE`: the report of the last run that finished in this results_dir
        _loaded = finished_run_config(_loaded["results_dir"])
    validate_config(_loaded, REPO / "workflow" / "schemas" / "config.schema.yaml")
    # `snakemake download --config data_root=PATH` creates data_root, so it need not exist yet
    check_paths(_loaded, REPO, data_root_created="download" in TARGETS, check_hub=REAL_RUN)
    # the claims file (config/claims.yaml) and, when its target is asked for, the claims study's data
    check_claims(_loaded, REPO, study_requested="study_claims" in TARGETS)
    # the studies' tasks, when their targets are asked for (they may be outside `tasks`)
    _study_tasks = ([(_loaded.get("study_depth") or {}).get("task", "ptb")] if "study_depth" in TARGETS else []) + (
        [study_claims_spec(_loaded)["task"]] if "study_claims" in TARGETS else [])
    # what data each task will use; a task with none under data_root is refused unless opted in (data.missing)
    DATA_LOCATIONS = ([] if "download" in TARGETS else
                      check_data(_loaded, REPO, list(dict.fromkeys(_loaded["tasks"] + _study_tasks))))
except ConfigError as err:  # the message first on the console, without a traceback
    print(f"DELLA-Bench config error: {err}", file=sys.stderr)
    sys.exit(1)
config.clear()
config.update(_loaded)

R = config["results_dir"]


TASKS = config["tasks"]
SEEDS = config["seeds"]


wildcard_constraints:
    task="|".join(TASK_NAMES),  # every task: the depth study may use one outside `tasks`
    recipe="[A-Za-z0-9_.+-]+",
    seed=r"\d+",


from della.data.readers import task_files  # noqa: E402
from della.provenance import code_hash, data_checksums, run_code_hash  # noqa: E402
from della.models.registry import get_model_class  # noqa: E402

# Code hashes (della/provenance.py): each rule's script and everything it imports from della/ and
# baselines/, plus the file of the run's model and what it imports. Editing a baseline reruns only
# the jobs of the models defined in it; a new baseline file reruns nothing that exists.
CODE_DATA = code_hash(REPO, "workflow/scripts/prepare_data.py")
CODE_TOKENIZER = code_hash(REPO, "workflow/scripts/train_tokenizer.py")
CODE_TABLES = code_hash(REPO, "workflow/scripts/tables.py")


def run_code(script, recipe, stop=()):
    return run_code_hash(REPO, script, get_model_class(resolve_run(config, recipe).model), stop=stop)


def train_spec(recipe):
    """Everything that shapes training (della/config.py): a change to it reruns the training job."""
    return config_train_spec(config, recipe)


def run_spec(recipe):
    """Everything that defines a run's evaluation (della/config.py)."""
    return config_run_spec(config, recipe)


def task_data_files(task):
    """sha256 of each upstream file the reader of ``task`` reads under data_root (none for the
    synthetic demo): a changed data file reruns prepare_data and everything after it; another file
    in the folder (a README, an editor's swap file) reruns nothing. The digests are cached by size
    and mtime in Snakemake's own folder, not under results_dir: parsing the Snakefile (a dry run, a
    report, a refused invocation) writes nothing there."""
    if config["data_root"] is None:
        return {}
    root = resolve_path(config["data_root"], REPO)
    return data_checksums(root, task_files(task, root), cache_path=Path(".snakemake") / "della-checksum-cache.json")


RUN_DIR = R + "/runs/{task}/{recipe}/seed{seed}"
METRICS = [RUN_DIR.format(task=task, recipe=recipe, seed=seed) + "/metrics.json"
           for task, recipe in runs_of(config) for seed in SEEDS]
# factors: the factor probe per generating factor (synthetic twins; della/reporting/tables.py)
TABLE_KINDS = ["unconditional", "conditional", "factors"]
TABLES = expand(R + "/tables/{kind}.{ext}", kind=TABLE_KINDS, ext=["csv", "md", "html"])
# Markdown files the results summary (R/summary.md, the README's results block) includes after its
# headline tables, in order; another rule file adds its own: SUMMARY_SECTIONS.append(R + "/claims.md")
SUMMARY_SECTIONS = []
