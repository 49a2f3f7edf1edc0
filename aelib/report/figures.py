"""The study's figures, after the paper's Figures 2–14, as matplotlib figures.

Every function returns a :class:`matplotlib.figure.Figure` with a title and
axes labelled with units; :func:`save_figure` writes it as PNG. In a notebook
the figure also shows inline.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from aelib.outputs import atomic_output

# (column, axis label) of the metrics the paper plots; time is shown in milliseconds.
METRICS = (
    ("psnr", "PSNR (dB)"),
    ("ssim", "SSIM"),
    ("compression_ratio", "compression ratio (×)"),
    ("bits_per_pixel", "bits per pixel"),
)
LOSS_COMPONENTS = (
    ("loss", "total loss"),
    ("ssim_loss", "SSIM loss, 1 − SSIM"),
    ("perceptual_loss", "perceptual loss (VGG16)"),
    ("mse_loss", "MSE loss"),
    ("bits_per_pixel", "rate estimate (bits per pixel)"),
)


def save_figure(figure: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Writes figure as a PNG atomically, creating the folder; returns the path."""
    path = Path(path)
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png", dpi=dpi, bbox_inches="tight")
    return path


def plot_samples(images: np.ndarray, names: tuple[str, ...], title: str, columns: int = 8) -> Figure:
    """A grid of images with their names (the data-preparation overview)."""
    rows = -(-len(images) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.8 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, image, name in zip(axes.flat, images, names):
        axis.imshow(image)
        axis.set_title(Path(name).name[:18], fontsize=7)
    figure.suptitle(title)
    return figure


def plot_training_curves(history: pd.DataFrame, title: str) -> Figure:
    """Each logged loss component per epoch, training and validation (validation rounds the latents)."""
    components = [(column, label) for column, label in LOSS_COMPONENTS if column in history]
    figure, axes = plt.subplots(1, len(components), figsize=(3.4 * len(components), 3.2), squeeze=False)
    epochs = history["epoch"] if "epoch" in history else np.arange(1, len(history) + 1)
    for axis, (column, label) in zip(axes[0], components):
        axis.plot(epochs, history[column], marker="o", label="training")
        if f"val_{column}" in history:
            axis.plot(epochs, history[f"val_{column}"], marker="s", label="validation")
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[0][0].legend()
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_metric_bars(summary: pd.DataFrame, title: str) -> Figure:
    """PSNR, SSIM, compression ratio and time per image of each method (Figures 2, 6, 10, 12).

    Where the paper published a value for the same method it is drawn as a
    black tick on the bar.
    """
    paper_time = summary.get("paper_time_per_image_s")
    panels = [
        ("PSNR (dB)", summary["psnr"], summary.get("paper_psnr")),
        ("SSIM", summary["ssim"], summary.get("paper_ssim")),
        ("compression ratio (×)", summary["compression_ratio"], summary.get("paper_compression_ratio")),
        (
            "time per image (ms)",
            summary["time_per_image_s"] * 1000.0,
            None if paper_time is None else paper_time * 1000,
        ),
    ]
    figure, axes = plt.subplots(1, 4, figsize=(17, 4.2))
    positions = np.arange(len(summary))
    colours = ["tab:red" if not m.startswith("JPEG") else "tab:blue" for m in summary["method"]]
    for axis, (label, ours, paper) in zip(axes, panels):
        axis.bar(positions, ours, color=colours)
        if paper is not None:
            axis.scatter(positions, paper, marker="_", s=400, color="black", label="paper (CelebA-HQ)")
        axis.set_xticks(positions, summary["method"], rotation=35, ha="right", fontsize=8)
        axis.set_ylabel(label)
        axis.grid(axis="y", alpha=0.3)
    axes[3].set_yscale("log")
    if panels[0][2] is not None:
        axes[0].legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_distributions(per_image: pd.DataFrame, methods: list[str], title: str) -> Figure:
    """Histograms of per-image PSNR, SSIM and compression ratio for the given methods (Figures 3 and 7).

    Drawn with seaborn: one step histogram per method on shared bins, so the methods' spreads
    compare directly; the legend names the methods.
    """
    import seaborn as sns

    shown = per_image[per_image["method"].isin(methods)]
    figure, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for index, (axis, (column, label)) in enumerate(zip(axes, METRICS[:3])):
        constant = shown[column].nunique() < 2
        sns.histplot(
            data=shown,
            x=column,
            hue="method",
            hue_order=methods,
            bins=10 if constant else 30,
            element="step",
            common_bins=True,
            legend=index == 0,
            ax=axis,
        )
        axis.set_xlabel(label)
        axis.set_ylabel("images")
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def detail_window(image: np.ndarray, fraction: float = 0.25) -> tuple[int, int, int]:
    """The square (top, left, side) of side ≈ fraction·min(H, W) with the most gradient energy.

    Textured regions are where compression artefacts show, so the enlarged
    detail of the comparison figures is taken there.
    """
    gray = image.astype(np.float64).mean(axis=-1)
    energy = np.abs(np.diff(gray, axis=0, append=gray[-1:])) + np.abs(np.diff(gray, axis=1, append=gray[:, -1:]))
    side = max(4, int(round(fraction * min(gray.shape))))
    totals = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    window = totals[side:, side:] - totals[:-side, side:] - totals[side:, :-side] + totals[:-side, :-side]
    top, left = np.unravel_index(np.argmax(window), window.shape)
    return int(top), int(left), side


def plot_comparison(rows: list[dict], title: str) -> Figure:
    """Originals beside their reconstructions, each with an enlarged detail (Figures 4, 5, 8, 9, 11, 13).

    Args:
        rows: one dict per image: ``name``, ``original`` and ``panels``, a list of
            (label, image) pairs, each label naming the method and its metrics.
        title: the figure's title.
    """
    columns = 1 + len(rows[0]["panels"])
    figure, axes = plt.subplots(2 * len(rows), columns, figsize=(3.2 * columns, 6.0 * len(rows)), squeeze=False)
    for index, row in enumerate(rows):
        top, left, side = detail_window(row["original"])
        panels = [(f"original\n{row['name']}", row["original"])] + list(row["panels"])
        for column, (label, image) in enumerate(panels):
            whole, detail = axes[2 * index][column], axes[2 * index + 1][column]
            whole.imshow(image)
            whole.add_patch(Rectangle((left, top), side, side, fill=False, edgecolor="yellow", linewidth=1.5))
            whole.set_title(label, fontsize=8)
            detail.imshow(image[top : top + side, left : left + side], interpolation="nearest")
            detail.set_title("detail, enlarged", fontsize=8)
            whole.axis("off")
            detail.axis("off")
    figure.suptitle(title)
    # tight_layout leaves the title no room above the two-line panel titles of this tall figure: keep 0.4 in for it.
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.4 / figure.get_figheight()))
    return figure


