"""Speed and memory of training and coding on this machine, side by side with Pillow's codecs.

One run measures:
1. training throughput (images/s) of each depth with the full hybrid loss (batch 64, 128x128), and the
   steps/s of the hyperprior codec's training on full images;
2. our codec, pixels → ``.aec`` bytes → pixels with entropy coding: single-image latency and batched throughput;
3. the same for Pillow's JPEG, WebP, AVIF and JPEG 2000, each at the quality whose mean SSIM matches ours;
4. the peak resident set size (RSS) of each, every measurement running in a fresh process;
5. multiply-adds per image and the fraction of this CPU's peak that they reach, the peak taken from a
   matrix-multiply micro-benchmark in the same run (float32 and bfloat16).

It writes ``results/benchmarks.json`` and ``results/benchmarks.md``.

    python benchmarks/speed.py                          # the committed 3-layer model when present
    python benchmarks/speed.py --quick --out /tmp/bench  # a tiny setting, for the tests
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import sys
import time
from pathlib import Path

from aelib.config import PAPER_TABLE_1

PAPER_SECONDS_PER_IMAGE = PAPER_TABLE_1["3-layer"][3]  # the paper's 3-layer autoencoder, s per 128x128 image
TARGETS = {
    "training_images_per_s": 45.0,  # 3-layer, full hybrid loss, batch 64, 128x128
    "batched_images_per_s": 200.0,  # our encode + decode, entropy coding included
    "single_image_ms": 20.0,  # our encode + decode of one image
    "single_decode_ms": 20.0,  # our decode of one 128x128 image, entropy decoding included, model loaded
    "batched_decode_images_per_s": 300.0,
    "speedup_over_paper": 70.0,
    "cold_start_s": 3.0,  # `aelib compress` of one 128x128 face in a new process, end to end
}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _with_peak_rss(function, args: tuple) -> dict:
    result = function(*args)
    result["peak_rss_mib"] = round(_peak_rss_mib(), 1)
    return result


def in_fresh_process(function, *args) -> dict:
    """Runs function(*args) in a new process and adds that process's peak RSS to its result."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_with_peak_rss, (function, args))


def _images(data: str | None, count: int, size: int):
    from aelib.data import load_dataset

    dataset = load_dataset(data, size=size)
    pool = dataset.test if len(dataset.test) >= count else dataset.train
    return pool[:count]


def matmul_peak(size: int, repeats: int) -> dict:
    """Sustained GFLOP/s of a square matrix multiply in float32 and bfloat16 (TensorFlow, all cores)."""
    import tensorflow as tf

    peaks = {}
    for dtype in ("float32", "bfloat16"):
        a = tf.random.uniform((size, size), dtype=tf.float32)
        a = tf.cast(a, dtype)
        tf.linalg.matmul(a, a).numpy()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            tf.linalg.matmul(a, a).numpy()
            times.append(time.perf_counter() - start)
        peaks[f"{dtype}_gflops"] = round(2 * size**3 / min(times) / 1e9, 1)
    return peaks


def vgg_multiply_adds(layers: tuple[str, ...], size: int) -> int:
    """Multiply-adds of VGG16 up to the perceptual loss's deepest layer, for one size x size image."""
    import keras

    model = keras.applications.VGG16(include_top=False, weights=None, input_shape=(size, size, 3))
    deepest = max(model.layers.index(model.get_layer(name)) for name in layers)
    total = 0
    for layer in model.layers[: deepest + 1]:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, _ = layer.output.shape
            k_h, k_w, c_in, c_out = layer.kernel.shape
            total += height * width * k_h * k_w * c_in * c_out
    return int(total)


