"""Depth study (``snakemake --cores 2 study_depth``): does DELLA avoid posterior collapse without
annealing because of its layer-wise latents, or because the official code averages the per-layer
KL over layers (``kl_reduction: mean``), which acts as a KL weight of 1/L?

DELLA is trained with a constant beta = 1 and no other trick at depths L (config
``study_depth.depths``) with the KL reduced over layers by the mean (official code) and by the
sum (paper Eq. 6); everything else is the config's. The table and the figure give, against L:
KL (nats per sentence, summed over layers, whatever the training reduction), MI (sampled), active
units (mean over layers of the per-layer count at delta 0.01 and 0.2) and PPL in both conventions
(``ppl``: latent terms summed over layers, paper Eq. 6, per scored token; ``ppl_paper``: the
official code's ``calc_iwnll``, latent terms averaged over layers, per word + <s> + </s>; see
CONVENTIONS.md), mean ± std over seeds.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from della.io import atomic_write_text  # noqa: E402
from della.reporting import conventions  # noqa: E402
from della.reporting.plots import save  # noqa: E402
from della.reporting.tables import format_cell, load_runs  # noqa: E402

# metrics.json keys of the table's columns (labels: della/reporting/conventions.py)
KEYS = ["kl", "mi_sampled", "au_per_group_mean@0.01", "au_per_group_mean@0.2", "ppl", "ppl_paper", "neg_elbo"]
COLUMNS = {conventions.text(key): key for key in KEYS}


def depth_table(metric_files, task: str, data_source: str) -> tuple[pd.DataFrame, str]:
    runs = load_runs(metric_files)
    parsed = runs.recipe.str.extract(r"^della-depth(?P<L>\d+)-(?P<kl_reduction>mean|sum)$")
    runs = pd.concat([parsed.assign(L=parsed.L.astype(int)), runs], axis=1).sort_values(["kl_reduction", "L"])
    lines = [f"# Depth study: DELLA with constant beta = 1 on {task} ({data_source})", "",
             "| kl_reduction | L | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    for _, row in runs.iterrows():
        lines.append(f"| {row.kl_reduction} | {row.L} | " + " | ".join(format_cell(row, k) for k in COLUMNS.values())
                     + " |")
    lines += [""] + [f"- {line}" for line in conventions.legend(KEYS)]
    return runs, "\n".join(lines) + "\n"


def plot_depth(runs: pd.DataFrame, stem: Path, title: str) -> list[Path]:
    panels = [(conventions.label("kl").axis, ["kl"]), ("AU (layer mean, at means; δ in the legend)",
                                                        ["au_per_group_mean@0.01", "au_per_group_mean@0.2"]),
              ("PPL (both conventions: legend)", ["ppl", "ppl_paper"])]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.3))
    for ax, (label, keys) in zip(axes, panels):
        for reduction, sub in runs.groupby("kl_reduction"):
            for key in keys:
                if f"{key}_mean" not in sub:
                    continue
                std = sub[f"{key}_std"].fillna(0)
                ax.errorbar(sub.L, sub[f"{key}_mean"], yerr=std, marker="o", ms=3, capsize=2,
                            label=(f"{reduction}: {conventions.text(key)}" if len(keys) > 1
                                   else f"kl_reduction {reduction}"))
        ax.set_xlabel("depth L (layers, one latent each)")
        ax.set_ylabel(label)
        ax.set_xticks(sorted(runs.L.unique()))
        ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    return save(fig, stem)


def write_depth_study(metric_files, out_dir, task: str, data_source: str) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs, md = depth_table(metric_files, task, data_source)
    for name, text in (("depth.csv", runs.to_csv(index=False)), ("depth.md", md)):
        atomic_write_text(out_dir / name, text)
    plot_depth(runs, out_dir / "depth", f"DELLA, constant β = 1, on {task} ({data_source})")
