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
from dataclasses import dataclass, fields

from della.backbone import ModelConfig
from della.objectives import ObjectiveConfig
from della.registry import available_models, get_model_class

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
    della`` + ``backbone: bart`` is ``della-bart`` (della/model.py). ``bart`` is BART already."""
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
    recipes = config.get("recipes") or {}
    for name, recipe in recipes.items():
        if recipe.get("model") not in known_models:
            raise ConfigError(f"config key 'recipes.{name}.model': unknown model {recipe.get('model')!r}; "
                              f"known models: {', '.join(known_models)}")
    for name, recipe in recipes.items():
        unknown_tasks = set(recipe.get("tasks") or []) - set(TASK_NAMES)
        if unknown_tasks:
            raise ConfigError(f"config key 'recipes.{name}.tasks': unknown task(s) {sorted(unknown_tasks)}")
    for name in config.get("models", []):
        if name not in recipes and name not in known_models:
            raise ConfigError(f"config key 'models': unknown model or recipe {name!r}; known models: "
                              f"{', '.join(known_models)}; recipes: {', '.join(sorted(recipes)) or '(none)'}")
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
    model_kwargs.setdefault("options", {})
    if objective_cfg.bow_weight > 0:
        model_kwargs["options"]["bow"] = True
    return RunSpec(recipe=recipe_name, model=model_name, model_kwargs=model_kwargs, objective=objective_cfg,
                   train=_merge(config.get("train") or {}, recipe.get("train")),
                   evaluate=_merge(config.get("evaluate") or {}, recipe.get("evaluate")),
                   has_latent=bool(model_cls.has_latent), tokenizer=recipe.get("tokenizer"))


def depth_recipes(depths, reductions) -> dict:
    """The depth study's recipes (workflow/rules/study.smk, della/depth_study.py): DELLA at each
    depth with a constant beta = 1 and no trick (no annealing, free bits or BoW), the KL reduced
    over layers by ``mean`` (official code) or ``sum`` (paper Eq. 6)."""
    return {f"della-depth{depth}-{reduction}": {
        "model": "della", "model_config": {"n_layer": int(depth)},
        "objective": {"beta_schedule": "constant", "beta_max": 1.0, "kl_reduction": reduction, "kl_groups": "all",
                      "free_bits": 0.0, "bow_weight": 0.0}}
        for depth in depths for reduction in reductions}
