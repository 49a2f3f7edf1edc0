"""Compressing and decompressing files on disk: many inputs, atomic outputs, nothing overwritten.

The CLI's ``compress``, ``decompress`` and ``info`` and the panel call these.
This module loads TensorFlow only when a network must run, so that
:func:`check_images` and :func:`check_aec_files` can refuse bad inputs first.
Outputs are written to a temporary file beside the destination and renamed, so
an interrupted run never leaves a half-written file; inputs are only read.

An output that already exists is kept unless ``force``: if it is a complete
output of this job (an ``.aec`` file of this model, a PNG of the right size)
it is counted and skipped, so running an interrupted batch again finishes it
without redoing anything; anything else there stops the run with one line.

An input that cannot be read or decoded (a corrupt image, a damaged ``.aec``
file) does not stop a batch: it is recorded as a failed :class:`FileResult`
(``error`` set, nothing written) and the others are written; a rerun retries
exactly what is missing. ``stop_on_error=True`` stops at the first one instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import imagecodecs
import numpy as np
from PIL import Image

from aelib.codec.format import read_any_header, read_model_card
from aelib.config import ENTROPY_SUFFIX, IMAGE_EXTENSIONS, MAX_PIXELS
from aelib.data import image_size, read_image
from aelib.errors import AelibError, InputError
from aelib.measure.metrics import bits_per_pixel, compression_ratio
from aelib.outputs import atomic_output, progress_bar, refuse_overwrite

if TYPE_CHECKING:
    from aelib.codec.codec import CodecModel

AEC_SUFFIX = ".aec"


@dataclass(frozen=True)
class FileResult:
    """One file compressed or decompressed.

    Attributes:
        source, output: the file read and the file written.
        height, width: the image's size.
        compressed_bytes: size of the ``.aec`` file.
        channels: 3, or 1 for a grey image (its ratio is taken against 8 bits per pixel, not 24).
        skipped: the output was already there, complete, and was kept.
        error: why the input could not be coded (nothing was written), or None.
    """

    source: Path
    output: Path
    height: int
    width: int
    compressed_bytes: int
    skipped: bool = False
    error: str | None = None
    channels: int = 3

    @classmethod
    def failed(cls, source: Path, output: Path, error: Exception | str) -> FileResult:
        return cls(source, output, 0, 0, 0, error=str(error))

    @property
    def bits_per_pixel(self) -> float:
        return bits_per_pixel(self.height, self.width, self.compressed_bytes)

    @property
    def compression_ratio(self) -> float:
        return compression_ratio(self.height, self.width, self.compressed_bytes, self.channels)


def write_atomic(path: Path, data: bytes, force: bool = False) -> None:
    """Writes data to path via a temporary file and a rename; refuses to replace a file unless force."""
    refuse_overwrite([path], force)
    with atomic_output(path) as temporary:
        temporary.write_bytes(data)


def png_bytes(image: np.ndarray) -> bytes:
    """An (H, W, 3) uint8 image, or a grey (H, W) one, as PNG bytes, encoded from the array itself (Pillow would
    copy a large image first)."""
    return imagecodecs.png_encode(np.ascontiguousarray(image))


def _expand(inputs: list[str | Path], suffixes: tuple[str, ...]) -> list[tuple[Path, Path]]:
    """(file, its path relative to the folder given) for files and for files below given folders."""
    found = []
    for item in map(Path, inputs):
        if item.is_dir():
            files = sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
            if not files:
                raise InputError(f"no {' / '.join(suffixes)} files found in {item}")
            found += [(path, path.relative_to(item)) for path in files]
        elif item.is_file():
            found.append((item, Path(item.name)))
        else:
            raise InputError(f"no such file or folder: {item}")
    return found


def parse_shard(text: str) -> tuple[int, int]:
    """ "i/n" → (i, n) with 0 <= i < n: this process codes every n-th file, starting at the i-th.

    Raises:
        InputError: anything else.
    """
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
        raise InputError(f"--shard takes i/n with 0 <= i < n, e.g. 0/2; got {text!r}")
    return int(index), int(count)


def take_shard(pairs: list, shard: tuple[int, int] | None) -> list:
    """The files of one shard: every n-th of the sorted list, from the i-th. Shards 0 … n-1 cover each file once."""
    if shard is None:
        return pairs
    index, count = shard
    return pairs[index::count]


def _plan_outputs(pairs: list[tuple[Path, Path]], out_dir: Path, suffix: str) -> list[Path]:
    outputs = [out_dir / relative.with_suffix(suffix) for _, relative in pairs]
    seen: dict[Path, Path] = {}
    for (source, _), output in zip(pairs, outputs):
        if output in seen:
            raise InputError(f"{seen[output]} and {source} would both be written to {output}")
        seen[output] = source
    return outputs


def _existing_aec(source: Path, output: Path, codec: CodecModel) -> FileResult:
    """The result of an ``.aec`` output written before by this model, or a one-line error."""
    data = read_bytes(output)
    try:
        header = read_any_header(data)
    except AelibError as error:
        raise InputError(f"{output} exists and is not a valid .aec file ({error}); --force replaces it") from None
    if header.fingerprint != codec.fingerprint:
        raise InputError(
            f"{output} exists, written by model {header.fingerprint}, not {codec.fingerprint}; --force replaces it"
        )
    channels = 1 if getattr(header, "grey", False) else 3
    return FileResult(source, output, header.height, header.width, len(data), skipped=True, channels=channels)


def image_files(inputs: list[str | Path]) -> list[Path]:
    """The image files among inputs and below the folders among them, in the order they are coded."""
    return [path for path, _ in _expand(inputs, IMAGE_EXTENSIONS)]


def screen_images(
    inputs: list[str | Path], max_pixels: int = MAX_PIXELS, shard: tuple[int, int] | None = None
) -> tuple[int, list[str]]:
    """How many images the inputs (of the shard) hold, and a line for each that is not an image within max_pixels.

    Reads headers only, without TensorFlow.
    """
    pairs = take_shard(_expand(inputs, IMAGE_EXTENSIONS), shard)
    failures = []
    for source, _ in pairs:
        try:
            image_size(source, max_pixels)
        except AelibError as error:
            failures.append(str(error) if str(source) in str(error) else f"{source}: {error}")
    return len(pairs), failures


def check_images(inputs: list[str | Path], max_pixels: int = MAX_PIXELS, shard: tuple[int, int] | None = None) -> int:
    """Checks that every input (of the shard) is an image within max_pixels from its header alone; returns the count.

    Raises:
        AelibError: the first input that is missing, not an image, or too large.
    """
    pairs = take_shard(_expand(inputs, IMAGE_EXTENSIONS), shard)
    for source, _ in pairs:
        image_size(source, max_pixels)
    return len(pairs)


def screen_aec_files(
    inputs: list[str | Path], max_pixels: int = MAX_PIXELS, shard: tuple[int, int] | None = None
) -> tuple[int, list[str]]:
    """How many ``.aec`` files the inputs (of the shard) hold, and a line for each whose header or checksum is bad."""
    pairs = take_shard(_expand(inputs, (AEC_SUFFIX,)), shard)
    failures = []
    for source, _ in pairs:
        try:
            read_any_header(read_bytes(source), max_pixels)
        except AelibError as error:
            failures.append(f"{source}: {error}")
    return len(pairs), failures


def check_aec_files(
    inputs: list[str | Path], max_pixels: int = MAX_PIXELS, shard: tuple[int, int] | None = None
) -> int:
    """Checks every ``.aec`` input's (of the shard) header, checksum and image size; returns how many there are.

    Raises:
        AelibError: the first file that is unreadable, corrupt, or above max_pixels.
    """
    pairs = take_shard(_expand(inputs, (AEC_SUFFIX,)), shard)
    for source, _ in pairs:
        try:
            read_any_header(read_bytes(source), max_pixels)
        except AelibError as error:
            raise InputError(f"{source}: {error}") from None
    return len(pairs)


READ_AHEAD = 4
"""Files whose bytes :func:`stream_file_bytes` reads ahead of the coder: compressed bytes, a few MB each."""


def stream_file_bytes(paths: list[Path]) -> Iterator[bytes]:
    """The files' bytes in order, read by a tf.data pipeline up to READ_AHEAD files ahead of the caller.

    Reading overlaps with coding (which matters on network disks), and only the files' own
    compressed bytes are held ahead — never decoded pixels — so memory stays small however many
    files there are and however large each image is.

    Raises:
        InputError: a file cannot be read.
    """
    import tensorflow as tf

    if not paths:
        return
    names = tf.data.Dataset.from_tensor_slices([str(path) for path in paths])
    contents = iter(names.map(tf.io.read_file, num_parallel_calls=READ_AHEAD).prefetch(READ_AHEAD))
    for path in paths:
        try:
            yield next(contents).numpy()
        except tf.errors.OpError as error:
            raise InputError(f"cannot read {path} ({error.message})") from None


def compress_files(
    inputs: list[str | Path],
    codec: CodecModel,
    out_dir: str | Path,
    force: bool = False,
    max_pixels: int = MAX_PIXELS,
    shard: tuple[int, int] | None = None,
    quality: int | None = None,
    target_bpp: float | None = None,
    stop_on_error: bool = False,
) -> list[FileResult]:
    """Writes one ``.aec`` per input image; folders are searched recursively and their layout kept.

    The outputs are planned first — no two inputs may map to one output — and
    an output already written by this model is skipped unless force, so an
    interrupted batch finishes when run again. An unreadable input, or one
    above max_pixels, stops the run with its name. With shard (i, n), only
    the files of that shard (:func:`take_shard`), so that n processes or
    machines split one collection with no file coded twice. The files stream
    through :func:`stream_file_bytes` and are decoded one at a time, so memory
    does not grow with the number of files. quality: the setting of a
    hyperprior codec (0 … qualities − 1; its highest when None), or target_bpp:
    each image at the highest setting that fits that many bits per pixel.
    An unreadable or corrupt input is a failed result (see the module's
    docstring) unless stop_on_error.
    """
    from aelib.codec.codec import encode_any

    pairs = _expand(inputs, IMAGE_EXTENSIONS)
    outputs = take_shard(_plan_outputs(pairs, Path(out_dir), AEC_SUFFIX), shard)
    pairs = take_shard(pairs, shard)
    results, todo = [], []
    for (source, _), output in zip(pairs, outputs):
        if output.exists() and not force:
            results.append(_existing_aec(source, output, codec))
        else:
            todo.append((source, output))
    readable = []
    for source, output in todo:
        if os.access(source, os.R_OK) or stop_on_error:
            readable.append((source, output))
        else:
            results.append(FileResult.failed(source, output, f"cannot read {source} (permission denied)"))
    contents = stream_file_bytes([source for source, _ in readable])
    for (source, output), content in progress_bar(
        zip(readable, contents), len(readable), "compressing", "img", leave=True
    ):
        try:
            image = read_image(source, max_pixels, content, transparency="refuse", keep_grey=True)
            data = encode_any(image, codec, quality, target_bpp)
        except AelibError as error:
            if stop_on_error:
                raise InputError(f"{source}: {error}") from None
            results.append(FileResult.failed(source, output, error))
            continue
        write_atomic(output, data, force)
        channels = 1 if image.ndim == 2 else 3
        results.append(FileResult(source, output, image.shape[0], image.shape[1], len(data), channels=channels))
    return results


def find_model_for(fingerprint: str, search: Sequence[str | Path]) -> Path:
    """The ``.keras`` model in the search folders (recursively) whose card or tables record fingerprint."""
    from aelib.codec.codec import read_fingerprint

    candidates = []
    for folder in map(Path, search):
        if folder.is_dir():
            for model in sorted(folder.rglob("*.keras")):
                card = read_model_card(model)
                if card is not None and card.get("fingerprint") == fingerprint:
                    return model
            candidates += sorted(folder.rglob(f"*{ENTROPY_SUFFIX}"))
    for tables in candidates:
        model = tables.with_name(tables.name[: -len(ENTROPY_SUFFIX)] + ".keras")
        if model.is_file() and read_fingerprint(model) == fingerprint:
            return model
    where = ", ".join(str(s) for s in search)
    raise InputError(f"no model with fingerprint {fingerprint} in {where}; pass --model")


def _existing_png(source: Path, output: Path, height: int, width: int, size: int) -> FileResult:
    """The result of a PNG output written before for this file, or a one-line error."""
    try:
        with Image.open(output) as image:
            complete = image.format == "PNG" and image.size == (width, height)
    except (OSError, ValueError):
        complete = False
    if not complete:
        raise InputError(f"{output} exists and is not the {width}x{height} PNG of {source}; --force replaces it")
    return FileResult(source, output, height, width, size, skipped=True)


def decompress_files(
    inputs: list[str | Path],
    out_dir: str | Path,
    codec: CodecModel | None = None,
    model_search: Sequence[str | Path] | None = None,
    force: bool = False,
    max_pixels: int = MAX_PIXELS,
    shard: tuple[int, int] | None = None,
    stop_on_error: bool = False,
) -> list[FileResult]:
    """Writes one PNG per ``.aec`` file; the model is codec, or found by each file's fingerprint.

    A PNG of the right size already at an output is skipped unless force; a
    file above max_pixels is refused before anything is decoded; with shard,
    only that shard's files (:func:`take_shard`). A damaged file, or one whose
    model cannot be found, is a failed result unless stop_on_error. Models are
    searched in model_search, by default :func:`aelib.config.model_search_path`.
    """
    from aelib.codec.codec import decode_any, load_any_codec
    from aelib.config import model_search_path

    model_search = model_search_path() if model_search is None else model_search
    pairs = _expand(inputs, (AEC_SUFFIX,))
    outputs = take_shard(_plan_outputs(pairs, Path(out_dir), ".png"), shard)
    pairs = take_shard(pairs, shard)
    loaded: dict[str, CodecModel] = {codec.fingerprint: codec} if codec else {}
    results = []

    def failed(source: Path, output: Path, error: AelibError) -> None:
        if stop_on_error:
            raise InputError(f"{source}: {error}") from None
        results.append(FileResult.failed(source, output, error))

    for (source, _), output in progress_bar(list(zip(pairs, outputs)), len(pairs), "decompressing", "file", leave=True):
        try:
            data = read_bytes(source)
            header = read_any_header(data, max_pixels)
        except AelibError as error:
            failed(source, output, error)
            continue
        if output.exists() and not force:  # a PNG of this file is kept; anything else there stops the run
            results.append(_existing_png(source, output, header.height, header.width, len(data)))
            continue
        try:
            if codec is None and header.fingerprint not in loaded:
                loaded[header.fingerprint] = load_any_codec(find_model_for(header.fingerprint, model_search))
            image = decode_any(data, loaded.get(header.fingerprint, codec), max_pixels)
        except AelibError as error:
            failed(source, output, error)
            continue
        write_atomic(output, png_bytes(image), force)
        channels = 1 if image.ndim == 2 else 3
        results.append(FileResult(source, output, image.shape[0], image.shape[1], len(data), channels=channels))
    return results


def read_bytes(path: str | Path) -> bytes:
    """A file's bytes, with a one-line error when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise InputError(f"cannot read {path} ({error.strerror})") from None


