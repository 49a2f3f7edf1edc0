"""The model zoo: every committed codec model, what it was trained on, what it is for and how it measured.

Read from what the study committed beside the models, without TensorFlow or
pandas (``aelib models`` runs with the codec's own packages): the model card
inside an exported ``.keras`` file, the rate–distortion settings beside the
families, the run's manifest for the paper's autoencoders, and the test-set
tables (each depth's Table 1, the rate–distortion points) for the numbers, all
found through :class:`aelib.layout.ResultsLayout`. A model without a measurement says so instead of showing one.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from aelib.codec.format import read_model_card
from aelib.config import RECOMMENDED_MODELS
from aelib.layout import (
    RATE_DISTORTION_PREFIX,
    RD_BASE_MODEL,
    RD_SETTINGS_FILE,
    ResultsLayout,
    model_files,
    paper_model_depth,
    rd_model_family,
)

FACE_DATA = ("utkface", "celeba", "celeba_hq", "celeba-hq", "celebahq")
"""Names of data folders of faces: a model trained on one of them is a face model."""


@dataclass(frozen=True)
class ZooEntry:
    """One model of the zoo.

    Attributes:
        path: the ``.keras`` file.
        kind: what the model is, in words.
        trained_on: the data it was trained on, as its run recorded it.
        faces: whether that data is faces (:data:`FACE_DATA`), so the model is for faces.
        qualities: its quality settings, in words ("one rate", "0 … 56").
        bits_per_pixel, psnr, ssim: mean over its test set (a range over the settings for a model
            with qualities), None where nothing was measured.
        measured_on: the test set those numbers are from.
        recommended_for: what aelib recommends it for ("photos", "faces"), when it does.
    """

    path: Path
    kind: str
    trained_on: str
    faces: bool
    qualities: str
    bits_per_pixel: str | None = None
    psnr: str | None = None
    ssim: str | None = None
    measured_on: str = ""
    recommended_for: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def use(self) -> str:
        """What the model is for, in words."""
        if paper_model_depth(self.name) is not None:
            return "reproducing the paper (no rate control); not for use"
        if self.name == RD_BASE_MODEL:
            return "the start of the families' fine-tuning; not for use"
        domain = "128×128 faces" if self.faces else "natural photos"
        return f"{domain}; other images work, at a cost" if self.faces else domain


def _rows(table: Path) -> list[dict]:
    if not table.is_file():
        return []
    with open(table, newline="") as file:
        return list(csv.DictReader(line for line in file if not line.startswith("#")))


def _data_name(source: str | None) -> str:
    return Path(source).name.lower() if source else "embedded"


def _measured(row: dict | None, bpp_column: str) -> dict:
    """A table row's rate, PSNR, SSIM and image count as the zoo shows them; nothing for no row."""
    if row is None:
        return {}
    return {
        "bits_per_pixel": f"{float(row[bpp_column]):.3f}",
        "psnr": f"{float(row['psnr']):.2f}",
        "ssim": f"{float(row['ssim']):.4f}",
        "measured_on": f"{row['images']} test images",
    }


def _paper_entry(path: Path, layout: ResultsLayout) -> ZooEntry:
    depth = paper_model_depth(path.stem)
    method = f"{depth}-layer"
    manifest = layout.manifest
    source = json.loads(manifest.read_text())["settings"]["data_dir"] if manifest.is_file() else None
    row = next((r for r in _rows(layout.table1(depth, "test")) if r["method"] == method), None)
    measured = _measured(row, "bits_per_pixel")
    kind = f"the paper's {method} autoencoder (hybrid loss, no rate term)"
    return ZooEntry(path, kind, source or "embedded default", _data_name(source) in FACE_DATA, "one rate", **measured)


def _family_entry(path: Path, layout: ResultsLayout) -> ZooEntry:
    settings_file = path.parent / RD_SETTINGS_FILE
    source = json.loads(settings_file.read_text())["data"] if settings_file.is_file() else None
    member = rd_model_family(path.stem)  # None for the base model
    if member is None:
        kind, measured = "GDN factorized base model (MSE, middle λ)", {}
    else:
        family, lam = member
        kind = f"GDN transform, factorized prior, R + λ·D ({family}, λ = {lam:g})"
        rows = _rows(layout.rd_points("test"))
        row = next((r for r in rows if r["method"] == f"ours ({family})" and float(r["setting"]) == lam), None)
        measured = _measured(row, "bpp")
    return ZooEntry(path, kind, source or "embedded default", _data_name(source) in FACE_DATA, "one rate", **measured)


