"""Stand-ins are explicit (issue 21): a task with no file under the given data_root is refused before any
job runs unless the config opts that task in to its synthetic twin (``data.missing: {task: synthetic}``);
the refusal names the task, the files looked for and, for a data_root one level off, the folder meant;
every stand-in is announced at start-up and marked in every table row."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from della.config import ConfigError, check_data, validate_config
from della.data.readers import SYNTHETIC_STAND_IN, locate_task, prepare_task
from della.reporting.tables import task_label

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture
def data_root(tmp_path):
    """ptb's files and the Shen et al. Yelp stand-in; no CNN/DM."""
    root = tmp_path / "data"
    (root / "ptb").mkdir(parents=True)
    for split in ("train", "valid", "test"):
        (root / "ptb" / f"ptb.{split}.txt").write_text(" the market fell \n stocks rose n points \n" * 10)
    (root / "yelp_sentiment").mkdir()
    for split in ("train", "dev", "test"):
        for label in (0, 1):
            (root / "yelp_sentiment" / f"sentiment.{split}.{label}").write_text("good food .\nbad service .\n" * 10)
    return root


def config_with(data_root, tasks, missing=None):
    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    config.update(data_root=str(data_root), tasks=tasks)
    if missing is not None:
        config["data"]["missing"] = missing
    return config


def test_locate_task_tells_real_stand_in_and_missing(data_root):
    assert locate_task("ptb", data_root).kind == "real"
    assert locate_task("yelp", data_root).kind == "stand-in data set"
    assert locate_task("cnndm", data_root).kind == "missing"
    assert locate_task("ptb", None).kind == "synthetic twin"


def test_data_root_one_level_too_deep_is_refused_naming_the_folder_meant(data_root):
    """The issue's case: data_root=../shared/data/ptb (one level too deep) trained on the twin, exit 0."""
    config = config_with(data_root / "ptb", ["ptb"])
    with pytest.raises(ConfigError) as err:
        check_data(config, REPO)
    message = str(err.value)
    assert "has no file of task 'ptb' (looked for ptb/ptb.*.txt)" in message
    assert f"did you mean data_root: {data_root}? it holds ptb" in message
    assert "--config data='{missing: {ptb: synthetic}}'" in message


def test_a_missing_task_is_refused_unless_opted_in_per_task(data_root):
    with pytest.raises(ConfigError, match="has no file of task 'cnndm'"):
        check_data(config_with(data_root, ["ptb", "cnndm"]), REPO)
    with pytest.raises(ConfigError, match="has no file of task 'cnndm'"):  # opting another task in is not enough
        check_data(config_with(data_root, ["ptb", "cnndm"], {"quora": "synthetic"}), REPO)
    kinds = {loc.task: loc.kind for loc in check_data(config_with(data_root, ["ptb", "yelp", "cnndm"],
                                                                  {"cnndm": "synthetic"}), REPO)}
    assert kinds == {"ptb": "real", "yelp": "stand-in data set", "cnndm": "missing"}


def test_the_old_global_spelling_is_refused_with_the_new_one():
    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    config["data"]["missing"] = "synthetic"
    with pytest.raises(ConfigError, match=r"data.missing': 'synthetic' is no longer accepted.*\{cnndm: synthetic\}"):
        validate_config(config, SCHEMA)
    config["data"]["missing"] = {"cnnd": "synthetic"}
    with pytest.raises(ConfigError, match="data.missing"):
        validate_config(config, SCHEMA)


def test_every_table_row_of_a_stand_in_is_marked(data_root, tmp_path):
    paths = prepare_task("cnndm", tmp_path / "out", data_root=data_root, missing={"cnndm": "synthetic"},
                         synthetic_sizes={"train": 20, "valid": 5, "test": 5})
    info = json.loads(paths["info"].read_text())
    assert info["data_kind"] == SYNTHETIC_STAND_IN
    assert task_label("cnndm", info) == "cnndm [SYNTHETIC stand-in]"
    yelp = json.loads(prepare_task("yelp", tmp_path / "yelp", data_root=data_root)["info"].read_text())
    assert task_label("yelp", yelp) == "yelp [stand-in data set]"
    ptb = json.loads(prepare_task("ptb", tmp_path / "ptb", data_root=data_root)["info"].read_text())
    assert ptb["data_kind"] == "real" and task_label("ptb", ptb) == "ptb"


def snakemake_n(cwd, *args):
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_start_up_refuses_or_announces_before_any_job(data_root):
    """Through Snakemake: the refusal is the first line, exit 1, nothing planned; opted in, the start-up
    summary says what data every task uses."""
    proc = snakemake_n(REPO, "all", "--configfile", "config/smoke.yaml", "--config", f"data_root={data_root / 'ptb'}",
                       "tasks=[ptb]")
    assert proc.returncode == 1
    first = next(line for line in proc.stderr.splitlines() if not line.startswith("Using workflow specific profile"))
    assert first == "DELLA-Bench config error: invalid config:" and "rule train" not in proc.stdout
    assert "did you mean data_root:" in proc.stderr
    proc = snakemake_n(REPO, "all", "--configfile", "config/smoke.yaml", "--config", f"data_root={data_root}",
                       "tasks=[ptb,quora]", "data={missing: {quora: synthetic}}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"ptb    real data ({data_root}/ptb/: 3 files)" in proc.stderr
    assert f"quora  SYNTHETIC stand-in: no file of quora under {data_root}" in proc.stderr