def summary_line(results: list[FileResult]) -> str:
    """Total bytes, bits per pixel and compression ratio of a batch (over all its pixels), what was kept and failed.

    The rate is total bits over total pixels, so a tiny image among large ones
    does not dominate it as an average of per-file rates would.
    """
    if not results:
        return "0 file(s): nothing to do (an empty shard)"
    done = [r for r in results if r.error is None]
    failed = len(results) - len(done)
    failures = f"; {failed} failed (listed below)" if failed else ""
    if not done:
        return f"{len(results)} file(s): none written{failures}"
    total = sum(r.compressed_bytes for r in done)
    pixels = sum(r.height * r.width for r in done)
    raw = sum(r.height * r.width * r.channels for r in done)  # bytes of the images as 8-bit samples
    skipped = sum(r.skipped for r in done)
    done_before = f" ({skipped} already there, kept)" if skipped else ""
    return (
        f"{len(done)} file(s){done_before}, {total:,} bytes compressed, {8 * total / pixels:.3f} bits per pixel "
        f"and ratio {raw / total:.2f} over all {pixels:,} pixels{failures}"
    )


def failure_lines(results: list[FileResult]) -> list[str]:
    """One line per failed input: its path and why."""
    return [f"failed: {r.error if str(r.source) in r.error else f'{r.source}: {r.error}'}" for r in results if r.error]
