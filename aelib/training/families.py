"""Model families trained for R + λ·D: one shared base model, then each family's members fine-tuned from it.

The paper ends by asking for a loss that trades compression against quality.
Each model of a family here minimises ``R + λ·D`` (Ballé et al., "Variational
image compression with a scale hyperprior", ICLR 2018, arXiv:1802.01436, eq. 1
with a factorized prior): R is the entropy model's estimate of the bits per
pixel of the noisy latents (:func:`aelib.nn.losses.laplace_bits`), D a
distortion, λ the trade-off. The families are :data:`aelib.config.FAMILIES`:

* ``hybrid``: D is the paper's hybrid loss (eq. 8), SSIM + VGG16 perceptual + MSE.
* ``mse``: D is the mean squared error in 8-bit units (0 … 255²), the
  PSNR-oriented convention of Ballé et al. and CompressAI, so our λ values
  read like theirs.

Dividing by λ gives ``D + R/λ``, which is what the trainer minimises
(``TrainConfig.rate_weight = 1 / (λ · scale)``, scale = 255² for MSE on [0, 1]
pixels, 1 for the hybrid loss).

To fit a CPU budget, one shared base model (the MSE family's middle λ) is
trained longest, and each family is fine-tuned from it in two chains: the
family's middle λ starts from the base, and every other λ starts from its
neighbour one step closer to the middle. The transform learnt by the base is
most of the work; each fine-tuning moves a model one step along the
rate–distortion curve, so the extreme λ travel twice as far as the middle ones.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from aelib.codec.codec import CodecModel, entropy_path, export_factorized, load_codec_model
from aelib.config import FAMILIES, Family, RDTraining, TrainConfig, portable_path, project_root
from aelib.errors import InputError
from aelib.layout import RD_BASE_MODEL, RD_SETTINGS_FILE, model_files, rd_model_name
from aelib.outputs import atomic_output, progress_bar

logger = logging.getLogger(__name__)


BASE_MODEL = RD_BASE_MODEL
"""File stem of the shared base model the families' fine-tuning chains start from."""


def model_name(family: Family, lam: float) -> str:
    """File stem of a family member (:func:`aelib.layout.rd_model_name`)."""
    return rd_model_name(family.name, lam)


def rate_weight(family: Family, lam: float) -> float:
    """The trainer's weight of the rate, 1 / (λ · scale), for loss = D + R / λ."""
    if not lam > 0:
        raise InputError(f"λ must be > 0, got {lam}")
    return 1.0 / (lam * family.scale)


SETTINGS_FILE = RD_SETTINGS_FILE
"""Beside the models: the training settings and data they were trained with."""


def _train_or_load(name: str, start_from, config: TrainConfig, training: RDTraining, dataset, out_dir: Path):
    """Loads out_dir/name.keras when a previous run finished it, else trains it from start_from (or from scratch)."""
    from aelib.nn.models import build_gdn_autoencoder
    from aelib.training.autoencoder import train_model

    path = model_files(out_dir, name)[0]
    if path.is_file() and entropy_path(path).is_file():
        logger.info("%s: trained before with the same settings, loaded from %s", name, path)
        return load_codec_model(path)
    logger.info("%s: training for %d steps", name, config.epochs * config.steps_per_epoch)
    import keras

    keras.utils.set_random_seed(config.seed)  # the initial weights too: a rerun trains the same model
    model = build_gdn_autoencoder(training.channels, training.latent_channels, name=name)
    if start_from is not None:
        model.set_weights(start_from.get_weights())
    result = train_model(model, dataset.train, dataset.val, config, out_dir, verbose=2)
    return export_factorized(result.model, dataset.train, path)


def _check_settings(out_dir: Path, record: dict, force: bool) -> None:
    """Refuses to mix models of other settings into out_dir; with force, removes them so they are retrained."""
    path = out_dir / SETTINGS_FILE
    if path.is_file() and json.loads(path.read_text()) != record:
        if not force:
            raise InputError(
                f"{out_dir} holds rate–distortion models trained with other settings ({path}); "
                "pass force=True to retrain them, or use another output folder"
            )
        for old in out_dir.glob("rd_*"):
            old.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(record, indent=2) + "\n")


def train_families(
    dataset, families: list[Family], training: RDTraining, out_dir: str | Path, force: bool = False
) -> dict[str, CodecModel]:
    """Trains the base model and every family member, reusing models a previous run finished in out_dir.

    Args:
        dataset: a :class:`aelib.data.Dataset` (train for training, val for validation).
        families: the families to train.
        training: architecture and step budget.
        out_dir: where ``NAME.keras``, its tables and ``NAME_history.csv`` go,
            with :data:`SETTINGS_FILE` recording what they were trained with.
        force: retrain when out_dir holds models of other settings (else refuse).

    Returns:
        Codec models by name, the base under :data:`BASE_MODEL`.
    """
    out_dir = Path(out_dir)
    record = {
        "training": dataclasses.asdict(training),
        "data": dataset.name if dataset.name == "embedded" else portable_path(dataset.name, project_root()),
        "training_images": len(dataset.train),
        "base": {"family": "mse", "lambda": base_lambda()},
        "families": {family.name: list(family.lambdas) for family in families},
    }
    _check_settings(out_dir, record, force)
    mse = FAMILIES["mse"]
    base_config = training.config(mse.distortion, rate_weight(mse, base_lambda()), training.base_steps)
    codecs = {BASE_MODEL: _train_or_load(BASE_MODEL, None, base_config, training, dataset, out_dir)}
    for family, lam, start in progress_bar(training_order(families), description="λ models", leave=True):
        config = training.config(family.distortion, rate_weight(family, lam), training.finetune_steps)
        start_from = codecs[BASE_MODEL if start is None else model_name(family, start)].autoencoder
        codecs[model_name(family, lam)] = _train_or_load(
            model_name(family, lam), start_from, config, training, dataset, out_dir
        )
    return codecs


def training_order(families: list[Family]) -> list[tuple[Family, float, float | None]]:
    """(family, λ, the λ whose model it starts from; None for the base), in an order that trains starts first.

    Each family's middle λ starts from the base; the others chain outwards from it.
    """
    order = []
    for family in families:
        lambdas = sorted(family.lambdas)
        middle = lambdas.index(middle_lambda(family))
        order.append((family, lambdas[middle], None))
        order += [(family, lambdas[i], lambdas[i - 1]) for i in range(middle + 1, len(lambdas))]
        order += [(family, lambdas[i], lambdas[i + 1]) for i in range(middle - 1, -1, -1)]
    return order


def middle_lambda(family: Family) -> float:
    """The family's middle λ (the upper of the two middle ones for an even count)."""
    lambdas = sorted(family.lambdas)
    return lambdas[len(lambdas) // 2]


def base_lambda() -> float:
    """The λ of the shared base model: the MSE family's middle one."""
    return middle_lambda(FAMILIES["mse"])


def members(families: list[Family]) -> list[tuple[Family, float]]:
    """(family, λ) of every model of the families, each family in the order of its λ."""
    return [(family, lam) for family in families for lam in family.lambdas]