def plot_depth_comparison(table: pd.DataFrame, title: str) -> Figure:
    """PSNR, SSIM, compression ratio and time per image against depth, the matched JPEG beside (Figure 14 a–d).

    Args:
        table: one row per depth with columns depth, and for "model" and "jpeg"
            the metrics psnr, ssim, compression_ratio and time_per_image_s
            (as ``model_psnr``, ``jpeg_psnr`` …), plus ``jpeg_quality``.
        title: the figure's title.
    """
    panels = [
        ("psnr", "PSNR (dB)", 1.0),
        ("ssim", "SSIM", 1.0),
        ("compression_ratio", "compression ratio (×)", 1.0),
        ("time_per_image_s", "time per image (ms)", 1000.0),
    ]
    figure, axes = plt.subplots(1, 4, figsize=(17, 3.9))
    depths = table["depth"].to_numpy()
    for axis, letter, (column, label, scale) in zip(axes, "abcd", panels):
        axis.plot(depths, table[f"model_{column}"] * scale, marker="o", color="tab:red", label="autoencoder (.aec)")
        axis.plot(depths, table[f"jpeg_{column}"] * scale, marker="s", color="tab:blue", label="JPEG, SSIM-matched")
        for depth, value, quality in zip(depths, table[f"jpeg_{column}"] * scale, table["jpeg_quality"]):
            axis.annotate(f"q{quality:.0f}", (depth, value), textcoords="offset points", xytext=(4, 4), fontsize=7)
        axis.set_xticks(depths)
        axis.set_xlabel("encoder depth (convolutional layers)")
        axis.set_ylabel(label)
        axis.set_title(f"({letter})")
        axis.grid(alpha=0.3)
    axes[3].set_yscale("log")
    axes[0].legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


RD_METRICS = (
    ("psnr", "PSNR (dB)"),
    ("ms_ssim", "MS-SSIM"),
    ("ssim", "SSIM"),
    ("lpips", "LPIPS (VGG), lower is better"),
)


OURS_COLOURS = ("tab:red", "darkred", "magenta")
"""Our curves' colours (the two factorized families, then the hyperprior), none of them a classical codec's."""


