"""The rate–distortion experiment: every classical codec swept over quality, our models at every rate, per image.

Every measurement is per image from real files: ``.aec`` sizes for our models,
the bytes each classical codec of :data:`aelib.measure.baselines.CODECS` writes at the
settings a careful user would choose. The functions return DataFrames and
write nothing; :mod:`aelib.measure.curves` turns them into curves and BD-rates,
:mod:`aelib.report` into tables, figures and prose.
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from aelib.codec.codec import (
    CodecModel,
    codec_from_latents,
    decode,
    decode_batch,
    encode,
    encode_batch,
    encoder_latents,
)
from aelib.codec.format import header_size
from aelib.config import QUANTISATION_STEPS, Family
from aelib.measure.baselines import CODECS, encode_with_codec, header_bytes
from aelib.measure.curves import CLASSICAL_SWEEPS, REFERENCE_METHOD, bd_rate_with_interval, step_sweep_method
from aelib.measure.metrics import bits_per_pixel, colour_columns
from aelib.measure.registry import METRICS
from aelib.outputs import progress_bar
from aelib.training.families import members, model_name

MEASURE_THREADS = os.cpu_count() or 1
"""Threads that code and measure images side by side: the codecs and metrics release Python's lock."""


def _in_threads(function, *iterables) -> list:
    """list(map(function, *iterables)), run on :data:`MEASURE_THREADS` threads."""
    with ThreadPoolExecutor(MEASURE_THREADS) as pool:
        return list(pool.map(function, *iterables))


def _metrics_row(original: np.ndarray, reconstruction: np.ndarray, size: int, name: str) -> dict:
    height, width = original.shape[:2]
    return {
        "image": name,
        "bytes": size,
        "bpp": bits_per_pixel(height, width, size),
        **{m.column: m.compute(original, reconstruction) if m.compute else math.nan for m in METRICS.values()},
        **colour_columns(original, reconstruction),
    }


def _metrics_rows(originals, decoded, sizes, names) -> list[dict]:
    """Rate and the numpy metrics of each image; LPIPS is left NaN for :meth:`LpipsReference.fill`."""
    return _in_threads(_metrics_row, originals, decoded, sizes, names)


LPIPS_BATCH = 50
"""Images per VGG16 call when LPIPS compares images of one size."""


def _one_size(images: list[np.ndarray]) -> bool:
    return len({image.shape for image in images}) == 1


class LpipsReference:
    """LPIPS features of the first ``count`` test images, computed once and compared with every reconstruction.

    Images of one size are handled in batches of :data:`LPIPS_BATCH`, others one at a time.
    """

    def __init__(self, images: list[np.ndarray], count: int):
        from aelib.nn.lpips import lpips_features

        self.count = max(0, min(count, len(images)))
        originals = images[: self.count]
        self.batched = _one_size(originals)
        if self.batched:
            self.features = [
                lpips_features(np.stack(originals[i : i + LPIPS_BATCH])) for i in range(0, self.count, LPIPS_BATCH)
            ]
        else:
            self.features = [lpips_features(image[None]) for image in originals]

    def fill(self, rows: list[dict], decoded: list[np.ndarray]) -> None:
        """Sets the "lpips" of the first count rows from the matching decoded images."""
        from aelib.nn.lpips import lpips_between, lpips_features

        step = LPIPS_BATCH if self.batched else 1
        distances = []
        for chunk, start in zip(self.features, range(0, self.count, step)):
            part = decoded[start : min(start + step, self.count)]
            distances.extend(lpips_between(chunk, lpips_features(np.stack(part))).tolist())
        for row, distance in zip(rows, distances):
            row["lpips"] = float(distance)


def measure_classical(
    images: list[np.ndarray], names: list[str], lpips: LpipsReference, sweeps: dict = CLASSICAL_SWEEPS
) -> pd.DataFrame:
    """Per-image rate and metrics of every classical codec at every quality of its sweep.

    Args:
        images: uint8 RGB images (any sizes).
        names: their names.
        lpips: the originals' LPIPS features (LPIPS is computed for its first count images).
        sweeps: method → (codec key, qualities).

    Returns:
        One row per (method, setting, image).
    """
    rows = []
    jobs = [(method, codec, quality) for method, (codec, qualities) in sweeps.items() for quality in qualities]
    for method, codec, quality in progress_bar(jobs, len(jobs), "classical codecs", leave=True):
        results = _in_threads(lambda image: encode_with_codec(image, codec, quality), images)
        decoded = [result.decoded for result in results]
        measured = _metrics_rows(images, decoded, [len(result.data) for result in results], names)
        lpips.fill(measured, decoded)
        container = header_bytes(codec)
        rows += [{"method": method, "setting": quality, **row, "header_bytes": container} for row in measured]
    return pd.DataFrame(rows)


