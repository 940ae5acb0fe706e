"""Snakemake script of the `claims` and `study_claims` rules: decide config/claims.yaml's claims
over the runs' per-sentence files (della/reporting/claims.py); the study also tabulates its runs."""
import sys
from pathlib import Path

REPO = Path(snakemake.scriptdir).resolve().parents[1]  # noqa: F821
sys.path.insert(0, str(REPO))

from della.progress import job_console  # noqa: E402

with job_console(snakemake, "claims", run=snakemake.rule):  # noqa: F821
    from della.progress import DONE, say
    from della.reporting.claims import load_claims, write_claims
    from della.reporting.tables import load_infos, task_label

    inp, out, params = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
    claims = load_claims(inp.claims)  # checked against the config's recipes at start-up (della/config.py check_claims)
    infos = load_infos(inp.info if isinstance(inp.info, list) else [inp.info])
    table = write_claims(inp.metrics, claims, out.md, out.csv, settings=params.settings, title=params.title,
                         recipe_names=params.recipe_names or None,
                         task_labels={task: task_label(task, info) for task, info in infos.items()},
                         out_html=out.html if "html" in out.keys() else None)
    print(table.to_string())
    counts = table["verdict"].value_counts()
    written = [out.md, out.csv] + ([out.html] if "html" in out.keys() else [])
    if "results_md" in out.keys():  # the study: its runs' figures, under the claims' recipe names
        from della.reporting.tables import write_study_results

        write_study_results(inp.metrics, out.results_md, out.results_csv, info_file=inp.info,
                            recipe_names={name: base for base, name in params.recipe_names.items()})
        written += [out.results_md, out.results_csv]
    say(DONE, ", ".join(f"{v} {n}" for v, n in counts.items()) + ": " + ", ".join(map(str, written)))
