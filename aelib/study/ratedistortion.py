"""The rate–distortion study: model families trained for R + λ·D, and classical codecs swept over quality.

The paper ends by asking for a loss that trades compression against quality.
Each model of a family here minimises ``R + λ·D`` (Ballé et al., ICLR 2017,
eq. 2): R is the entropy model's estimate of the bits per pixel of the noisy
latents (:func:`aelib.nn.losses.laplace_bits`), D a distortion, λ the trade-off.
Two families:

* ``hybrid``: D is the paper's hybrid loss (eq. 8), SSIM + VGG16 perceptual + MSE.
* ``mse``: D is the mean squared error in 8-bit units (0 … 255²), the
  PSNR-oriented convention of Ballé et al. and CompressAI, so our λ values
  read like theirs.

Dividing by λ gives ``D + R/λ``, which is what the trainer minimises
(``TrainConfig.rate_weight = 1 / (λ · scale)``, scale = 255² for MSE on [0, 1]
pixels, 1 for the hybrid loss).

To fit a CPU budget, one shared base model (the MSE family's middle λ) is
trained longest, and each family is fine-tuned from it in two chains: the
family's middle λ starts from the base, and every other λ starts from its
neighbour one step closer to the middle. The transform learnt by the base is
most of the work; each fine-tuning moves a model one step along the
rate–distortion curve, so the extreme λ travel twice as far as the middle ones.

Every measurement is per image from real files: ``.aec`` sizes for our models,
the bytes each classical codec of :data:`aelib.measure.baselines.CODECS` writes at the
settings a careful user would choose. Curves are compared by BD-rate
(:mod:`aelib.measure.bdrate`, piecewise cubic, SSIM and MS-SSIM in dB), each with the
quality range it is taken over and a 95 % bootstrap interval over the images.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
    entropy_path,
    export_factorized,
    load_codec_model,
)
from aelib.codec.format import header_size
from aelib.config import (
    DEFAULT_SEED,
    FAMILIES,
    QUANTISATION_STEPS,
    Family,
    RDTraining,
    TrainConfig,
    portable_path,
    project_root,
)
from aelib.errors import InputError
from aelib.layout import RD_BASE_MODEL, RD_SETTINGS_FILE, model_files, rd_model_name
from aelib.measure.baselines import CODECS, encode_with_codec, header_bytes
from aelib.measure.bdrate import MIN_POINTS, bd_quality, bd_rate, rate_at_quality, shared_range, to_decibels
from aelib.measure.metrics import COLOUR_COLUMNS, bits_per_pixel, colour_columns
from aelib.measure.registry import METRICS, per_image_columns
from aelib.outputs import atomic_output, progress_bar

REFERENCE_METHOD = "JPEG 4:2:0"
"""The codec every BD-rate is measured against."""

CLASSICAL_SWEEPS = {codec.name: (codec.key, codec.sweep) for codec in CODECS.values()}
"""Method name → (codec key, quality settings), from :data:`aelib.measure.baselines.CODECS`."""

logger = logging.getLogger(__name__)


BASE_MODEL = RD_BASE_MODEL
"""File stem of the shared base model the families' fine-tuning chains start from."""


def model_name(family: Family, lam: float) -> str:
    """File stem of a family member (:func:`aelib.layout.rd_model_name`)."""
    return rd_model_name(family.name, lam)


def rate_weight(family: Family, lam: float) -> float:
    """The trainer's weight of the rate, 1 / (λ · scale), for loss = D + R / λ."""
    if not lam > 0:
        raise InputError(f"λ must be > 0, got {lam}")
    return 1.0 / (lam * family.scale)


SETTINGS_FILE = RD_SETTINGS_FILE
"""Beside the models: the training settings and data they were trained with."""


