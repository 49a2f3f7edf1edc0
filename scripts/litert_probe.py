"""Would LiteRT cut the cold start? The hyperprior's float transforms as TFLite models, timed without TensorFlow.

`aelib compress` of one face spends most of its wall time importing TensorFlow (results/benchmarks.md). This
probe measures the alternative the issue names: g_a and g_s converted to TFLite, run by the LiteRT interpreter
(`ai-edge-litert`, not a dependency of aelib) in a Python that has no TensorFlow. Two steps, two environments:

    .venv/bin/python scripts/litert_probe.py convert --model results/models/hp_faces.keras --out /tmp/probe
    python3 -m venv /tmp/litert && /tmp/litert/bin/pip install ai-edge-litert numpy
    /tmp/litert/bin/python scripts/litert_probe.py run --out /tmp/probe

`convert` writes each transform at the shape of one 128x128 face with a random input and TensorFlow's output
for it; `run` times the import of LiteRT and numpy, each transform (best of 5), and the largest difference from
TensorFlow's output.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

TRANSFORMS = {"encoder": (1, 128, 128, 3), "decoder": (1, 8, 8, 192)}
"""The hyperprior's float transforms and their input shapes for one 128x128 face (latents 16 times smaller)."""


def convert(model: Path, out: Path) -> None:
    import keras
    import tensorflow as tf

    from aelib.codec.hyper import load_hyper_codec
    from aelib.nn.hyperprior import parts

    network = parts(load_hyper_codec(model).network)
    out.mkdir(parents=True, exist_ok=True)
    generator = np.random.default_rng(0)
    for name, shape in TRANSFORMS.items():
        transform = network[name]
        inputs = keras.Input(batch_shape=shape)
        fixed = keras.Model(inputs, transform(inputs))
        (out / f"{name}.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(fixed).convert())
        x = generator.random(shape).astype(np.float32) if name == "encoder" else generator.standard_normal(shape)
        x = x.astype(np.float32)
        np.save(out / f"{name}_input.npy", x)
        np.save(out / f"{name}_tensorflow.npy", transform(x, training=False).numpy())
        print(f"{name}: {(out / f'{name}.tflite').stat().st_size / 1e6:.1f} MB")


def run(out: Path) -> None:
    start = time.perf_counter()
    from ai_edge_litert.interpreter import Interpreter

    print(f"import ai_edge_litert and numpy: {time.perf_counter() - start:.3f} s")
    for name in TRANSFORMS:
        interpreter = Interpreter(model_path=str(out / f"{name}.tflite"), num_threads=2)
        interpreter.allocate_tensors()
        x, expected = np.load(out / f"{name}_input.npy"), np.load(out / f"{name}_tensorflow.npy")
        given, taken = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
        seconds = []
        for _ in range(6):  # the first call is a warm-up
            begin = time.perf_counter()
            interpreter.set_tensor(given, x)
            interpreter.invoke()
            seconds.append(time.perf_counter() - begin)
        difference = float(np.abs(interpreter.get_tensor(taken) - expected).max())
        print(f"{name}: {1000 * min(seconds[1:]):.1f} ms, largest difference from TensorFlow {difference:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("convert", "run"))
    parser.add_argument("--model", type=Path, default=Path("results/models/hp_faces.keras"))
    parser.add_argument("--out", type=Path, required=True, help="folder for the TFLite models and the test tensors")
    args = parser.parse_args()
    convert(args.model, args.out) if args.step == "convert" else run(args.out)


if __name__ == "__main__":
    main()
