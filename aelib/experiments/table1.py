"""Evaluation of an autoencoder against JPEG on held-out images (the paper's Table 1).

Every image goes through the autoencoder and through JPEG at the paper's
qualities and at the quality whose mean SSIM matches the model's. Per image we
record PSNR, SSIM, the bytes really written, compression ratio, bits per pixel,
encode/decode times and each colour channel's mean shift (decoded minus
original, in levels of 255); the summary has one row per method.

The autoencoder's rate is that of the ``.aec`` bytes it really writes
(:func:`aelib.codec.codec.encode`), header included; the paper's ratio, image bytes
over the latents stored as float32, is reported beside it (``float32_latent_ratio``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from aelib.codec.codec import CodecModel, decode, encode, latent_shape_for
from aelib.config import MATCHED_JPEG_SUFFIX, PAPER_JPEG_QUALITIES, PAPER_TABLE_1
from aelib.measure.baselines import encode_with_codec, match_jpeg_quality
from aelib.measure.metrics import COLOUR_COLUMNS, bits_per_pixel, colour_columns, compression_ratio, psnr, ssim
from aelib.nn.layers import GDN
from aelib.nn.models import depth_of, encoder_of
from aelib.outputs import progress_bar


@dataclass(frozen=True)
class Evaluation:
    """Per-image measurements and the per-method summary (Table 1).

    Attributes:
        per_image: one row per (method, image).
        summary: one row per method with the means, and the paper's figures beside.
        matched_jpeg_quality: the JPEG quality whose mean SSIM is closest to the model's.
    """

    per_image: pd.DataFrame
    summary: pd.DataFrame
    matched_jpeg_quality: int


def model_method(codec) -> str:
    """The name of a model's rows in every table.

    "{depth}-layer" for the paper's autoencoders, as in its Table 1; "NAME (GDN, factorized)" for a GDN
    factorized-prior model (a rate–distortion family member, whose four convolutions are no "4-layer"
    model of the paper); "NAME (hyperprior)" for a hyperprior codec.
    """
    if not isinstance(codec, CodecModel):
        return f"{codec.network.name} (hyperprior)"
    if any(isinstance(layer, GDN) for layer in encoder_of(codec.autoencoder).layers):
        return f"{codec.autoencoder.name} (GDN, factorized)"
    return f"{depth_of(codec.autoencoder)}-layer"


def matched_jpeg_method(quality: int) -> str:
    """The name of the SSIM-matched JPEG rows: "JPEG q{quality} (SSIM-matched)"."""
    return f"JPEG q{quality}{MATCHED_JPEG_SUFFIX}"


def _row(
    method: str, name: str, original: np.ndarray, decoded: np.ndarray, size: int, encode_s: float, decode_s: float
) -> dict:
    height, width = original.shape[:2]
    return {
        "method": method,
        "image": name,
        "psnr": psnr(original, decoded),
        "ssim": ssim(original, decoded),
        "bytes": size,
        "compression_ratio": compression_ratio(height, width, size),
        "bits_per_pixel": bits_per_pixel(height, width, size),
        "encode_s": encode_s,
        "decode_s": decode_s,
        **colour_columns(original, decoded),
    }


FLOAT32_BYTES = 4


def float32_latent_ratio(codec: CodecModel, height: int, width: int) -> float:
    """The compression ratio as the paper measured it: image bytes (H·W·3) over its latents stored as float32."""
    latent = latent_shape_for(codec, height, width)
    return height * width * 3 / (FLOAT32_BYTES * latent[0] * latent[1] * latent[2])


def autoencoder_rows(codec: CodecModel, images: np.ndarray, names: tuple[str, ...], method: str) -> list[dict]:
    """Runs each image alone through :func:`aelib.codec.codec.encode` and ``decode``, timing both."""
    rows = []
    for image, name in progress_bar(list(zip(images, names)), len(images), method, "img"):
        start = time.perf_counter()
        data = encode(image, codec)
        encoded = time.perf_counter()
        decoded = decode(data, codec)
        done = time.perf_counter()
        row = _row(method, name, image, decoded, len(data), encoded - start, done - encoded)
        row["float32_latent_ratio"] = float32_latent_ratio(codec, *image.shape[:2])
        rows.append(row)
    return rows


def jpeg_rows(images: np.ndarray, names: tuple[str, ...], quality: int, method: str) -> list[dict]:
    """Runs each image through optimised JPEG 4:2:0 at quality (:func:`aelib.measure.baselines.jpeg_description`)."""
    rows = []
    for image, name in progress_bar(list(zip(images, names)), len(images), method, "img"):
        result = encode_with_codec(image, "jpeg", quality)
        rows.append(
            _row(method, name, image, result.decoded, len(result.data), result.encode_seconds, result.decode_seconds)
        )
    return rows


def summarize_rows(per_image: pd.DataFrame) -> pd.DataFrame:
    """Means per method, in first-seen order, with the paper's Table 1 figures where the method matches."""
    per_image = per_image.assign(time_s=per_image.encode_s + per_image.decode_s)
    grouped = per_image.groupby("method", sort=False)
    summary = grouped[["psnr", "ssim", "compression_ratio", "bits_per_pixel"]].mean()
    if "float32_latent_ratio" in per_image:
        summary["float32_latent_ratio"] = grouped["float32_latent_ratio"].mean()
    for column in COLOUR_COLUMNS:
        summary[column] = grouped[column].mean()
    summary["time_per_image_s"] = grouped["time_s"].mean()
    summary["total_time_s"] = grouped["time_s"].sum()
    summary["images"] = grouped.size()
    summary = summary.reset_index()
    paper_columns = ("paper_psnr", "paper_ssim", "paper_compression_ratio", "paper_time_per_image_s")
    for index, column in enumerate(paper_columns):
        summary[column] = [PAPER_TABLE_1.get(m.split(" (")[0], (np.nan,) * 5)[index] for m in summary["method"]]
    return summary


