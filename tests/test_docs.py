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


def test_readme_and_snakefile_state_the_default_run_as_the_config_makes_it():
    """Item 10 of issue 21: the Quickstart said "7 tasks x 9 recipes" (the config: 10 recipes, 58 runs)
    and the Snakefile `--cores 8` where the README says `--cores 2`."""
    import yaml

    from della.config import runs_of

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    runs = runs_of(config)
    readme = (REPO / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    claim = (f"{len(config['tasks'])} tasks x {len(config['models'])} recipes "
             f"({len(runs) * len(config['seeds'])} runs)")
    assert claim in quickstart, claim
    cores = set(re.findall(r"snakemake --cores (\d+)", quickstart))
    assert cores == {"2"} and "--cores 2 all" in (REPO / "Snakefile").read_text()


def test_readme_results_block_is_generated_not_edited():
    """The README's results block is written by `python -m della.reporting.readme` from a run's
    summary.md, its claims block by `python -m della.reporting.claims merge ... --readme` from the
    claims studies (one block mechanism, della/reporting/readme.py); each stamp is the sha256 of its
    block, so a hand edit fails here."""
    from della.reporting.readme import check_block

    assert check_block(REPO / "README.md", "results") is None
    assert check_block(REPO / "README.md", "claims") is None


def test_readme_block_stamp_catches_a_hand_edit(tmp_path):
    from della.reporting.readme import check_block, demote_headings, replace_block

    readme = tmp_path / "README.md"
    readme.write_text("# X\n\n<!-- results:begin sha256= -->\nold\n<!-- results:end -->\n\ntail\n")
    assert replace_block(readme, "results", demote_headings("# Results\n\n| a |\n|---|\n| 2.18 |\n"))
    text = readme.read_text()
    assert "## Results" in text and text.endswith("<!-- results:end -->\n\ntail\n")
    assert check_block(readme, "results") is None
    readme.write_text(text.replace("2.18", "2.81"))
    assert "edited by hand" in check_block(readme, "results")
