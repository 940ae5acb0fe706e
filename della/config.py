"""From the workflow config to one run: recipes, model sizes, training and evaluation settings.

A *recipe* is a model plus its training trick(s) and hyper-parameters, defined by name under
``recipes:`` in the config. ``models:`` lists recipe names; a bare model name (``della``,
``embed``...) is that model's default recipe. Resolution order, later wins:

  objective: ObjectiveConfig defaults < config ``objective:`` < the model class's
             ``default_recipe`` < the recipe's ``objective:``
  model:     config ``model:`` sizes < the recipe's ``model:``; ``options`` merged the same way
  train / evaluate: config sections < the recipe's sections

A recipe may also name its own pretrained ``tokenizer`` (a folder or hub name; e.g. BART's for a
BART backbone, whose embedding rows are indexed by BART's ids, not GPT-2's) and restrict itself to
some ``tasks``; ``model_config.backbone: bart`` selects a model's BART form (``della-bart``).
"""
from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, fields
from pathlib import Path

from della.models.backbone import ModelConfig
from della.models.options import OptionError, check_options, declared_options
from della.models.registry import available_models, broken_modules, get_model_class
from della.paths import is_hub_name, pretrained_location, resolve_path, shown_path
from della.training.checkpoints import NOT_RESULT_SHAPING
from della.training.objectives import ObjectiveConfig

TASK_NAMES = ("yelp", "yahoo", "ptb", "snli", "cnndm", "wp", "quora")
CONDITIONAL_TASKS = ("cnndm", "wp", "quora")


class ConfigError(ValueError):
    pass


def _merge(base: dict, override: dict | None) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


BACKBONES = ("gpt2", "bart")


def model_name_of(config: dict, recipe: str) -> str:
    """The registered model a recipe trains: its ``model``, or ``{model}-{backbone}`` when its
    ``model_config.backbone`` (or the config's ``model.backbone``) is not GPT-2 — e.g. ``model:
    della`` + ``backbone: bart`` is ``della-bart`` (della/models/della.py). ``bart`` is BART already."""
    definition = recipe_definition(config, recipe)
    model = definition["model"]
    backbone = _merge(config.get("model") or {}, definition.get("model_config")).get("backbone") or "gpt2"
    if backbone not in BACKBONES:
        raise ConfigError(f"recipe {recipe!r}: model_config.backbone = {backbone!r}; expected one of {BACKBONES}")
    if backbone == "gpt2" or model.endswith(f"-{backbone}") or (model == "bart" and backbone == "bart"):
        return model
    name = f"{model}-{backbone}"
    if name not in available_models():
        raise ConfigError(f"recipe {recipe!r}: model {model!r} has no {backbone} backbone (no model {name!r} is "
                          f"registered; known models: {', '.join(available_models())})")
    return name


def recipe_definition(config: dict, name: str) -> dict:
    recipes = config.get("recipes") or {}
    if name in recipes:
        recipe = recipes[name]
        if "model" not in recipe:
            raise ConfigError(f"recipes.{name}: missing key 'model'")
        return recipe
    return {"model": name}


def check_names(config: dict) -> None:
    """Refuse unknown task, model or recipe names before any job starts, listing the known ones."""
    for task in config.get("tasks", []):
        if task not in TASK_NAMES:
            raise ConfigError(f"config key 'tasks': unknown task {task!r}; known tasks: {', '.join(TASK_NAMES)}")
    known_models = available_models()
    broken = broken_modules()
    because = f"; these baselines/ files could not be imported: {'; '.join(broken)}" if broken else ""
    recipes = config.get("recipes") or {}
    used = set(config.get("models", []))
    for name, recipe in recipes.items():
        # a recipe the config does not run may name a model of a broken file: that file stops only its own runs
        if recipe.get("model") not in known_models and (name in used or not broken):
            raise ConfigError(f"config key 'recipes.{name}.model': unknown model {recipe.get('model')!r}; "
                              f"known models: {', '.join(known_models)}{because}")
    for name, recipe in recipes.items():
        unknown_tasks = set(recipe.get("tasks") or []) - set(TASK_NAMES)
        if unknown_tasks:
            raise ConfigError(f"config key 'recipes.{name}.tasks': unknown task(s) {sorted(unknown_tasks)}")
    for name in config.get("models", []):
        if name not in recipes and name not in known_models:
            raise ConfigError(f"config key 'models': unknown model or recipe {name!r}; known models: "
                              f"{', '.join(known_models)}; recipes: {', '.join(sorted(recipes)) or '(none)'}{because}")
    for name in config.get("models", []):  # the objective of every run must be valid too
        resolve_run(config, name)


