"""config.py is the one source of every setting: the notebooks' parameter defaults must agree with it."""

import ast
import json
from pathlib import Path

import pytest

from aelib.config import (
    DEFAULT_SEED,
    HYPERPRIOR_MODELS,
    IMAGE_SIZE,
    PAPER_DEPTHS,
    PROFILES,
    RD_LPIPS_IMAGES,
    RD_TEST_IMAGES,
    LossWeights,
    TrainConfig,
)

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def parameters(notebook: str) -> dict:
    """The literal defaults of a notebook's cell tagged ``parameters``."""
    cells = json.loads((NOTEBOOKS / notebook).read_text())["cells"]
    source = "".join(next(c for c in cells if "parameters" in c["metadata"].get("tags", []))["source"])
    return {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign)
    }


STUDY = PROFILES["study"]
EXPECTED = {
    "seed": DEFAULT_SEED,
    "image_size": IMAGE_SIZE,
    "loss_weights": list(vars(LossWeights()).values()),
    "patience": TrainConfig.patience,
    "batch_size": STUDY.embedded_batch_size,
    "rate_weight": STUDY.rate_weight,
    "schedule_steps": list(STUDY.schedule),
    "depths": list(PAPER_DEPTHS),
    "rd_base_steps": STUDY.rd_steps[0],
    "rd_finetune_steps": STUDY.rd_steps[1],
    "hyperprior_models": list(HYPERPRIOR_MODELS),
    "rd_test_images": RD_TEST_IMAGES,
    "rd_lpips_images": RD_LPIPS_IMAGES[0],
    "rd_lpips_second": RD_LPIPS_IMAGES[1],
}


@pytest.mark.parametrize("notebook", sorted(p.name for p in NOTEBOOKS.glob("[0-9]*.ipynb")))
def test_notebook_defaults_agree_with_config(notebook):
    defaults = parameters(notebook)
    disagreements = {
        name: (value, EXPECTED[name])
        for name, value in defaults.items()
        if name in EXPECTED and value != EXPECTED[name]
    }
    assert not disagreements, f"{notebook}: (notebook, config) = {disagreements}"


def test_paths_beside_the_checkout_are_recorded_relative_and_others_absolute(monkeypatch):
    from pathlib import Path

    from aelib.config import portable_path, project_root

    root = project_root()
    monkeypatch.chdir(root)
    assert portable_path(root / "results" / "tables") == "results/tables"
    assert portable_path("results/tables", root / "notebooks") == "../results/tables"
    assert portable_path(root.parent / "shared" / "data" / "utkface", root / "notebooks") == "../../shared/data/utkface"
    elsewhere = Path(root.anchor) / "aelib-test-elsewhere" / "photos"  # not inside the folder holding the checkout
    assert portable_path(elsewhere) == str(elsewhere)


def test_the_perceptual_precision_resolves_by_cpu_unless_the_environment_says(monkeypatch):
    from aelib.config import PRECISION_VARIABLE, cpu_has_native_bfloat16, resolve_precision
    from aelib.errors import AelibError

    monkeypatch.delenv(PRECISION_VARIABLE, raising=False)
    assert resolve_precision("auto") == ("mixed_bfloat16" if cpu_has_native_bfloat16() else "float32")
    monkeypatch.setenv(PRECISION_VARIABLE, "float32")
    assert resolve_precision("auto") == "float32" and resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
    monkeypatch.setenv(PRECISION_VARIABLE, "half")
    with pytest.raises(AelibError, match="AELIB_PERCEPTUAL_PRECISION='half'"):
        resolve_precision("auto")
