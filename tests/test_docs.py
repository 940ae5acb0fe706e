"""Docstrings cite papers, reference code and the project's own files, never a design document
that users do not have (issue 12)."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CITATION = re.compile(r"DESIGN(\.md| §)")


def test_no_source_file_cites_a_design_document_missing_from_the_repository():
    assert not (REPO / "DESIGN.md").exists()
    cited = [str(p.relative_to(REPO)) for folder in ("della", "baselines", "workflow", "benchmarks", "tests")
             for p in (REPO / folder).rglob("*.py") if p.name != "test_docs.py" and CITATION.search(p.read_text())]
    assert cited == []
