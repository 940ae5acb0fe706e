"""How a model declares its switches (``model_config: {options: {...}}`` of a recipe).

Each model class lists its own options in its own file::

    OPTIONS = {"bn": Option(bool, False, "batch-normalised posterior means (BN-VAE, Zhu et al. 2020)")}

and inherits its parents' (``declared_options`` merges them along the class hierarchy). The
workflow checks every recipe's options against its model's declarations before any job runs
(``della/config.py``): an unknown name is refused with the closest declared one, a value of the
wrong type or outside ``choices`` is refused. The README's "Model options" table is generated from
the same declarations (``python -m della.models``).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Option:
    """One model option: its type (``bool``, ``int``, ``float`` or ``str``), default, one-line meaning,
    the values it may take (``choices``, empty: any value of the type) and whether ``None`` is allowed."""

    type: type
    default: object
    meaning: str
    choices: tuple = ()
    nullable: bool = False

    def check(self, value, where: str) -> None:
        if value is None and self.nullable:
            return
        ok = {bool: lambda v: isinstance(v, bool),
              int: lambda v: isinstance(v, int) and not isinstance(v, bool),
              float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
              str: lambda v: isinstance(v, str)}[self.type](value)
        if not ok:
            raise OptionError(f"{where!r} = {value!r}: expected {self.type.__name__}"
                              + (" or null" if self.nullable else ""))
        if self.choices and value not in self.choices:
            raise OptionError(f"{where!r} = {value!r}: expected one of {', '.join(map(repr, self.choices))}")


class OptionError(ValueError):
    pass


def declared_options(model_cls) -> dict[str, Option]:
    """The options of ``model_cls``: its own ``OPTIONS`` over those of its parent classes."""
    merged: dict[str, Option] = {}
    for klass in reversed(model_cls.__mro__):
        merged.update(vars(klass).get("OPTIONS", {}))
    return merged


def check_options(model_cls, given: dict | None, where: str = "options") -> dict:
    """``given`` checked against ``model_cls``'s declarations and completed with the defaults.
    ``where`` names the config key in errors (e.g. ``recipes.embed+bn.model_config.options``)."""
    declared = declared_options(model_cls)
    name = getattr(model_cls, "name", model_cls.__name__)
    for key, value in (given or {}).items():
        if key not in declared:
            close = difflib.get_close_matches(key, declared, n=1, cutoff=0.5)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            known = ", ".join(sorted(declared)) or "none"
            raise OptionError(f"'{where}.{key}': model {name!r} has no option {key!r}{hint}; its options: {known}")
        declared[key].check(value, f"{where}.{key}")
    return {key: (given or {}).get(key, option.default) for key, option in declared.items()}


def options_table(models: dict[str, type]) -> str:
    """Markdown for the README: one row per declared option, with the models that have it
    (``models``: registry name -> class)."""
    rows: dict[int, tuple[str, Option, list[str]]] = {}
    for name, cls in sorted(models.items()):
        for key, option in declared_options(cls).items():
            rows.setdefault(id(option), (key, option, []))[2].append(name)
    lines = ["| option | models | type | default | meaning |", "|---|---|---|---|---|"]
    for key, option, names in sorted(rows.values(), key=lambda row: (row[0], row[2])):
        kind = option.type.__name__ + (" or null" if option.nullable else "")
        if option.choices:
            kind = " \\| ".join(f"`{c}`" for c in option.choices)
        meaning = option.meaning.replace("|", "\\|")
        lines.append(f"| `{key}` | {', '.join(f'`{n}`' for n in names)} | {kind} | `{option.default!r}` | {meaning} |")
    return "\n".join(lines) + "\n"
