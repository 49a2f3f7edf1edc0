"""Exports a hyperprior training checkpoint and measures it as `aelib evaluate` measures an exported model.

For a run still in training (its ``NAME.resume.npz``): the written rate beside the model's own
estimate, the escapes, PSNR and MS-SSIM of each gain level on the test split. The exported model
goes to a temporary folder; nothing is written beside the checkpoint.

    python scripts/evaluate_checkpoint.py results/models/hp_faces.resume.npz --data ../shared/data/utkface
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from aelib.config import HyperpriorTraining  # noqa: E402
from aelib.data import describe_source, load_dataset  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a NAME.resume.npz written by aelib train-codec")
    parser.add_argument("--data", help="the folder the run trained on (default: the embedded data set)")
    parser.add_argument("--limit", type=int, help="evaluate the first this many test images only")
    args = parser.parse_args()

    from aelib.codec import hyper
    from aelib.experiments.table1 import evaluate_hyperprior
    from aelib.nn.hyperprior import build_hyperprior
    from aelib.report.tables import format_markdown

    with np.load(args.checkpoint) as arrays:
        state = json.loads(str(arrays["state"]))
        settings = HyperpriorTraining(
            **{**state["key"]["settings"], "lambdas": tuple(state["key"]["settings"]["lambdas"])}
        )
        network = build_hyperprior(settings.channels, settings.latent_channels, len(settings.lambdas))
        count = sum(name.startswith("weight_") for name in arrays.files)
        network.set_weights([arrays[f"weight_{i}"] for i in range(count)])
    with tempfile.TemporaryDirectory() as folder:
        codec = hyper.export_codec(network, Path(folder) / "checkpoint.keras")
    images = load_dataset(args.data).test[: args.limit]
    start = time.perf_counter()
    table = evaluate_hyperprior(codec, images)
    print(
        f"{args.checkpoint} after step {state['step']} of {settings.steps}; {describe_source(args.data)}, "
        f"{len(images)} test images; {time.perf_counter() - start:.0f} s"
    )
    print(format_markdown(table))
    print(
        f"written payload against the model's own estimate: {table['rate_gap'].min():+.2%} … "
        f"{table['rate_gap'].max():+.2%}; {int(table['escapes'].sum())} value(s) coded as escapes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
