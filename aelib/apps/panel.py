"""The compress-and-compare panel: the paper's graphical interface (its Figure 1) in ipywidgets.

The paper's window has Select Model, Select Input Folder, Select Output Folder,
"Compress & Show Results", "Compare with JPEG" and a status line. So does
:class:`CompressPanel`; the work it does lives in plain functions
(:func:`compress_folder`, :func:`compare_with_jpeg`, the ``check_*`` functions)
that raise :class:`aelib.errors.AelibError` with one line, which the panel shows
in its status line. The input folder is only read; outputs go to
``OUTPUT/aec/`` and ``OUTPUT/decoded/``, keeping the input's layout.

The panel never writes outside the folder the user chose. A folder field
takes its value when the user presses Enter or leaves the field (not at every
keystroke), and "Compress" checks the value as it is then. An output folder
must be empty, hold only an earlier run's ``aec/`` and ``decoded/``, or be new
with "create the folder" ticked (the tick clears whenever the path changes), so
a half-typed path is refused: its prefixes are the filesystem root, the home
folder, folders holding other files, or folders that do not exist. Folder
scans stop at :data:`SCAN_LIMIT` images and :data:`SCAN_DEPTH` levels. An
uploaded image is coded in memory and shown; nothing of it is written.
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

from aelib.codec.zoo import ZooEntry, zoo
from aelib.config import ENTROPY_SUFFIX, IMAGE_EXTENSIONS
from aelib.data import read_image
from aelib.errors import AelibError, InputError
from aelib.measure.metrics import bits_per_pixel, compression_ratio, psnr, ssim
from aelib.outputs import atomic_output, refuse_overwrite

COMPLETE_MESSAGE = "Compression is complete!"
THUMBNAIL_SIDE = 192
SCAN_LIMIT = 1000
"""The most images a folder field counts, and the most an input folder may hold: a larger one is refused."""
SCAN_DEPTH = 4
"""The deepest sub-folder level a folder field looks into."""
OUTPUT_SUBFOLDERS = ("aec", "decoded")
"""What the panel writes into its output folder; an existing output folder may hold these and nothing else."""


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
    """A model in the picker: its file and what the zoo says of it (:mod:`aelib.codec.zoo`).

    Attributes:
        path: the ``.keras`` file.
        kind: what the model is, in the zoo's words.
        entry: its zoo entry, None for a model the zoo cannot place (no tables or run beside it).
    """

    path: Path
    kind: str
    entry: ZooEntry | None = None

    @property
    def label(self) -> str:
        """The picker's line: the zoo's words, the same as ``aelib models`` prints."""
        if self.entry is None:
            return f"{self.path.name} ({self.kind})"
        entry = self.entry
        recommended = f", recommended for {', '.join(entry.recommended_for)}" if entry.recommended_for else ""
        measured = (
            f"; {entry.bits_per_pixel} bpp, PSNR {entry.psnr} dB, SSIM {entry.ssim} on {entry.measured_on}"
            if entry.bits_per_pixel
            else ""
        )
        return f"{self.path.name} ({entry.kind}{recommended}{measured})"


def describe_models(models: list[Path]) -> list[ModelChoice]:
    """The models in the zoo's order (recommended first) with its words, read from the folders beside theirs."""
    entries = {}
    for folder in {path.parent for path in models}:
        entries |= {entry.path: entry for entry in zoo(folder.parent, folder)}
    choices = [
        ModelChoice(path, entries[path].kind, entries[path]) if path in entries else ModelChoice(path, path.stem)
        for path in models
    ]
    order = {entry.path: rank for rank, entry in enumerate(entries.values())}
    return sorted(choices, key=lambda choice: order.get(choice.path, len(order)))


def best_model(choices: list[ModelChoice]) -> ModelChoice | None:
    """The model the panel opens on: the one recommended for photos, else for faces, else the first."""
    for use in ("photos", "faces"):
        for choice in choices:
            if choice.entry is not None and use in choice.entry.recommended_for:
                return choice
    return choices[0] if choices else None


def scan_images(folder: Path, limit: int = SCAN_LIMIT, depth: int = SCAN_DEPTH) -> list[Path]:
    """Image files below folder, sorted: at most limit + 1 of them, at most depth sub-folder levels down.

    Stops as soon as it has found more than limit, so a field holding "/" answers at once.
    """
    found, pending = [], [(folder, 0)]
    while pending and len(found) <= limit:
        current, level = pending.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda entry: entry.name, reverse=True)
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if level < depth:
                        pending.append((Path(entry.path), level + 1))
                elif Path(entry.name).suffix.lower() in IMAGE_EXTENSIONS and entry.is_file():
                    found.append(Path(entry.path))
                    if len(found) > limit:
                        break
            except OSError:
                continue
    return sorted(found)