def training_throughput(depth: int, batch: int, warmup: int, steps: int, size: int, data: str | None) -> dict:
    """Images per second of training steps with the full hybrid loss, after warm-up steps.

    The steps are the ones :func:`aelib.training.autoencoder.train_model` runs: the originals'
    VGG16 features come from the once-per-image cache, so each step runs VGG16
    forward and backward on the reconstructions only.
    """
    import keras
    import tensorflow as tf

    from aelib.config import TrainConfig
    from aelib.nn.models import build_autoencoder, summarize
    from aelib.nn.vgg import resolve_precision
    from aelib.training.autoencoder import build_trainer, cache_target_features

    config = TrainConfig(batch_size=batch, rate_weight=0.05, warmup_steps=0, ramp_steps=0)
    images = _images(data, batch, size)
    keras.utils.set_random_seed(0)
    autoencoder = build_autoencoder(depth)
    trainer = build_trainer(autoencoder, config)
    features = tuple(tf.convert_to_tensor(f) for f in cache_target_features(trainer.hybrid_loss, images))
    dataset = tf.data.Dataset.from_tensors((tf.cast(images, tf.float32) / 255.0, features)).repeat(warmup + steps)
    stamps = []
    timer = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch_index, logs: stamps.append(time.perf_counter())
    )
    trainer.fit(dataset, epochs=1, verbose=0, callbacks=[timer])
    measured = stamps[-1] - stamps[warmup - 1]
    ae = summarize(autoencoder, size).multiply_adds
    vgg = vgg_multiply_adds(config.feature_layers, size)
    # Autoencoder forward and backward (~3x its forward); VGG16 forward on x̂ and backward to x̂ only (~2x).
    per_image = 3 * ae + 2 * vgg
    return {
        "depth": depth,
        "batch_size": batch,
        "image_size": size,
        "steps_measured": steps,
        "images_per_s": round(steps * batch / measured, 2),
        "perceptual_precision": resolve_precision(config.perceptual_precision),
        "multiply_adds_per_image": per_image,
    }


def codec_training_throughput(batch: int, warmup: int, steps: int, size: int, data: str | None) -> dict:
    """Steps per second of the hyperprior codec's training in its full-image phase
    (:func:`aelib.training.hyperprior.train_hyperprior`, every gain level in one network).

    Two runs, of warmup steps and of warmup + steps, are timed whole; their difference leaves out building
    the network and tracing the step.
    """
    from aelib.config import HyperpriorTraining
    from aelib.training.hyperprior import train_hyperprior

    images = _images(data, batch, size)

    def seconds(total: int) -> float:
        start = time.perf_counter()
        train_hyperprior(
            images, images, HyperpriorTraining(crop_steps=0, full_steps=total, full_batch=batch), verbose=False
        )
        return time.perf_counter() - start

    measured = seconds(warmup + steps) - seconds(warmup)
    return {
        "what": "hyperprior codec, full images",
        "batch_size": batch,
        "image_size": size,
        "steps_measured": steps,
        "steps_per_s": round(steps / measured, 3),
        "images_per_s": round(steps * batch / measured, 2),
    }


