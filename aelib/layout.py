"""Where every file of a results folder lives: the one place their names are spelled.

A results folder (``results/``, ``results/embedded/``, a user's ``--out``) holds

- ``models/``: ``NAME.keras`` with its entropy tables, training history and resume checkpoint;
- ``tables/``: every table as ``STEM.csv`` beside ``STEM.md`` (a provenance line, then the table);
- ``figures/``: ``STEM.png``;
- ``runs/``: the executed notebooks, ``manifest.json``, the log and the reproduction report;
- ``README.md``: the summary a run writes.

Code that reads or writes one of these files asks a :class:`ResultsLayout` for its
path; tests do too, so that renaming a file is one edit here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aelib.config import ENTROPY_SUFFIX

MODEL_SUFFIX = ".keras"
HISTORY_SUFFIX = "_history.csv"
CHECKPOINT_SUFFIX = ".resume.npz"
PAPER_MODEL_PREFIX = "autoencoder_"
RATE_DISTORTION_PREFIX = "rd_"
"""Names of the rate–distortion study's models (its factorized families and their base) begin with this."""
RD_BASE_MODEL = f"{RATE_DISTORTION_PREFIX}base"
"""The shared base model the rate–distortion families' fine-tuning chains start from."""
RD_SETTINGS_FILE = f"{RATE_DISTORTION_PREFIX}settings.json"
"""Beside the rate–distortion models: the training settings and data they were trained with."""


def paper_model_name(depth: int | str) -> str:
    """The name of the paper's autoencoder of an encoder depth, e.g. ``autoencoder_3L``; ``"N"`` gives the pattern."""
    return f"{PAPER_MODEL_PREFIX}{depth}L"


def paper_model_depth(name: str) -> int | None:
    """The depth of a paper autoencoder's name (``autoencoder_3L`` → 3); None for any other name."""
    middle = name.removeprefix(PAPER_MODEL_PREFIX).removesuffix("L")
    return int(middle) if name.startswith(PAPER_MODEL_PREFIX) and middle.isdigit() else None


def rd_model_name(family: str, lam: float) -> str:
    """The name of a rate–distortion family's member, e.g. ``rd_mse_0.018``."""
    return f"{RATE_DISTORTION_PREFIX}{family}_{lam:g}"


def rd_model_family(name: str) -> tuple[str, float] | None:
    """(family, λ) of a family member's name (``rd_mse_0.018`` → ("mse", 0.018)); None for any other name."""
    parts = name.split("_")
    if len(parts) != 3 or f"{parts[0]}_" != RATE_DISTORTION_PREFIX:
        return None
    try:
        return parts[1], float(parts[2])
    except ValueError:
        return None


def checkpoint_file(folder: str | Path, name: str) -> Path:
    """Beside a model being trained, ``NAME.resume.npz`` holds its last finished epoch or step."""
    return Path(folder) / f"{name}{CHECKPOINT_SUFFIX}"


def model_files(folder: str | Path, name: str) -> tuple[Path, Path, Path]:
    """A model in a folder of models: ``NAME.keras``, its entropy tables (factorized models) and training history."""
    folder = Path(folder)
    return folder / f"{name}{MODEL_SUFFIX}", folder / f"{name}{ENTROPY_SUFFIX}", folder / f"{name}{HISTORY_SUFFIX}"


def evaluation_tables(folder: Path, model_stem: str) -> tuple[Path, Path]:
    """What ``aelib evaluate`` writes for one model into a folder: its Table 1 and its per-image rows (CSV)."""
    return folder / f"{model_stem}_table1.csv", folder / f"{model_stem}_per_image.csv"