def runs_of(config: dict) -> list[tuple[str, str]]:
    """The (task, recipe) pairs the DAG trains: every task x every recipe, except models that need
    a source (``conditional_only``, e.g. ``bart``) on the unconditional tasks, and recipes with a
    ``tasks:`` list on the other tasks."""
    pairs = []
    for task in config["tasks"]:
        for recipe in config["models"]:
            model_cls = get_model_class(model_name_of(config, recipe))
            if getattr(model_cls, "conditional_only", False) and task not in CONDITIONAL_TASKS:
                continue
            only = recipe_definition(config, recipe).get("tasks")
            if only is not None and task not in only:  # a recipe restricted to some tasks (recipes.X.tasks)
                continue
            pairs.append((task, recipe))
    return pairs


@dataclass
class RunSpec:
    recipe: str
    model: str
    model_kwargs: dict  # ModelConfig fields except vocab and special ids
    objective: ObjectiveConfig
    train: dict
    evaluate: dict
    has_latent: bool
    tokenizer: str | None = None  # the recipe's own pretrained tokenizer (recipes.X.tokenizer), else the task's


def resolve_run(config: dict, recipe_name: str) -> RunSpec:
    recipe = recipe_definition(config, recipe_name)
    model_name = model_name_of(config, recipe_name)
    model_cls = get_model_class(model_name)
    objective = _merge(config.get("objective") or {}, getattr(model_cls, "default_recipe", {}))
    objective = _merge(objective, recipe.get("objective"))
    try:
        objective_cfg = ObjectiveConfig.from_dict(objective)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"recipe {recipe_name!r}: {err}") from err
    model_kwargs = _merge(config.get("model") or {}, recipe.get("model_config"))
    allowed = {f.name for f in fields(ModelConfig)} - {"vocab_size", "pad_id", "bos_id", "eos_id", "sep_id"}
    unknown = set(model_kwargs) - allowed
    if unknown:
        raise ConfigError(f"recipe {recipe_name!r}: unknown model key(s) {sorted(unknown)} "
                          f"(config 'model:' / recipes.{recipe_name}.model_config); known: {sorted(allowed)}")
    model_kwargs["options"] = recipe_options(config, recipe_name)
    if objective_cfg.bow_weight > 0:
        model_kwargs["options"]["bow"] = True
    return RunSpec(recipe=recipe_name, model=model_name, model_kwargs=model_kwargs, objective=objective_cfg,
                   train=_merge(config.get("train") or {}, recipe.get("train")),
                   evaluate=_merge(config.get("evaluate") or {}, recipe.get("evaluate")),
                   has_latent=bool(model_cls.has_latent), tokenizer=recipe.get("tokenizer"))


def recipe_options(config: dict, recipe_name: str) -> dict:
    """The ``model_config.options`` a recipe's model is built with: the recipe's own, each checked
    against its model's declared options (della/models/options.py: an unknown name or a wrong type
    is a ConfigError naming the key and the closest option), over the config-wide ``model.options``
    that this model declares (a shared option of another model is left out, not refused)."""
    model_cls = get_model_class(model_name_of(config, recipe_name))
    declared = declared_options(model_cls)
    shared = (config.get("model") or {}).get("options") or {}
    own = ((recipe_definition(config, recipe_name).get("model_config") or {}).get("options")) or {}
    options = {key: value for key, value in shared.items() if key in declared}
    try:
        check_options(model_cls, options, "model.options")
        check_options(model_cls, own, f"recipes.{recipe_name}.model_config.options")
    except OptionError as err:
        raise ConfigError(f"config key {err}") from err
    return {**options, **copy.deepcopy(own)}


def check_shared_options(config: dict) -> None:
    """Each config-wide ``model.options`` key must be an option of some model (a typo there would
    otherwise be ignored by every model)."""
    from della.models.registry import _REGISTRY, load_all

    load_all()
    every = {key for cls in _REGISTRY.values() for key in declared_options(cls)}
    for key in (config.get("model") or {}).get("options") or {}:
        if key not in every:
            close = difflib.get_close_matches(key, sorted(every), n=1, cutoff=0.5)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"config key 'model.options.{key}': no model has this option{hint}; "
                              f"options: {', '.join(sorted(every))}")


TRICK_KEYS = ("beta_schedule", "beta_max", "beta_min", "cycles", "cycle_epochs", "anneal_fraction", "kl_reduction",
              "free_bits", "free_bits_mode", "bow_weight")


