"""Whole-config validation before any job runs (issue 12): the strict schema, recipes validated
after merging, unknown keys with the closest valid key, paths against the project root, complete
profile configs, and `--config` values with their YAML types."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from della.config import ConfigError, check_paths, load_workflow_config, retype_cli_value, validate_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def smoke():
    return yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())


def refused(config) -> str:
    with pytest.raises(ConfigError) as err:
        validate_config(config, SCHEMA)
    return str(err.value)


PROFILES = sorted(p.name for p in (REPO / "config").glob("*.yaml") if p.name != "claims.yaml")


def test_the_profile_list_is_every_shipped_config():
    assert {"config.yaml", "smoke.yaml", "quick.yaml", "real-small.yaml", "paper.yaml", "study-ptb-real.yaml"} <= set(PROFILES)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_config_is_complete_and_valid(profile):
    """Each shipped config passes the checks start-up runs for every target: the schema and the claims
    file with the claims study's recipes (config/quick.yaml once failed there: `all` refused to start)."""
    from della.config import check_claims

    config = load_workflow_config(REPO, [str(REPO / "config" / profile)], {})
    validate_config(config, SCHEMA)
    assert check_claims(config, REPO)  # the claims resolve against this config's recipes


@pytest.mark.parametrize("recipe, key", [
    ({"model": "lm", "train": {"epochs": -1}}, "recipes.x.train.epochs"),
    ({"model": "lm", "train": {"lr": "fast"}}, "recipes.x.train.lr"),
    ({"model": "embed", "model_config": {"dropout": 2.0}}, "recipes.x.model_config.dropout"),
    ({"model": "della", "evaluate": {"decoding": {"strategy": "nucleus"}}}, "recipes.x.evaluate.decoding.strategy"),
    ({"model": "embed", "objective": {"free_bits_mode": "token"}}, "recipes.x.objective.free_bits_mode"),
])
def test_bad_recipe_settings_are_refused_naming_the_key(recipe, key):
    config = smoke()
    config["recipes"]["x"] = recipe
    assert key in refused(config)


def test_unused_recipes_are_validated_too():
    config = smoke()
    config["recipes"]["unused"] = {"model": "lm", "train": {"epochs": 0}}
    assert "recipes.unused.train.epochs" in refused(config)


@pytest.mark.parametrize("where, typo, closest", [
    ((), "trian", "train"),
    (("train",), "epoch", "epochs"),
    (("evaluate", "decoding"), "top_kk", "top_k"),
    (("recipes", "embed+bow"), "objectve", "objective"),
    (("recipes", "embed+bow", "objective"), "bow_wieght", "bow_weight"),
])
def test_unknown_keys_name_the_closest_valid_key(where, typo, closest):
    config = smoke()
    section = config
    for key in where:
        section = section[key]
    section[typo] = 1
    message = refused(config)
    full = ".".join([*where, typo])
    assert f"unknown config key {full!r} (did you mean {closest!r}?)" in message


def test_merged_recipe_is_validated():
    """A recipe whose own keys are fine but whose merge with the top-level section is not."""
    config = smoke()
    config["train"]["lr"] = 0.001
    config["recipes"]["x"] = {"model": "lm", "train": {"lr": None}}
    assert "recipes.x.train.lr" in refused(config)


def test_a_profile_config_must_be_complete():
    config = smoke()
    del config["evaluate"]
    assert "missing config key 'evaluate' (a config file must be complete" in refused(config)


def test_cli_values_get_their_yaml_types():
    assert retype_cli_value(["0", "1", "2"]) == [0, 1, 2]
    assert retype_cli_value({"epochs": "1", "lr": "1e-3", "precision": "bf16", "x": "null", "b": "true"}) == \
        {"epochs": 1, "lr": 1e-3, "precision": "bf16", "x": None, "b": True}


def test_configfile_is_used_alone_and_cli_overrides_merge_into_sections(tmp_path):
    real = REPO / "config" / "real-small.yaml"
    config = load_workflow_config(REPO, [real], {"train": {"epochs": "1"}, "seeds": ["0", "1"]})
    profile = yaml.safe_load(real.read_text())
    assert config["train"] == {**profile["train"], "epochs": 1} and config["seeds"] == [0, 1]
    assert "synthetic_sizes" not in config["data"]  # nothing from config.yaml ...
    assert config.get("recipes") == profile.get("recipes") and "embed+cyclical" not in (config.get("recipes") or {})
    assert load_workflow_config(REPO, [], {})["results_dir"] == "results"  # no --configfile: config.yaml