@dataclass(frozen=True)
class ResultsLayout:
    """The paths of one results folder.

    Tables are named by their CSV path; the Markdown twin is ``path.with_suffix(".md")``.
    ``test_set`` arguments are a test set's name in the tables (``test``, ``kodak``, ``embedded``).
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    # The four folders and the run's records.
    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def tables(self) -> Path:
        return self.root / "tables"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def readme(self) -> Path:
        return self.root / "README.md"

    @property
    def manifest(self) -> Path:
        return self.runs / "manifest.json"

    @property
    def log(self) -> Path:
        return self.runs / "reproduce.log"

    @property
    def reproduction_report(self) -> Path:
        return self.runs / "reproduction.md"

    @property
    def reproduction_numbers(self) -> Path:
        return self.runs / "reproduction.csv"

    def executed_notebook(self, key: str) -> Path:
        """A step's executed notebook, e.g. key ``depth-3/03_training``."""
        return self.runs / f"{key}.ipynb"

    # Models.
    def model(self, name: str) -> Path:
        return model_files(self.models, name)[0]

    def paper_model(self, depth: int) -> Path:
        return self.model(paper_model_name(depth))

    def entropy_tables(self, name: str) -> Path:
        return model_files(self.models, name)[1]

    def history(self, name: str) -> Path:
        return model_files(self.models, name)[2]

    def checkpoint(self, name: str) -> Path:
        return checkpoint_file(self.models, name)

    @property
    def rd_settings(self) -> Path:
        return self.models / RD_SETTINGS_FILE

    # Tables of the paper's reproduction (notebooks 01–04).
    def table(self, stem: str) -> Path:
        return self.tables / f"{stem}.csv"

    @property
    def data_table(self) -> Path:
        return self.table("data")

    def architecture(self, depth: int) -> Path:
        return self.table(f"architecture_{depth}L")

    def table1(self, depth: int, test_set: str) -> Path:
        """One depth's Table 1 on one test set (the model, its SSIM-matched JPEG, the paper's JPEG rows)."""
        return self.table(f"table1_{depth}L_{test_set}")

    def table1_all_depths(self, test_set: str) -> Path:
        return self.table(f"table1_{test_set}")

    def depths(self, test_set: str) -> Path:
        """Every depth's metrics on one test set, one row per depth."""
        return self.table(f"depths_{test_set}")

    def per_image(self, depth: int, test_set: str) -> Path:
        return self.table(f"per_image_{depth}L_{test_set}")

    # Tables of the rate–distortion study (notebook 06).
    @property
    def rd_codecs(self) -> Path:
        return self.table("rd_codecs")

    @property
    def rd_bd_rate(self) -> Path:
        return self.table("rd_bd_rate")

    @property
    def rd_bd_rate_ours(self) -> Path:
        return self.table("rd_bd_rate_ours")

    @property
    def rd_equal_quality(self) -> Path:
        return self.table("rd_equal_quality")

    @property
    def rd_ladder(self) -> Path:
        return self.table("rd_ladder")

    def rd_points(self, test_set: str) -> Path:
        return self.table(f"rd_points_{test_set}")

    def rd_per_image(self, test_set: str) -> Path:
        return self.table(f"rd_per_image_{test_set}")

    # Figures.
    def figure(self, stem: str) -> Path:
        return self.figures / f"{stem}.png"

    @property
    def data_samples_figure(self) -> Path:
        return self.figure("data_samples")

    def training_figure(self, depth: int) -> Path:
        return self.figure(f"training_{depth}L")

    def depths_figure(self, test_set: str) -> Path:
        return self.figure(f"depths_{test_set}")

    def evaluation_figure(self, kind: str, depth: int, test_set: str) -> Path:
        """kind: ``bars``, ``distributions`` or ``examples``."""
        return self.figure(f"{kind}_{depth}L_{test_set}")

    def rd_curves_figure(self, test_set: str) -> Path:
        return self.figure(f"rd_curves_{test_set}")

    @property
    def rd_base_training_figure(self) -> Path:
        return self.figure("rd_base_training")

    def rd_ladder_figure(self, test_set: str) -> Path:
        return self.figure(f"rd_ladder_{test_set}")

    def relative(self, path: Path) -> str:
        """path as the folder's README links it: relative to the folder, with forward slashes."""
        return Path(path).relative_to(self.root).as_posix()