def measure_model(
    images: list[np.ndarray], names: list[str], codec: CodecModel, method: str, setting, lpips: LpipsReference
) -> pd.DataFrame:
    """Per-image rate (real ``.aec`` bytes) and metrics of one of our models.

    Images of one size are coded in batches; others one at a time.
    """
    if _one_size(images):
        files = encode_batch(np.stack(images), codec)
        started = time.perf_counter()
        decoded = list(decode_batch(files, codec))
    else:
        files = [encode(image, codec) for image in images]
        started = time.perf_counter()
        decoded = [decode(data, codec) for data in files]
    decode_seconds = (time.perf_counter() - started) / len(images)
    rows = _metrics_rows(images, decoded, [len(data) for data in files], names)
    lpips.fill(rows, decoded)
    return pd.DataFrame(
        [
            {"method": method, "setting": setting, **row, "header_bytes": header_size(data), "decode_s": decode_seconds}
            for row, data in zip(rows, files)
        ]
    )


def measure_step_sweep(
    images: list[np.ndarray],
    names: list[str],
    codec: CodecModel,
    training_images: np.ndarray,
    method: str,
    lpips: LpipsReference,
    steps: tuple[float, ...] = QUANTISATION_STEPS,
) -> pd.DataFrame:
    """Per-image rate (real ``.aec`` bytes) and metrics of one model at every quantisation step.

    The training latents are computed once; each step gets its own tables
    (:func:`aelib.codec.codec.codec_from_latents`). At Δ = 1 with the training
    split the model was exported with, the files are the committed model's.

    Returns:
        One row per (step, image), ``setting`` the step, ``method`` :func:`step_sweep_method`'s.
    """
    latents = encoder_latents(codec.autoencoder, training_images)
    frames = [
        measure_model(images, names, codec_from_latents(codec.autoencoder, latents, step), method, step, lpips)
        for step in steps
    ]
    return pd.concat(frames, ignore_index=True).assign(method=step_sweep_method(method))


HYPERPRIOR_BATCH = 50
"""Images of one size coded together by :func:`measure_hyperprior` (memory grows with it: N channels at H/2)."""


def hyperprior_settings(codec) -> list[int]:
    """The quality settings a hyperprior's curve is measured at: every gain level (quality 8·ℓ), lowest rate first."""
    return list(range(0, codec.qualities, 8))


def measure_hyperprior(
    images: list[np.ndarray],
    names: list[str],
    codec,
    method: str,
    lpips: LpipsReference,
    qualities: list[int] | None = None,
) -> pd.DataFrame:
    """Per-image rate (real ``.aec`` version-3 bytes) and metrics of a hyperprior codec at several qualities.

    Args:
        images, names: the test images (uint8 RGB, any sizes) and their names.
        codec: a :class:`aelib.codec.hyper.HyperCodec`.
        method: the name of its rows (:func:`aelib.experiments.table1.model_method`).
        lpips: the originals' LPIPS features.
        qualities: its settings; :func:`hyperprior_settings` by default.

    Returns:
        One row per (quality, image), ``setting`` the quality.
    """
    from aelib.codec import hyper

    frames = []
    for quality in qualities if qualities is not None else hyperprior_settings(codec):
        decoding = 0.0
        if _one_size(images):
            files, decoded = [], []
            for start in range(0, len(images), HYPERPRIOR_BATCH):
                batch = hyper.encode_batch(np.stack(images[start : start + HYPERPRIOR_BATCH]), codec, quality)
                files += batch
                started = time.perf_counter()
                decoded += list(hyper.decode_batch(batch, codec))
                decoding += time.perf_counter() - started
        else:
            files = [hyper.encode(image, codec, quality) for image in images]
            started = time.perf_counter()
            decoded = [hyper.decode(data, codec) for data in files]
            decoding = time.perf_counter() - started
        rows = _metrics_rows(images, decoded, [len(data) for data in files], names)
        lpips.fill(rows, decoded)
        frames.append(
            pd.DataFrame(
                [
                    {
                        "method": method,
                        "setting": quality,
                        **row,
                        "header_bytes": header_size(data),
                        "decode_s": decoding / len(images),
                    }
                    for row, data in zip(rows, files)
                ]
            )
        )
    return pd.concat(frames, ignore_index=True)