def recipe_family(config: dict, recipe: str) -> str:
    """Which paper table a recipe belongs to beside tables 1, 2, 8 and 9: ``ablation`` (table 4: it changes
    the model — its options, sizes or which layers get a KL term — against its model's default recipe),
    ``trick`` (table 5: it changes the training objective — β schedule, free bits, BoW; BN-VAE counts
    here, as in the paper) or ``base`` (the model's default recipe). From the definitions, not the names."""
    spec, base = resolve_run(config, recipe), resolve_run(config, resolve_run(config, recipe).model)
    if spec.objective.kl_groups != base.objective.kl_groups:
        return "ablation"
    new, old = spec.objective.to_dict(), base.objective.to_dict()
    options = spec.model_kwargs.get("options") or {}
    if any(new.get(key) != old.get(key) for key in TRICK_KEYS) or options.get("bn"):
        return "trick"
    if spec.model_kwargs != base.model_kwargs:
        return "ablation"
    return "base"


def train_spec(config: dict, recipe: str) -> dict:
    """Everything that shapes a run's training, as plain data (the train rule's ``run`` param: a
    change to it reruns the training job). The train settings that only decide when state is saved
    (``NOT_RESULT_SHAPING``: ``checkpoint_every``) are left out, so changing them reruns nothing;
    the train job reads them at job time (``job_settings``)."""
    spec = resolve_run(config, recipe)
    return {"recipe": spec.recipe, "model": spec.model, "model_kwargs": spec.model_kwargs,
            "objective": spec.objective.to_dict(),
            "train": {k: v for k, v in spec.train.items() if k not in NOT_RESULT_SHAPING},
            "has_latent": spec.has_latent, "tokenizer": spec.tokenizer}


def job_settings(config: dict, recipe: str) -> dict:
    """The recipe's train settings that do not shape its result (``NOT_RESULT_SHAPING``), as the
    train job reads them from the config of the invocation that runs it (never a param)."""
    train = resolve_run(config, recipe).train
    return {k: train[k] for k in NOT_RESULT_SHAPING if k in train}


def run_config(config: dict, task: str, recipe: str, seed: int, root) -> dict:
    """What a run folder records as the config that produced it (``config.yaml``, written by the
    evaluate job from its params, so it changes exactly when the run's results do): the task, the
    recipe resolved against the whole config (model, options, objective, train and evaluate
    sections: ``run_spec``), the seed, and the data and tokenizer settings of the task. Paths as
    della/paths.py ``shown_path`` shows them (never absolute)."""
    return {"task": task, "recipe": recipe, "seed": int(seed), "run": run_spec(config, recipe),
            "data": {"data_root": shown_path(config.get("data_root"), root), "data_seed": config.get("data_seed"),
                     **copy.deepcopy(config.get("data") or {})},
            "tokenizer": copy.deepcopy(config.get("tokenizer") or {})}


def run_spec(config: dict, recipe: str) -> dict:
    """Everything that defines a run's evaluation: the training spec plus the evaluate section (the
    evaluate rule's ``run`` param, and what the train job stamps its in-process evaluation with)."""
    return {**train_spec(config, recipe), "evaluate": resolve_run(config, recipe).evaluate}


def depth_recipes(depths, reductions) -> dict:
    """The depth study's recipes (workflow/rules/study.smk, della/reporting/depth_study.py): DELLA at each
    depth with a constant beta = 1 and no trick (no annealing, free bits or BoW), the KL reduced
    over layers by ``mean`` (official code) or ``sum`` (paper Eq. 6)."""
    return {f"della-depth{depth}-{reduction}": {
        "model": "della", "model_config": {"n_layer": int(depth)},
        "objective": {"beta_schedule": "constant", "beta_max": 1.0, "kl_reduction": reduction, "kl_groups": "all",
                      "free_bits": 0.0, "bow_weight": 0.0}}
        for depth in depths for reduction in reductions}


CLAIMS_DEFAULTS = {"file": "config/claims.yaml", "resamples": 1000, "seed": 12345, "level": 0.95}
STUDY_CLAIMS_DEFAULTS = {
    "task": "ptb", "data": "any", "steps": 5000, "seeds": [0, 1, 2],
    "recipes": ["lm", "della", "della+no-tricks", "optimus", "embed", "memory", "softmax", "embed+no-tricks",
                "embed+linear", "embed+free-bits", "embed+bn"]}


def claims_settings(config: dict) -> dict:
    """The ``claims:`` section with its defaults: the claims file (config/claims.yaml) and the
    bootstrap's resamples, seed and level (sacrebleu's 1,000 and 12345; 95%)."""
    return {**CLAIMS_DEFAULTS, **(config.get("claims") or {})}