def test_missing_paths_are_errors_naming_the_key(tmp_path):
    config = smoke()
    config["data_root"] = "no/such/folder"
    config["tokenizer"]["pretrained"] = "./no-such-tokenizer"
    with pytest.raises(ConfigError) as err:
        check_paths(config, REPO)
    assert "'data_root'" in str(err.value) and "'tokenizer.pretrained'" in str(err.value)
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "tokenizer.json").write_text("{}")  # a tokenizer folder must hold tokenizer files
    config = smoke()
    config["tokenizer"]["pretrained"] = "tok"  # relative to the project root, not the cwd
    check_paths(config, tmp_path)
    config["model"]["pretrained"] = "gpt2"  # a hub name is left to transformers
    check_paths(config, tmp_path)


def snakemake_n(*args):
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_bad_recipe_fails_at_start_up_with_the_message_first():
    proc = snakemake_n("--configfile", "config/smoke.yaml", "--config",
                       "recipes={x: {model: lm, train: {epochs: -1}}}", "models=[lm,x]")
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("Using workflow specific profile")]
    first = lines[0]  # the first line after Snakemake's note on the default profile
    assert first.startswith("DELLA-Bench config error")
    assert "recipes.x.train.epochs': -1 is less than the minimum of 1" in proc.stderr


def test_list_and_nested_cli_overrides_plan_the_runs_and_write_nothing(tmp_path):
    """`--config` lists and mappings reach the DAG (three seeds planned); a dry run writes nothing
    under results_dir (issue 20, item 8: each run records its own config when it runs)."""
    proc = snakemake_n("--configfile", "config/smoke.yaml", "--config", "seeds=[0,1,2]", "train={epochs: 1}",
                       "tasks=[ptb]", "models=[lm]", f"results_dir={tmp_path / 'res'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {f"seed{s}" for s in (0, 1, 2)} <= set(re.findall(r"runs/ptb/lm/(seed\d)/model.pt", proc.stdout))
    assert not (tmp_path / "res").exists()


def test_a_model_option_of_the_wrong_type_is_refused_at_start_up():
    proc = snakemake_n("--configfile", "config/smoke.yaml", "--config",
                       "recipes={x: {model: embed, model_config: {options: {bn: 3}}}}", "models=[lm,x]")
    assert proc.returncode != 0
    assert "DELLA-Bench config error" in proc.stderr
    assert "'recipes.x.model_config.options.bn' = 3: expected bool" in proc.stderr


def test_model_options_resolve_from_the_declarations():
    """A recipe's own options are checked and kept; a config-wide option goes only to the models that
    declare it; the model completes the rest with its declared defaults."""
    from della.config import recipe_options
    from della.models.options import declared_options
    from della.models.registry import get_model_class

    config = smoke()
    config["model"]["options"] = {"memory_kv": "separate"}
    config["recipes"]["m"] = {"model": "memory", "model_config": {"options": {"bn": True}}}
    assert recipe_options(config, "m") == {"memory_kv": "separate", "bn": True}
    assert recipe_options(config, "della") == {}  # DELLA has no memory slot
    assert declared_options(get_model_class("della"))["fusion"].default == "lowrank"
    config["model"]["options"] = {"fuson": "add"}
    with pytest.raises(ConfigError, match="'model.options.fuson': no model has this option \\(did you mean 'fusion'"):
        validate_config(config, REPO / "workflow" / "schemas" / "config.schema.yaml")


def test_the_readme_model_options_table_is_generated_from_the_declarations():
    from della.models.options import options_table
    from della.models.registry import _REGISTRY, load_all

    load_all()
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- model-options:start -->\n", 1)[1].split("<!-- model-options:end -->", 1)[0]
    assert block == options_table(dict(_REGISTRY)), "README's Model options table is stale: python -m della.models"


# -- issue 20, item 4: every value that can be wrong is refused before any job runs ----------------

BAD_VALUES = [  # (recipe x, what the message must say)
    ({"model": "embed", "model_config": {"options": {"bm": True}}}, "did you mean 'bn'?"),
    ({"model": "della", "model_config": {"options": {"fuson": "add"}}}, "did you mean 'fusion'?"),
    ({"model": "della", "model_config": {"options": {"fusion": "addd"}}}, "recipes.x.model_config.options.fusion"),
    ({"model": "della", "model_config": {"options": {"bn": True}}}, "recipes.x.model_config.options.bn"),
    ({"model": "embed", "model_config": {"n_embd": 30, "n_head": 4}}, "n_embd = 30 is not a multiple of n_head = 4"),
    ({"model": "embed", "evaluate": {"model_metrics": {"bertscore": "models/roberta-large"}}},
     "recipes.x.evaluate.model_metrics.bertscore"),
    ({"model": "lm", "train": {"valid_metric": "elbo"}}, "recipes.x.train.valid_metric"),
    ({"model": "embed", "model_config": {"n_positions": 16}}, "n_positions = 16 < 26"),
    ({"model": "lm", "evaluate": {"decoding": {"max_new_tokens": 200}}}, "recipes.x.evaluate.decoding.max_new_tokens"),
    ({"model": "embed", "evaluate": {"model_metrics": {"mauve": "config"}}}, "'config' has no config.json"),
    ({"model": "lm", "train": {"grad_accum": 8}}, "fewer than one optimiser step takes (train.grad_accum = 8)"),
    ({"model": "lm", "train": {"devices": 4}}, "make 0 batch(es) of 16 per process"),
    ({"model": "lm", "objective": {"bow_weight": 0.2}}, "recipes.x.objective.bow_weight"),
]


def test_generation_that_just_fits_is_accepted():
    """The prompt and every generated token but the last are fed: 1 + 127 = 128 positions."""
    config = smoke()
    config["recipes"]["x"] = {"model": "lm", "evaluate": {"decoding": {"max_new_tokens": 128}}}
    config["models"], config["tasks"] = ["x"], ["ptb"]
    validate_config(config, SCHEMA)
    config["recipes"]["x"]["evaluate"]["decoding"]["max_new_tokens"] = 129
    assert "max_new_tokens = 129" in refused_at_start_up(config)


def refused_at_start_up(config) -> str:
    with pytest.raises(ConfigError) as err:
        validate_config(config, SCHEMA)
        check_paths(config, REPO)
    return str(err.value)


@pytest.mark.parametrize("recipe, says", BAD_VALUES, ids=[says for _, says in BAD_VALUES])
def test_bad_values_are_refused_naming_the_key(recipe, says):
    config = smoke()
    config["recipes"]["x"] = recipe
    config["models"] = ["x"]
    assert says in refused_at_start_up(config)


def test_a_bad_model_option_stops_snakemake_before_any_job(tmp_path):
    proc = snakemake_n("--configfile", "config/smoke.yaml", "--config", "models=[x]", "tasks=[ptb]",
                       "recipes={x: {model: embed, model_config: {options: {bm: true}}}}",
                       f"results_dir={tmp_path / 'res'}")
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("Using workflow specific profile")]
    assert lines[0].startswith("DELLA-Bench config error"), proc.stderr[-2000:]
    assert "did you mean 'bn'?" in proc.stderr