def evaluate_model(
    codec: CodecModel,
    images: np.ndarray,
    names: tuple[str, ...] | None = None,
    jpeg_qualities: tuple[int, ...] = PAPER_JPEG_QUALITIES,
) -> Evaluation:
    """Compares an autoencoder with JPEG on uint8 test images.

    Args:
        codec: a trained model with its entropy tables (:func:`aelib.codec.codec.load_codec_model`).
        images: uint8 test images of shape (H, W, 3), as one array or a list of any sizes.
        names: a name per image (indices by default).
        jpeg_qualities: fixed JPEG qualities to include (the paper's by default).

    Returns:
        Per-image rows and the summary; the model's row is named "{depth}-layer",
        the SSIM-matched JPEG row "JPEG q{Q} (SSIM-matched)"; the model's row
        carries that quality in the column matched_jpeg_quality.
    """
    names = names or tuple(str(i) for i in range(len(images)))
    method = model_method(codec)
    rows = autoencoder_rows(codec, images, names, method)
    model_ssim = float(np.mean([row["ssim"] for row in rows]))
    matched = match_jpeg_quality(images, model_ssim)
    rows += jpeg_rows(images, names, matched, matched_jpeg_method(matched))
    for quality in jpeg_qualities:
        rows += jpeg_rows(images, names, quality, f"JPEG q{quality}")
    per_image = pd.DataFrame(rows)
    summary = summarize_rows(per_image)
    summary.insert(summary.columns.get_loc("images") + 1, "matched_jpeg_quality", np.nan)
    summary.loc[summary["method"] == method, "matched_jpeg_quality"] = matched
    return Evaluation(per_image, summary, matched)