def _train_or_load(name: str, start_from, config: TrainConfig, training: RDTraining, dataset, out_dir: Path):
    """Loads out_dir/name.keras when a previous run finished it, else trains it from start_from (or from scratch)."""
    from aelib.nn.models import build_gdn_autoencoder
    from aelib.study.train import train_model

    path = model_files(out_dir, name)[0]
    if path.is_file() and entropy_path(path).is_file():
        logger.info("%s: trained before with the same settings, loaded from %s", name, path)
        return load_codec_model(path)
    logger.info("%s: training for %d steps", name, config.epochs * config.steps_per_epoch)
    import keras

    keras.utils.set_random_seed(config.seed)  # the initial weights too: a rerun trains the same model
    model = build_gdn_autoencoder(training.channels, training.latent_channels, name=name)
    if start_from is not None:
        model.set_weights(start_from.get_weights())
    result = train_model(model, dataset.train, dataset.val, config, out_dir, verbose=2)
    return export_factorized(result.model, dataset.train, path)


def _check_settings(out_dir: Path, record: dict, force: bool) -> None:
    """Refuses to mix models of other settings into out_dir; with force, removes them so they are retrained."""
    path = out_dir / SETTINGS_FILE
    if path.is_file() and json.loads(path.read_text()) != record:
        if not force:
            raise InputError(
                f"{out_dir} holds rate–distortion models trained with other settings ({path}); "
                "pass force=True to retrain them, or use another output folder"
            )
        for old in out_dir.glob("rd_*"):
            old.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(record, indent=2) + "\n")


def train_families(
    dataset, families: list[Family], training: RDTraining, out_dir: str | Path, force: bool = False
) -> dict[str, CodecModel]:
    """Trains the base model and every family member, reusing models a previous run finished in out_dir.

    Args:
        dataset: a :class:`aelib.data.Dataset` (train for training, val for validation).
        families: the families to train.
        training: architecture and step budget.
        out_dir: where ``NAME.keras``, its tables and ``NAME_history.csv`` go,
            with :data:`SETTINGS_FILE` recording what they were trained with.
        force: retrain when out_dir holds models of other settings (else refuse).

    Returns:
        Codec models by name, the base under :data:`BASE_MODEL`.
    """
    out_dir = Path(out_dir)
    record = {
        "training": dataclasses.asdict(training),
        "data": dataset.name if dataset.name == "embedded" else portable_path(dataset.name, project_root()),
        "training_images": len(dataset.train),
        "base": {"family": "mse", "lambda": base_lambda()},
        "families": {family.name: list(family.lambdas) for family in families},
    }
    _check_settings(out_dir, record, force)
    mse = FAMILIES["mse"]
    base_config = training.config(mse.distortion, rate_weight(mse, base_lambda()), training.base_steps)
    codecs = {BASE_MODEL: _train_or_load(BASE_MODEL, None, base_config, training, dataset, out_dir)}
    for family, lam, start in progress_bar(training_order(families), description="λ models", leave=True):
        config = training.config(family.distortion, rate_weight(family, lam), training.finetune_steps)
        start_from = codecs[BASE_MODEL if start is None else model_name(family, start)].autoencoder
        codecs[model_name(family, lam)] = _train_or_load(
            model_name(family, lam), start_from, config, training, dataset, out_dir
        )
    return codecs


def training_order(families: list[Family]) -> list[tuple[Family, float, float | None]]:
    """(family, λ, the λ whose model it starts from; None for the base), in an order that trains starts first.

    Each family's middle λ starts from the base; the others chain outwards from it.
    """
    order = []
    for family in families:
        lambdas = sorted(family.lambdas)
        middle = lambdas.index(middle_lambda(family))
        order.append((family, lambdas[middle], None))
        order += [(family, lambdas[i], lambdas[i - 1]) for i in range(middle + 1, len(lambdas))]
        order += [(family, lambdas[i], lambdas[i + 1]) for i in range(middle - 1, -1, -1)]
    return order


