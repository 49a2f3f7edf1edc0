"""The quality metrics of the rate–distortion study, one entry each: adding a metric is one :func:`register` call.

An entry says how an image's value is computed, the column that keeps it in
the per-image tables, how the curve's mean becomes the quality axis of a
BD-rate (SSIM and MS-SSIM in decibels, ``-10·log10(1 - x)``, so that their
ends near 1 are not flattened), its unit in sentences, and how much quality
range two curves must share for a BD-rate to be taken (and to be read as
meaningful). Curves, BD tables, findings and the READMEs' sentences iterate
over :data:`METRICS` when they run, so a registered metric appears in all of
them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from aelib.errors import InputError
from aelib.measure.bdrate import to_decibels
from aelib.measure.metrics import ms_ssim, psnr, ssim


@dataclass(frozen=True)
class Metric:
    """One quality metric of the rate–distortion study.

    Attributes:
        key: its name in the curves and BD tables (``bd_rate_KEY``, ``KEY_from`` …), e.g. "ms_ssim_db".
        label: its name in sentences and table headings, e.g. "MS-SSIM".
        column: the per-image column of its values, e.g. "ms_ssim".
        unit: what follows a number of it in sentences (" dB" or "").
        decibels: the quality axis is the mean value in decibels (a similarity bounded by 1).
        min_overlap: the least shared quality range (on that axis) that gives a BD-rate.
        meaningful_overlap: below this shared range, a BD-rate that doubles or halves the bits is reported as
            "no meaningful overlap".
        compute: (original, reconstruction) uint8 images → the value; None for a metric measured by a network
            elsewhere (LPIPS, :class:`aelib.experiments.ratedistortion.LpipsReference`), left NaN until then.
    """

    key: str
    label: str
    column: str
    unit: str = ""
    decibels: bool = False
    min_overlap: float = 1.0
    meaningful_overlap: float = 2.0
    compute: Callable[[np.ndarray, np.ndarray], float] | None = None

    @property
    def heading(self) -> str:
        """Its name in table headings: "PSNR", "MS-SSIM (dB)"."""
        return f"{self.label} (dB)" if self.decibels else self.label

    def quality(self, means) -> np.ndarray:
        """A curve's mean values as the BD-rate's quality axis."""
        return to_decibels(means) if self.decibels else np.asarray(means, np.float64)


METRICS: dict[str, Metric] = {}
"""Every registered metric by key, in the order the tables show them."""


def register(metric: Metric) -> Metric:
    """Adds a metric to :data:`METRICS`; a key or a per-image column taken already is refused."""
    if metric.key in METRICS or any(m.column == metric.column for m in METRICS.values()):
        raise InputError(f"a metric named {metric.key!r} or kept in column {metric.column!r} is registered already")
    METRICS[metric.key] = metric
    return metric


def per_image_columns() -> tuple[str, ...]:
    """The per-image columns of every registered metric, in order."""
    return tuple(metric.column for metric in METRICS.values())


register(Metric("psnr", "PSNR", "psnr", " dB", compute=psnr))
register(Metric("ssim_db", "SSIM", "ssim", " dB", decibels=True, compute=ssim))
register(Metric("ms_ssim_db", "MS-SSIM", "ms_ssim", " dB", decibels=True, compute=ms_ssim))
register(Metric("lpips", "LPIPS", "lpips", min_overlap=0.02, meaningful_overlap=0.04))