def our_codec(model_path: str | None, count: int, batch: int, size: int, data: str | None) -> dict:
    """Single-image latency and batched throughput of pixels → .aec → pixels, and the quality reached.

    The model is either kind: a factorized model (``.aec`` version 2) or an exported hyperprior
    (version 3, measured at its highest quality setting).
    """
    import numpy as np

    from aelib.codec import hyper
    from aelib.codec.codec import (
        CodecModel,
        decode,
        decode_batch,
        encode,
        encode_batch,
        load_any_codec,
        make_codec_model,
    )
    from aelib.measure.metrics import bits_per_pixel, ssim
    from aelib.nn.models import build_autoencoder, summarize

    images = _images(data, count, size)
    codec = load_any_codec(model_path) if model_path else make_codec_model(build_autoencoder(3), images)
    if isinstance(codec, CodecModel):
        code, uncode = (lambda image: encode(image, codec)), (lambda data: decode(data, codec))
        code_batch = lambda batch_images: encode_batch(batch_images, codec, batch)  # noqa: E731
        uncode_batch = lambda files: decode_batch(files, codec, batch)  # noqa: E731
        multiply_adds = summarize(codec.autoencoder, size).multiply_adds
    else:
        quality = codec.qualities - 1
        code, uncode = (lambda image: hyper.encode(image, codec, quality)), (lambda data: hyper.decode(data, codec))

        def code_batch(batch_images):
            return [
                f
                for i in range(0, len(batch_images), batch)
                for f in hyper.encode_batch(batch_images[i : i + batch], codec, quality)
            ]

        def uncode_batch(files):
            return np.concatenate(
                [hyper.decode_batch(files[i : i + batch], codec) for i in range(0, len(files), batch)]
            )

        multiply_adds = None
    uncode(code(images[0]))  # warm-up: builds the graphs, compiles the coder
    encode_ms, decode_ms, files = [], [], []
    for image in images:
        start = time.perf_counter()
        data_bytes = code(image)
        middle = time.perf_counter()
        uncode(data_bytes)
        encode_ms.append(1000 * (middle - start))
        decode_ms.append(1000 * (time.perf_counter() - middle))
        files.append(data_bytes)
    uncode_batch(code_batch(images[:batch]))  # warm-up at the batch shape
    start = time.perf_counter()
    batched = code_batch(images)
    middle = time.perf_counter()
    decoded = uncode_batch(batched)
    end = time.perf_counter()
    return {
        "method": f"aelib {Path(model_path).stem if model_path else 'untrained 3-layer'} (.aec)",
        "fingerprint": codec.fingerprint,
        "quality": None,
        "images": len(images),
        "bits_per_pixel": round(float(np.mean([bits_per_pixel(size, size, len(f)) for f in files])), 4),
        "ssim": round(float(np.mean([ssim(a, b) for a, b in zip(images, decoded)])), 4),
        "single_encode_ms": round(statistics.median(encode_ms), 3),
        "single_decode_ms": round(statistics.median(decode_ms), 3),
        "batched_encode_images_per_s": round(len(images) / (middle - start), 1),
        "batched_decode_images_per_s": round(len(images) / (end - middle), 1),
        "batched_round_trip_images_per_s": round(len(images) / (end - start), 1),
        "batch_size": batch,
        "multiply_adds_per_image": multiply_adds,
    }


def classical_codec(codec: str, quality: int, count: int, size: int, data: str | None) -> dict:
    """The same measurements for a Pillow codec, one image at a time (Pillow has no batch API)."""
    import numpy as np

    from aelib.measure.baselines import encode_with_codec
    from aelib.measure.metrics import bits_per_pixel, ssim

    images = _images(data, count, size)
    encode_with_codec(images[0], codec, quality)
    results = [encode_with_codec(image, codec, quality) for image in images]
    encode_ms = [1000 * r.encode_seconds for r in results]
    decode_ms = [1000 * r.decode_seconds for r in results]
    total = sum(r.encode_seconds + r.decode_seconds for r in results)
    return {
        "method": codec.upper() if codec != "jpeg2000" else "JPEG 2000",
        "quality": quality,
        "images": len(images),
        "bits_per_pixel": round(float(np.mean([bits_per_pixel(size, size, len(r.data)) for r in results])), 4),
        "ssim": round(float(np.mean([ssim(a, r.decoded) for a, r in zip(images, results)])), 4),
        "single_encode_ms": round(statistics.median(encode_ms), 3),
        "single_decode_ms": round(statistics.median(decode_ms), 3),
        "batched_encode_images_per_s": round(len(images) / sum(r.encode_seconds for r in results), 1),
        "batched_decode_images_per_s": round(len(images) / sum(r.decode_seconds for r in results), 1),
        "batched_round_trip_images_per_s": round(len(images) / total, 1),
        "batch_size": 1,
        "multiply_adds_per_image": None,
    }


def _wall_seconds(command: list[str], repeats: int = 3) -> float:
    """The median wall time of a command run as a new process (its start-up included)."""
    import subprocess

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 3)