def middle_lambda(family: Family) -> float:
    """The family's middle λ (the upper of the two middle ones for an even count)."""
    lambdas = sorted(family.lambdas)
    return lambdas[len(lambdas) // 2]


def base_lambda() -> float:
    """The λ of the shared base model: the MSE family's middle one."""
    return middle_lambda(FAMILIES["mse"])


def members(families: list[Family]) -> list[tuple[Family, float]]:
    """(family, λ) of every model of the families, each family in the order of its λ."""
    return [(family, lam) for family in families for lam in family.lambdas]


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


def step_sweep_method(method: str) -> str:
    """The rows of a paper model swept over quantisation steps: "3-layer, Δ sweep"."""
    return f"{method}, Δ sweep"


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
        method: the name of its rows (:func:`aelib.study.evaluate.model_method`).
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


FAR_APART = 2.0
"""A bits ratio (either way) beyond which a BD-rate over less than a metric's ``meaningful_overlap``
(:class:`aelib.measure.registry.Metric`) says little: two curves that meet over a dB or two and are far apart
there give a percentage driven by the fits' ends."""

CONTAINERS = ("counted", "excluded")
"""How a file's fixed bytes (headers, tables, container; ``header_bytes`` of each per-image row) enter its rate:
counted as every user pays them, or left out to compare the coding alone."""

BOOTSTRAP_RESAMPLES = 200
"""Resamples of the test images behind each BD-rate's 95 % interval."""


def without_container(per_image: pd.DataFrame) -> pd.DataFrame:
    """Per-image rows whose bpp counts the payload only: each file's ``header_bytes`` taken off its bytes.

    Raises:
        InputError: rows measured before the header bytes were recorded (notebook 06 of an earlier aelib).
    """
    if "header_bytes" not in per_image.columns:
        raise InputError("these per-image rows do not record header_bytes; run notebook 06 again to measure them")
    payload = per_image["bytes"] - per_image["header_bytes"]
    return per_image.assign(bpp=per_image["bpp"] * payload / per_image["bytes"])


def _counted(table: pd.DataFrame) -> pd.DataFrame:
    """A BD table's rows with container bytes counted, the rates every user pays (all rows of a table made before
    both ways were measured); the payload-only rows are for the tables."""
    return table[table["container"] == "counted"] if "container" in table.columns else table


def _with_container(per_image: pd.DataFrame, container: str) -> pd.DataFrame:
    if container not in CONTAINERS:
        raise InputError(f"unknown container choice {container!r}; choose one of {', '.join(CONTAINERS)}")
    return per_image if container == "counted" else without_container(per_image)


def curves(per_image: pd.DataFrame) -> pd.DataFrame:
    """Mean rate and metrics per (method, setting): one point of a rate–distortion curve per row.

    Every registered metric's mean (:data:`aelib.measure.registry.METRICS`), and for one on a decibel axis that
    mean in decibels under its key (``ssim_db``, ``ms_ssim_db``); the colour columns
    (:data:`aelib.measure.metrics.COLOUR_COLUMNS`) are means too, where the per-image table has them.
    """
    columns = ["bpp", *per_image_columns(), *(column for column in COLOUR_COLUMNS if column in per_image.columns)]
    points = per_image.groupby(["method", "setting"], sort=False)[columns].mean().reset_index()
    for metric in METRICS.values():
        if metric.decibels:
            points[metric.key] = to_decibels(points[metric.column])
    points["images"] = per_image.groupby(["method", "setting"], sort=False).size().to_numpy()
    return points


def _settings_by_images(rows: pd.DataFrame, column: str, images: list[str]) -> np.ndarray:
    """(settings, images) array of one column of one method's per-image rows."""
    return rows.pivot_table(index="setting", columns="image", values=column, aggfunc="first")[images].to_numpy()


def _measured_throughout(rows: pd.DataFrame, column: str) -> set[str]:
    """The images whose column is measured at every setting of rows."""
    complete = rows[column].notna().groupby(rows["image"]).all()
    return set(complete[complete].index)


def bd_rate_with_interval(
    per_image: pd.DataFrame, reference: str, test: str, metric: str, seed: int = DEFAULT_SEED
) -> dict:
    """BD-rate of test against reference in one metric, its shared range and a 95 % bootstrap interval.

    The images are resampled with replacement (:data:`BOOTSTRAP_RESAMPLES`
    times), both curves' means recomputed on each resample, and the BD-rate
    taken again; the interval is the 2.5th and 97.5th percentile. Only images
    with the metric measured for every setting of both methods count (LPIPS is
    measured on the first images only).

    Args:
        per_image: rows of (method, setting, image, bpp and the metrics).
        reference, test: method names.
        metric: a key of :data:`aelib.measure.registry.METRICS`.
        seed: seed of the resampling.

    Returns:
        ``bd_rate`` (%, NaN below the metric's ``min_overlap``), ``from`` and ``to``
        (the shared quality range), ``ci_low`` and ``ci_high``; ``bd_quality``
        (:func:`aelib.measure.bdrate.bd_quality`, the metric's mean difference at
        equal rate, e.g. BD-PSNR in dB) with ``quality_ci_low`` and ``quality_ci_high``
        from the same resamples.
    """
    quality_metric = METRICS[metric]
    column = quality_metric.column
    rows = {name: per_image[per_image["method"] == name] for name in (reference, test)}
    measured = set.intersection(*(_measured_throughout(r, column) for r in rows.values()))
    images = [name for name in dict.fromkeys(rows[test]["image"]) if name in measured]
    empty = dict.fromkeys(("bd_rate", "from", "to", "ci_low", "ci_high", *_QUALITY_KEYS), math.nan)
    if not images:
        return empty
    rates = {name: _settings_by_images(r, "bpp", images) for name, r in rows.items()}
    values = {name: _settings_by_images(r, column, images) for name, r in rows.items()}

    def measure(chosen) -> tuple[float, float, float, float]:
        ref_q, test_q = (quality_metric.quality(values[name][:, chosen].mean(axis=1)) for name in (reference, test))
        ref_r, test_r = (rates[name][:, chosen].mean(axis=1) for name in (reference, test))
        low, high = shared_range(ref_q, test_q)
        value = bd_rate(ref_r, ref_q, test_r, test_q, min_overlap=quality_metric.min_overlap)
        return value, low, high, bd_quality(ref_r, ref_q, test_r, test_q)

    value, low, high, quality = measure(np.arange(len(images)))
    if math.isnan(value) and math.isnan(quality):
        return {**empty, "from": low, "to": high}
    generator = np.random.default_rng(seed)
    draws = np.array([measure(generator.integers(0, len(images), len(images))) for _ in range(BOOTSTRAP_RESAMPLES)])
    result = {"bd_rate": value, "from": low, "to": high, "bd_quality": quality}
    for key, estimate, column in (("", value, 0), ("quality_", quality, 3)):
        finite = draws[:, column][np.isfinite(draws[:, column])]
        ends = np.percentile(finite, [2.5, 97.5]) if len(finite) and not math.isnan(estimate) else (math.nan,) * 2
        result |= {f"{key}ci_low": float(ends[0]), f"{key}ci_high": float(ends[1])}
    return result


_QUALITY_KEYS = ("bd_quality", "quality_ci_low", "quality_ci_high")


def _bd_row(per_image: pd.DataFrame, reference: str, test: str) -> dict:
    """One table row: per metric m, ``bd_rate_m``, ``m_ci_low/high``, ``m_from/to``, and ``bd_m`` (BD-quality)
    with ``bd_m_ci_low/high``."""
    row = {}
    for metric in METRICS:
        result = bd_rate_with_interval(per_image, reference, test, metric)
        row[f"bd_rate_{metric}"] = result["bd_rate"]
        for key in ("ci_low", "ci_high", "from", "to"):
            row[f"{metric}_{key}"] = result[key]
        row[f"bd_{metric}"] = result["bd_quality"]
        row[f"bd_{metric}_ci_low"] = result["quality_ci_low"]
        row[f"bd_{metric}_ci_high"] = result["quality_ci_high"]
    return row


def _curve_methods(per_image: pd.DataFrame) -> list[str]:
    """Methods with enough settings for a curve (the paper's single models are left out)."""
    settings = per_image.groupby("method", sort=False)["setting"].nunique()
    return [method for method, count in settings.items() if count >= MIN_POINTS]


def bd_rate_table(
    per_image: pd.DataFrame, reference: str = REFERENCE_METHOD, container: str = "counted"
) -> pd.DataFrame:
    """BD-rate (%) and BD-quality of every curve against the reference, per metric, with shared range and 95 % interval.

    Columns: ``container`` (:data:`CONTAINERS`), then per metric m of
    :data:`aelib.measure.registry.METRICS`: ``bd_rate_m``, ``m_ci_low``, ``m_ci_high``, ``m_from``,
    ``m_to``, ``bd_m``, ``bd_m_ci_low``, ``bd_m_ci_high``.
    """
    rows = _with_container(per_image, container)
    return pd.DataFrame(
        [
            {"method": method, "container": container, **_bd_row(rows, reference, method)}
            for method in _curve_methods(rows)
            if method != reference
        ]
    )


def ours_against_each(per_image: pd.DataFrame, ours: list[str], container: str = "counted") -> pd.DataFrame:
    """BD-rate (%) and BD-quality of each of our families against each classical codec, with ranges and intervals."""
    rows = _with_container(per_image, container)
    present = set(rows["method"])
    classical = [method for method in CLASSICAL_SWEEPS if method in present]
    return pd.DataFrame(
        [
            {"family": family, "against": codec, "container": container, **_bd_row(rows, codec, family)}
            for family in ours
            for codec in classical
        ]
    )


def _format_bd_quality(row: pd.Series, metric: str) -> str:
    """ ", +1.23 dB [+0.9, +1.5] at equal rate", or nothing for a table without BD-quality (an earlier notebook 06)."""
    value = row.get(f"bd_{metric}", math.nan)
    if pd.isna(value):
        return ""
    unit = METRICS[metric].unit
    low, high = row[f"bd_{metric}_ci_low"], row[f"bd_{metric}_ci_high"]
    return f", {value:+.2f}{unit} [{low:+.2f}, {high:+.2f}] at equal rate"


def meaningful(row: pd.Series, metric: str) -> bool:
    """Whether a BD-rate stands on enough shared range: wide enough, or the curves close enough there.

    A BD-rate that doubles or halves the bits (:data:`FAR_APART`) over less than
    the metric's ``meaningful_overlap`` of shared quality says more about the ends
    of two fits than about the codecs.
    """
    value, width = row[f"bd_rate_{metric}"], row[f"{metric}_to"] - row[f"{metric}_from"]
    if math.isnan(value):
        return False
    ratio = 1.0 + value / 100.0
    return width >= METRICS[metric].meaningful_overlap or 1.0 / FAR_APART <= ratio <= FAR_APART


def format_bd(row: pd.Series, metric: str) -> str:
    """One BD cell in words: "−24.1 % [−30.2, −18.0], +1.20 dB [+0.9, +1.5] at equal rate over 28.6–32.0 dB".

    "no overlap (…)" where the curves share too little quality range for a
    BD-rate, "no meaningful overlap (…)" where they share little and lie far
    apart (:func:`meaningful`); the BD-quality part where the table has it.
    """
    unit = METRICS[metric].unit
    span = f"{row[f'{metric}_from']:.3g}–{row[f'{metric}_to']:.3g}{unit}"
    value = row[f"bd_rate_{metric}"]
    quality = _format_bd_quality(row, metric)
    if math.isnan(value):
        if not row[f"{metric}_to"] > row[f"{metric}_from"]:
            return "no overlap" + (f" ({quality[2:]})" if quality else "")
        return f"no overlap (shared {span}{quality})"
    if not meaningful(row, metric):
        return f"no meaningful overlap ({value:+.0f} % over {span}{quality})"
    return f"{value:+.1f} % [{row[f'{metric}_ci_low']:+.1f}, {row[f'{metric}_ci_high']:+.1f}]{quality} over {span}"


def _table_metrics(table: pd.DataFrame) -> tuple[str, ...]:
    """The registered metrics a BD table has columns for (a table holds the metrics of the day it was made)."""
    return tuple(m for m in METRICS if f"bd_rate_{m}" in table.columns)


def readable_bd_table(table: pd.DataFrame) -> pd.DataFrame:
    """A BD table with one cell per metric in words (:func:`format_bd`), for Markdown."""
    metrics = _table_metrics(table)
    keys = [c for c in table.columns if not c.startswith("bd_") and not any(c.startswith(f"{m}_") for m in METRICS)]
    readable = table[keys].copy()
    for metric in metrics:
        readable[METRICS[metric].heading] = [format_bd(row, metric) for _, row in table.iterrows()]
    return readable


def strongest_codec(bd_table: pd.DataFrame, metric: str = "psnr") -> str:
    """The classical codec with the lowest BD-rate against the reference in metric (from :func:`bd_rate_table`).

    The reference itself when no other classical curve overlaps it.
    """
    bd_table = _counted(bd_table)  # ranked by what every user pays
    classical = bd_table[bd_table["method"].isin(CLASSICAL_SWEEPS)].dropna(subset=[f"bd_rate_{metric}"])
    if classical.empty:
        return REFERENCE_METHOD
    return str(classical.loc[classical[f"bd_rate_{metric}"].idxmin(), "method"])


def _verdict(ci_low: float, ci_high: float) -> str:
    if ci_high < 0:
        return " — fewer bits"
    if ci_low > 0:
        return " — more bits"
    return " — level (the interval holds 0)"


def findings(table: pd.DataFrame, strongest: dict[str, str], metrics: tuple[str, ...] | None = None) -> str:
    """Markdown sentences: each family against the strongest classical codec of each test set, per metric.

    Args:
        table: :func:`ours_against_each` tables with a test_set column.
        strongest: test set → the classical codec to compare with (:func:`strongest_codec`).
        metrics: which keys of :data:`aelib.measure.registry.METRICS` to state (default: every one the table has).
    """
    metrics = _table_metrics(table) if metrics is None else metrics
    lines = []
    table = _counted(table)
    for (test_set, family), rows in table.groupby(["test_set", "family"], sort=False):
        row = rows[rows["against"] == strongest[test_set]].iloc[0]
        parts = []
        for metric in metrics:
            label = METRICS[metric].heading
            verdict = "" if not meaningful(row, metric) else _verdict(row[f"{metric}_ci_low"], row[f"{metric}_ci_high"])
            parts.append(f"{label} {format_bd(row, metric)}{verdict}")
        lines.append(f"- **{test_set}**, {family} against {row['against']}: " + "; ".join(parts))
    return "\n".join(lines)


def best_family(table: pd.DataFrame, test_set: str, against: str) -> str:
    """The family with the lowest BD-rate in PSNR against one codec on one test set, container counted; where no
    family overlaps that codec, the lowest mean over the codecs it does overlap; else the first family."""
    table = _counted(table)
    rows = table[table["test_set"] == test_set]
    for ranking in (
        rows[rows["against"] == against].set_index("family")["bd_rate_psnr"],
        rows.groupby("family", sort=False)["bd_rate_psnr"].mean(),
    ):
        if ranking.notna().any():
            return str(ranking.idxmin())
    return str(rows["family"].iloc[0])


def _standing_word(row: pd.Series, metrics: tuple[str, ...]) -> str:
    """ "wins" where every meaningful metric's interval lies below 0, "loses" where every one lies above, "level"
    where every one holds 0, else "mixed"."""
    intervals = [(row[f"{m}_ci_low"], row[f"{m}_ci_high"]) for m in metrics if meaningful(row, m)]
    if all(high < 0 for _, high in intervals):
        return "wins"
    if all(low > 0 for low, _ in intervals):
        return "loses"
    return "level" if all(low <= 0 <= high for low, high in intervals) else "mixed"


def against_every_codec(table: pd.DataFrame, strongest: dict[str, str], metrics: tuple[str, ...]) -> str:
    """Markdown: per test set, the best family (:func:`best_family`) against every classical codec in a line.

    Each codec: the BD-rates in metrics ("−31 % / −22 %"), then "wins" (every 95 % interval below 0),
    "loses" (every one above), "level" (every one holds 0) or "mixed"; "no meaningful overlap" where no metric
    has one (:func:`meaningful`). Container bytes counted.
    """
    lines = []
    for test_set, rows in _counted(table).groupby("test_set", sort=False):
        family = best_family(rows, test_set, strongest[test_set])
        cells = []
        for _, row in rows[rows["family"] == family].iterrows():
            if not any(meaningful(row, m) for m in metrics):
                cells.append(f"{row['against']} no meaningful overlap")
                continue
            values = " / ".join(f"{row[f'bd_rate_{m}']:+.0f} %" if meaningful(row, m) else "–" for m in metrics)
            cells.append(f"{row['against']} {values} ({_standing_word(row, metrics)})")
        labels = " / ".join(METRICS[m].heading for m in metrics)
        lines.append(
            f"- **{test_set}**, our best family, {family}, against every codec, BD-rate in {labels}: "
            + "; ".join(cells)
        )
    return "\n".join(lines)


EQUAL_QUALITY_METRICS = ("psnr", "ms_ssim_db")
"""The metrics in which each of our points is set beside the strongest codec at equal quality."""


def equal_quality_table(points: pd.DataFrame, against: str) -> pd.DataFrame:
    """Each of our points beside the bits a classical codec needs for the same quality.

    For every point that is not a classical codec's (the families' members and
    the paper's single models) and each metric of :data:`EQUAL_QUALITY_METRICS`,
    the classical codec's log-rate fit is read at our point's quality
    (:func:`aelib.measure.bdrate.rate_at_quality`, PCHIP as in the BD-rates).
    A single model has no curve, so this is how it meets the codecs.

    Args:
        points: a :func:`curves` table.
        against: the classical codec, e.g. :func:`strongest_codec`'s.

    Returns:
        One row per our point: method, setting, bpp, then per metric m its value
        ``m``, ``m_codec_bpp`` (NaN outside the codec's range), ``m_bits_ratio``
        (our bits over the codec's: below 1 we need fewer), and the codec's
        lowest and highest quality with their rates (``m_codec_low``,
        ``m_codec_low_bpp``, ``m_codec_high``, ``m_codec_high_bpp``), which say
        where a point outside its range lies.
    """
    codec = points[points["method"] == against]
    ends = {
        metric: (codec.loc[codec[metric].idxmin()], codec.loc[codec[metric].idxmax()])
        for metric in EQUAL_QUALITY_METRICS
    }
    rows = []
    for _, point in points[~points["method"].isin(CLASSICAL_SWEEPS)].iterrows():
        row = {"against": against, "method": point["method"], "setting": point["setting"], "bpp": point["bpp"]}
        for metric in EQUAL_QUALITY_METRICS:
            needed = rate_at_quality(codec["bpp"], codec[metric], point[metric])
            low, high = ends[metric]
            row |= {
                metric: point[metric],
                f"{metric}_codec_bpp": needed,
                f"{metric}_bits_ratio": point["bpp"] / needed,
                f"{metric}_codec_low": low[metric],
                f"{metric}_codec_low_bpp": low["bpp"],
                f"{metric}_codec_high": high[metric],
                f"{metric}_codec_high_bpp": high["bpp"],
            }
        rows.append(row)
    return pd.DataFrame(rows)


def _single_point_words(row: pd.Series, metric: str) -> str:
    """One model against the codec in one metric: the bits ratio, or where the model lies outside the codec's range."""
    label, unit, against = METRICS[metric].label, METRICS[metric].unit, row["against"]
    ratio = row[f"{metric}_bits_ratio"]
    if not math.isnan(ratio):
        return (
            f"at {label} {row[metric]:.3g}{unit}, {against} needs {row[f'{metric}_codec_bpp']:.3f} bpp: "
            f"we spend {ratio:.2f}× its bits" + (" (fewer)" if ratio < 1 else "")
        )
    side = "low" if row[metric] < row[f"{metric}_codec_low"] else "high"
    word = "below" if side == "low" else "above"
    return (
        f"at {label} {row[metric]:.3g}{unit}, {word} every {against} setting (its {side}est, "
        f"{row[f'{metric}_codec_{side}']:.3g}{unit}, takes {row[f'{metric}_codec_{side}_bpp']:.3f} bpp)"
    )


def _family_words(rows: pd.DataFrame, metric: str) -> str:
    """A family's members against the codec in one metric: the range of their bits ratios, and how many lie outside."""
    ratios = rows[f"{metric}_bits_ratio"]
    measured, outside = ratios.dropna(), rows[ratios.isna()]
    below = int((outside[metric] < outside[f"{metric}_codec_low"]).sum())
    words = []
    if len(measured):
        words.append(
            f"we spend {measured.min():.2f}–{measured.max():.2f}× its bits at {len(measured)} of {len(rows)} points"
        )
    for count, word in ((below, "below"), (len(outside) - below, "above")):
        if count:
            words.append(f"{count} of {len(rows)} lie {word} every {rows['against'].iloc[0]} setting")
    return ", ".join(words)


def equal_quality_findings(table: pd.DataFrame, families: list[str]) -> str:
    """Markdown lines from :func:`equal_quality_table` tables with a test_set column: what each of our models spends.

    The paper's single models get a line each; each family is summed up by the
    range of its members' ratios.

    Args:
        table: equal-quality rows of one or more test sets.
        families: the family labels ("ours (mse)" …), as opposed to the paper's single models.
    """
    lines = []
    for (test_set, method), rows in table.groupby(["test_set", "method"], sort=False):
        against = rows["against"].iloc[0]
        parts = []
        for metric in EQUAL_QUALITY_METRICS:
            if method in families:
                parts.append(f"{METRICS[metric].label}: {_family_words(rows, metric)}")
            else:
                parts.append(_single_point_words(rows.iloc[0], metric))
        spent = "" if method in families else f" ({rows['bpp'].iloc[0]:.3f} bpp)"
        lines.append(f"- **{test_set}**, {method}{spent} against {against}: " + "; ".join(parts))
    return "\n".join(lines)


def equal_quality_summary(table: pd.DataFrame, families: list[str]) -> str:
    """One Markdown line per test set: the bits ratio of each single model (not the families, not the quantisation-step
    sweeps) in each metric.

    The short form of :func:`equal_quality_findings`, for the project README.
    """
    lines = []
    curves_of_singles = table["method"].str.endswith(step_sweep_method(""))
    singles = table[~table["method"].isin(families) & ~curves_of_singles]
    for test_set, rows in singles.groupby("test_set", sort=False):
        against = rows["against"].iloc[0]
        labels = " / ".join(METRICS[metric].label for metric in EQUAL_QUALITY_METRICS)
        models = []
        for _, row in rows.iterrows():
            ratios = [row[f"{metric}_bits_ratio"] for metric in EQUAL_QUALITY_METRICS]
            models.append(f"{row['method']} " + " / ".join("outside" if math.isnan(r) else f"{r:.2f}×" for r in ratios))
        lines.append(
            f"- **{test_set}**, against {against} at equal {labels} (our bits over its bits; outside: beyond "
            f"its settings): " + ", ".join(models)
        )
    return "\n".join(lines)


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
