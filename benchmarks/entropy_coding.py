"""How long entropy coding adds to encoding and decoding a 128x128 image.

Measures, per image, the range coder alone (quantised latents → bytes → latents)
and the whole codec (pixels → .aec bytes → pixels), and writes the medians with
the machine they ran on to a JSON file.

    python benchmarks/entropy_coding.py --model results/models/autoencoder_3L.keras
    python benchmarks/entropy_coding.py            # an untrained 3-layer model, tables fitted to its latents
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path


def _median_ms(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def machine() -> dict:
    """The processor and Python this ran on."""
    from aelib.apps.reproduce import cpu_model

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run(model_path: str | None, images: int, repeats: int, size: int) -> dict:
    import keras

    from aelib.codec.codec import decode, encode, load_codec_model, make_codec_model, quantized_latents
    from aelib.codec.entropy import decode_symbols, encode_symbols
    from aelib.data import embedded_crops
    from aelib.nn.models import build_autoencoder

    crops, _ = embedded_crops(size=size, crops_per_photo=max(1, images // 10 + 1), seed=1)
    crops = crops[:images]
    if model_path:
        codec = load_codec_model(model_path)
    else:
        keras.utils.set_random_seed(0)
        codec = make_codec_model(build_autoencoder(3), crops)

    rows = []
    for image in crops:
        symbols = quantized_latents(image, codec)
        payload = encode_symbols(symbols, codec.entropy)
        data = encode(image, codec)
        rows.append(
            {
                "entropy_encode_ms": _median_ms(lambda: encode_symbols(symbols, codec.entropy), repeats),
                "entropy_decode_ms": _median_ms(lambda: decode_symbols(payload, symbols.shape, codec.entropy), repeats),
                "codec_encode_ms": _median_ms(lambda: encode(image, codec), repeats),
                "codec_decode_ms": _median_ms(lambda: decode(data, codec), repeats),
                "bytes": len(data),
            }
        )
    summary = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
    summary["entropy_total_ms"] = summary["entropy_encode_ms"] + summary["entropy_decode_ms"]
    return {
        "benchmark": "entropy coding per image",
        "model": model_path or "untrained 3-layer, tables fitted to its latents",
        "model_fingerprint": codec.fingerprint,
        "image_size": size,
        "images": len(crops),
        "repeats_per_image": repeats,
        "median": summary,
        "target": "entropy coding (encode + decode) under 1 ms per 128x128 image",
        "target_met": summary["entropy_total_ms"] < 1.0,
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a .keras model with its tables (default: untrained)")
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--out", default="results/benchmarks/entropy_coding.json")
    args = parser.parse_args()
    result = run(args.model, args.images, args.repeats, args.size)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    median = result["median"]
    print(
        f"entropy coding: encode {median['entropy_encode_ms']:.3f} ms + decode {median['entropy_decode_ms']:.3f} ms "
        f"per {args.size}x{args.size} image; whole codec: encode {median['codec_encode_ms']:.2f} ms, "
        f"decode {median['codec_decode_ms']:.2f} ms; {median['bytes']:.0f} bytes. Wrote {out}"
    )


if __name__ == "__main__":
    main()
