"""Figures of a task (matplotlib; PNG for Snakemake's report, PDF for papers), one plots job per task so
that a task's figures appear as soon as its runs are evaluated.

* ``della_kl_per_layer``: DELLA's KL of each layer over training (``kl_group{i}`` of
  ``train_log.csv``, nats per sentence) with the KL weight β on a second axis.
* ``kl_over_training``: small multiples, one panel per latent recipe: its KL (layer sum) over training
  with its own β schedule on a second axis (recipes differ in their schedules) and, on synthetic
  twins, H(factors) as a reference line.
* ``bleu_vs_selfbleu``: quality (BLEU) against diversity (Self-BLEU, lower is more diverse).
* ``ppl_vs_kl``: PPL (layer sum) against KL (layer sum), the same figures the tables show under those
  labels; models without a latent as horizontal lines, H(factors) as a vertical one on the twins.

What every figure shares: a fixed colour per *model* across all figures of the project
(``MODEL_COLOURS``; a model not listed gets a stable colour from its name) and a line style / marker
per recipe of that model; seeds drawn as a band (min to max over seeds, curves) or error bars (± std,
points); robust axes — a log PPL axis, a KL axis that becomes symmetric-log when values span decades,
and a y limit at 1.15 × the 98th percentile of a curve with the clipped peak annotated; axis labels
from ``della/reporting/conventions.py``, also stored in the PNG (text chunk ``della:labels``, JSON) so
that tests read the labels of every figure a run wrote. Curves are smoothed with a running mean over
2% of the run.
"""
from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from della.reporting import conventions  # noqa: E402
from della.reporting.tables import load_runs  # noqa: E402

FORMATS = ("png", "pdf")
LABELS_KEY = "della:labels"  # PNG text chunk with the figure's axis labels (JSON)

# one colour per model, the same in every figure (colour-blind-safe tab10 hues; the LM black)
MODEL_COLOURS = {"lm": "#000000", "della": "#d62728", "optimus": "#9467bd", "embed": "#1f77b4",
                 "memory": "#2ca02c", "softmax": "#ff7f0e", "bart": "#8c564b", "della-bart": "#e377c2"}
