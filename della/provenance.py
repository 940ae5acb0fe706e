"""What a job's result depends on, as short hashes for Snakemake params (a change reruns the job):

* code: the files a job runs, found by following the ``import`` statements (absolute and relative)
  of its script and of its model's module through the project's own packages (``della``,
  ``baselines``). A baseline file is
  in the closure of its own model only, so editing it reruns that model's jobs, shared code reruns
  every job that imports it, and a new baseline file reruns nothing that exists.
* data: sha256 of the upstream files a task's reader reads under ``data_root`` (della/data/readers.py
  ``task_files``: an unrelated file in the folder is not one of them), cached by size and mtime so
  that unchanged files are not read again at every start-up.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
from pathlib import Path

PACKAGES = ("della", "baselines")


def module_file(root: Path, module: str) -> Path | None:
    """The file of project module ``module`` under ``root`` (a package's ``__init__.py``); None for a
    module outside the project's packages."""
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None
    as_file = root.joinpath(*parts).with_suffix(".py")
    if as_file.is_file():
        return as_file
    as_package = root.joinpath(*parts, "__init__.py")
    return as_package if as_package.is_file() else None


def _imports(root: Path, path: Path) -> frozenset[Path]:
    """Project files imported by ``path`` (``import x.y``, ``from x.y import z`` where z may be a
    module), with the packages' ``__init__.py`` that Python runs on the way."""
    stat = path.stat()
    return _imports_of_version(root, path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=None)
def _imports_of_version(root: Path, path: Path, mtime_ns: int, size: int) -> frozenset[Path]:
    """``_imports`` of one version of a file (keyed by its mtime and size): Snakemake asks for the
    code hash of every job, and parsing the same files for each of them made a dry run of the
    default DAG take 18 s."""
    found: set[Path] = set()
    for name in imported_modules(root, path):
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            file = module_file(root, ".".join(parts[:i]))
            if file is not None:
                found.add(file)
    return frozenset(found)


def module_name(root: Path, path: Path) -> str:
    """The dotted name of the module in ``path`` (``della/models/della.py`` -> ``della.models.della``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(root: Path, path: Path) -> list[str]:
    """The absolute names a file imports: ``import x.y`` gives ``x.y``, ``from x.y import z`` gives
    ``x.y`` and ``x.y.z`` (z may be a module), and relative imports (``from .embed import E``, ``from
    .. import data``) are resolved against the file's own package, as Python does."""
    package = module_name(root, path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: drop (level - 1) trailing parts of the package
                base_parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return names


def import_closure(root, *files, stop=()) -> list[str]:
    """``files`` (relative to ``root``) and every project file they import, transitively; sorted
    relative paths. Files in ``stop`` are neither included nor followed (the train job's code hash
    leaves out the evaluation it also runs: ``evaluation_stamp``)."""
    root = Path(root)
    todo = [root / f for f in files]
    seen: set[Path] = set()
    stopped = {root / f for f in stop}
    while todo:
        path = todo.pop()
        if path in seen or path in stopped:
            continue
        seen.add(path)
        todo.extend(_imports(root, path) - seen)
    return sorted(str(p.relative_to(root)) for p in seen)


def files_hash(root, files) -> str:
    """sha256 over the relative names and bytes of ``files`` (relative to ``root``)."""
    root = Path(root)
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0")
        stat = (root / rel).stat()
        digest.update(_file_bytes(root / rel, stat.st_mtime_ns, stat.st_size))
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def _file_bytes(path: Path, mtime_ns: int, size: int) -> bytes:
    """One version of a source file (keyed by mtime and size, like ``_imports_of_version``)."""
    return path.read_bytes()


def code_hash(root, *files, stop=()) -> str:
    """The hash of ``files`` and everything they import from the project (``stop``: see
    ``import_closure``)."""
    return files_hash(root, import_closure(root, *files, stop=stop))


def run_code_hash(root, script, model_cls, stop=()) -> str:
    """The code a train or evaluate job of one run depends on: its script, the file defining its
    model class, and everything they import."""
    return code_hash(root, script, model_source(root, model_cls), stop=stop)


def model_source(root, model_cls) -> str:
    """The file that defines a registered model class, relative to ``root``."""
    import inspect

    return str(Path(inspect.getsourcefile(model_cls)).resolve().relative_to(Path(root).resolve()))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_checksums(data_root, files, cache_path=None) -> dict[str, str]:
    """{path relative to data_root: sha256} of ``files`` (the upstream files a task's reader reads:
    della/data/readers.py ``task_files``). ``cache_path`` (a JSON file) keeps the digests by (path,
    size, mtime) so that unchanged files are hashed once."""
    data_root = Path(data_root)
    cache = {}
    if cache_path is not None and Path(cache_path).is_file():
        try:
            cache = json.loads(Path(cache_path).read_text())
        except ValueError:
            cache = {}
    out, changed = {}, False
    for path in sorted(Path(p) for p in files):
        rel = str(path.relative_to(data_root))
        stat = path.stat()
        key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        if key not in cache:
            cache[key] = sha256_file(path)
            changed = True
        out[rel] = cache[key]
    if cache_path is not None and changed:
        Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(str(cache_path) + ".tmp")
        tmp.write_text(json.dumps(cache, indent=0, sort_keys=True))
        os.replace(tmp, cache_path)
    return out


def evaluation_stamp(run: dict, code: str, *, model, test, info, tokenizer) -> dict:
    """What an evaluation was computed from: the run's settings (train and evaluate sections), the
    evaluation code's hash and the sha256 of its input files (the trained model, the test split, the
    task's info.json and tokenizer: keyword arguments, so that both callers stamp the same files).

    The train job evaluates the model it has just trained, in the same process (a second process
    per run cost ~5 s of imports: issue 9), and stamps the result; the evaluate rule copies that
    result when its own stamp is equal and evaluates anew otherwise (an ``evaluate:`` setting or the
    evaluation code changed since training)."""
    return {"run": json.loads(json.dumps(run, sort_keys=True)), "code": code,
            "inputs": {name: sha256_file(Path(path)) for name, path in
                       sorted({"model": model, "test": test, "info": info, "tokenizer": tokenizer}.items())}}


def code_files(root, *files, stop=()) -> dict[str, str]:
    """``{relative path: sha256[:16]}`` of ``files`` and everything they import (``import_closure``)."""
    root = Path(root)
    out = {}
    for rel in import_closure(root, *files, stop=stop):
        stat = (root / rel).stat()
        out[rel] = hashlib.sha256(_file_bytes(root / rel, stat.st_mtime_ns, stat.st_size)).hexdigest()[:16]
    return out


def _flat(obj, prefix="") -> dict:
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): obj}