def check_input_folder(folder: str) -> list[Path]:
    """The images below folder (:func:`scan_images`); a one-line error when there is none, no folder, or too many."""
    if not folder.strip():
        raise InputError("choose an input folder")
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise InputError(f"image folder not found: {path}" if not path.exists() else f"not a folder: {path}")
    paths = scan_images(path)
    if not paths:
        raise InputError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in {path} (looked {SCAN_DEPTH} levels down)")
    if len(paths) > SCAN_LIMIT:
        raise InputError(f"more than {SCAN_LIMIT:,} images below {path}: choose a smaller folder")
    return paths


def check_output_folder(folder: str, input_folder: str, create: bool = False) -> Path:
    """The output folder, if the panel may write into it; a one-line error saying why not.

    Refused: the filesystem root, the home folder, the input folder, a folder
    inside it or holding it, a folder holding anything but an earlier run's
    :data:`OUTPUT_SUBFOLDERS`, a file, a place that cannot be written, and a
    folder that does not exist unless create is set (the panel's "create the
    folder" tick).
    """
    if not folder.strip():
        raise InputError("choose an output folder")
    output = Path(folder).expanduser().resolve()
    if output == Path(output.anchor):
        raise InputError("the output folder cannot be the filesystem root; choose a folder of its own")
    if output == Path.home().resolve():
        raise InputError("the output folder cannot be your home folder; choose a folder of its own")
    if input_folder.strip():
        source = Path(input_folder).expanduser().resolve()
        if output == source or source in output.parents:
            raise InputError("the output folder must lie outside the input folder, which is never changed")
        if output in source.parents:
            raise InputError("the output folder holds the input folder; choose a folder outside it")
    if output.exists() and not output.is_dir():
        raise InputError(f"the output is a file, not a folder: {output}")
    if output.is_dir():
        others = sorted(entry.name for entry in os.scandir(output) if entry.name not in OUTPUT_SUBFOLDERS)
        if others:
            raise InputError(
                f"{output} holds other files ({', '.join(others[:3])}{' …' if len(others) > 3 else ''}); "
                "choose an empty folder or one the panel wrote before"
            )
    elif not create:
        raise InputError(f"{output} does not exist; tick 'create the folder' to make it")
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
    create: bool = True,
) -> CompressionRun:
    """Compresses every image of input_dir into ``.aec`` files and decodes them to PNG.

    Args:
        model_path: a ``.keras`` codec model (exported, or with its entropy tables beside it); a hyperprior
            model codes at its highest quality setting.
        input_dir: folder of images, searched recursively; only read.
        output_dir: where ``aec/`` and ``decoded/`` are written.
        overwrite: replace outputs that exist (otherwise nothing is written and an error says why).
        progress: called with (done, total) after each image.
        create: make output_dir when it does not exist (the panel passes its "create the folder" tick).

    Returns:
        The images with their decoded versions and sizes.
    """
    from aelib.codec.codec import decode_any, encode_any, load_any_codec
    from aelib.codec.files import png_bytes
    from aelib.experiments.table1 import model_method

    input_dir = Path(input_dir).expanduser().resolve()
    paths = check_input_folder(str(input_dir))
    output_dir = check_output_folder(str(output_dir), str(input_dir), create)
    codec = load_any_codec(model_path)
    planned = output_paths(paths, input_dir, output_dir)
    refuse_overwrite([p for pair in planned for p in pair], overwrite, "tick 'replace existing results' to overwrite")
    results = []
    for done, (path, (aec_path, png_path)) in enumerate(zip(paths, planned), start=1):
        image = read_image(path, transparency="refuse")
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