def test_tokenizer_folder_one_level_too_high_is_refused_naming_the_subfolder(tmp_path):
    """Item 10 of issue 21: it passed start-up and failed in the job with "Couldn't instantiate the
    backend tokenizer", the folder not named."""
    (tmp_path / "tokenizers" / "gpt2").mkdir(parents=True)
    (tmp_path / "tokenizers" / "gpt2" / "vocab.json").write_text("{}")
    config = smoke()
    config["tokenizer"]["pretrained"] = "tokenizers"
    with pytest.raises(ConfigError, match=r"'tokenizer.pretrained': folder 'tokenizers' holds no tokenizer files.*"
                                          r"did you mean tokenizers/gpt2\?"):
        check_paths(config, tmp_path)
    config["tokenizer"]["pretrained"] = "tokenizers/gpt2"
    check_paths(config, tmp_path)


def test_hub_name_that_cannot_load_offline_is_refused_at_start_up(tmp_path, monkeypatch):
    """Item 10 of issue 21: `gpt2` offline ran 83 s in the job before an OSError. A real run checks the
    local cache, then the hub (a dry run does not)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    config = smoke()
    config["model"]["pretrained"] = "no-such-org/no-such-model"
    check_paths(config, REPO)  # dry run: no check
    with pytest.raises(ConfigError, match="'model.pretrained': 'no-such-org/no-such-model' is a Hugging Face hub "
                                          "name, not in the local cache, and HF_HUB_OFFLINE is set"):
        check_paths(config, REPO, check_hub=True)