def comparison_examples(
    codec: CodecModel, images, names: tuple[str, ...], evaluation: Evaluation, count: int = 3
) -> list[dict]:
    """The best, median and worst test images by the model's SSIM, each decoded by the model and by matched JPEG.

    Returns:
        Rows for :func:`aelib.report.figures.plot_comparison`, each panel labelled with its method, bpp, PSNR and SSIM.
    """
    method = model_method(codec)
    model_rows = evaluation.per_image[evaluation.per_image["method"] == method].reset_index(drop=True)
    order = model_rows["ssim"].to_numpy().argsort()[::-1]
    picks = sorted({int(order[round(i * (len(order) - 1) / max(count - 1, 1))]) for i in range(count)})
    rows = []
    for index in picks:
        image = images[index]
        data = encode(image, codec)
        ours = decode(data, codec)
        jpeg = encode_with_codec(image, "jpeg", evaluation.matched_jpeg_quality)
        height, width = image.shape[:2]
        rows.append(
            {
                "name": names[index],
                "original": image,
                "panels": [
                    (_caption(method, image, ours, len(data), height, width), ours),
                    (
                        _caption(
                            f"JPEG q{evaluation.matched_jpeg_quality}",
                            image,
                            jpeg.decoded,
                            len(jpeg.data),
                            height,
                            width,
                        ),
                        jpeg.decoded,
                    ),
                ],
            }
        )
    return rows


def _caption(method: str, original: np.ndarray, decoded: np.ndarray, size: int, height: int, width: int) -> str:
    return (
        f"{method}: {bits_per_pixel(height, width, size):.3f} bpp\n"
        f"PSNR {psnr(original, decoded):.2f} dB, SSIM {ssim(original, decoded):.4f}"
    )


def evaluate_hyperprior(codec, images: np.ndarray, qualities: list[int] | None = None, batch_size: int = 64):
    """Each quality setting of a hyperprior codec on images of one size, from the bytes it writes.

    Beside bits per pixel, PSNR and MS-SSIM, the table states the rate the
    model itself predicts (−log2 of its trained densities at the rounded
    values, :func:`aelib.codec.hyper.estimated_bits`), how far the written
    payload is from it, and how many values were coded as escapes (beyond their
    table: extra bits, never clipped).

    Args:
        codec: a :class:`aelib.codec.hyper.HyperCodec`.
        images: (N, H, W, 3) uint8.
        qualities: the settings to measure; by default each gain level's own (0, 8, 16, …).

    Returns:
        One row per quality: quality, bpp (whole files), payload_bits and estimated_bits (means per image),
        rate_gap (payload / estimate − 1), escapes (total), psnr, ms_ssim (means).
    """
    from aelib.codec import hyper
    from aelib.codec.format import HEADER_3
    from aelib.measure.metrics import ms_ssim

    qualities = list(range(0, codec.qualities, 8)) if qualities is None else qualities
    rows = []
    for quality in qualities:
        payload, estimate, escapes, psnrs, ms_ssims, sizes = 0.0, 0.0, 0, [], [], []
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size]
            files = hyper.encode_batch(batch, codec, quality)
            decoded = hyper.decode_batch(files, codec)
            z, residual, index = hyper.analyse(batch, codec, quality)
            values, tables = hyper._stream(codec, z, residual, index)
            escapes += int(codec.tables.symbols(values, tables)[1].sum())
            payload += sum(8 * (len(data) - HEADER_3.size) for data in files)
            estimate += float(hyper.estimated_bits(batch, codec, quality).sum())
            sizes += [len(data) for data in files]
            psnrs += [psnr(o, d) for o, d in zip(batch, decoded)]
            ms_ssims += [ms_ssim(o, d) for o, d in zip(batch, decoded)]
        height, width = images.shape[1:3]
        rows.append(
            {
                "quality": quality,
                "bpp": float(np.mean(sizes)) * 8 / (height * width),
                "payload_bits": payload / len(images),
                "estimated_bits": estimate / len(images),
                "rate_gap": payload / estimate - 1,
                "escapes": escapes,
                "psnr": float(np.mean(psnrs)),
                "ms_ssim": float(np.mean(ms_ssims)),
            }
        )
    return pd.DataFrame(rows)