def cold_start(model_path: str | None, repeats: int, with_photo: bool = True) -> list[dict]:
    """Wall time of one image through the command line in a new process, beside Pillow's WebP in one.

    One 128x128 face crop and one 1-megapixel photo (scikit-image's astronaut, 1024x1024), each
    compressed and decompressed by ``aelib`` as a user runs it, and encoded and decoded by Pillow's WebP
    (libwebp, as cwebp and dwebp) in a process of its own; plus ``import aelib`` and ``import tensorflow``
    alone, which say where the time goes. Without with_photo, the face only.
    """
    import tempfile

    import numpy as np
    import skimage.data
    from PIL import Image

    python = sys.executable
    folder = Path(tempfile.mkdtemp())
    photo = Image.fromarray(skimage.data.astronaut()).resize((1024, 1024), Image.Resampling.LANCZOS)
    inputs = {"128x128 face": Image.fromarray(np.asarray(photo)[300:428, 420:548])}
    if with_photo:
        inputs["1-megapixel photo"] = photo
    rows = [
        {"what": "import aelib", "seconds": _wall_seconds([python, "-c", "import aelib"], repeats)},
        {"what": "import tensorflow", "seconds": _wall_seconds([python, "-c", "import tensorflow"], repeats)},
    ]
    for label, image in inputs.items():
        source = folder / f"{label.split()[0]}.png"
        image.save(source)
        webp = folder / f"{source.stem}.webp"
        encode_webp = f"from PIL import Image; Image.open({str(source)!r}).save({str(webp)!r}, quality=75, method=6)"
        rows.append({"what": f"Pillow WebP encode, {label}", "seconds": _wall_seconds([python, "-c", encode_webp])})
        decode_webp = f"from PIL import Image; Image.open({str(webp)!r}).load()"
        rows.append({"what": f"Pillow WebP decode, {label}", "seconds": _wall_seconds([python, "-c", decode_webp])})
        if model_path is None:
            continue
        aec = folder / f"aec-{source.stem}"
        compress = [python, "-m", "aelib.apps.cli", "compress", str(source), "--model", model_path, "--out", str(aec)]
        rows.append({"what": f"aelib compress, {label}", "seconds": _wall_seconds([*compress, "--force"], repeats)})
        decompress = [
            python,
            "-m",
            "aelib.apps.cli",
            "decompress",
            str(aec),
            "--out",
            str(folder / f"png-{source.stem}"),
        ]
        models = ["--models-dir", str(Path(model_path).parent), "--force"]
        rows.append({"what": f"aelib decompress, {label}", "seconds": _wall_seconds([*decompress, *models], repeats)})
    return rows


def _fraction(multiply_adds: int | None, images_per_s: float, gflops: float) -> float | None:
    if not multiply_adds:
        return None
    return round(2 * multiply_adds * images_per_s / (gflops * 1e9), 4)