def plot_rd_curves(
    points: pd.DataFrame, title: str, ours: list[str], single_points: list[str], dashed: tuple[str, ...] = ()
) -> Figure:
    """Rate–distortion curves: bits per pixel against PSNR, MS-SSIM, SSIM and LPIPS.

    Each axis is scaled to the curves; a single point beyond that range is drawn
    at the edge and labelled with its value, so one failed model does not flatten
    every curve.

    Args:
        points: one row per (method, setting) with bpp and the metric columns
            (from :func:`aelib.measure.curves.curves`).
        title: the figure's title.
        ours: methods drawn as bold red-toned curves (our families).
        single_points: methods drawn as lone markers (the paper's models, one setting each).
        dashed: curves drawn thin and dashed (the paper's models swept over quantisation steps).
    """
    figure, axes = plt.subplots(1, len(RD_METRICS), figsize=(4.6 * len(RD_METRICS), 4.2))
    others = itertools.cycle(c for c in plt.cm.tab10.colors if c != plt.cm.tab10.colors[3])  # red is ours
    styles = {}
    for method in points["method"].unique():
        if method in ours:
            styles[method] = {"color": OURS_COLOURS[ours.index(method) % len(OURS_COLOURS)], "lw": 2.4, "marker": "o"}
        elif method in dashed:
            styles[method] = {"color": next(others), "lw": 1.0, "ls": "--", "marker": "x", "ms": 4}
        elif method not in single_points:
            styles[method] = {"color": next(others), "lw": 1.2, "marker": ".", "ms": 5}
    curves = points[~points["method"].isin(single_points)]
    for axis, (column, label) in zip(axes, RD_METRICS):
        for method, curve in curves.groupby("method", sort=False):
            curve = curve.sort_values("bpp")
            if curve[column].notna().any():
                axis.plot(curve["bpp"], curve[column], label=method, **styles[method])
        low, high = curves[column].min(), curves[column].max()
        if np.isfinite(low) and np.isfinite(high):
            margin = 0.05 * (high - low) or 0.05 * abs(high) or 0.05
            low, high = low - margin, high + margin
            axis.set_ylim(low, high)
        off_scale: dict[tuple[float, float], list[tuple[str, float]]] = {}
        for _, row in points[points["method"].isin(single_points)].iterrows():
            value = row[column]
            if not np.isfinite(value):
                continue
            shown = min(max(value, low), high) if np.isfinite(low) else value
            axis.plot(row["bpp"], shown, color="black", marker="x", ms=8, lw=0)
            if shown == value:
                axis.annotate(row["method"], (row["bpp"], shown), fontsize=7, xytext=(4, 4), textcoords="offset points")
            else:
                off_scale.setdefault((round(row["bpp"], 2), shown), []).append((row["method"], value))
        for (bpp, shown), entries in off_scale.items():  # one label for points that land on one spot
            names = ", ".join(method for method, _ in entries)
            values = [value for _, value in entries]
            span = f"{min(values):.3g}" if len(values) == 1 else f"{min(values):.3g}–{max(values):.3g}"
            text = f"{names} ({span}, off scale)"
            axis.annotate(text, (bpp, shown), fontsize=7, xytext=(4, 4), textcoords="offset points")
        axis.set_xlabel("bits per pixel (real file sizes)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[0].plot([], [], color="black", marker="x", lw=0, label="the paper's models")
    axes[0].legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_ladder(ladder: pd.DataFrame, title: str) -> Figure:
    """The ladder: each rung's BD-rate (PSNR and MS-SSIM in dB) against optimised JPEG and the strongest codec.

    Bars with their 95 % intervals, one group per rung from the paper's autoencoder
    up; left of 0 the rung needs fewer bits than that codec. Each rung is labelled
    with its decode time per image.

    Args:
        ladder: one test set's rows of :func:`aelib.experiments.ratedistortion.ladder_table`.
        title: the figure's title.
    """
    references = (("jpeg", "JPEG 4:2:0"), ("strongest", str(ladder["strongest"].iloc[0])))
    metrics = (("psnr", "PSNR"), ("ms_ssim_db", "MS-SSIM (dB)"))
    figure, axes = plt.subplots(1, len(metrics), figsize=(7.0 * len(metrics), 1.2 + 0.9 * len(ladder)), sharey=True)
    positions = np.arange(len(ladder))[::-1]
    height = 0.38
    for axis, (metric, label) in zip(np.atleast_1d(axes), metrics):
        for offset, (key, name) in zip((height / 2, -height / 2), references):
            values = ladder[f"bd_rate_{metric}_{key}"].to_numpy(float)
            errors = np.abs(
                np.vstack([ladder[f"bd_rate_{metric}_{key}_ci_low"], ladder[f"bd_rate_{metric}_{key}_ci_high"]])
                - values
            )
            axis.barh(positions + offset, values, height, xerr=errors, label=f"against {name}", capsize=3)
        axis.axvline(0, color="black", lw=0.8)
        axis.set_xlabel(f"BD-rate in {label} (%)")
        axis.grid(axis="x", alpha=0.3)
    labels = [f"{row['rung']}\n{row['decode_ms']:.1f} ms per image to decode" for _, row in ladder.iterrows()]
    first = np.atleast_1d(axes)[0]
    first.set_yticks(positions, labels, fontsize=8)
    first.legend(loc="best", fontsize=8)
    figure.suptitle(f"{title}\nBD-rate below 0: fewer bits than that codec for the same quality (95 % intervals)")
    figure.tight_layout()
    return figure