EXTRA_COLOURS = ("#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94")
LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1)), (0, (1, 1)), (0, (3, 1, 1, 1)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def model_colour(model: str) -> str:
    if model in MODEL_COLOURS:
        return MODEL_COLOURS[model]
    return EXTRA_COLOURS[zlib.crc32(model.encode()) % len(EXTRA_COLOURS)]  # stable across runs and figures


class Styles:
    """Colour by model, line style and marker by recipe (the model's default recipe first, then its
    other recipes in name order): the same recipe looks the same in every figure of a task."""

    def __init__(self, models: dict[str, str]):
        self.models = dict(models)
        self.index = {}
        for model in dict.fromkeys(self.models.values()):
            recipes = sorted(r for r, m in self.models.items() if m == model)
            recipes.sort(key=lambda r: r != model)
            self.index.update({r: i for i, r in enumerate(recipes)})

    def colour(self, recipe: str) -> str:
        return model_colour(self.models.get(recipe, recipe))

    def line(self, recipe: str):
        return LINESTYLES[self.index.get(recipe, 0) % len(LINESTYLES)]

    def marker(self, recipe: str) -> str:
        return MARKERS[self.index.get(recipe, 0) % len(MARKERS)]


def read_logs(paths) -> list[pd.DataFrame]:
    return [pd.read_csv(p) for p in paths if Path(p).is_file()]


def seed_curves(logs: list[pd.DataFrame], column: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Smoothed ``column`` of each seed's log, then mean, min and max over seeds, step by step."""
    frame = pd.concat([smooth(log.set_index("step")[column]).rename(i) for i, log in enumerate(logs)], axis=1)
    return frame.mean(axis=1), frame.min(axis=1), frame.max(axis=1)


def smooth(values: pd.Series) -> pd.Series:
    window = max(1, len(values) // 50)
    return values.rolling(window, min_periods=1).mean()


def robust_top(values, quantile: float = 0.98, margin: float = 1.15) -> float | None:
    """An upper y limit that a few spikes do not set: ``margin`` × the ``quantile`` of the values; None
    when that already shows everything."""
    values = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if not len(values):
        return None
    top = float(np.quantile(values, quantile)) * margin
    return top if values.max() > top > 0 else None


def save(fig, stem: Path, labels: dict | None = None) -> list[Path]:
    """PNG and PDF (no creation date: two runs of one config give byte-identical figures); the PNG
    carries the axis labels as a text chunk (``LABELS_KEY``)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    if labels is None:
        labels = axis_labels(fig)
    out = []
    for fmt in FORMATS:
        path = stem.with_name(f"{stem.name}.{fmt}")
        tmp = path.with_name(f"{path.stem}.tmp.{fmt}")  # matplotlib picks the format from the suffix
        metadata = ({"CreationDate": None} if fmt == "pdf"
                    else {LABELS_KEY: json.dumps(labels, ensure_ascii=False, sort_keys=True)})
        fig.savefig(tmp, dpi=120, bbox_inches="tight", metadata=metadata)
        tmp.replace(path)
        out.append(path)
    plt.close(fig)
    return out


def axis_labels(fig) -> dict:
    """Every non-empty axis label of a figure: ``{"x": [...], "y": [...]}``."""
    xs, ys = [], []
    for ax in fig.axes:
        if ax.get_xlabel():
            xs.append(ax.get_xlabel())
        if ax.get_ylabel():
            ys.append(ax.get_ylabel())
    return {"x": sorted(set(xs)), "y": sorted(set(ys))}


def read_png_labels(path) -> dict:
    """The axis labels a figure was saved with (``save``)."""
    from PIL import Image

    with Image.open(path) as image:
        return json.loads(image.text[LABELS_KEY])


def _beta_axis(ax, log: pd.DataFrame | None, steps=None, beta=None):
    """β (the KL weight) on a second y axis, grey."""
    steps = log.step if log is not None else steps
    beta = log.beta if log is not None else beta
    twin = ax.twinx()
    twin.plot(steps, beta, color="grey", lw=0.8, ls="--", alpha=0.8, label="β")
    twin.set_ylim(-0.05, max(1.05, float(np.nanmax(beta)) * 1.05))
    twin.set_ylabel(conventions.label("beta").text, color="grey")
    twin.tick_params(axis="y", colors="grey", labelsize=7)
    return twin


def _clip(ax, curves: list[pd.Series], where: str = "") -> None:
    """A robust y limit; the clipped peak is annotated with its value."""
    values = np.concatenate([c.to_numpy() for c in curves]) if curves else np.array([])
    top = robust_top(values)
    if top is None:
        return
    peak_curve = max(curves, key=lambda c: np.nanmax(c.to_numpy()))
    step, value = peak_curve.idxmax(), float(peak_curve.max())
    ax.set_ylim(bottom=min(0.0, float(np.nanmin(values))), top=top)
    first, last = peak_curve.index.min(), peak_curve.index.max()
    where_x = (step - first) / max(last - first, 1)  # keep the note inside the panel
    ax.annotate(f"{where}peak {value:.3g} at step {step} ↑", (step, top), xytext=(2 if where_x < 0.3 else -2, -10),
                textcoords="offset points", fontsize=6, color="dimgrey",
                ha="left" if where_x < 0.3 else "right" if where_x > 0.7 else "center")


def plot_della_layers(logs: list[pd.DataFrame], stem: Path, title: str) -> list[Path]:
    layers = sorted((c for c in logs[0].columns if c.startswith("kl_group")), key=lambda c: int(c[len("kl_group"):]))
    if not layers:  # one latent group: the total is the only curve
        layers = ["kl"]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    cmap = plt.get_cmap("viridis")
    curves = []
    for i, col in enumerate(layers):
        mean, low, high = seed_curves(logs, col)
        colour = cmap(i / max(1, len(layers) - 1) * 0.85)
        label = f"layer {int(col[len('kl_group'):]) + 1}" if col != "kl" else "KL"
        ax.plot(mean.index, mean, color=colour, lw=1.2, label=label)
        if len(logs) > 1:
            ax.fill_between(mean.index, low, high, color=colour, alpha=0.2, lw=0)
        curves.append(mean)
    _clip(ax, curves)
    ax.set_xlabel(conventions.label("step").text)
    ax.set_ylabel(conventions.KL_LAYER.axis)
    ax.set_title(title, fontsize=10)
    twin = _beta_axis(ax, logs[0])
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], fontsize=7, ncol=3, loc="upper left")
    return save(fig, stem)


def plot_kl_curves(logs_by_recipe: dict[str, list[pd.DataFrame]], styles: Styles, stem: Path, title: str,
                   factor_entropy: float | None = None) -> list[Path]:
    """One panel per latent recipe (small multiples): its KL (layer sum) and its β."""
    recipes = [r for r, logs in logs_by_recipe.items() if logs]
    ncols = min(3, len(recipes))
    nrows = math.ceil(len(recipes) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 2.3 * nrows), sharex=True, squeeze=False)
    for ax, recipe in zip(axes.flat, recipes):
        logs = logs_by_recipe[recipe]
        mean, low, high = seed_curves(logs, "kl")
        colour = styles.colour(recipe)
        ax.plot(mean.index, mean, color=colour, ls=styles.line(recipe), lw=1.2)
        if len(logs) > 1:
            ax.fill_between(mean.index, low, high, color=colour, alpha=0.2, lw=0)
        if factor_entropy is not None and math.isfinite(factor_entropy):
            ax.axhline(factor_entropy, color="grey", lw=0.7, ls=":")
        _clip(ax, [mean, high])
        ax.set_ylim(bottom=0)  # a KL is never negative
        ax.set_title(recipe + (f" ({len(logs)} seeds)" if len(logs) > 1 else ""), fontsize=8, color=colour)
        ax.tick_params(labelsize=7)
        twin = _beta_axis(ax, logs[0])
        if ax not in axes[:, -1]:
            twin.set_ylabel("")
    for ax in axes.flat[len(recipes):]:
        ax.set_visible(False)
    for ax in axes[-1, :]:
        ax.set_xlabel(conventions.label("step").text, fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel(conventions.label("kl").axis, fontsize=8)
    note = "  (dotted: H(factors))" if factor_entropy is not None else ""
    fig.suptitle(title + note, fontsize=10)
    fig.tight_layout()
    return save(fig, stem)


def _points(ax, runs: pd.DataFrame, x: str, y: str, styles: Styles) -> None:
    """Every run as a point (± std over seeds), coloured by model, one marker per recipe; a legend
    instead of labels on the points (they overlapped)."""
    for _, row in runs.iterrows():
        if pd.isna(row.get(f"{x}_mean")) or pd.isna(row.get(f"{y}_mean")):
            continue
        ax.errorbar(row[f"{x}_mean"], row[f"{y}_mean"], xerr=_err(row, x), yerr=_err(row, y),
                    fmt=styles.marker(row.recipe), ms=5, capsize=2, color=styles.colour(row.recipe),
                    label=row.recipe + (f" ({int(row.n_seeds)} seeds)" if row.get("n_seeds", 1) > 1 else ""))


def _err(row, key):
    std = row.get(f"{key}_std")
    return None if std is None or pd.isna(std) else std


def split_outliers(values: pd.Series, factor: float = 100.0) -> tuple[pd.Series, pd.Series]:
    """(kept, outliers): values more than ``factor`` × the median (e.g. a diverged BN-VAE's PPL of 2e14
    among PPLs of 2-3) are outliers; the axis is set by the others."""
    values = values.dropna()
    if len(values) < 3:
        return values, values.iloc[:0]
    far = values > factor * float(values.median())
    return values[~far], values[far]


def _mark_outliers(ax, runs: pd.DataFrame, outliers: pd.Series, x: str, y: str, bottom: float, top: float) -> None:
    """The y range of the other points; outliers annotated at its top edge with their value."""
    ax.set_ylim(bottom=bottom, top=top)
    for index in outliers.index:
        row = runs.loc[index]
        ax.annotate(f"{row.recipe}: {row[y + '_mean']:.3g} ↑", (row[x + "_mean"], top), xytext=(0, -9),
                    textcoords="offset points", fontsize=6, ha="center", color="dimgrey")


def plot_bleu_selfbleu(runs: pd.DataFrame, styles: Styles, stem: Path, title: str, conditional: bool) -> list[Path]:
    fig, ax = plt.subplots(figsize=(5.6, 4))
    _points(ax, runs, "self_bleu", "bleu", styles)
    ax.set_xlabel(conventions.label("self_bleu").text + " (lower = more diverse)")
    ax.set_ylabel(conventions.label("bleu", conditional).text)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=6, ncol=1, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    return save(fig, stem)


def plot_ppl_kl(runs: pd.DataFrame, styles: Styles, stem: Path, title: str,
                factor_entropy: float | None = None) -> list[Path]:
    """PPL (layer sum) against KL (layer sum): the same quantities as the tables' columns of those labels."""
    fig, ax = plt.subplots(figsize=(5.6, 4))
    has_kl = runs["kl_mean"].notna() if "kl_mean" in runs else pd.Series(False, index=runs.index)
    latent = runs[has_kl & (runs.recipe != "H(factors)")]
    _points(ax, latent, "kl", "ppl", styles)
    for _, row in runs[~has_kl].iterrows():  # models without a latent: their PPL as a line
        if not pd.isna(row.get("ppl_mean")):
            ax.axhline(row.ppl_mean, color=styles.colour(row.recipe), ls=":", lw=1,
                       label=f"{row.recipe} (no latent)")
    if factor_entropy is not None and math.isfinite(factor_entropy):
        ax.axvline(factor_entropy, color="grey", ls="--", lw=0.8, label="H(factors)")
    ppl = runs.loc[runs.recipe != "H(factors)", "ppl_mean"] if "ppl_mean" in runs else pd.Series(dtype=float)
    kept, outliers = split_outliers(ppl)
    log_y = bool(len(kept)) and kept.max() > 3 * kept.min()  # a log axis only where values span a wide range
    if log_y:
        ax.set_yscale("log")
        plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    kl = latent["kl_mean"].dropna()
    if len(kl) and kl.max() > 20 * max(kl.min(), 1e-3):  # values over decades: symmetric log, linear near 0
        ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlim(left=0)  # a KL is never negative
    if len(outliers) and len(kept):
        low, high = float(kept.min()), float(kept.max())
        pad = 0.1 * ((high - low) or high)
        bottom, top = (low / 1.3, high * 2.0) if log_y else (low - pad, high + 2 * pad)
        _mark_outliers(ax, runs, outliers[outliers.index.isin(latent.index)], "kl", "ppl", bottom, top)
    ax.set_xlabel(conventions.label("kl").axis)
    ax.set_ylabel(conventions.label("ppl").text + (", log scale" if log_y else ""))
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=6, ncol=1, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    return save(fig, stem)


def task_plots(task: str, runs_dir: Path, recipes: list[str], latent: list[str], della: str | None,
               seeds: list[int], out_dir: Path, factor_entropy: float | None = None,
               conditional: bool = False) -> list[Path]:
    """Every figure of one task; returns the files written."""
    runs_dir, out_dir = Path(runs_dir), Path(out_dir)

    def logs(recipe):
        return read_logs([runs_dir / task / recipe / f"seed{s}" / "train_log.csv" for s in seeds])

    metric_files = [runs_dir / task / r / f"seed{s}" / "metrics.json" for r in recipes for s in seeds]
    runs = load_runs(metric_files)
    styles = Styles(dict(zip(runs.recipe, runs.model)))
    written = []
    if della:
        written += plot_della_layers(logs(della), out_dir / "della_kl_per_layer",
                                     f"{task}: {della}, KL of each layer and β over training")
    if latent:
        written += plot_kl_curves({r: logs(r) for r in latent}, styles, out_dir / "kl_over_training",
                                  f"{task}: KL over training, each recipe with its β", factor_entropy)
    written += plot_bleu_selfbleu(runs, styles, out_dir / "bleu_vs_selfbleu", f"{task}: quality vs diversity",
                                  conditional)
    if latent:
        written += plot_ppl_kl(runs, styles, out_dir / "ppl_vs_kl", f"{task}: PPL vs KL", factor_entropy)
    return written
