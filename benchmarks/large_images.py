"""Memory and time of the CLI on a very large photo and on size bombs, each command in a fresh process.

Measures, with the peak resident memory that the kernel reports for each process (wait4):
1. ``aelib compress`` and ``aelib decompress`` of a side x side photo (12000 by default: 144 megapixels),
   against the target of 2 GB each;
2. the attacks of issue 14 — a 31-byte ``.aec`` header claiming 16384x16384 (``info`` and
   ``decompress``) and a PNG of under 100 bytes declaring 30000x30000 (``compress``) — against the
   target of one line on stderr, exit status 2, within 5 s and 500 MB.

The photo is a photograph scaled up (Kodak's kodim23 when --photo is given, else scikit-image's
astronaut) and saved as JPEG quality 90. It writes ``results/benchmarks_large_images.json`` and ``.md``.

    python benchmarks/large_images.py --photo ../shared/data/kodak/kodim23.png
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from aelib.apps.reproduce import machine_description
from aelib.codec.format import pack_file
from aelib.measure.metrics import psnr
from aelib.outputs import atomic_output

PHOTO_TARGET_MB = 2048
BOMB_TARGET_MB = 500
BOMB_TARGET_S = 5.0

MEASURING_RUNNER = """
import os, subprocess, sys, time
start = time.perf_counter()
process = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(process.pid, 0)
sys.stdout.write(f"\\npeak-kb {usage.ru_maxrss} seconds {time.perf_counter() - start:.3f}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(*args: str, timeout: float = 600) -> dict:
    """Runs ``aelib ARGS`` in a fresh process; its exit status, stdout, stderr, wall seconds and peak memory.

    A small runner starts the CLI and reads its peak from wait4: a child forked straight from a
    large process (pytest with TensorFlow loaded) would be charged that process's memory.
    """
    command = [sys.executable, "-c", MEASURING_RUNNER, sys.executable, "-m", "aelib.apps.cli", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    stdout, _, measured = result.stdout.rpartition("\npeak-kb ")
    peak_kb, _, seconds = measured.split()
    return {
        "command": "aelib " + " ".join(args),
        "status": result.returncode,
        "stdout": stdout.strip(),
        "stderr_lines": result.stderr.strip().splitlines(),
        "seconds": float(seconds),
        "peak_mb": round(int(peak_kb) / 1024, 1),
    }


def png_bomb(path: Path, side: int) -> None:
    """A PNG whose header declares side x side RGB pixels and whose data is a few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    path.write_bytes(png)


def header_bomb(path: Path, side: int = 16384) -> None:
    """A 31-byte ``.aec`` file with a valid checksum that claims a side x side image and has no payload."""
    path.write_bytes(pack_file("00" * 8, side, side, (side // 8, side // 8, 32), b""))


def make_photo(path: Path, side: int, source: str | None) -> None:
    """A photograph scaled up to side x side, saved as JPEG quality 90."""
    if source:
        photo = Image.open(source).convert("RGB")
    else:
        import skimage.data

        photo = Image.fromarray(skimage.data.astronaut())
    photo.resize((side, side), Image.Resampling.BICUBIC).save(path, quality=90)


def measure(model: str, side: int, photo_source: str | None, folder: Path) -> dict:
    photo = folder / "photo.jpg"
    make_photo(photo, side, photo_source)
    compressed = run_measured("compress", str(photo), "--model", model, "--out", str(folder / "aec"))
    decompressed = run_measured("decompress", str(folder / "aec"), "--model", model, "--out", str(folder / "png"))
    original = np.asarray(Image.open(photo).convert("RGB"))
    decoded = np.asarray(Image.open(folder / "png" / "photo.png"))
    aec_bytes = (folder / "aec" / "photo.aec").stat().st_size
    header_bomb(folder / "bomb.aec")
    png_bomb(folder / "bomb.png", 30000)
    bombs = [
        run_measured("info", str(folder / "bomb.aec")),
        run_measured("decompress", str(folder / "bomb.aec"), "--model", model, "--out", str(folder / "bomb-out")),
        run_measured("compress", str(folder / "bomb.png"), "--model", model, "--out", str(folder / "bomb-out")),
    ]
    return {
        "machine": machine_description(),
        "command": " ".join(["python", *sys.argv]),
        "model": model,
        "photo": {
            "side": side,
            "source": photo_source or "scikit-image astronaut",
            "bits_per_pixel": round(8 * aec_bytes / side**2, 3),
            "psnr": round(psnr(original, decoded), 2),
            "compress": compressed,
            "decompress": decompressed,
        },
        "bombs": bombs,
    }


def markdown(result: dict) -> str:
    photo = result["photo"]
    lines = [
        "# Large images and size bombs",
        "",
        f"Command: `{result['command']}`. Machine: {result['machine']}. "
        "Each row is one CLI process; peak memory is the kernel's (wait4), TensorFlow's ~730 MB included.",
        "",
        f"Photo: {photo['source']} scaled to {photo['side']}x{photo['side']} "
        f"({photo['side'] ** 2 / 1e6:.0f} megapixels), {photo['bits_per_pixel']} bits per pixel, "
        f"{photo['psnr']} dB after the round trip.",
        "",
        "| command | exit | seconds | peak MB | target | met |",
        "|:--|--:|--:|--:|:--|:--|",
    ]
    for step in ("compress", "decompress"):
        row = photo[step]
        met = row["status"] == 0 and row["peak_mb"] < PHOTO_TARGET_MB
        lines.append(
            f"| {step} the photo | {row['status']} | {row['seconds']:.1f} | {row['peak_mb']:.0f} | "
            f"< {PHOTO_TARGET_MB} MB | {'yes' if met else 'no'} |"
        )
    for row in result["bombs"]:
        one_line = len(row["stderr_lines"]) == 1
        # info stops with a usage error (2); compress and decompress list the bomb as a failed input (1)
        expected = 2 if row["command"].startswith("aelib info") else 1
        met = row["status"] == expected and one_line
        met = met and row["seconds"] < BOMB_TARGET_S and row["peak_mb"] < BOMB_TARGET_MB
        lines.append(
            f"| `{row['command'].split(' --model')[0]}` | {row['status']} | {row['seconds']:.1f} | "
            f"{row['peak_mb']:.0f} | exit {expected}, one line, < {BOMB_TARGET_S:.0f} s, < {BOMB_TARGET_MB} MB | "
            f"{'yes' if met else 'no'} |"
        )
    lines += ["", "The bombs' messages:", ""] + [f"- `{row['stderr_lines'][-1]}`" for row in result["bombs"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="results/models/autoencoder_3L.keras")
    parser.add_argument("--side", type=int, default=12000, help="side of the square photo (default %(default)s)")
    parser.add_argument("--photo", help="the photograph to scale up (default: scikit-image's astronaut)")
    parser.add_argument("--out", default="results", help="folder for the .json and .md (default %(default)s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        # The runs' commands and messages name files in a temporary folder: recorded relative to it.
        result = json.loads(
            json.dumps(measure(args.model, args.side, args.photo, Path(folder))).replace(folder + "/", "")
        )
    out = Path(args.out)
    with atomic_output(out / "benchmarks_large_images.json") as temporary:
        temporary.write_text(json.dumps(result, indent=2) + "\n")
    with atomic_output(out / "benchmarks_large_images.md") as temporary:
        temporary.write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
