"""The compress-and-compare panel: the paper's graphical interface (its Figure 1) in ipywidgets.

The paper's window has Select Model, Select Input Folder, Select Output Folder,
"Compress & Show Results", "Compare with JPEG" and a status line. So does
:class:`CompressPanel`; the work it does lives in plain functions
(:func:`compress_folder`, :func:`compare_with_jpeg`, the ``check_*`` functions)
that raise :class:`aelib.errors.AelibError` with one line, which the panel shows
in its status line. The input folder is only read; outputs go to
``OUTPUT/aec/`` and ``OUTPUT/decoded/``, keeping the input's layout.
"""

from __future__ import annotations

import base64
import html
import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from aelib.config import ENTROPY_SUFFIX
from aelib.data import list_images, read_image
from aelib.errors import AelibError, InputError
from aelib.measure.metrics import bits_per_pixel, compression_ratio, psnr, ssim
from aelib.outputs import atomic_output, refuse_overwrite

COMPLETE_MESSAGE = "Compression is complete!"
THUMBNAIL_SIDE = 192


@dataclass(frozen=True)
class ImageResult:
    """One image through the panel: what was read, written and measured."""

    name: str
    original: np.ndarray
    decoded: np.ndarray
    compressed_bytes: int
    seconds: float

    @property
    def height(self) -> int:
        return self.original.shape[0]

    @property
    def width(self) -> int:
        return self.original.shape[1]

    @cached_property
    def metrics(self) -> dict:
        """PSNR, SSIM, bits per pixel and ratio, computed once: the gallery, table and status line reuse them."""
        return {
            "psnr": psnr(self.original, self.decoded),
            "ssim": ssim(self.original, self.decoded),
            "bits_per_pixel": bits_per_pixel(self.height, self.width, self.compressed_bytes),
            "compression_ratio": compression_ratio(self.height, self.width, self.compressed_bytes),
        }


@dataclass
class CompressionRun:
    """What "Compress & Show Results" produced, and what "Compare with JPEG" adds to it."""

    method: str
    results: list[ImageResult]
    output_dir: Path
    jpeg_quality: int | None = None
    jpeg_results: list[ImageResult] = field(default_factory=list)


def find_models(folder: str | Path) -> list[Path]:
    """The ``.keras`` codec models in folder, sorted: exported ones (with a model card) and those with tables beside."""
    from aelib.codec.format import read_model_card

    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.glob("*.keras")
        if p.with_name(p.stem + ENTROPY_SUFFIX).is_file() or read_model_card(p) is not None
    )


@dataclass(frozen=True)
class ModelChoice:
    """A model in the picker: its file and what the study measured of it on the test split.

    Attributes:
        path: the ``.keras`` file.
        kind: "3-layer" for the paper's models, "mse λ=0.018" for a rate–distortion family member.
        bits_per_pixel, ssim: the mean over the test split, from the tables beside the models; None when absent.
    """

    path: Path
    kind: str
    bits_per_pixel: float | None = None
    ssim: float | None = None

    @property
    def label(self) -> str:
        measured = (
            "" if self.ssim is None else f", {self.bits_per_pixel:.2f} bpp, SSIM {self.ssim:.3f} on the test split"
        )
        return f"{self.path.name} ({self.kind}{measured})"


def _measured_row(path: Path) -> tuple[str, pd.DataFrame | None, str]:
    """(kind, the model's row of the study's tables or None, that table's bits-per-pixel column)."""
    tables = path.parent.parent / "tables"
    stem = path.stem
    if stem.startswith("autoencoder_") and stem.endswith("L"):
        depth = stem.removeprefix("autoencoder_")
        kind = f"{depth[:-1]}-layer"
        table = tables / f"table1_{depth}_test.csv"
        if table.is_file():
            rows = pd.read_csv(table)
            return kind, rows[rows["method"] == kind].head(1), "bits_per_pixel"
        return kind, None, ""
    if stem.startswith("rd_") and stem.count("_") == 2:
        _, family, lam = stem.split("_")
        kind = f"{family} family, λ = {lam}"
        table = tables / "rd_points_test.csv"
        if table.is_file():
            rows = pd.read_csv(table)
            chosen = (rows["method"] == f"ours ({family})") & (
                pd.to_numeric(rows["setting"], errors="coerce") == float(lam)
            )
            return kind, rows[chosen].head(1), "bpp"
        return kind, None, ""
    if stem == "rd_base":
        return "rate–distortion base model", None, ""
    from aelib.codec.format import read_model_card

    card = read_model_card(path)
    if card is not None:
        return f"{card['kind_name']}, quality settings 0 … {card['qualities'] - 1}", None, ""
    return stem, None, ""