def ladder_rungs(paper_models: list[str], families: list[Family], hyperpriors: list[str]) -> dict[str, str]:
    """The ladder from the paper's autoencoder to our best codec, as (rung → method) in climbing order.

    Only the rungs measured in this run: the paper's shallowest model swept over
    quantisation steps, the factorized GDN models trained for R + λ·D (one
    network per λ), and the mean–scale hyperprior codecs.
    """
    rungs = {}
    if paper_models:
        shallowest = min(paper_models, key=lambda method: int(method.split("-")[0]))
        rung = f"the paper's {shallowest} autoencoder (no rate term), quantisation step swept"
        rungs[rung] = step_sweep_method(shallowest)
    for family in families:
        rungs[f"GDN transform, factorized prior, R + λ·D ({family.name}), a network per λ"] = family.label()
    for method in hyperpriors:
        rungs[f"GDN transform, mean–scale hyperprior, one network for every rate: {method}"] = method
    return rungs


LADDER_METRICS = ("psnr", "ms_ssim_db")
"""The metrics of the ladder's BD-rates."""


def ladder_table(per_image: pd.DataFrame, rungs: dict[str, str], strongest: str) -> pd.DataFrame:
    """Each rung's BD-rate against optimised JPEG and against the strongest classical codec, and its decode time.

    Args:
        per_image: one test set's rows, container counted (:func:`measure_test_set`).
        rungs: rung → method (:func:`ladder_rungs`); rungs without rows are left out.
        strongest: the strongest classical codec of this test set (:func:`strongest_codec`).

    Returns:
        One row per rung: ``rung``, ``method``, ``strongest`` (its name), per reference r ("jpeg",
        "strongest") and metric m of :data:`LADDER_METRICS` ``bd_rate_m_r`` with ``bd_rate_m_r_ci_low``
        and ``…_ci_high``, and ``decode_ms``: the mean milliseconds to decode one image (entropy decoding
        and synthesis) in this run.
    """
    rows = []
    for rung, method in rungs.items():
        measured = per_image[per_image["method"] == method]
        if measured.empty:
            continue
        row = {"rung": rung, "method": method, "strongest": strongest}
        for key, reference in (("jpeg", REFERENCE_METHOD), ("strongest", strongest)):
            for metric in LADDER_METRICS:
                result = bd_rate_with_interval(per_image, reference, method, metric)
                row[f"bd_rate_{metric}_{key}"] = result["bd_rate"]
                row[f"bd_rate_{metric}_{key}_ci_low"] = result["ci_low"]
                row[f"bd_rate_{metric}_{key}_ci_high"] = result["ci_high"]
        row["decode_ms"] = 1000.0 * float(measured["decode_s"].mean()) if "decode_s" in measured else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def classical_codecs_table() -> pd.DataFrame:
    """Every classical codec as the study runs it: library and options, settings swept, fixed bytes per file."""
    return pd.DataFrame(
        [
            {
                "method": codec.name,
                "implementation": f"{codec.library()}, {codec.options}",
                "settings swept": f"{codec.quality_unit} " + ", ".join(f"{q:g}" for q in codec.sweep),
                "header bytes": header_bytes(codec.key),
            }
            for codec in CODECS.values()
        ]
    )


def measure_test_set(
    images: list[np.ndarray],
    names: list[str],
    families: list[Family],
    codecs: dict[str, CodecModel],
    paper_models: dict[str, CodecModel],
    lpips_count: int,
    sweeps: dict = CLASSICAL_SWEEPS,
    hyperpriors: dict | None = None,
    training_images: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per-image points of the classical sweeps, every family member, the hyperprior codecs and the paper's models.

    Args:
        images, names: the test images (uint8 RGB) and their names.
        families: whose members are looked up in codecs by :func:`model_name`.
        codecs: our models by name (from :func:`train_families`).
        paper_models: the paper's autoencoders by method name ("3-layer" …), one point each.
        lpips_count: LPIPS for the first this many images.
        sweeps: the classical codecs' settings.
        hyperpriors: hyperprior codecs by method name, a curve each over :func:`hyperprior_settings`.
        training_images: when given, each paper model is also swept over the quantisation steps
            (:func:`measure_step_sweep`, tables fitted to these images' latents), a curve each.

    Returns:
        One row per (method, setting, image); our models' rows carry ``decode_s``, the seconds per image
        their decoding took (entropy decoding and synthesis, batched where the images are of one size).
    """
    lpips = LpipsReference(images, lpips_count)
    frames = [measure_classical(images, names, lpips, sweeps)]
    for family, lam in progress_bar(members(families), description="our models", leave=True):
        frames.append(measure_model(images, names, codecs[model_name(family, lam)], family.label(), lam, lpips))
    for method, codec in (hyperpriors or {}).items():
        frames.append(measure_hyperprior(images, names, codec, method, lpips))
    for method, codec in paper_models.items():
        frames.append(measure_model(images, names, codec, method, "paper", lpips))
        if training_images is not None:
            frames.append(measure_step_sweep(images, names, codec, training_images, method, lpips))
    return pd.concat(frames, ignore_index=True)