def describe_changes(old: dict, new: dict) -> list[str]:
    """What differs between two job records (``JobRecord``): changed settings as ``key old -> new``
    and changed code files by name (Snakemake's own rerun reason names only a hash)."""
    changes = []
    old_spec, new_spec = _flat(old.get("run") or {}), _flat(new.get("run") or {})
    for key in sorted(set(old_spec) | set(new_spec)):
        if old_spec.get(key) != new_spec.get(key):
            changes.append(f"{key} {old_spec.get(key, '(unset)')} -> {new_spec.get(key, '(unset)')}")
    old_code, new_code = old.get("code") or {}, new.get("code") or {}
    edited = [f for f in sorted(new_code) if f in old_code and old_code[f] != new_code[f]]
    added = [f for f in sorted(new_code) if f not in old_code]
    removed = [f for f in sorted(old_code) if f not in new_code]
    if edited:
        changes.append(f"{', '.join(edited)} changed")
    if added:
        changes.append(f"now imports {', '.join(added)}")
    if removed:
        changes.append(f"no longer imports {', '.join(removed)}")
    return changes


class JobRecord:
    """The settings and code files (with their hashes) a run's job last completed with, kept in the run
    folder (``path``), so that a job that runs again can say why: ``changes()`` against the previous
    record, ``save()`` once the job has succeeded."""

    def __init__(self, path, root, script, model_cls, run: dict, stop=()):
        self.path = Path(path)
        self.now = {"run": run, "code": code_files(root, script, model_source(root, model_cls), stop=stop)}

    def previous(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def changes(self) -> list[str]:
        previous = self.previous()
        return [] if previous is None else describe_changes(previous, self.now)

    def save(self) -> None:
        from della.io import atomic_write_text

        atomic_write_text(self.path, json.dumps(self.now, indent=1, sort_keys=True, default=str) + "\n")
