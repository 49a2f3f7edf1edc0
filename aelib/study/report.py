"""Tables of the study: per-depth Table 1 files, the combined Table 1 and the depth comparison.

Each table is written twice, as CSV for programs and as Markdown for readers,
the Markdown headed by a provenance line (which data, which command).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from aelib.config import MATCHED_JPEG_SUFFIX, RATE_DISTORTION_STEP
from aelib.data import describe_test_set, test_set_name
from aelib.layout import ResultsLayout, paper_model_name
from aelib.measure.baselines import jpeg_description
from aelib.outputs import atomic_output


def format_markdown(table: pd.DataFrame) -> str:
    """A table as Markdown, column names with spaces, four significant digits."""
    table = table.copy()
    table.columns = [c.replace("_", " ") for c in table.columns]
    return table.to_markdown(index=False, floatfmt=".4g")


def write_csv(table: pd.DataFrame, path: str | Path) -> Path:
    """Writes a table as CSV atomically, creating the folder."""
    with atomic_output(path) as temporary:
        table.to_csv(temporary, index=False)
    return Path(path)


def write_table(
    table: pd.DataFrame, csv_path: str | Path, provenance: str, markdown: pd.DataFrame | None = None
) -> tuple[Path, Path]:
    """Writes a table as CSV and, beside it with the suffix .md, as Markdown (provenance line, blank line, table).

    Args:
        table: what the CSV holds.
        csv_path: the CSV's path, e.g. ``ResultsLayout(out).rd_ladder``.
        provenance: the line heading the Markdown file (data, command).
        markdown: a readable form of the table for the Markdown file (default: the table itself).

    Returns:
        The CSV's and the Markdown file's paths.
    """
    csv = write_csv(table, csv_path)
    markdown_path = csv.with_suffix(".md")
    shown = table if markdown is None else markdown
    with atomic_output(markdown_path) as temporary:
        temporary.write_text(f"{provenance}\n\n{format_markdown(shown)}\n")
    return csv, markdown_path


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
        settings: the run's :class:`aelib.study.pipeline.ReproduceSettings`.
        manifest: the run's manifest (command, machine, seconds per step).

    Returns:
        The README's path.
    """
    import matplotlib.pyplot as plt

    from aelib.config import PROFILES
    from aelib.data import describe_source
    from aelib.study.plots import plot_depth_comparison, save_figure

    layout = ResultsLayout(output_dir)
    depths = list(settings.depths)
    data = describe_source(settings.data_dir)
    profile = PROFILES[settings.profile]
    seconds = sum(step["seconds"] for step in manifest["steps"].values())
    provenance = f"Data: {data}. Command: `{manifest['command']}`. Machine: {manifest['machine']}."
    if "environment" in manifest:  # what may change a number on another machine (runs made before have none)
        environment = manifest["environment"]
        provenance += (
            f" Perceptual loss in {environment['perceptual_precision']}; TensorFlow {environment['tensorflow']}, "
            f"Keras {environment['keras']}, NumPy {environment['numpy']}."
        )

    lines = [
        f"# Results: {Path(settings.data_dir).resolve().name if settings.data_dir else 'embedded default'}",
        "",
        "Written by `aelib reproduce`; every number below comes from the executed notebooks in `runs/`.",
        "",
        f"- **Data:** {data}; images centre-cropped and resized to {settings.image_size}×{settings.image_size}, "
        f"split 80/10/10 with seed {settings.seed}"
        + (f", a fixed subset of {settings.limit} images" if settings.limit else "")
        + ".",
        f"- **Command:** `{manifest['command']}`",
        f"- **Profile:** `{profile.name}`: {profile.description}. Up to {settings.training_epochs} epochs, "
        f"batch {settings.training_batch_size}, λ = {profile.rate_weight}.",
        f"- **Machine:** {manifest['machine']}.",
        f"- **Time:** {seconds / 60:.1f} min for all steps (per step at the end of this page).",
        "",
        "Honest notes: the paper trained on CelebA-HQ; "
        + (
            "this run trains on the data named above. "
            if settings.data_dir
            else "this run trains on the embedded default. "
        )
        + "Our rates are those of the real `.aec` files (quantised latents, entropy coded, header included), "
        "not the paper's uncompressed float latents, and our times are encode + decode on this CPU. "
        + ("The epochs are fewer than the paper's 40. " if settings.training_epochs < 40 else ""),
        "",
    ]
    test_sets = [("test", f"the held-out test split of {data}")]
    if settings.second_test_set:
        test_sets.append((evaluation_set_name(settings.second_test_set), describe_test_set(settings.second_test_set)))
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
        lines += [
            f"## Table 1 on {description}",
            "",
            f"CSV: `{layout.relative(layout.table1_all_depths(test_set))}`. The paper's columns are its CelebA-HQ "
            "figures for the same row.",
            "",
            format_markdown(combined),
            "",
            f"### By depth (Figure 14 a–d): `{layout.relative(layout.depths(test_set))}`",
            "",
            _image(layout.depths_figure(test_set), layout, "metrics against depth"),
            "",
            depth_trend({depth: table.iloc[0] for depth, table in tables.items()}),
            "",
        ]
        for depth in sorted(tables):
            lines += [
                f"### {depth}-layer model",
                "",
                _image(layout.evaluation_figure("bars", depth, test_set), layout, "metrics against JPEG"),
                _image(layout.evaluation_figure("distributions", depth, test_set), layout, "distributions"),
                _image(layout.evaluation_figure("examples", depth, test_set), layout, "examples"),
                "",
            ]
    if RATE_DISTORTION_STEP in manifest["steps"]:
        lines += _rate_distortion_section(layout, test_sets)
    lines += ["## Training", ""]
    for depth in depths:
        lines.append(_image(layout.training_figure(depth), layout, f"training curves, {depth}-layer"))
    any_depth = paper_model_name("N")
    lines += [
        "",
        "## Models",
        "",
        f"`{layout.relative(layout.model(any_depth))}` with its entropy tables "
        f"`{layout.entropy_tables(any_depth).name}`; use them with `aelib compress --model …` and `aelib decompress`.",
        "",
        "## Steps",
        "",
        "| step | seconds | finished |",
        "|---|---|---|",
    ]
    lines += [f"| {key} | {step['seconds']:.0f} | {step['finished']} |" for key, step in manifest["steps"].items()]
    readme = layout.readme
    with atomic_output(readme) as temporary:
        temporary.write_text("\n".join(lines) + "\n")
    return readme


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
    from aelib.study import ratedistortion as rd

    layout = ResultsLayout(output_dir)
    if not layout.rd_bd_rate_ours.is_file():
        return ""
    bd = pd.read_csv(layout.rd_bd_rate)
    standing = pd.read_csv(layout.rd_bd_rate_ours)
    strongest = {name: rd.strongest_codec(rows) for name, rows in bd.groupby("test_set", sort=False)}
    named = ", ".join(f"{codec} on {name}" for name, codec in strongest.items())
    text = f"Strongest classical codec (lowest BD-rate in PSNR against optimised JPEG 4:2:0): {named}."
    if detailed:
        text += (
            " BD-rate of our families against it (negative: we need fewer bits for the same quality; "
            "95 % bootstrap interval over images; the quality range the number is taken over):\n\n"
            + rd.findings(standing, strongest)
        )
    text += (
        "\n\nOur best family on each test set against every classical codec, BD-rate (negative: fewer bits for "
        "the same quality; wins: every 95 % bootstrap interval over images below 0; loses: every one above):\n\n"
        + rd.against_every_codec(standing, strongest, rd.EQUAL_QUALITY_METRICS)
    )
    if not layout.rd_equal_quality.is_file():  # written by notebook 06 since it has this table
        return text
    equal = pd.read_csv(layout.rd_equal_quality)
    families = list(standing["family"].unique())
    return (
        text + "\n\nAt equal quality, point by point: the bits each of our models spends over the bits the "
        "strongest codec needs for the same mean quality (its PCHIP fit read there):\n\n"
        + (rd.equal_quality_findings(equal, families) if detailed else rd.equal_quality_summary(equal, families))
    )