def describe_models(models: list[Path]) -> list[ModelChoice]:
    """What each model is and how it measured, read from the ``tables/`` folder beside its folder.

    The paper's models take their row of ``table1_NL_test.csv``; the rate–distortion
    models (``rd_FAMILY_λ``) their point of ``rd_points_test.csv``.
    """
    choices = []
    for path in models:
        kind, row, bpp_column = _measured_row(path)
        if row is None or row.empty:
            choices.append(ModelChoice(path, kind))
        else:
            choices.append(ModelChoice(path, kind, float(row[bpp_column].iloc[0]), float(row["ssim"].iloc[0])))
    return choices


def best_model(choices: list[ModelChoice]) -> ModelChoice | None:
    """The model the panel opens on: the paper's model of highest test SSIM, else any measured one, else the first."""
    measured = [c for c in choices if c.ssim is not None]
    for pool in ([c for c in measured if c.kind.endswith("-layer")], measured):
        if pool:
            return max(pool, key=lambda c: c.ssim)
    return choices[0] if choices else None


def check_input_folder(folder: str) -> list[Path]:
    """The images below folder; a one-line error when there is none or no folder."""
    if not folder.strip():
        raise InputError("choose an input folder")
    return list_images(Path(folder).expanduser())


def check_output_folder(folder: str, input_folder: str) -> Path:
    """The output folder, if it can be written and lies outside the input folder (which is never changed)."""
    if not folder.strip():
        raise InputError("choose an output folder")
    output = Path(folder).expanduser().resolve()
    if input_folder.strip():
        source = Path(input_folder).expanduser().resolve()
        if output == source or source in output.parents:
            raise InputError("the output folder must lie outside the input folder, which is never changed")
    if output.exists() and not output.is_dir():
        raise InputError(f"the output is a file, not a folder: {output}")
    existing = next((p for p in (output, *output.parents) if p.exists()), None)
    if existing is None or not os.access(existing, os.W_OK):
        raise InputError(f"cannot write to {output}")
    return output


def output_paths(paths: list[Path], input_dir: Path, output_dir: Path) -> list[tuple[Path, Path]]:
    """For each input image, its ``.aec`` and decoded ``.png`` under output_dir, keeping the layout."""
    relative = [path.relative_to(input_dir) for path in paths]
    return [
        (output_dir / "aec" / r.with_suffix(".aec"), output_dir / "decoded" / r.with_suffix(".png")) for r in relative
    ]


