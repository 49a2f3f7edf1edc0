"""aelib.nn.lpips against the original lpips package (PyTorch), values computed once by scripts/lpips_reference.py."""

import json
from pathlib import Path

import numpy as np
import pytest

from aelib.nn.lpips import lpips, lpips_batch

REFERENCE = Path(__file__).parent / "data" / "lpips_reference"


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE.with_suffix(".npz")) as arrays:
        pairs = arrays["originals"], arrays["distorted"]
    return pairs, json.loads(REFERENCE.with_suffix(".json").read_text())


@pytest.mark.slow
def test_keras_lpips_matches_the_reference_package(reference):
    (originals, distorted), record = reference
    expected = np.array(list(record["distances"].values()))
    np.testing.assert_allclose(lpips_batch(originals, distorted), expected, atol=1e-5)
    assert record["packaged_linear_weights_max_abs_difference"] == 0.0


def test_single_pair_and_ordering_of_distortions(reference):
    (originals, distorted), record = reference
    names = list(record["distances"])
    assert lpips(originals[0], distorted[0]) == 0.0
    jpeg = names.index("astronaut/jpeg10")
    assert lpips(originals[jpeg], distorted[jpeg]) == pytest.approx(record["distances"]["astronaut/jpeg10"], abs=1e-5)
