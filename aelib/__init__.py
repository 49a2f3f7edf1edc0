"""aelib: image compression with convolutional autoencoders, reproduced and measured.

The public API is flat: ``aelib.load_dataset``, ``aelib.build_autoencoder``,
``aelib.train_autoencoder``, ``aelib.encode``, ``aelib.decode`` and so on.
Names whose modules need TensorFlow are imported on first use, so that
``import aelib`` (and the CLI's argument checks) stay fast.
"""

import importlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from aelib.baselines import (  # noqa: E402
    CODECS,
    ClassicalCodec,
    CodecResult,
    available_codecs,
    encode_with_codec,
    header_bytes,
    jpeg_description,
    match_jpeg_quality,
)
from aelib.config import IMAGE_SIZE, PAPER_DEPTHS, PAPER_JPEG_QUALITIES, LossWeights, TrainConfig  # noqa: E402
from aelib.data import Dataset, embedded_crops, load_dataset, load_folder, read_image  # noqa: E402
from aelib.errors import AelibError
from aelib.metrics import bits_per_pixel, compression_ratio, psnr, ssim  # noqa: E402

_LAZY = {
    "build_autoencoder": "aelib.models",
    "summarize": "aelib.models",
    "load_model": "aelib.models",
    "HybridLoss": "aelib.losses",
    "train_autoencoder": "aelib.train",
    "calibrate_output": "aelib.calibration",
    "CodecModel": "aelib.codec",
    "encode": "aelib.codec",
    "decode": "aelib.codec",
    "load_codec_model": "aelib.codec",
    "make_codec_model": "aelib.codec",
    "save_codec_model": "aelib.codec",
    "read_header": "aelib.format",
    "compress_files": "aelib.files",
    "decompress_files": "aelib.files",
    "evaluate_model": "aelib.evaluate",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'aelib' has no attribute {name!r}")


__all__ = [
    "AelibError",
    "CODECS",
    "ClassicalCodec",
    "CodecResult",
    "Dataset",
    "IMAGE_SIZE",
    "LossWeights",
    "PAPER_DEPTHS",
    "PAPER_JPEG_QUALITIES",
    "TrainConfig",
    "available_codecs",
    "bits_per_pixel",
    "compression_ratio",
    "embedded_crops",
    "encode_with_codec",
    "header_bytes",
    "jpeg_description",
    "load_dataset",
    "load_folder",
    "match_jpeg_quality",
    "psnr",
    "read_image",
    "ssim",
    *_LAZY,
]