def study_claims_spec(config: dict) -> dict:
    """The ``study_claims:`` section with its defaults (workflow/rules/claims.smk)."""
    return {**STUDY_CLAIMS_DEFAULTS, **(config.get("study_claims") or {})}


def study_claims_recipes(config: dict) -> dict[str, str]:
    """The claims study's runs: each of ``study_claims.recipes`` trained for ``study_claims.steps``
    under its own name ``{recipe}.s{steps}`` (so that it never collides with the config's runs of the
    same recipe at another budget): ``{study recipe name: base recipe name}``."""
    spec = study_claims_spec(config)
    return {f"{recipe}.s{spec['steps']}": recipe for recipe in spec["recipes"]}


def study_claims_definitions(config: dict) -> dict[str, dict]:
    """The recipe definitions of :func:`study_claims_recipes`: the base recipe with ``train.steps``
    set to the study's and no ``tasks:`` restriction (the study says its task)."""
    steps = study_claims_spec(config)["steps"]
    out = {}
    for name, base in study_claims_recipes(config).items():
        definition = {k: copy.deepcopy(v) for k, v in recipe_definition(config, base).items() if k != "tasks"}
        definition["train"] = _merge(definition.get("train") or {}, {"steps": int(steps)})
        out[name] = definition
    return out


def check_claims(config: dict, root, study_requested: bool = False) -> list[dict]:
    """The claims file of ``claims.file`` (relative to the project root) loaded and checked against
    della/reporting/claims.py (keys, metrics, recipes known to the config or the registry), and
    the claims study's settings (``study_claims.data: real`` needs a data_root, ``synthetic`` none;
    checked when the ``study_claims`` target is asked for). Raises ConfigError."""
    from della.reporting.claims import ClaimsError, load_claims

    spec = study_claims_spec(config)
    known = set(config.get("recipes") or {}) | set(available_models())
    unknown = [r for r in spec["recipes"] if r not in known]
    if unknown:
        raise ConfigError(f"config key 'study_claims.recipes': unknown recipe(s) {unknown}; define them under "
                          f"'recipes:' (known: {', '.join(sorted(known))})")
    if study_requested and spec["data"] == "real" and config.get("data_root") is None:
        raise ConfigError("study_claims.data is 'real' but data_root is null: pass --config data_root=PATH "
                          "(the folder holding ptb/ptb.train.txt, ...)")
    if study_requested and spec["data"] == "synthetic" and config.get("data_root") is not None:
        raise ConfigError("study_claims.data is 'synthetic' but a data_root is set: this config's claims study "
                          "runs on the synthetic twin; the real-data study has its own config "
                          "(--configfile config/study-ptb-real.yaml --config data_root=PATH)")
    path = resolve_path(claims_settings(config)["file"], root)
    try:
        return load_claims(path, known_recipes=known)
    except ClaimsError as err:
        raise ConfigError(str(err)) from err


# --------------------------------------------------------------------------- #
# Loading and validating the whole workflow config before any job runs
# --------------------------------------------------------------------------- #


def retype_cli_value(value):
    """Snakemake parses ``--config`` values that are YAML lists or mappings with YAML's BaseLoader,
    which keeps every leaf a string (``seeds='[0,1]'`` -> ``['0', '1']``). Re-read each string leaf
    as YAML so that numbers, booleans and null get their types back; other strings stay strings."""
    if isinstance(value, dict):
        return {key: retype_cli_value(v) for key, v in value.items()}
    if isinstance(value, list):
        return [retype_cli_value(v) for v in value]
    if isinstance(value, str):
        import yaml

        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        if parsed is None or isinstance(parsed, (bool, int, float)):
            return parsed
        try:  # YAML 1.1 reads "1e-3" as a string
            return float(value) if value.strip().lower() not in ("nan", "inf", "-inf", "infinity") else value
        except ValueError:
            return value
    return value


def load_workflow_config(root, configfiles, cli: dict) -> dict:
    """The run's config: the ``--configfile`` files merged in the order given (each profile config
    is complete, so one is enough), or ``config/config.yaml`` when none is given; then the
    ``--config`` overrides, retyped (``retype_cli_value``) and merged into their sections
    (``--config train='{epochs: 1}'`` changes only ``train.epochs``)."""
    from pathlib import Path

    import yaml

    files = [Path(f) for f in configfiles] or [Path(root) / "config" / "config.yaml"]
    config: dict = {}
    for path in files:
        try:
            loaded = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(f"cannot read config file {path}: {err}") from err
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path}: expected a mapping of config keys, got {type(loaded).__name__}")
        config = _merge(config, loaded)
    return _merge(config, retype_cli_value(dict(cli or {})))


