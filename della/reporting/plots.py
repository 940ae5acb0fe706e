"""Figures of a run of the benchmark (matplotlib; PNG for Snakemake's report, PDF for papers).

* ``della_kl_per_layer``: DELLA's KL of each layer over training (``kl_group{i}`` of
  ``train_log.csv``, nats per sentence), with the KL weight beta on a second axis — does every
  layer's latent stay alive through the annealing cycles?
* ``kl_over_training``: the total KL of every latent model of a task over training.
* ``bleu_vs_selfbleu``: quality (BLEU) against diversity (Self-BLEU, lower is more diverse).
* ``ppl_vs_kl``: perplexity against KL; the LM's perplexity as a horizontal line and, on synthetic
  twins, H(factors) (``info.json``) as a vertical one: the KL of a model whose z encodes the
  generating factors.

Curves are averaged over seeds (step by step) and smoothed with a running mean over 2% of the run;
points are seed means with the standard deviation as error bars.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from della.reporting.tables import load_runs  # noqa: E402

FORMATS = ("png", "pdf")


def mean_log(paths) -> pd.DataFrame:
    """train_log.csv of several seeds, averaged step by step."""
    frames = [pd.read_csv(p) for p in paths]
    return pd.concat(frames).groupby("step", sort=True).mean(numeric_only=True).reset_index()


def smooth(values: pd.Series) -> pd.Series:
    window = max(1, len(values) // 50)
    return values.rolling(window, min_periods=1).mean()


def save(fig, stem: Path) -> list[Path]:
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in FORMATS:
        path = stem.with_name(f"{stem.name}.{fmt}")
        tmp = path.with_name(f"{path.stem}.tmp.{fmt}")  # matplotlib picks the format from the suffix
        # no creation date in the PDF: two runs of one config give byte-identical figures
        metadata = {"CreationDate": None} if fmt == "pdf" else None
        fig.savefig(tmp, dpi=120, bbox_inches="tight", metadata=metadata)
        tmp.replace(path)
        out.append(path)
    plt.close(fig)
    return out


def plot_della_layers(log_paths, stem: Path, title: str) -> list[Path]:
    log = mean_log(log_paths)
    layers = sorted((c for c in log.columns if c.startswith("kl_group")), key=lambda c: int(c[len("kl_group"):]))
    if not layers:  # one latent group: the total is the only curve
        layers = ["kl"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for col in layers:
        label = f"layer {int(col[len('kl_group'):]) + 1}" if col != "kl" else "KL"
        ax.plot(log.step, smooth(log[col]), label=label, lw=1.2)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("KL (nats / sentence)")
    ax.set_title(title)
    beta_ax = ax.twinx()
    beta_ax.plot(log.step, log.beta, color="grey", ls="--", lw=0.8, label="β")
    beta_ax.set_ylabel("β (KL weight)")
    beta_ax.set_ylim(-0.05, max(1.05, log.beta.max() * 1.05))
    handles = ax.get_legend_handles_labels()[0] + beta_ax.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], fontsize=7, ncol=2, loc="upper left")
    return save(fig, stem)


def plot_kl_curves(logs_by_recipe: dict, stem: Path, title: str) -> list[Path]:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for recipe, paths in logs_by_recipe.items():
        log = mean_log(paths)
        ax.plot(log.step, smooth(log.kl), label=recipe, lw=1.2)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("KL (nats / sentence)")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    return save(fig, stem)


def _scatter(ax, runs: pd.DataFrame, x: str, y: str) -> None:
    for _, row in runs.iterrows():
        if pd.isna(row.get(f"{x}_mean")) or pd.isna(row.get(f"{y}_mean")):
            continue
        ax.errorbar(row[f"{x}_mean"], row[f"{y}_mean"], xerr=_err(row, x), yerr=_err(row, y), fmt="o", ms=4,
                    capsize=2, label=row.recipe)
        ax.annotate(row.recipe, (row[f"{x}_mean"], row[f"{y}_mean"]), fontsize=6, xytext=(3, 3),
                    textcoords="offset points")


def _err(row, key):
    std = row.get(f"{key}_std")
    return None if std is None or pd.isna(std) else std


def plot_bleu_selfbleu(runs: pd.DataFrame, stem: Path, title: str) -> list[Path]:
    fig, ax = plt.subplots(figsize=(5, 4))
    _scatter(ax, runs, "self_bleu", "bleu")
    ax.set_xlabel("Self-BLEU (lower = more diverse)")
    ax.set_ylabel("BLEU (quality)")
    ax.set_title(title)
    return save(fig, stem)


def plot_ppl_kl(runs: pd.DataFrame, stem: Path, title: str, factor_entropy: float | None = None) -> list[Path]:
    fig, ax = plt.subplots(figsize=(5, 4))
    has_kl = runs["kl_mean"].notna() if "kl_mean" in runs else pd.Series(False, index=runs.index)
    _scatter(ax, runs[has_kl], "kl", "ppl")
    for _, row in runs[~has_kl].iterrows():  # models without a latent: their PPL as a line
        if not pd.isna(row.get("ppl_mean")):
            ax.axhline(row.ppl_mean, color="black", ls=":", lw=0.8)
            ax.annotate(f"{row.recipe} (no latent)", (0, row.ppl_mean), fontsize=6, xytext=(2, 2),
                        textcoords="offset points", xycoords=("axes fraction", "data"))
    if factor_entropy is not None and math.isfinite(factor_entropy):
        ax.axvline(factor_entropy, color="grey", ls="--", lw=0.8)
        ax.annotate("H(factors)", (factor_entropy, 1), fontsize=6, xytext=(2, -10), textcoords="offset points",
                    xycoords=("data", "axes fraction"))
    ax.set_xlabel("KL (nats / sentence)")
    ax.set_ylabel("PPL (importance-weighted, per token)")
    ax.set_title(title)
    return save(fig, stem)


def task_plots(task: str, runs_dir: Path, recipes: list[str], latent: list[str], della: str | None,
               seeds: list[int], out_dir: Path, factor_entropy: float | None = None) -> list[Path]:
    """Every figure of one task; returns the files written."""
    runs_dir, out_dir = Path(runs_dir), Path(out_dir)

    def logs(recipe):
        return [runs_dir / task / recipe / f"seed{s}" / "train_log.csv" for s in seeds]

    def metrics(recipe):
        return [runs_dir / task / recipe / f"seed{s}" / "metrics.json" for s in seeds]

    written = []
    if della:
        written += plot_della_layers(logs(della), out_dir / "della_kl_per_layer",
                                     f"{task}: {della}, KL per layer")
    if latent:
        written += plot_kl_curves({r: logs(r) for r in latent}, out_dir / "kl_over_training",
                                  f"{task}: KL over training")
    runs = load_runs([p for r in recipes for p in metrics(r)])
    written += plot_bleu_selfbleu(runs, out_dir / "bleu_vs_selfbleu", f"{task}: quality vs diversity")
    if latent:
        written += plot_ppl_kl(runs, out_dir / "ppl_vs_kl", f"{task}: PPL vs KL", factor_entropy)
    return written
