"""The aelib command line, end to end: in-process for the slow paths, through subprocess for error output."""

import subprocess
import sys

import pandas as pd
import pytest

from aelib.cli import main


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aelib.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"]])
def test_help_is_available(command):
    result = _run(*command, "--help")
    assert result.returncode == 0
    assert "usage: aelib" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--data", "/no/such/folder"], "image folder not found: /no/such/folder"),
        (["train", "--loss-weights", "0.5", "0.5", "0.5"], "loss weights must sum to 1"),
        (["evaluate", "--model", "/no/such/model.keras"], "model file not found"),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(args, message):
    result = _run(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("aelib: error:")]
    assert len(errors) == 1 and message in errors[0]


def test_train_then_evaluate_on_the_embedded_data(tmp_path, capsys):
    common = ["--size", "32", "--limit", "60", "--seed", "4"]
    assert main(["train", *common, "--epochs", "1", "--batch-size", "16", "--out", str(tmp_path), "--verbose", "0"]) == 0
    model = tmp_path / "autoencoder_3L.keras"
    assert model.exists() and (tmp_path / "autoencoder_3L_history.csv").exists()

    assert main(["train", *common, "--epochs", "1", "--out", str(tmp_path)]) == 2
    assert "already exist" in capsys.readouterr().err

    assert main(["evaluate", "--model", str(model), *common, "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "3-layer" in printed and "JPEG q95" in printed and "SSIM-matched" in printed
    table = pd.read_csv(tmp_path / "autoencoder_3L_table1.csv")
    assert list(table["method"][:2]) == ["3-layer", table["method"][1]]
    assert {"JPEG q95", "JPEG q75", "JPEG q20", "JPEG q13"} <= set(table["method"])
    assert {"psnr", "ssim", "compression_ratio", "bits_per_pixel", "time_per_image_s", "total_time_s"} <= set(table.columns)
    per_image = pd.read_csv(tmp_path / "autoencoder_3L_per_image.csv")
    ours = per_image[per_image.method == "3-layer"]
    # The paper's storage: a float32 latent of 4x4x32 values in an .npy file (128-byte header).
    assert (ours["bytes"] == 4 * 4 * 32 * 4 + 128).all()
    assert "Data: embedded default" in (tmp_path / "autoencoder_3L_table1.md").read_text()