def _key_path(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _schema_error_message(error, where: str = "") -> str:
    """One line for a jsonschema error: the config key, what is wrong, and for an unknown key the
    closest valid key (difflib)."""
    import difflib

    prefix = f"{where}." if where else ""
    key = _key_path(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted((error.schema.get("properties") or {}).keys())
        parts = []
        for extra in sorted(set(error.instance) - set(allowed)):
            full = f"{prefix}{key}.{extra}" if error.absolute_path else f"{prefix}{extra}"
            close = difflib.get_close_matches(str(extra), allowed, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(allowed)}"
            parts.append(f"unknown config key {full!r} ({hint})")
        return "; ".join(parts)
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        where = prefix + ".".join(str(p) for p in error.absolute_path)
        names = ", ".join(repr(f"{where}.{k}" if where else k) for k in missing)
        return f"missing config key {names} (a config file must be complete: see README, Configs)"
    return f"config key {prefix + key!r}: {error.message}"


def load_schema(schema_path) -> dict:
    from pathlib import Path

    import yaml

    return yaml.safe_load(Path(schema_path).read_text())


def _schema_errors(instance, schema) -> list:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    return sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])


def merged_recipe_sections(config: dict, name: str) -> dict:
    """The model / objective / train / evaluate sections one recipe runs with (as ``resolve_run``
    merges them), for validation against the top-level sections' schemas."""
    recipe = recipe_definition(config, name)
    model_cls = get_model_class(recipe["model"])
    objective = _merge(_merge(config.get("objective") or {}, getattr(model_cls, "default_recipe", {})),
                       recipe.get("objective"))
    return {"model": _merge(config.get("model") or {}, recipe.get("model_config")), "objective": objective,
            "train": _merge(config.get("train") or {}, recipe.get("train")),
            "evaluate": _merge(config.get("evaluate") or {}, recipe.get("evaluate"))}


def validate_config(config: dict, schema_path) -> None:
    """Refuse a bad config before any job runs: the JSON schema on the whole config (unknown keys
    anywhere, recipes included, name the closest valid key), then task / model / recipe names, then
    every recipe merged with the top-level sections against the same schema. Raises ConfigError
    listing every problem found."""
    schema = load_schema(schema_path)
    missing = (config.get("data") or {}).get("missing") if isinstance(config.get("data"), dict) else None
    if isinstance(missing, str):  # the old spelling: one policy for every task hid a wrong data_root
        raise ConfigError(f"config key 'data.missing': {missing!r} is no longer accepted; name each task that may run "
                          "on its synthetic twin, e.g. data: {missing: {cnndm: synthetic}} (a task without data "
                          "under data_root is an error otherwise)")
    problems = [_schema_error_message(e) for e in _schema_errors(config, schema)]
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(dict.fromkeys(problems)))
    check_names(config)
    check_shared_options(config)
    # a recipe of a model whose baselines/ file failed to import is checked only when a run needs it
    # (check_names refuses that): one broken file does not stop the other models' runs
    known = set(available_models())
    runnable = {name for name, recipe in (config.get("recipes") or {}).items() if recipe.get("model") in known}
    names = sorted(set(config.get("models", [])) | runnable)
    for name in names:
        try:
            recipe_options(config, name)
        except ConfigError as err:
            problems.append(str(err))
        sections = merged_recipe_sections(config, name)
        for section, value in sections.items():
            sub = {"$defs": schema["$defs"], **schema["properties"][section]}
            for error in _schema_errors(value, sub):
                error.path.appendleft(section)
                problems.append(_schema_error_message(error, where=f"recipes.{name}")
                                + f" (recipe {name!r} merged with the top-level {section}: section)")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(dict.fromkeys(problems)))
    for name in names:  # the values each run will be built and trained with (types are right by now)
        problems += recipe_value_problems(config, name)
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(dict.fromkeys(problems)))


def _source_of(config: dict, recipe: str, section: str, key: str) -> str:
    """The config key a recipe's merged ``section.key`` comes from: the recipe's own when it sets
    it, else the top-level section's (for messages that name the key to change)."""
    recipe_section = {"model": "model_config"}.get(section, section)
    own = (config.get("recipes") or {}).get(recipe, {}).get(recipe_section) or {}
    return f"recipes.{recipe}.{recipe_section}.{key}" if key in own else f"{section}.{key}"


