"""Snakemake script of the `claims` and `study_claims` rules: decide config/claims.yaml's claims
over the runs' per-sentence files (della/reporting/claims.py); the study also tabulates its runs."""
import sys
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821
REPO = Path(snakemake.scriptdir).resolve().parents[1]  # noqa: F821
sys.path.insert(0, str(REPO))

from della.reporting.claims import load_claims, write_claims  # noqa: E402

inp, out, params = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
claims = load_claims(inp.claims)  # checked against the config's recipes at start-up (della/config.py check_claims)
table = write_claims(inp.metrics, claims, out.md, out.csv, settings=params.settings, title=params.title,
                     recipe_names=params.recipe_names or None)
print(table.to_string())
if "results_md" in out.keys():  # the study: its runs' figures, under the claims' recipe names
    from della.reporting.tables import write_study_results

    write_study_results(inp.metrics, out.results_md, out.results_csv, info_file=inp.info,
                        recipe_names={name: base for base, name in params.recipe_names.items()})
