"""Code provenance (della/provenance.py): the code hash of a job follows every import of its
script and model, relative or absolute, through della/ and baselines/ (issue 20, item 6)."""
from pathlib import Path

from della.provenance import code_hash, import_closure


def write(root: Path, rel: str, text: str = "") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def project(root: Path) -> Path:
    write(root, "della/__init__.py")
    write(root, "della/models/__init__.py")
    write(root, "della/models/vae.py", "X = 1\n")
    write(root, "della/models/backbone.py", "from .vae import X\n")  # sibling module, relative
    write(root, "della/data/__init__.py")
    write(root, "della/data/batching.py", "Y = 2\n")
    write(root, "della/models/della.py", "from . import backbone\nfrom ..data.batching import Y\n")
    write(root, "baselines/__init__.py")
    write(root, "baselines/embed.py", "from della.models.vae import X\n")
    write(root, "baselines/embed_tanh.py", "from .embed import X  # the README's example, written relatively\n")
    write(root, "baselines/unrelated.py", "Z = 3\n")
    return root


def test_relative_imports_are_followed(tmp_path):
    root = project(tmp_path)
    assert set(import_closure(root, "baselines/embed_tanh.py")) == {
        "baselines/embed_tanh.py", "baselines/__init__.py", "baselines/embed.py", "della/__init__.py",
        "della/models/__init__.py", "della/models/vae.py"}
    assert set(import_closure(root, "della/models/della.py")) == {
        "della/models/della.py", "della/__init__.py", "della/models/__init__.py", "della/models/backbone.py",
        "della/models/vae.py", "della/data/__init__.py", "della/data/batching.py"}


def test_editing_a_relatively_imported_parent_changes_the_childs_hash(tmp_path):
    root = project(tmp_path)
    before = code_hash(root, "baselines/embed_tanh.py")
    (root / "baselines" / "unrelated.py").write_text("Z = 4\n")
    assert code_hash(root, "baselines/embed_tanh.py") == before  # a file it does not import
    (root / "baselines" / "embed.py").write_text("from della.models.vae import X\n# edited\n")
    assert code_hash(root, "baselines/embed_tanh.py") != before
