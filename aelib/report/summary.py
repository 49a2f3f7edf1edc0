"""Tables of the study: per-depth Table 1 files, the combined Table 1 and the depth comparison.

Each table is written twice, as CSV for programs and as Markdown for readers,
the Markdown headed by a provenance line (which data, which command).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from aelib.config import DEFAULT_SPLIT, MATCHED_JPEG_SUFFIX, RATE_DISTORTION_STEP, TrainConfig
from aelib.data import describe_test_set, test_set_name
from aelib.layout import ResultsLayout, paper_model_name
from aelib.measure.baselines import jpeg_description
from aelib.measure.curves import EQUAL_QUALITY_METRICS, strongest_codec
from aelib.outputs import atomic_output
from aelib.report.prose import (
    against_every_codec,
    equal_quality_findings,
    equal_quality_summary,
    findings,
    readable_bd_table,
)
from aelib.report.tables import format_markdown, write_csv, write_table
from aelib.report.text import render


def read_table1s(layout: ResultsLayout, depths: list[int], test_set: str) -> dict[int, pd.DataFrame]:
    """The per-depth Table 1 CSVs of a test set that exist in a results folder, keyed by depth."""
    paths = {depth: layout.table1(depth, test_set) for depth in depths}
    return {depth: pd.read_csv(path) for depth, path in paths.items() if path.is_file()}


def combine_table1(tables: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """One Table 1 over depths: each model, each model's SSIM-matched JPEG, then the fixed JPEG qualities once.

    The matched JPEG rows are renamed "JPEG qQ (SSIM-matched to N-layer)" so
    that every row of the combined table says what it is.
    """
    models, matched, fixed = [], [], None
    for depth, table in sorted(tables.items()):
        is_matched = table["method"].str.endswith(MATCHED_JPEG_SUFFIX)
        is_jpeg = table["method"].str.startswith("JPEG")
        models.append(table[~is_jpeg])
        matched.append(
            table[is_matched].assign(
                method=lambda t, d=depth: t["method"].str.replace(
                    MATCHED_JPEG_SUFFIX, f" (SSIM-matched to {d}-layer)", regex=False
                )
            )
        )
        fixed = table[is_jpeg & ~is_matched] if fixed is None else fixed
    return pd.concat(models + matched + [fixed], ignore_index=True)


def depth_table(tables: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """Per depth: the model's and its SSIM-matched JPEG's metrics side by side (Figure 14's data)."""
    columns = ["psnr", "ssim", "compression_ratio", "bits_per_pixel", "time_per_image_s"]
    rows = []
    for depth, table in sorted(tables.items()):
        model = table[~table["method"].str.startswith("JPEG")].iloc[0]
        jpeg = table[table["method"].str.endswith(MATCHED_JPEG_SUFFIX)].iloc[0]
        row = {"depth": depth, "jpeg_quality": int(model["matched_jpeg_quality"])}
        row.update({f"model_{c}": model[c] for c in columns})
        row.update({f"jpeg_{c}": jpeg[c] for c in columns})
        rows.append(row)
    return pd.DataFrame(rows)


def evaluation_set_name(folder: str | Path | None) -> str:
    """The name of a test set in file names: "test" for the held-out split, else the folder's name."""
    return "test" if folder is None else test_set_name(folder)


def _image(path: Path, layout: ResultsLayout, caption: str) -> str:
    return f"![{caption}]({layout.relative(path)})" if path.is_file() else ""


def write_summary(output_dir: str | Path, settings, manifest: dict) -> Path:
    """Combines the per-depth tables, draws Figure 14 and writes the results' README.md.

    Args:
        output_dir: the results folder the notebooks wrote into.
        settings: the run's :class:`aelib.apps.reproduce.ReproduceSettings`.
        manifest: the run's manifest (command, machine, seconds per step).

    Returns:
        The README's path.
    """
    import matplotlib.pyplot as plt

    from aelib.config import PROFILES
    from aelib.data import describe_source
    from aelib.report.figures import plot_depth_comparison, save_figure

    layout = ResultsLayout(output_dir)
    depths = list(settings.depths)
    data = describe_source(settings.data_dir)
    profile = PROFILES[settings.profile]
    provenance = f"Data: {data}. Command: `{manifest['command']}`. Machine: {manifest['machine']}."
    if "environment" in manifest:  # what may change a number on another machine (runs made before have none)
        environment = manifest["environment"]
        provenance += (
            f" Perceptual loss in {environment['perceptual_precision']}; TensorFlow {environment['tensorflow']}, "
            f"Keras {environment['keras']}, NumPy {environment['numpy']}."
        )
    test_sets = [("test", f"the held-out test split of {data}")]
    if settings.second_test_set:
        test_sets.append((evaluation_set_name(settings.second_test_set), describe_test_set(settings.second_test_set)))
    sections = []
    for test_set, description in test_sets:
        tables = read_table1s(layout, depths, test_set)
        if not tables:
            continue
        set_provenance = f"{provenance} Test set: {description}. JPEG rows: {jpeg_description()}."
        combined = combine_table1(tables)
        write_table(combined, layout.table1_all_depths(test_set), set_provenance)
        by_depth = depth_table(tables)
        write_table(by_depth, layout.depths(test_set), set_provenance)
        figure = plot_depth_comparison(by_depth, f"Autoencoder against SSIM-matched JPEG by depth: {description}")
        save_figure(figure, layout.depths_figure(test_set))
        plt.close(figure)
        sections.append(
            render(
                "test_set_section",
                description=description,
                csv=layout.relative(layout.table1_all_depths(test_set)),
                table=format_markdown(combined),
                depths_csv=layout.relative(layout.depths(test_set)),
                depths_figure=_image(layout.depths_figure(test_set), layout, "metrics against depth"),
                trend=depth_trend({depth: _model_row(table, depth) for depth, table in tables.items()}),
            )
        )
        sections += [
            render(
                "depth_section",
                depth=depth,
                bars=_image(layout.evaluation_figure("bars", depth, test_set), layout, "metrics against JPEG"),
                distributions=_image(
                    layout.evaluation_figure("distributions", depth, test_set), layout, "distributions"
                ),
                examples=_image(layout.evaluation_figure("examples", depth, test_set), layout, "examples"),
            )
            for depth in sorted(tables)
        ]
    any_depth = paper_model_name("N")
    page = render(
        "results_readme",
        title=Path(settings.data_dir).resolve().name if settings.data_dir else "embedded default",
        data=data,
        size=settings.image_size,
        split="/".join(f"{round(100 * fraction)}" for fraction in DEFAULT_SPLIT),
        seed=settings.seed,
        subset=f", a fixed subset of {settings.limit} images" if settings.limit else "",
        command=manifest["command"],
        profile=profile.name,
        profile_description=profile.description,
        epochs=settings.training_epochs,
        batch_size=settings.training_batch_size,
        rate_weight=profile.rate_weight,
        machine=manifest["machine"],
        minutes=f"{sum(step['seconds'] for step in manifest['steps'].values()) / 60:.1f}",
        trained_on="the data named above" if settings.data_dir else "the embedded default",
        fewer_epochs=f"The epochs are fewer than the paper's {TrainConfig.epochs}. "
        if settings.training_epochs < TrainConfig.epochs
        else "",
        test_sets="".join(sections),
        rate_distortion=_rate_distortion_section(layout, test_sets)
        if RATE_DISTORTION_STEP in manifest["steps"]
        else "",
        training_figures="\n".join(
            _image(layout.training_figure(depth), layout, f"training curves, {depth}-layer") for depth in depths
        ),
        model=layout.relative(layout.model(any_depth)),
        tables=layout.entropy_tables(any_depth).name,
        steps="\n".join(
            f"| {key} | {step['seconds']:.0f} | {step['finished']} |" for key, step in manifest["steps"].items()
        ),
    )
    readme = layout.readme
    with atomic_output(readme) as temporary:
        temporary.write_text(page)
    return readme


def _model_row(table: pd.DataFrame, depth: int) -> pd.Series:
    """The model's row of a depth's Table 1 (its method is "N-layer"; the other row is the matched JPEG)."""
    return table[table["method"] == f"{depth}-layer"].iloc[0]


def rate_distortion_findings(output_dir: str | Path, detailed: bool = True) -> str:
    """Markdown of notebook 06's verdict: each family against the strongest classical codec of each test set.

    The strongest codec is the one with the lowest BD-rate in PSNR against
    optimised JPEG 4:2:0 (``tables/rd_bd_rate.csv``); the numbers come from
    ``tables/rd_bd_rate_ours.csv``, then each model beside that codec at equal
    quality (``tables/rd_equal_quality.csv``). Detailed: every family in every
    metric and every point; else (the project README) the best family against
    every codec in PSNR and MS-SSIM and one line of the paper's models per test
    set. Empty when notebook 06 has not run.
    """

    layout = ResultsLayout(output_dir)
    if not layout.rd_bd_rate_ours.is_file():
        return ""
    bd = pd.read_csv(layout.rd_bd_rate)
    standing = pd.read_csv(layout.rd_bd_rate_ours)
    strongest = {name: strongest_codec(rows) for name, rows in bd.groupby("test_set", sort=False)}
    named = ", ".join(f"{codec} on {name}" for name, codec in strongest.items())
    text = f"Strongest classical codec (lowest BD-rate in PSNR against optimised JPEG 4:2:0): {named}."
    if detailed:
        text += (
            " BD-rate of our families against it (negative: we need fewer bits for the same quality; "
            "95 % bootstrap interval over images; the quality range the number is taken over):\n\n"
            + findings(standing, strongest)
        )
    text += (
        "\n\nOur best family on each test set against every classical codec, BD-rate (negative: fewer bits for "
        "the same quality; wins: every 95 % bootstrap interval over images below 0; loses: every one above):\n\n"
        + against_every_codec(standing, strongest, EQUAL_QUALITY_METRICS)
    )
    if not layout.rd_equal_quality.is_file():  # written by notebook 06 since it has this table
        return text
    equal = pd.read_csv(layout.rd_equal_quality)
    families = list(standing["family"].unique())
    return (
        text + "\n\nAt equal quality, point by point: the bits each of our models spends over the bits the "
        "strongest codec needs for the same mean quality (its PCHIP fit read there):\n\n"
        + (equal_quality_findings(equal, families) if detailed else equal_quality_summary(equal, families))
    )


TREND_COLUMNS = {
    "ssim": ("SSIM", "{:.4f}", ""),
    "psnr": ("PSNR", "{:.2f}", " dB"),
    "bits_per_pixel": ("bits per pixel", "{:.3f}", ""),
}
"""The model columns of Table 1 that :func:`depth_trend` follows with depth; each falls when the paper's trend holds."""


def _rises_at(depths: list[int], values: list[float]) -> list[str]:
    """The steps between consecutive depths where values do not fall, e.g. ["7→10"]."""
    return [f"{a}→{b}" for a, b, x, y in zip(depths, depths[1:], values, values[1:]) if not y < x]


def depth_trend(models: dict[int, pd.Series]) -> str:
    """One sentence: does the paper's trend (quality falls, compression rises with depth) appear, with the numbers?

    Quality falls when SSIM and PSNR fall at every step to a deeper encoder;
    compression rises when the real files' bits per pixel fall at every step.

    Args:
        models: each depth's model row of its Table 1 (columns of :data:`TREND_COLUMNS`;
            ``float32_latent_ratio``, the paper's own ratio, is quoted when present).

    Returns:
        The sentence; empty for fewer than two depths.
    """
    depths = sorted(models)
    if len(depths) < 2:
        return ""
    values = {column: [float(models[d][column]) for d in depths] for column in TREND_COLUMNS}
    rises = {column: _rises_at(depths, values[column]) for column in TREND_COLUMNS}
    quality_falls = not rises["ssim"] and not rises["psnr"]
    compression_rises = not rises["bits_per_pixel"]
    never_falls = all(len(steps) == len(depths) - 1 for steps in rises.values())
    if quality_falls and compression_rises:
        verdict = "appears in our run"
    elif never_falls:
        verdict = "does not appear in our run"
    else:
        verdict = "appears in our run only in part"
    parts = []
    for column, (label, number, unit) in TREND_COLUMNS.items():
        path = " → ".join(number.format(v) for v in values[column]) + unit
        verb = "falls" if column != "bits_per_pixel" else "fall"
        where = f"{verb} at every step" if not rises[column] else f"does not fall at {', '.join(rises[column])} layers"
        parts.append(f"{label} {path} ({where})")
    sentence = (
        f"The paper's trend, quality falling and compression rising with depth, {verdict}: "
        f"from {depths[0]} to {depths[-1]} layers ({', '.join(map(str, depths))}), " + "; ".join(parts) + "."
    )

    def path(column: str) -> str:
        return " → ".join(f"{float(models[d][column]):.2f}" for d in depths)

    if all("float32_latent_ratio" in models[d] for d in depths):
        sentence += (
            f" The ratio as the paper measured it, image bytes over float32 latents, is {path('float32_latent_ratio')}"
        )
        if all("paper_compression_ratio" in models[d] for d in depths):
            sentence += f" (the paper's: {path('paper_compression_ratio')})"
        sentence += "; it is fixed by the architecture, whatever the training."
    return sentence


def _rate_distortion_section(layout: ResultsLayout, test_sets: list[tuple[str, str]]) -> str:
    """The README's section of notebook 06's results: the BD-rate tables and the curves (empty if it has not run)."""
    if not layout.rd_bd_rate_ours.is_file():
        return ""
    return render(
        "rate_distortion_section",
        codecs=layout.relative(layout.rd_codecs.with_suffix(".md")),
        bd_csv=layout.relative(layout.rd_bd_rate),
        per_image=layout.relative(layout.rd_per_image("*")),
        bd_table=format_markdown(readable_bd_table(pd.read_csv(layout.rd_bd_rate))),
        findings=rate_distortion_findings(layout.root),
        ours=layout.relative(layout.rd_bd_rate_ours.with_suffix(".md")),
        curves="\n".join(
            _image(layout.rd_curves_figure(test_set), layout, f"rate–distortion, {description}")
            for test_set, description in test_sets
        ),
    )


def write_evaluation(
    evaluation,
    codec,
    images,
    names: tuple[str, ...],
    output_dir: str | Path,
    test_set: str,
    description: str,
    provenance: str,
) -> list[Path]:
    """Writes one depth's Table 1 and per-image CSV on one test set, and its three figures.

    The figures are left open, so that a notebook shows them inline.

    Args:
        evaluation: from :func:`aelib.experiments.table1.evaluate_model`.
        codec: the evaluated model (to decode the example images).
        images, names: the test images and their names.
        output_dir: the results folder (``tables/`` and ``figures/`` inside).
        test_set: the test set's name in file names (:func:`evaluation_set_name`).
        description: the test set in words, for titles.
        provenance: the data/command line heading the Markdown table.

    Returns:
        The paths written.
    """
    from aelib.experiments.table1 import comparison_examples, matched_jpeg_method, model_method
    from aelib.nn.models import depth_of
    from aelib.report.figures import plot_comparison, plot_distributions, plot_metric_bars, save_figure

    layout = ResultsLayout(output_dir)
    depth = depth_of(codec.autoencoder)
    written = list(
        write_table(
            evaluation.summary,
            layout.table1(depth, test_set),
            f"{provenance} Test set: {description}. JPEG rows: {jpeg_description()}.",
        )
    )
    written.append(write_csv(evaluation.per_image, layout.per_image(depth, test_set)))
    method = model_method(codec)
    title = f"{method} autoencoder against JPEG on {description}"
    methods = [method, matched_jpeg_method(evaluation.matched_jpeg_quality)]
    figures = {
        "bars": plot_metric_bars(evaluation.summary, title),
        "distributions": plot_distributions(evaluation.per_image, methods, title),
        "examples": plot_comparison(comparison_examples(codec, images, names, evaluation), title),
    }
    for kind, figure in figures.items():
        written.append(save_figure(figure, layout.evaluation_figure(kind, depth, test_set)))
    return written
