"""aelib: image compression with convolutional autoencoders, reproduced and measured.

The public API is flat: ``aelib.load_dataset``, ``aelib.build_autoencoder``,
``aelib.train_autoencoder``, ``aelib.encode``, ``aelib.decode`` and so on.
Names whose modules need TensorFlow are imported on first use, so that
``import aelib`` (and the CLI's argument checks) stay fast.

Progress lines (training epochs, resumed runs) are log records of the ``aelib``
logger at level INFO. As a library, aelib gives that logger a ``NullHandler``
only and changes nothing else on import (no environment variable, no other
handler); :func:`show_progress` prints the lines on standard output, as the CLI
and the notebooks do.
"""

import importlib as _importlib
import logging as _logging
import sys as _sys

from aelib.config import IMAGE_SIZE, PAPER_DEPTHS, PAPER_JPEG_QUALITIES, LossWeights, TrainConfig
from aelib.data import Dataset, embedded_crops, load_dataset, load_folder, read_image
from aelib.errors import AelibError
from aelib.measure.baselines import (
    CODECS,
    ClassicalCodec,
    CodecResult,
    available_codecs,
    encode_with_codec,
    header_bytes,
    jpeg_description,
    match_jpeg_quality,
)
from aelib.measure.metrics import bits_per_pixel, compression_ratio, psnr, ssim

_logging.getLogger("aelib").addHandler(_logging.NullHandler())


class _CurrentStdout(_logging.StreamHandler):
    """Writes each record to sys.stdout as it is at that moment (Jupyter and pytest replace it)."""

    def emit(self, record: _logging.LogRecord) -> None:
        self.stream = _sys.stdout  # not setStream(), which flushes the previous stream, perhaps closed by now
        super().emit(record)


def show_progress(level: int = _logging.INFO) -> None:
    """Prints aelib's progress lines on standard output from now on (an application's choice, not the library's).

    Silence them again with ``logging.getLogger("aelib").setLevel(logging.WARNING)``.
    """
    logger = _logging.getLogger("aelib")
    if not any(isinstance(handler, _CurrentStdout) for handler in logger.handlers):
        handler = _CurrentStdout()
        handler.setFormatter(_logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


_LAZY = {
    "build_autoencoder": "aelib.nn.models",
    "summarize": "aelib.nn.models",
    "load_model": "aelib.nn.models",
    "HybridLoss": "aelib.nn.losses",
    "train_autoencoder": "aelib.training.autoencoder",
    "calibrate_output": "aelib.nn.calibration",
    "CodecModel": "aelib.codec.codec",
    "encode": "aelib.codec.codec",
    "decode": "aelib.codec.codec",
    "load_codec_model": "aelib.codec.codec",
    "make_codec_model": "aelib.codec.codec",
    "save_codec_model": "aelib.codec.codec",
    "export_factorized": "aelib.codec.codec",
    "read_header": "aelib.codec.format",
    "compress_files": "aelib.codec.files",
    "decompress_files": "aelib.codec.files",
    "evaluate_model": "aelib.experiments.table1",
    "build_hyperprior": "aelib.nn.hyperprior",
    "train_hyperprior": "aelib.training.hyperprior",
    "export_codec": "aelib.codec.hyper",
    "load_hyper_codec": "aelib.codec.hyper",
    "load_any_codec": "aelib.codec.codec",
    "encode_any": "aelib.codec.codec",
    "decode_any": "aelib.codec.codec",
    "evaluate_hyperprior": "aelib.experiments.table1",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(_importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'aelib' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public API, the names imported on first use included (``dir(aelib)``, tab completion)."""
    return sorted(__all__)


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
    "show_progress",
    "ssim",
    *_LAZY,
]