def readme_markers(folder: str, kind: str = "findings") -> tuple[str, str]:
    """The comments that fence the project README's block of one kind ("findings", "headline") from a results folder."""
    return (
        f"<!-- {kind} of {folder}: written by `aelib reproduce`, not by hand -->",
        f"<!-- end of {kind} of {folder} -->",
    )


def readme_findings(output_dir: str | Path) -> str:
    """The project README's block for a committed results folder: which run, then notebook 06's verdict."""
    manifest = json.loads(ResultsLayout(output_dir).manifest.read_text())
    done = RATE_DISTORTION_STEP in manifest["steps"]
    findings = rate_distortion_findings(output_dir, detailed=False) if done else ""
    if not findings:
        return f"Not yet written: `{manifest['command']}` has not finished notebook 06."
    return f"From `{manifest['command']}` on {manifest['machine']}.\n\n{findings}"


HEADLINE_COLUMNS = {
    "depth": "encoder",
    "psnr": "PSNR dB",
    "ssim": "SSIM",
    "bits_per_pixel": "bits per pixel",
    "colour_shift": "mean shift R / G / B",
    "jpeg": "optimised JPEG at the same SSIM",
    "paper": "paper: PSNR / SSIM",
    "epochs": "epochs",
    "epoch_seconds": "s per epoch (median)",
}