def compress_folder(
    model_path: str | Path,
    input_dir: str | Path,
    output_dir: str | Path,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> CompressionRun:
    """Compresses every image of input_dir into ``.aec`` files and decodes them to PNG.

    Args:
        model_path: a ``.keras`` codec model (exported, or with its entropy tables beside it); a hyperprior
            model codes at its highest quality setting.
        input_dir: folder of images, searched recursively; only read.
        output_dir: where ``aec/`` and ``decoded/`` are written.
        overwrite: replace outputs that exist (otherwise nothing is written and an error says why).
        progress: called with (done, total) after each image.

    Returns:
        The images with their decoded versions and sizes.
    """
    from aelib.codec.codec import decode_any, encode_any, load_any_codec
    from aelib.codec.files import png_bytes
    from aelib.study.evaluate import model_method

    input_dir = Path(input_dir).expanduser().resolve()
    paths = check_input_folder(str(input_dir))
    output_dir = check_output_folder(str(output_dir), str(input_dir))
    codec = load_any_codec(model_path)
    planned = output_paths(paths, input_dir, output_dir)
    refuse_overwrite([p for pair in planned for p in pair], overwrite)
    results = []
    for done, (path, (aec_path, png_path)) in enumerate(zip(paths, planned), start=1):
        image = read_image(path)
        start = time.perf_counter()
        data = encode_any(image, codec)
        decoded = decode_any(data, codec)
        seconds = time.perf_counter() - start
        for target, content in ((aec_path, data), (png_path, png_bytes(decoded))):
            with atomic_output(target) as temporary:
                temporary.write_bytes(content)
        results.append(ImageResult(str(path.relative_to(input_dir)), image, decoded, len(data), seconds))
        if progress is not None:
            progress(done, len(paths))
    return CompressionRun(model_method(codec), results, output_dir)


def compare_with_jpeg(run: CompressionRun) -> CompressionRun:
    """Adds JPEG at the quality whose mean SSIM over the images matches the model's."""
    from aelib.measure.baselines import encode_with_codec, match_jpeg_quality

    originals = [result.original for result in run.results]
    target = float(np.mean([r.metrics["ssim"] for r in run.results]))
    run.jpeg_quality = match_jpeg_quality(originals, target)
    run.jpeg_results = []
    for result in run.results:
        jpeg = encode_with_codec(result.original, "jpeg", run.jpeg_quality)
        seconds = jpeg.encode_seconds + jpeg.decode_seconds
        run.jpeg_results.append(ImageResult(result.name, result.original, jpeg.decoded, len(jpeg.data), seconds))
    return run


def summary_table(run: CompressionRun) -> pd.DataFrame:
    """Mean PSNR, SSIM, ratio, bits per pixel and time per image of the model (and JPEG, once compared)."""
    from aelib.study.evaluate import matched_jpeg_method

    methods = [(run.method, run.results)]
    if run.jpeg_results:
        methods.append((matched_jpeg_method(run.jpeg_quality), run.jpeg_results))
    rows = []
    for method, results in methods:
        metrics = pd.DataFrame([r.metrics for r in results])
        rows.append(
            {
                "method": method,
                "images": len(results),
                "psnr": metrics["psnr"].mean(),
                "ssim": metrics["ssim"].mean(),
                "compression_ratio": metrics["compression_ratio"].mean(),
                "bits_per_pixel": metrics["bits_per_pixel"].mean(),
                "total_bytes": sum(r.compressed_bytes for r in results),
                "time_per_image_s": float(np.mean([r.seconds for r in results])),
            }
        )
    return pd.DataFrame(rows)


def _thumbnail(image: np.ndarray) -> str:
    picture = Image.fromarray(image)
    picture.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure_cell(image: np.ndarray, caption: str) -> str:
    return (
        '<figure style="margin:4px;text-align:center">'
        f'<img class="aelib-thumb" style="width:{THUMBNAIL_SIDE}px" src="data:image/png;base64,{_thumbnail(image)}"/>'
        f'<figcaption style="font-size:11px">{caption}</figcaption></figure>'
    )


def gallery_html(run: CompressionRun, limit: int = 24) -> str:
    """Originals beside reconstructions (and JPEG), PSNR / SSIM / bpp under each, as HTML."""
    rows = []
    pairs = zip(run.results, run.jpeg_results or [None] * len(run.results))
    for result, jpeg in list(pairs)[:limit]:
        cells = [_figure_cell(result.original, f"original<br>{html.escape(result.name)}")]
        for label, item in ((run.method, result), (f"JPEG q{run.jpeg_quality}", jpeg)):
            if item is not None:
                m = item.metrics
                caption = f"{label}<br>PSNR {m['psnr']:.2f} dB · SSIM {m['ssim']:.4f}<br>{m['bits_per_pixel']:.3f} bpp"
                cells.append(_figure_cell(item.decoded, caption))
        rows.append(f'<div style="display:flex;flex-wrap:wrap">{"".join(cells)}</div>')
    more = f"<p>… and {len(run.results) - limit} more in {run.output_dir}</p>" if len(run.results) > limit else ""
    return f'<div class="aelib-gallery">{"".join(rows)}{more}</div>'


def totals_line(run: CompressionRun) -> str:
    """One line of totals for the status line."""
    table = summary_table(run).iloc[0]
    return (
        f"{int(table['images'])} images, {int(table['total_bytes']):,} bytes in .aec files, "
        f"mean {table['bits_per_pixel']:.3f} bpp (ratio {table['compression_ratio']:.1f}), "
        f"PSNR {table['psnr']:.2f} dB, SSIM {table['ssim']:.4f}; written to {run.output_dir}"
    )


class CompressPanel:
    """The panel's widgets and callbacks; ``panel.widget`` is what a notebook displays.

    Args:
        models_dir: folder whose models the picker lists (``results/models`` by default).
        input_dir, output_dir, model: initial values of the fields.
    """

    def __init__(
        self, models_dir: str | Path = "results/models", input_dir: str = "", output_dir: str = "", model: str = ""
    ):
        import ipywidgets as widgets

        wide = {"layout": widgets.Layout(width="480px"), "style": {"description_width": "110px"}}
        self.models_dir = Path(models_dir)
        self.run: CompressionRun | None = None
        choices = describe_models(find_models(self.models_dir))
        best = best_model(choices)
        self.model_picker = widgets.Dropdown(
            options=[(c.label, str(c.path)) for c in choices] or [("(no models found)", "")],
            value=str(best.path) if best else "",
            description="Select Model",
            layout=widgets.Layout(width="720px"),
            style={"description_width": "110px"},
        )
        self.model_path = widgets.Text(value=model, placeholder="or a path to a .keras model", description="Model path")
        self.input_dir = widgets.Text(
            value=input_dir, description="Input Folder", placeholder="folder of images", **wide
        )
        self.input_note = widgets.HTML()
        self.output_dir = widgets.Text(
            value=output_dir, description="Output Folder", placeholder="where results go", **wide
        )
        self.output_note = widgets.HTML()
        self.overwrite = widgets.Checkbox(value=False, description="replace existing results")
        buttons = {"layout": widgets.Layout(width="220px")}
        self.compress_button = widgets.Button(description="Compress & Show Results", button_style="primary", **buttons)
        self.compare_button = widgets.Button(description="Compare with JPEG", disabled=True, **buttons)
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="Progress")
        self.status = widgets.HTML(value="Choose a model, an input folder and an output folder.")
        self.gallery = widgets.HTML()
        self.summary = widgets.Output()
        for field_widget in (self.input_dir, self.output_dir):
            field_widget.observe(self._validate, names="value")
        self.compress_button.on_click(self.on_compress)
        self.compare_button.on_click(self.on_compare)
        self._validate()
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.model_picker, self.model_path]),
                widgets.HBox([self.input_dir, self.input_note]),
                widgets.HBox([self.output_dir, self.output_note, self.overwrite]),
                widgets.HBox([self.compress_button, self.compare_button, self.progress]),
                self.status,
                self.summary,
                self.gallery,
            ]
        )

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def selected_model(self) -> str:
        return self.model_path.value.strip() or self.model_picker.value

    def _say(self, message: str, error: bool = False) -> None:
        colour = "#b00020" if error else "#1b5e20"
        self.status.value = f'<b style="color:{colour}" class="aelib-status">{html.escape(message)}</b>'

    def _validate(self, change=None) -> None:
        try:
            count = len(check_input_folder(self.input_dir.value))
            self.input_note.value = f"{count} image{'s' if count != 1 else ''} found"
        except AelibError as error:
            self.input_note.value = f'<span style="color:#b00020">{html.escape(str(error))}</span>'
        try:
            check_output_folder(self.output_dir.value, self.input_dir.value)
            self.output_note.value = "ok"
        except AelibError as error:
            self.output_note.value = f'<span style="color:#b00020">{html.escape(str(error))}</span>'

    def _set_progress(self, done: int, total: int) -> None:
        self.progress.max = total
        self.progress.value = done

    def on_compress(self, _button=None) -> None:
        """ "Compress & Show Results": writes the files, then shows the gallery and the totals."""
        self.compare_button.disabled = True
        self.gallery.value = ""
        self.summary.clear_output()
        if not self.selected_model():
            self._say("choose a model", error=True)
            return
        self._say("Compressing …")
        try:
            self.run = compress_folder(
                self.selected_model(),
                self.input_dir.value,
                self.output_dir.value,
                self.overwrite.value,
                self._set_progress,
            )
        except AelibError as error:
            self._say(str(error), error=True)
            return
        self.gallery.value = gallery_html(self.run)
        self._show_summary()
        self.compare_button.disabled = False
        self._say(f"{COMPLETE_MESSAGE} {totals_line(self.run)}")

    def on_compare(self, _button=None) -> None:
        """ "Compare with JPEG": adds SSIM-matched JPEG to the gallery, the table and a chart."""
        if self.run is None:
            self._say("compress first", error=True)
            return
        self._say("Finding the JPEG quality with the same mean SSIM …")
        compare_with_jpeg(self.run)
        self.gallery.value = gallery_html(self.run)
        self._show_summary(chart=True)
        self._say(f"Compared with JPEG q{self.run.jpeg_quality}, the quality whose mean SSIM matches the model's.")

    def _show_summary(self, chart: bool = False) -> None:
        import matplotlib.pyplot as plt
        from IPython.display import display

        from aelib.study.plots import plot_metric_bars

        table = summary_table(self.run)
        self.summary.clear_output()
        with self.summary:
            display(table.round(4))
            if chart:
                figure = plot_metric_bars(table, f"{self.run.method} against JPEG on {len(self.run.results)} images")
                display(figure)
                plt.close(figure)