def _hyperprior_entry(path: Path, card: dict, layout: ResultsLayout) -> ZooEntry:
    trained_on = card.get("trained_on", "not recorded")
    faces = any(name in trained_on.lower() for name in FACE_DATA)
    rows = [r for r in _rows(layout.rd_points("test")) if r["method"] == f"{path.stem} (hyperprior)"]
    measured = {}
    if rows:

        def span(column: str, digits: int) -> str:
            values = sorted(float(r[column]) for r in rows)
            return f"{values[0]:.{digits}f} … {values[-1]:.{digits}f}"

        measured = {
            "bits_per_pixel": span("bpp", 3),
            "psnr": span("psnr", 2),
            "ssim": span("ssim", 4),
            "measured_on": f"{rows[0]['images']} test images, {len(rows)} settings",
        }
    kind = f"{card['kind_name']}, one network for every rate"
    return ZooEntry(path, kind, trained_on, faces, f"0 … {card['qualities'] - 1}", **measured)


def zoo(results: str | Path, models_dir: str | Path | None = None) -> list[ZooEntry]:
    """Every codec model in ``results/models`` (or models_dir) with its description and measurements.

    The measurements come from ``results/tables``; the recommended models come first, in the order of the uses
    in :data:`aelib.config.RECOMMENDED_MODELS` (photos first: the model ``aelib compress`` uses by default).
    """
    layout = ResultsLayout(results)
    entries = []
    for path in sorted(Path(models_dir if models_dir is not None else layout.models).glob("*.keras")):
        card = read_model_card(path)
        if card is not None:
            entries.append(_hyperprior_entry(path, card, layout))
        elif not model_files(path.parent, path.stem)[1].is_file():
            continue
        elif paper_model_depth(path.stem) is not None:
            entries.append(_paper_entry(path, layout))
        elif path.stem.startswith(RATE_DISTORTION_PREFIX):
            entries.append(_family_entry(path, layout))
    recommended = recommendations(entries)
    entries = [
        ZooEntry(
            **{**vars(entry), "recommended_for": tuple(u for u, name in recommended.items() if name == entry.name)}
        )
        for entry in entries
    ]
    uses = list(RECOMMENDED_MODELS)

    def order(entry: ZooEntry) -> tuple:
        first_use = min((uses.index(use) for use in entry.recommended_for), default=len(uses))
        return first_use, entry.name

    return sorted(entries, key=order)


def recommendations(entries: list[ZooEntry]) -> dict[str, str]:
    """use → the name of the model recommended for it: the first of :data:`aelib.config.RECOMMENDED_MODELS` present."""
    present = {entry.name for entry in entries}
    chosen = {}
    for use, candidates in RECOMMENDED_MODELS.items():
        found = next((name for name in candidates if name in present), None)
        if found is not None:
            chosen[use] = found
    return chosen


COLUMNS = (
    "model",
    "recommended for",
    "what it is",
    "trained on",
    "for",
    "qualities",
    "bpp",
    "PSNR dB",
    "SSIM",
    "measured on",
)


def zoo_rows(entries: list[ZooEntry]) -> list[tuple[str, ...]]:
    """The zoo as rows of :data:`COLUMNS`, "—" where there is no value."""
    return [
        (
            entry.path.name,
            ", ".join(entry.recommended_for) or "—",
            entry.kind,
            entry.trained_on,
            entry.use,
            entry.qualities,
            entry.bits_per_pixel or "—",
            entry.psnr or "—",
            entry.ssim or "—",
            entry.measured_on or "not measured",
        )
        for entry in entries
    ]


def zoo_markdown(entries: list[ZooEntry]) -> str:
    """The zoo as a Markdown table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in zoo_rows(entries)]
    return "\n".join(lines)