def recipe_value_problems(config: dict, recipe: str) -> list[str]:
    """What would make a run of ``recipe`` fail after it started, found before any job runs
    (README "Configs"): a width that attention cannot split into heads, sequences longer than the
    model's positions (training, and generation with ``evaluate.decoding.max_new_tokens``), a
    validation figure the model cannot compute, and anything else the model's constructor refuses
    (built once on PyTorch's ``meta`` device: no memory, no weights). Sizes taken from a
    ``pretrained`` checkpoint are that checkpoint's, so its recipes skip the size checks."""
    from della.training.loop import TRAIN_DEFAULTS

    spec = resolve_run(config, recipe)
    model_cls = get_model_class(spec.model)
    kwargs = spec.model_kwargs
    sizes = {f.name: f.default for f in fields(ModelConfig)}
    sizes.update({k: v for k, v in kwargs.items() if k in sizes})
    train = {**TRAIN_DEFAULTS, **spec.train}
    decoding = (spec.evaluate.get("decoding") or {})
    key = lambda section, name: _source_of(config, recipe, section, name)  # noqa: E731
    merged = f" (recipe {recipe!r})"
    problems = []
    if train.get("valid_metric") == "elbo" and not model_cls.has_latent:
        problems.append(f"config key {key('train', 'valid_metric')!r}: elbo needs a latent model; {spec.model!r} has "
                        f"none (use nll or null){merged}")
    data = config.get("data") or {}
    n_train = (data.get("max_examples") or {}).get("train") or (
        (data.get("synthetic_sizes") or {}).get("train") if config.get("data_root") is None else None)
    if n_train:  # the training set's size is known (a cap, or the synthetic twin's size): enough batches?
        batches = -(-int(n_train) // train["batch_size"]) // train["devices"]  # per process and epoch
        needed = train["grad_accum"]
        if batches < needed:
            keys = ", ".join(repr(key("train", k)) for k in ("batch_size", "grad_accum", "devices"))
            problems.append(f"config keys {keys}: {n_train} training examples make {batches} batch(es) of "
                            f"{train['batch_size']} per process and epoch (train.devices = {train['devices']}), "
                            f"fewer than one optimiser step takes (train.grad_accum = {train['grad_accum']}){merged}")
    if spec.objective.bow_weight > 0 and not model_cls.has_latent:
        problems.append(f"config key {key('objective', 'bow_weight')!r}: the bag-of-words loss needs a latent model; "
                        f"{spec.model!r} has none{merged}")
        return problems
    if kwargs.get("pretrained") or (kwargs.get("options") or {}).get("encoder_pretrained"):
        return problems
    if sizes["n_embd"] % sizes["n_head"]:
        problems.append(f"config key {key('model', 'n_embd')!r}: n_embd = {sizes['n_embd']} is not a multiple of "
                        f"n_head = {sizes['n_head']} ({key('model', 'n_head')}): attention splits the width into "
                        f"heads{merged}")
    tasks = [t for t in config.get("tasks", TASK_NAMES) if t in (recipe_definition(config, recipe).get("tasks")
                                                                  or TASK_NAMES)]
    for conditional in sorted({t in CONDITIONAL_TASKS for t in tasks}):
        if getattr(model_cls, "conditional_only", False) and not conditional:
            continue
        source = train["max_source_length"] if conditional else None
        kind = "a conditional" if conditional else "an unconditional"
        need = model_cls.positions_needed(train["max_length"], source)
        if need > sizes["n_positions"]:
            problems.append(f"config key {key('model', 'n_positions')!r}: n_positions = {sizes['n_positions']} < {need}, "
                            f"the positions {kind} training example takes in {spec.model!r} (train.max_length = "
                            f"{train['max_length']}" + (f", max_source_length = {source}" if conditional else "")
                            + f"){merged}")
        new_tokens = decoding.get("max_new_tokens")
        # generation feeds the prompt and every generated token but the last: as long as a training
        # example whose target has max_new_tokens - 2 tokens, then <eos>
        if new_tokens and model_cls.positions_needed(new_tokens - 2, source) > sizes["n_positions"]:
            problems.append(f"config key '{key('evaluate', 'decoding')}.max_new_tokens': max_new_tokens = {new_tokens} "
                            f"does not fit in n_positions = {sizes['n_positions']} after the prompt of {kind} task"
                            + (f" (a source of up to max_source_length = {source} tokens)" if conditional else "")
                            + merged)
    if problems:
        return problems
    return _constructor_problems(spec, model_cls, sizes, config, recipe)


def _constructor_problems(spec, model_cls, sizes, config, recipe) -> list[str]:
    """What the model's own constructor refuses, with placeholder vocabulary and special ids (the
    tokenizer is trained later): built on the ``meta`` device, which allocates nothing."""
    import torch

    cfg = ModelConfig(**{**sizes, "vocab_size": (config.get("tokenizer") or {}).get("vocab_size") or 300,
                         "pad_id": 0, "bos_id": 1, "eos_id": 2, "sep_id": 3,
                         "options": spec.model_kwargs.get("options") or {}})
    try:
        with torch.device("meta"):
            model_cls(cfg)
    except (ValueError, TypeError, AssertionError) as err:  # the model's own refusals
        return [f"recipe {recipe!r}: model {spec.model!r} cannot be built from this config: {err}"]
    return []


def check_paths(config: dict, root, data_root_created: bool = False, check_hub: bool = False) -> None:
    """Every path in the config must exist (relative to the project root) before any job starts.
    ``data_root`` is always a folder (unless ``data_root_created``: the download rule makes it); a
    tokenizer folder must hold tokenizer files; the ``pretrained`` values may also be hub names
    (``gpt2``), which with ``check_hub`` (a real run) must be cached locally or on a reachable hub."""
    problems = []
    if (config.get("data_root") is not None and not data_root_created
            and not resolve_path(config["data_root"], root).is_dir()):
        problems.append(f"config key 'data_root': folder {config['data_root']!r} does not exist "
                        f"(relative paths resolve against the project root {root})")
    candidates = [("tokenizer.pretrained", (config.get("tokenizer") or {}).get("pretrained"))]
    candidates.append(("model.pretrained", (config.get("model") or {}).get("pretrained")))
    candidates.append(("model.options.encoder_pretrained",
                       ((config.get("model") or {}).get("options") or {}).get("encoder_pretrained")))
    for name, recipe in (config.get("recipes") or {}).items():
        model_config = recipe.get("model_config") or {}
        candidates.append((f"recipes.{name}.model_config.pretrained", model_config.get("pretrained")))
        candidates.append((f"recipes.{name}.tokenizer", recipe.get("tokenizer")))
        candidates.append((f"recipes.{name}.model_config.options.encoder_pretrained",
                           (model_config.get("options") or {}).get("encoder_pretrained")))
    for key, value in candidates:
        if not value:
            continue
        path = resolve_path(value, root)
        if path.exists():
            if key.endswith("tokenizer") or key.endswith("tokenizer.pretrained"):
                problems += _tokenizer_folder_problems(key, value, path)
            continue
        if is_hub_name(value):
            if check_hub:
                problems += _hub_name_problems(key, value)
            continue
        problems.append(f"config key {key!r}: {value!r} does not exist "
                        f"(relative paths resolve against the project root {root})")
    # model-based metrics read local model folders only (della/evaluation/model_metrics.py)
    metric_folders = [("evaluate", (config.get("evaluate") or {}).get("model_metrics") or {})]
    metric_folders += [(f"recipes.{name}.evaluate", (recipe.get("evaluate") or {}).get("model_metrics") or {})
                       for name, recipe in (config.get("recipes") or {}).items()]
    for where, metrics in metric_folders:
        for metric in ("bertscore", "mauve"):
            value = metrics.get(metric)
            if not value:
                continue
            folder = resolve_path(value, root)
            if not folder.is_dir():
                problems.append(f"config key '{where}.model_metrics.{metric}': model folder {value!r} does not exist "
                                f"(a local transformers model folder, nothing is downloaded; relative paths "
                                f"resolve against the project root {root})")
            elif not (folder / "config.json").is_file():
                problems.append(f"config key '{where}.model_metrics.{metric}': {value!r} has no config.json "
                                f"(not a save_pretrained() folder)")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


# what AutoTokenizer reads from a folder: a tokenizer.json, a BPE vocabulary (+ merges), a WordPiece vocabulary
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model")


def _tokenizer_folder_problems(key: str, value: str, path) -> list[str]:
    """A tokenizer folder must hold tokenizer files (a folder one level too high passed start-up and
    failed in the job as "Couldn't instantiate the backend tokenizer"); names a subfolder that has them."""
    if not path.is_dir() or any((path / name).is_file() for name in TOKENIZER_FILES):
        return []
    inside = sorted(child.name for child in path.iterdir()
                    if child.is_dir() and any((child / name).is_file() for name in TOKENIZER_FILES))
    hint = (f"; did you mean {value.rstrip('/')}/{inside[0]}? (it holds them)" if len(inside) == 1
            else f"; these subfolders hold them: {', '.join(inside)}" if inside else "")
    return [f"config key {key!r}: folder {value!r} holds no tokenizer files ({', '.join(TOKENIZER_FILES)})"
            + hint]


HUB_TIMEOUT_S = 5


def _hub_name_problems(key: str, name: str) -> list[str]:
    """A hub name (``gpt2``) must be in the local Hugging Face cache or the hub must answer: offline,
    transformers retried for 83 s in the job before an OSError. Checked at start-up (not for dry runs)."""
    import os
    import urllib.error
    import urllib.request

    try:
        from huggingface_hub import constants, try_to_load_from_cache
    except ImportError:  # transformers brings it; without it there is nothing to check against
        return []
    for filename in ("config.json", "tokenizer_config.json", "tokenizer.json", "vocab.json"):
        if isinstance(try_to_load_from_cache(name, filename), str):
            return []  # cached: loads offline
    advice = ("give a local folder instead (a `save_pretrained` copy, e.g. tokenizer.pretrained: "
              "../shared/tokenizers/gpt2)")
    if str(os.environ.get("HF_HUB_OFFLINE", "")).lower() in ("1", "true", "yes"):
        return [f"config key {key!r}: {name!r} is a Hugging Face hub name, not in the local cache, and "
                f"HF_HUB_OFFLINE is set: {advice}"]
    url = f"{constants.ENDPOINT}/{name}/resolve/main/config.json"
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=HUB_TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code in (401, 404):
            return [f"config key {key!r}: {name!r} is neither a folder (relative to the project root) nor a "
                    f"model on the Hugging Face hub (HTTP {err.code})"]
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        return [f"config key {key!r}: {name!r} is a Hugging Face hub name, not in the local cache, and the hub "
                f"cannot be reached ({reason}): {advice}"]
    return []


def check_data(config: dict, root, tasks=None) -> list:
    """What data each task will use (``della.data.readers.locate_task``), refused before any job runs
    when a task has no file under ``data_root`` and the config does not opt it in to its synthetic twin
    (``data.missing: {task: synthetic}``): a wrong ``data_root`` silently became synthetic data before.
    Returns the tasks' ``DataLocation``s (the start-up summary prints them)."""
    from della.data.readers import locate_task, missing_policy

    tasks = list(tasks if tasks is not None else config["tasks"])
    data_root = config.get("data_root")
    if data_root is None:
        return [locate_task(task, None) for task in tasks]
    base = resolve_path(data_root, root)
    missing = (config.get("data") or {}).get("missing") or {}
    locations = [locate_task(task, base) for task in tasks]
    absent = [loc for loc in locations if loc.kind == "missing" and missing_policy(missing, loc.task) != "synthetic"]
    if not absent:
        return locations
    problems = [f"data_root {data_root!r} has no file of task {loc.task!r} (looked for {', '.join(loc.looked_for)})"
                for loc in absent]
    hint = _data_root_hint(base, data_root, [loc.task for loc in absent])
    names = ", ".join(loc.task for loc in absent)
    problems.append((hint + "\n  " if hint else "")
                    + f"To run {names} on the synthetic twin instead, say so per task: "
                    + "--config data='{missing: {" + ", ".join(f"{t}: synthetic" for t in names.split(", ")) + "}}' "
                    + "(every table row then marks it), or leave it out: --config tasks='[...]'.")
    raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def _data_root_hint(base, data_root: str, tasks) -> str:
    """``did you mean``: the parent or a child of data_root that holds the missing tasks' files."""
    from della.data.readers import locate_task

    def holds(folder):
        return [t for t in tasks if locate_task(t, folder).kind != "missing"]

    candidates = [(base.parent, str(Path(data_root).parent))]
    if base.is_dir():
        candidates += [(child, f"{data_root.rstrip('/')}/{child.name}") for child in sorted(base.iterdir())
                       if child.is_dir()]
    for folder, shown in candidates:
        found = holds(folder)
        if found:
            return f"did you mean data_root: {shown}? it holds {', '.join(found)}"
    return ""


def with_resolved_pretrained(model_kwargs: dict, root) -> dict:
    """``model_kwargs`` with ``pretrained`` and ``options.encoder_pretrained`` resolved against the
    project root (``pretrained_location``)."""
    out = copy.deepcopy(model_kwargs)
    if out.get("pretrained"):
        out["pretrained"] = pretrained_location(out["pretrained"], root)
    options = out.get("options") or {}
    if options.get("encoder_pretrained"):
        options["encoder_pretrained"] = pretrained_location(options["encoder_pretrained"], root)
    return out
