"""aelib: image compression with convolutional autoencoders, reproduced and measured.

The public API is flat: ``aelib.load_dataset``, ``aelib.build_autoencoder``,
``aelib.train_autoencoder``, ``aelib.evaluate_model`` and so on.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from aelib.baselines import CODECS, CodecResult, available_codecs, encode_with_codec, match_jpeg_quality  # noqa: E402
from aelib.config import IMAGE_SIZE, PAPER_DEPTHS, PAPER_JPEG_QUALITIES, LossWeights, TrainConfig  # noqa: E402
from aelib.data import Dataset, embedded_crops, load_dataset, load_folder, read_image  # noqa: E402
from aelib.errors import AelibError  # noqa: E402
from aelib.metrics import bits_per_pixel, compression_ratio, psnr, ssim  # noqa: E402

__all__ = [
    "AelibError",
    "CODECS",
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
    "load_dataset",
    "load_folder",
    "match_jpeg_quality",
    "psnr",
    "read_image",
    "ssim",
]