def markdown(result: dict) -> str:
    """The benchmark's two tables and its verdicts against the targets, as Markdown."""
    peak = result["peak"]
    lines = [
        f"Machine: {result['machine']}. Command: `{result['command']}`. Peak (matrix multiply): "
        f"{peak['float32_gflops']} GFLOP/s float32, {peak['bfloat16_gflops']} GFLOP/s bfloat16.",
        "",
        "| training, depth | images/s | perceptual precision | peak RSS (MiB) | multiply-adds / image "
        "| fraction of peak |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["training"]:
        lines.append(
            f"| {row['depth']}-layer, batch {row['batch_size']}, {row['image_size']}² | {row['images_per_s']} | "
            f"{row['perceptual_precision']} | {row['peak_rss_mib']} | {row['multiply_adds_per_image'] / 1e9:.2f} G | "
            f"{row['fraction_of_peak']:.1%} |"
        )
    codec = result.get("codec_training")
    if codec:
        lines += [
            "",
            "| training, codec | steps/s | images/s | peak RSS (MiB) |",
            "|---|---|---|---|",
            f"| {codec['what']}, batch {codec['batch_size']}, {codec['image_size']}² | {codec['steps_per_s']} | "
            f"{codec['images_per_s']} | {codec['peak_rss_mib']} |",
        ]
    lines += [
        "",
        "| coding | quality | bpp | SSIM | encode ms (1 image) | decode ms (1 image) | decodes/s (batched) "
        "| round trips/s (batched) | peak RSS (MiB) | fraction of float32 peak |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["coding"]:
        fraction = "–" if row["fraction_of_peak"] is None else f"{row['fraction_of_peak']:.1%}"
        lines.append(
            f"| {row['method']} | {row['quality'] if row['quality'] is not None else '–'} | {row['bits_per_pixel']} | "
            f"{row['ssim']} | {row['single_encode_ms']} | {row['single_decode_ms']} | "
            f"{row['batched_decode_images_per_s']} | "
            f"{row['batched_round_trip_images_per_s']} (batch {row['batch_size']}) | {row['peak_rss_mib']} "
            f"| {fraction} |"
        )
    lines += ["", "| cold start: a new process, wall time (median of 3) | seconds |", "|---|---|"]
    lines += [f"| {row['what']} | {row['seconds']} |" for row in result.get("cold_start", [])]
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    lines += [
        f"| {v['target']} | {v['measured']} | {'yes' if v['met'] else 'no, ' + v['shortfall']} |"
        for v in result["verdicts"]
    ]
    return "\n".join(lines) + "\n"


def _verdict(target: str, measured: str, value: float, goal: float, higher_is_better: bool) -> dict:
    """One row of the verdict table: the target, the measured figure, and how far from the target it is."""
    ratio = value / goal if higher_is_better else goal / value
    return {
        "target": target,
        "measured": measured,
        "met": value >= goal if higher_is_better else value <= goal,
        "shortfall": f"{ratio:.0%} of the target",
    }


def verdicts(training: list[dict], ours: dict, cold: list[dict] = ()) -> list[dict]:
    """Each target of the issues with the measured figure and whether it is met."""
    three = next((row for row in training if row["depth"] == 3), None)
    single_ms = ours["single_encode_ms"] + ours["single_decode_ms"]
    rows = []
    if three is not None:
        rows.append(
            _verdict(
                f"training ≥ {TARGETS['training_images_per_s']:.0f} images/s (3-layer, batch "
                f"{three['batch_size']}, {three['image_size']}²)",
                f"{three['images_per_s']} images/s",
                three["images_per_s"],
                TARGETS["training_images_per_s"],
                True,
            )
        )
    speedup = 1000 * PAPER_SECONDS_PER_IMAGE / single_ms
    rows += [
        _verdict(
            f"encode + decode ≥ {TARGETS['batched_images_per_s']:.0f} images/s batched",
            f"{ours['batched_round_trip_images_per_s']} images/s",
            ours["batched_round_trip_images_per_s"],
            TARGETS["batched_images_per_s"],
            True,
        ),
        _verdict(
            f"encode + decode ≤ {TARGETS['single_image_ms']:.0f} ms for one image",
            f"{single_ms:.2f} ms",
            single_ms,
            TARGETS["single_image_ms"],
            False,
        ),
        _verdict(
            f"decode ≤ {TARGETS['single_decode_ms']:.0f} ms for one image (entropy decoding included, model loaded)",
            f"{ours['single_decode_ms']} ms",
            ours["single_decode_ms"],
            TARGETS["single_decode_ms"],
            False,
        ),
        _verdict(
            f"decode ≥ {TARGETS['batched_decode_images_per_s']:.0f} images/s batched",
            f"{ours['batched_decode_images_per_s']} images/s",
            ours["batched_decode_images_per_s"],
            TARGETS["batched_decode_images_per_s"],
            True,
        ),
        _verdict(
            f"≥ {TARGETS['speedup_over_paper']:.0f}× faster than the paper's {PAPER_SECONDS_PER_IMAGE} s",
            f"{speedup:.0f}×",
            speedup,
            TARGETS["speedup_over_paper"],
            True,
        ),
    ]
    seconds = {row["what"]: row["seconds"] for row in cold}
    if "aelib compress, 128x128 face" in seconds:
        measured = seconds["aelib compress, 128x128 face"]
        rows.append(
            _verdict(
                f"`aelib compress` of one 128×128 face ≤ {TARGETS['cold_start_s']:.0f} s, a new process",
                f"{measured} s, of which `import tensorflow` alone {seconds['import tensorflow']} s",
                measured,
                TARGETS["cold_start_s"],
                False,
            )
        )
    return rows


def main() -> None:
    from aelib.apps.reproduce import machine_description
    from aelib.config import HyperpriorTraining
    from aelib.measure.baselines import available_codecs, match_quality
    from aelib.outputs import atomic_output

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="results/models/autoencoder_3L.keras", help="a trained .keras model")
    parser.add_argument("--data", help="images to code (default: the embedded default's test split)")
    parser.add_argument("--depths", type=int, nargs="+", default=[3, 5, 7, 10])
    parser.add_argument("--quick", action="store_true", help="tiny settings: seconds, for the tests")
    parser.add_argument("--out", default="results", help="folder for benchmarks.json and benchmarks.md")
    args = parser.parse_args()
    size, batch, warmup, steps, count, matrix = (32, 4, 1, 2, 6, 256) if args.quick else (128, 64, 2, 4, 100, 2048)
    model = args.model if Path(args.model).is_file() else None

    print("matrix-multiply peak …", flush=True)
    peak = in_fresh_process(matmul_peak, matrix, 5)
    training = []
    for depth in args.depths:
        print(f"training throughput, {depth}-layer …", flush=True)
        row = in_fresh_process(training_throughput, depth, batch, warmup, steps, size, args.data)
        gflops = peak["bfloat16_gflops"] if row["perceptual_precision"] == "mixed_bfloat16" else peak["float32_gflops"]
        row["fraction_of_peak"] = _fraction(row["multiply_adds_per_image"], row["images_per_s"], gflops)
        training.append(row)
    print("training throughput, hyperprior codec …", flush=True)
    codec_size, codec_batch = (64, 2) if args.quick else (size, HyperpriorTraining.full_batch)
    codec_training = in_fresh_process(
        codec_training_throughput,
        codec_batch,
        1 if args.quick else 3,
        steps if args.quick else 20,
        codec_size,
        args.data,
    )
    print("our codec …", flush=True)
    ours = in_fresh_process(our_codec, model, count, min(batch, count), size, args.data)
    coding = [ours]
    images = _images(args.data, min(count, 32), size)
    # --quick times one classical codec beside ours: the tests check that the rows are made, not how many.
    for codec in available_codecs()[:1] if args.quick else available_codecs():
        low, high = (15, 70) if codec == "jpeg2000" else (1, 100)
        quality = match_quality(images, ours["ssim"], codec, low, high)
        print(f"{codec} at quality {quality} …", flush=True)
        coding.append(in_fresh_process(classical_codec, codec, quality, count, size, args.data))
    print("cold start …", flush=True)
    cold = cold_start(model, 1 if args.quick else 3, with_photo=not args.quick)
    for row in coding:
        row["fraction_of_peak"] = _fraction(
            row["multiply_adds_per_image"], row["batched_round_trip_images_per_s"], peak["float32_gflops"]
        )
    result = {
        "machine": machine_description(),
        "command": " ".join(["python", *sys.argv]),
        "data": args.data or "embedded default",
        "peak": peak,
        "training": training,
        "codec_training": codec_training,
        "coding": coding,
        "cold_start": cold,
        "verdicts": verdicts(training, ours, cold),
    }
    out = Path(args.out)
    with atomic_output(out / "benchmarks.json") as temporary:
        temporary.write_text(json.dumps(result, indent=2) + "\n")
    with atomic_output(out / "benchmarks.md") as temporary:
        temporary.write_text(markdown(result))
    print(markdown(result))
    print(f"wrote {out / 'benchmarks.json'} and {out / 'benchmarks.md'}")


if __name__ == "__main__":
    main()
