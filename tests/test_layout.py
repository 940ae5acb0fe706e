"""The layout's rules (README "Layout"): the core never imports a baseline, no import circle among
the project's modules, and the code hash follows every import, relative ones included."""
import graphlib
from pathlib import Path

import pytest

from della.provenance import import_closure, imported_modules, module_file, module_name

REPO = Path(__file__).resolve().parents[1]


def project_files(root: Path) -> list[Path]:
    return sorted(p for package in ("della", "baselines") for p in (root / package).rglob("*.py"))


def import_graph(root: Path) -> dict[str, set[str]]:
    """{module: the project modules it imports} (a package's ``__init__`` counts as the package)."""
    graph = {}
    for path in project_files(root):
        targets = set()
        for name in imported_modules(root, path):
            file = module_file(root, name)
            if file is not None and file != path:
                targets.add(module_name(root, file))
        graph[module_name(root, path)] = targets
    return graph


def import_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (graphlib names it), or None."""
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        return err.args[1]
    return None


def test_the_core_never_imports_a_baseline():
    offenders = {module: sorted(t for t in targets if t.split(".")[0] == "baselines")
                 for module, targets in import_graph(REPO).items() if module.split(".")[0] == "della"}
    assert {m: t for m, t in offenders.items() if t} == {}


def test_no_import_circle_among_the_project_modules():
    assert import_cycle(import_graph(REPO)) is None


def test_the_checks_see_a_circle_and_a_core_import_of_a_baseline(tmp_path):
    """The two checks above can fail: a made-up tree with a relative import circle."""
    (tmp_path / "della").mkdir()
    (tmp_path / "baselines").mkdir()
    (tmp_path / "della" / "__init__.py").write_text("")
    (tmp_path / "baselines" / "__init__.py").write_text("")
    (tmp_path / "della" / "core.py").write_text("from baselines.extra import X\n")
    (tmp_path / "baselines" / "extra.py").write_text("from .other import Y\nX = 1\n")
    (tmp_path / "baselines" / "other.py").write_text("from della import core\nY = 2\n")
    graph = import_graph(tmp_path)
    assert graph["della.core"] == {"baselines.extra"}
    cycle = import_cycle(graph)
    assert cycle is not None and {"della.core", "baselines.extra", "baselines.other"} <= set(cycle)


@pytest.mark.parametrize("statement", ["from .embed import EmbedVAE", "from . import embed",
                                       "from baselines.embed import EmbedVAE"])
def test_the_code_hash_follows_relative_imports(tmp_path, statement):
    """A baseline that imports its parent relatively reruns when the parent changes (issue 20 item 6)."""
    (tmp_path / "baselines").mkdir()
    (tmp_path / "baselines" / "__init__.py").write_text("")
    (tmp_path / "baselines" / "embed.py").write_text("class EmbedVAE: pass\n")
    (tmp_path / "baselines" / "embed_tanh.py").write_text(statement + "\n")
    assert "baselines/embed.py" in import_closure(tmp_path, "baselines/embed_tanh.py")


def test_every_package_is_installed_by_pyproject():
    """pyproject's package search finds every package folder, so a non-editable install has them all."""
    import tomllib

    setuptools = pytest.importorskip("setuptools")
    find = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    found = set(setuptools.find_packages(where=str(REPO), include=find["include"]))
    folders = {module_name(REPO, init) for package in ("della", "baselines")
               for init in (REPO / package).rglob("__init__.py")}
    assert folders and folders <= found