def compress_upload(model_path: str | Path, name: str, content: bytes) -> CompressionRun:
    """One uploaded image through the codec, in memory: nothing is written.

    Raises:
        AelibError: the bytes are not an image the codec can take, or the model cannot be loaded.
    """
    from aelib.codec.codec import decode_any, encode_any, load_any_codec
    from aelib.experiments.table1 import model_method

    image = read_image(name, content=content, transparency="refuse")
    codec = load_any_codec(model_path)
    start = time.perf_counter()
    data = encode_any(image, codec)
    decoded = decode_any(data, codec)
    result = ImageResult(name, image, decoded, len(data), time.perf_counter() - start)
    return CompressionRun(model_method(codec), [result], Path("(in memory)"))


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
    from aelib.experiments.table1 import matched_jpeg_method

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
        # continuous_update=False: a field takes its value on Enter or when the user leaves it, so typing
        # never waits for a folder scan and a click acts on the path as shown, not on a half-typed one.
        self.input_dir = widgets.Text(
            value=input_dir,
            description="Input Folder",
            placeholder="folder of images (Enter to check it)",
            continuous_update=False,
            **wide,
        )
        self.input_note = widgets.HTML()
        self.output_dir = widgets.Text(
            value=output_dir,
            description="Output Folder",
            placeholder="an empty or new folder (Enter to check it)",
            continuous_update=False,
            **wide,
        )
        self.output_note = widgets.HTML()
        self.create = widgets.Checkbox(value=False, description="create the folder", indent=False)
        self.overwrite = widgets.Checkbox(value=False, description="replace existing results")
        buttons = {"layout": widgets.Layout(width="220px")}
        self.compress_button = widgets.Button(description="Compress & Show Results", button_style="primary", **buttons)
        self.compare_button = widgets.Button(description="Compare with JPEG", disabled=True, **buttons)
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="Progress")
        self.status = widgets.HTML(value="Choose a model, an input folder and an output folder.")
        self.gallery = widgets.HTML()
        self.summary = widgets.Output()
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="Upload an image")
        self.upload_result = widgets.HTML()
        self.input_dir.observe(self._validate, names="value")
        self.output_dir.observe(self._output_changed, names="value")
        self.create.observe(self._validate, names="value")
        self.upload.observe(self.on_upload, names="value")
        self.compress_button.on_click(self.on_compress)
        self.compare_button.on_click(self.on_compare)
        self._validate()
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.model_picker, self.model_path]),
                widgets.HBox([self.input_dir, self.input_note]),
                widgets.HBox([self.output_dir, self.create, self.overwrite, self.output_note]),
                widgets.HBox([self.compress_button, self.compare_button, self.progress]),
                self.status,
                self.summary,
                self.gallery,
                widgets.HTML("<b>Or compress one image of your own</b> (coded in memory, nothing is written):"),
                self.upload,
                self.upload_result,
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
            check_output_folder(self.output_dir.value, self.input_dir.value, self.create.value)
            self.output_note.value = "ok"
        except AelibError as error:
            self.output_note.value = f'<span style="color:#b00020">{html.escape(str(error))}</span>'

    def _output_changed(self, change=None) -> None:
        """A new output path asks anew whether to create it: a tick given for one path never makes another."""
        if self.create.value:
            self.create.value = False  # revalidates through its observer
        else:
            self._validate()

    def _busy(self, busy: bool) -> None:
        """Buttons off while the kernel works, so that no click waits in the queue with an old value."""
        self.compress_button.disabled = busy
        self.upload.disabled = busy
        if busy:
            self.compare_button.disabled = True

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
        self._busy(True)
        try:
            self.run = compress_folder(
                self.selected_model(),
                self.input_dir.value,
                self.output_dir.value,
                self.overwrite.value,
                self._set_progress,
                create=self.create.value,
            )
        except AelibError as error:
            self._say(str(error), error=True)
            return
        finally:
            self._busy(False)
        self.gallery.value = gallery_html(self.run)
        self._show_summary()
        self.compare_button.disabled = False
        self._say(f"{COMPLETE_MESSAGE} {totals_line(self.run)}")

    def on_upload(self, change=None) -> None:
        """An uploaded image: coded with the chosen model in memory, shown beside SSIM-matched JPEG."""
        if not self.upload.value:
            return
        upload = self.upload.value[0]
        self.upload_result.value = ""
        if not self.selected_model():
            self._say("choose a model", error=True)
            return
        self._say(f"Compressing {upload['name']} …")
        self._busy(True)
        try:
            run = compress_upload(self.selected_model(), upload["name"], bytes(upload["content"]))
            compare_with_jpeg(run)
        except AelibError as error:
            self._say(str(error), error=True)
            return
        finally:
            self._busy(False)
        self.upload_result.value = gallery_html(run)
        result, jpeg = run.results[0], run.jpeg_results[0]
        self._say(
            f"{COMPLETE_MESSAGE} {upload['name']}: {result.compressed_bytes:,} bytes, "
            f"{result.metrics['bits_per_pixel']:.3f} bpp, PSNR {result.metrics['psnr']:.2f} dB; "
            f"JPEG q{run.jpeg_quality} at the same SSIM: {jpeg.compressed_bytes:,} bytes"
        )

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

        from aelib.report.figures import plot_metric_bars

        table = summary_table(self.run)
        self.summary.clear_output()
        with self.summary:
            display(table.round(4))
            if chart:
                figure = plot_metric_bars(table, f"{self.run.method} against JPEG on {len(self.run.results)} images")
                display(figure)
                plt.close(figure)