def readme_headline(output_dir: str | Path) -> str:
    """The project README's headline: each finished depth's Table 1 row on the test split, JPEG and the paper beside.

    Read from ``tables/table1_{N}L_test.csv`` of every depth whose evaluation the run's manifest
    records, so the block grows as a long run finishes depth after depth.
    """
    layout = ResultsLayout(output_dir)
    manifest = json.loads(layout.manifest.read_text())
    evaluated = [re.fullmatch(r"depth-(\d+)/04_evaluation", step) for step in manifest["steps"]]
    rows, models = [], {}
    for depth in sorted(int(match.group(1)) for match in evaluated if match):
        table = pd.read_csv(layout.table1(depth, "test"))
        ours, matched, table_images = table.iloc[0], table.iloc[1], table["images"].iloc[0]
        models[depth] = ours
        history = layout.history(paper_model_name(depth))
        epochs = pd.read_csv(history) if history.is_file() else pd.DataFrame({"seconds": []})
        shifts = " / ".join(f"{ours[f'mean_shift_{c}']:+.1f}" for c in "rgb")
        rows.append(
            {
                "depth": f"{depth}-layer",
                "psnr": f"{ours['psnr']:.2f}",
                "ssim": f"{ours['ssim']:.4f}",
                "bits_per_pixel": f"{ours['bits_per_pixel']:.3f}",
                "colour_shift": shifts,
                "jpeg": f"q{int(ours['matched_jpeg_quality'])}: {matched['bits_per_pixel']:.3f} bpp",
                "paper": f"{ours['paper_psnr']:.2f} / {ours['paper_ssim']:.4f}",
                "epochs": len(epochs),
                "epoch_seconds": f"{epochs['seconds'].median():.0f}" if epochs["seconds"].notna().any() else "–",
            }
        )
    if not rows:
        return ""
    table = pd.DataFrame(rows).rename(columns=HEADLINE_COLUMNS).to_markdown(index=False)
    images = int(table_images)
    trend = depth_trend(models)
    hours = sum(step["seconds"] for step in manifest["steps"].values()) / 3600
    return (
        f"From `{manifest['command']}` on {manifest['machine']}; depths evaluated: "
        f"{', '.join(row['depth'] for row in rows)}. The steps took {hours:.1f} h as "
        f"`{layout.relative(layout.manifest)}` records them, which for a training step resumed across sittings is "
        f"its last sitting; every epoch's time is in `{layout.relative(layout.history(paper_model_name('N')))}`. "
        f"Test split: {images} held-out images; bits per pixel of the real `.aec` files.\n\n{table}"
        + (f"\n\n{trend}" if trend else "")
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


def replace_block(content: str, markers: tuple[str, str], text: str) -> str | None:
    """content with the lines between the two marker comments replaced by text; None when a marker is absent."""
    start, end = markers
    if start not in content or end not in content:
        return None
    before, rest = content.split(start, 1)
    return f"{before}{start}\n{text}\n{end}{rest.split(end, 1)[1]}"


def update_readme_block(readme: str | Path, folder: str, text: str, kind: str = "findings") -> bool:
    """Replaces the text between :func:`readme_markers` of folder in readme; False when the markers are absent."""
    readme = Path(readme)
    updated = replace_block(readme.read_text(), readme_markers(folder, kind), text)
    if updated is None:
        return False
    with atomic_output(readme) as temporary:
        temporary.write_text(updated)
    return True


def _rate_distortion_section(layout: ResultsLayout, test_sets: list[tuple[str, str]]) -> list[str]:
    """README lines of notebook 06's results: the BD-rate tables and the curves (nothing if it has not run)."""
    from aelib.study import ratedistortion as rd

    if not layout.rd_bd_rate_ours.is_file():
        return []
    lines = [
        "## Rate–distortion (notebook 06)",
        "",
        "Our GDN models trained for R + λ·D (hybrid and MSE families) against eight classical codecs at the "
        f"settings a careful user would choose (`{layout.relative(layout.rd_codecs.with_suffix('.md'))}`: library, "
        "version, options, the settings swept and the fixed header bytes of each), rates from real file sizes. "
        "BD-rate in % against optimised JPEG 4:2:0 (negative: fewer bits for the same quality), piecewise cubic "
        "fits, SSIM and MS-SSIM in dB, with the 95 % bootstrap interval over images and the quality range each "
        f"number is taken over: `{layout.relative(layout.rd_bd_rate)}`, per-image values in "
        f"`{layout.relative(layout.rd_per_image('*'))}`.",
        "",
        format_markdown(rd.readable_bd_table(pd.read_csv(layout.rd_bd_rate))),
        "",
        rate_distortion_findings(layout.root),
        "",
        f"Every family against every codec: `{layout.relative(layout.rd_bd_rate_ours.with_suffix('.md'))}`.",
        "",
    ]
    for test_set, description in test_sets:
        lines.append(_image(layout.rd_curves_figure(test_set), layout, f"rate–distortion, {description}"))
    return lines + [""]


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
        evaluation: from :func:`aelib.study.evaluate.evaluate_model`.
        codec: the evaluated model (to decode the example images).
        images, names: the test images and their names.
        output_dir: the results folder (``tables/`` and ``figures/`` inside).
        test_set: the test set's name in file names (:func:`evaluation_set_name`).
        description: the test set in words, for titles.
        provenance: the data/command line heading the Markdown table.

    Returns:
        The paths written.
    """
    from aelib.nn.models import depth_of
    from aelib.study.evaluate import comparison_examples, matched_jpeg_method, model_method
    from aelib.study.plots import plot_comparison, plot_distributions, plot_metric_bars, save_figure

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
