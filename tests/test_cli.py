"""The aelib command line, end to end: in this process where a test is about what a command does (main() returns
the exit status and prints what the console script prints), in a new one where it is about the process itself (help,
start-up lines, a missing extra, another working folder)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from aelib.apps.cli import main
from aelib.codec.format import HEADER


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aelib.apps.cli", *args], capture_output=True, text=True, timeout=120)


def _in_process(capsys, *args: str) -> subprocess.CompletedProcess:
    """The command through main() here: its exit status and output as :func:`_run` gives them, without a new
    process's start-up (importing TensorFlow costs seconds a command)."""
    capsys.readouterr()
    status = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["aelib", *args], status, out, err)


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["reproduce"]])
def test_help_is_available(command):
    result = _run(*command, "--help")
    assert result.returncode == 0
    assert "usage: aelib" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--data", "/no/such/folder", "--out", "/no/such/out"], "image folder not found: /no/such/folder"),
        (["train", "--loss-weights", "0.5", "0.5", "0.5"], "loss weights must sum to 1"),
        (["evaluate", "--model", "/no/such/model.keras"], "model file not found"),
        (["reproduce", "--data", "/no/such/folder"], "not a folder: /no/such/folder"),
        (["reproduce", "--depths", "0"], "depths must be positive integers"),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(args, message):
    result = _run(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("aelib: error:")]
    assert len(errors) == 1 and message in errors[0]


def test_reproduce_records_its_command_without_force(monkeypatch):
    import aelib.apps.reproduce

    recorded = {}
    monkeypatch.setattr(
        aelib.apps.reproduce, "run_reproduce", lambda settings, out, force, command: recorded.update(locals())
    )
    monkeypatch.setattr(sys, "argv", ["aelib", "reproduce", "--depths", "3", "--force", "--out", "x"])
    main(sys.argv[1:])
    assert recorded["force"] is True
    assert recorded["command"] == "aelib reproduce --depths 3 --out x"


@pytest.mark.slow
def test_train_then_evaluate_on_the_embedded_data(tmp_path, capsys):
    common = ["--size", "32", "--limit", "60", "--seed", "4"]
    assert (
        main(["train", *common, "--epochs", "1", "--batch-size", "16", "--out", str(tmp_path), "--verbose", "0"]) == 0
    )
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
    assert {"psnr", "ssim", "compression_ratio", "bits_per_pixel", "time_per_image_s", "total_time_s"} <= set(
        table.columns
    )
    per_image = pd.read_csv(tmp_path / "autoencoder_3L_per_image.csv")
    ours = per_image[per_image.method == "3-layer"]
    assert (ours["bytes"] > HEADER.size).all()
    assert (ours["compression_ratio"] == 32 * 32 * 3 / ours["bytes"]).all()
    assert "Data: embedded default" in (tmp_path / "autoencoder_3L_table1.md").read_text()


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    assert main(["train", "--size", "32", "--limit", "40", "--epochs", "1", "--out", str(out), "--verbose", "0"]) == 0
    return out / "autoencoder_3L.keras"


@pytest.fixture
def photo_folder(tmp_path, photos):
    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    Image.fromarray(photos[0]).save(folder / "a.png")
    Image.fromarray(photos[1][:50, :37]).save(folder / "nested" / "b.jpg")
    return folder


def test_compress_info_decompress_end_to_end(trained_model, photo_folder, tmp_path, capsys):
    before = {p: p.read_bytes() for p in photo_folder.rglob("*") if p.is_file()}
    packed, unpacked = tmp_path / "aec", tmp_path / "png"

    result = _in_process(capsys, "compress", str(photo_folder), "--model", str(trained_model), "--out", str(packed))
    assert result.returncode == 0, result.stderr
    files = sorted(packed.rglob("*.aec"))
    assert [f.relative_to(packed).as_posix() for f in files] == ["a.aec", "nested/b.aec"]
    total = sum(f.stat().st_size for f in files)
    assert f"2 file(s), {total:,} bytes compressed" in result.stdout

    info = _in_process(capsys, "info", str(packed / "nested" / "b.aec"))
    assert info.returncode == 0 and "image 37x50 (width x height)" in info.stdout and "latent 7x5x32" in info.stdout

    result = _in_process(
        capsys, "decompress", str(packed), "--out", str(unpacked), "--models-dir", str(trained_model.parent)
    )
    assert result.returncode == 0, result.stderr
    assert Image.open(unpacked / "nested" / "b.png").size == (37, 50)
    assert {p: p.read_bytes() for p in photo_folder.rglob("*") if p.is_file()} == before  # inputs untouched

    stamps = {f: f.stat().st_mtime_ns for f in files}
    again = _in_process(capsys, "compress", str(photo_folder), "--model", str(trained_model), "--out", str(packed))
    assert again.returncode == 0 and "2 file(s) (2 already there, kept)" in again.stdout
    assert {f: f.stat().st_mtime_ns for f in files} == stamps
    forced = _in_process(
        capsys, "compress", str(photo_folder), "--model", str(trained_model), "--out", str(packed), "--force"
    )
    assert forced.returncode == 0 and "already there" not in forced.stdout
    assert all(f.stat().st_mtime_ns != stamps[f] for f in files)

    (packed / "a.aec").write_bytes(b"not an aec file")
    clash = _in_process(capsys, "compress", str(photo_folder), "--model", str(trained_model), "--out", str(packed))
    assert clash.returncode == 2 and "a.aec exists and is not a valid .aec file" in clash.stderr
    assert "--force" in clash.stderr and (packed / "a.aec").read_bytes() == b"not an aec file"


@pytest.mark.slow
@pytest.mark.parametrize(
    "make_input, message",
    [
        (lambda d: d.write_bytes(b""), "empty file"),
        (lambda d: d.write_bytes(b"\x89AEC" + b"\0" * 40), "unknown .aec format version 0"),
        (lambda d: d.write_text("hello"), "truncated"),
    ],
)
def test_decompress_and_info_refuse_bad_files_in_one_line(trained_model, tmp_path, make_input, message):
    """info and --stop-on-error stop with one line (status 2); a batch names the file and exits 1."""
    bad = tmp_path / "bad.aec"
    make_input(bad)
    decompress = ["decompress", str(bad), "--out", str(tmp_path / "o"), "--model", str(trained_model)]
    for args, status in ((["info", str(bad)], 2), (decompress + ["--stop-on-error"], 2), (decompress, 1)):
        result = _run(*args)
        assert result.returncode == status and "Traceback" not in result.stderr
        assert message in result.stderr.strip().splitlines()[-1] and str(bad) in result.stderr
    assert not (tmp_path / "o").exists()


def test_compress_refuses_a_non_image(trained_model, tmp_path):
    (tmp_path / "fake.png").write_text("not an image")
    command = ["compress", str(tmp_path / "fake.png"), "--model", str(trained_model), "--out", str(tmp_path / "o")]
    for extra, status in (([], 1), (["--stop-on-error"], 2)):
        result = _run(*command, *extra)
        assert result.returncode == status and "cannot read" in result.stderr and "Traceback" not in result.stderr


def test_one_corrupt_image_does_not_stop_a_batch_and_a_rerun_retries_only_it(trained_model, tmp_path, capsys):
    """20 faces, one of them a truncated PNG: 19 files written, the corrupt one named, exit 1; again: 19 kept."""
    from aelib.data import embedded_crops

    folder = tmp_path / "faces"
    folder.mkdir()
    crops, _ = embedded_crops(size=32, crops_per_photo=4, seed=6)
    for i, crop in enumerate(crops[:20]):
        Image.fromarray(crop).save(folder / f"{i:02d}.png")
    corrupt = folder / "07.png"
    corrupt.write_bytes(corrupt.read_bytes()[:60])
    command = ["compress", str(folder), "--model", str(trained_model), "--out", str(tmp_path / "out")]
    first = _in_process(capsys, *command)
    assert first.returncode == 1 and "Traceback" not in first.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{i:02d}.aec" for i in range(20) if i != 7]
    assert [line for line in first.stderr.splitlines() if line.startswith("failed:")] == [
        line for line in first.stderr.splitlines() if "07.png" in line
    ]
    assert "19 file(s)" in first.stdout and "1 failed" in first.stdout
    again = _in_process(capsys, *command)
    assert again.returncode == 1 and "19 already there, kept" in again.stdout and "07.png" in again.stderr


def test_decompress_without_a_matching_model_says_which_it_wants(trained_model, photo_folder, tmp_path, capsys):
    assert main(["compress", str(photo_folder / "a.png"), "--model", str(trained_model), "--out", str(tmp_path)]) == 0
    result = _in_process(
        capsys,
        "decompress",
        str(tmp_path / "a.aec"),
        "--out",
        str(tmp_path / "o"),
        "--models-dir",
        str(tmp_path / "none"),
    )
    assert result.returncode == 1 and "no model with fingerprint" in result.stderr


def test_compress_test_split_takes_the_held_out_images_only(trained_model, tmp_path):
    from aelib.data import embedded_crops, load_dataset

    folder = tmp_path / "faces"
    folder.mkdir()
    for index, crop in enumerate(embedded_crops(size=32, crops_per_photo=2, seed=2)[0]):
        Image.fromarray(crop).save(folder / f"{index:02d}.png")
    expected = load_dataset(folder, seed=4).test_names
    assert (
        main(
            [
                "compress",
                str(folder),
                "--test-split",
                "--seed",
                "4",
                "--model",
                str(trained_model),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "o").glob("*.aec")) == sorted(n.replace(".png", ".aec") for n in expected)
    assert len(expected) == 2


@pytest.mark.slow
def test_calibrate_writes_a_new_model_whose_colours_match_the_training_images(saved, tmp_path, capsys):
    from aelib.codec.codec import load_codec_model
    from aelib.data import load_dataset

    common = ["--size", "32", "--limit", "40", "--seed", "4"]
    out = tmp_path / "calibrated.keras"
    assert main(["calibrate", "--model", str(saved), *common, "--out", str(out)]) == 0
    assert "output calibration: R ×" in capsys.readouterr().out
    train = load_dataset(None, size=32, limit=40, seed=4).train

    def worst_shift(path):
        decoded = load_codec_model(path).autoencoder(train.astype("float32") / 255.0).numpy() * 255.0
        return abs(decoded.reshape(-1, 3).mean(axis=0) - train.reshape(-1, 3).mean(axis=0)).max()

    assert worst_shift(out) < 1.0 < worst_shift(saved)
    assert main(["calibrate", "--model", str(saved), *common, "--out", str(out)]) == 2
    assert "already exist" in capsys.readouterr().err


def _crafted_models(folder, saved):
    """Models an attacker could hand over, each with a fingerprint that matches its tables."""
    import keras

    from aelib.codec.codec import load_codec_model, model_fingerprint, save_codec_model
    from aelib.codec.entropy import fit_entropy_model, save_entropy_model

    image = keras.Input((None, None, 3))
    latent = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="encoder")(image)
    flat = keras.Model(image, keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same", name="decoder")(latent))
    tables = fit_entropy_model(np.random.default_rng(0).normal(0, 2, (100, 4)))
    flat.save(folder / "flat.keras")
    np.savez(folder / "flat.entropy.npz", **save_entropy_model(tables, model_fingerprint(flat, tables)))

    genuine = load_codec_model(saved)
    wrong = fit_entropy_model(np.random.default_rng(1).normal(0, 2, (100, 5)))
    save_codec_model(genuine, folder / "channels.keras")
    fingerprint = model_fingerprint(genuine.autoencoder, wrong)
    np.savez(folder / "channels.entropy.npz", **save_entropy_model(wrong, fingerprint))

    code = keras.layers.Lambda(lambda x: x * 2, name="payload")(image)
    hostile = keras.Model(image, code)
    hostile.save(folder / "hostile.keras")
    return {
        "flat": "its 'encoder' is a Conv2D, not a nested model",
        "channels": "codes 5 latent channels; the model's encoder gives 32",
        "hostile": "is not an aelib autoencoder model (",
    }


def test_crafted_and_malicious_models_are_refused_in_one_line(saved, photo_folder, tmp_path, capsys):
    for name, message in _crafted_models(tmp_path, saved).items():
        model = str(tmp_path / f"{name}.keras")
        result = _in_process(
            capsys, "compress", str(photo_folder / "a.png"), "--model", model, "--out", str(tmp_path / "out")
        )
        assert result.returncode == 2, (name, result.stderr)
        assert result.stderr.strip().splitlines() == [result.stderr.strip()], (name, result.stderr)
        assert message in result.stderr, (name, result.stderr)
    assert not (tmp_path / "out").exists()


def test_an_unwritable_output_is_one_line(trained_model, photo_folder, tmp_path, capsys):
    (tmp_path / "file").write_text("a file where the output folder should go")
    output = str(tmp_path / "file")
    result = _in_process(
        capsys, "compress", str(photo_folder / "a.png"), "--model", str(trained_model), "--out", output
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("aelib: error: cannot create the folder")


@pytest.mark.slow
def test_tensorflow_start_up_lines_are_silenced(trained_model, photo_folder, tmp_path):
    result = _run("compress", str(photo_folder), "--model", str(trained_model), "--out", str(tmp_path), "--force")
    assert result.returncode == 0
    assert "oneDNN" not in result.stderr and "absl" not in result.stderr


def test_version_and_the_citation_files():
    import yaml

    result = _run("--version")
    assert result.returncode == 0 and result.stdout.startswith("aelib ")
    root = Path(__file__).resolve().parents[1]
    citation = yaml.safe_load((root / "CITATION.cff").read_text())
    assert citation["preferred-citation"]["title"] == "Image Compression Research Based On Convolutional Autoencoder"
    assert "MIT License" in (root / "LICENSE").read_text() and citation["license"] == "MIT"


@pytest.mark.slow
def test_decompress_from_another_folder_finds_the_model_without_models_dir(trained_model, photo_folder, tmp_path):
    """The default search does not depend on the current folder: $AELIB_MODELS, the user cache, the checkout."""
    assert main(["compress", str(photo_folder / "a.png"), "--model", str(trained_model), "--out", str(tmp_path)]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = os.environ | {"AELIB_MODELS": str(trained_model.parent)}
    command = [sys.executable, "-m", "aelib.apps.cli", "decompress", str(tmp_path / "a.aec"), "--out", "d"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=elsewhere, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (elsewhere / "d" / "a.png").is_file()


@pytest.mark.slow
def test_train_codec_stops_checkpointed_and_says_how_to_go_on(tmp_path, capsys):
    """Two steps of the face codec's real settings on the embedded data, then the same command would resume."""
    command = ["train-codec", "--limit", "40", "--out", str(tmp_path), "--name", "hp", "--stop-after", "2"]
    assert main(command) == 0
    assert "stopped after step 2 of" in capsys.readouterr().out
    assert (tmp_path / "hp.resume.npz").is_file() and not (tmp_path / "hp.keras").exists()
    assert main(command[:-1] + ["3"]) == 0
    printed = capsys.readouterr().out
    assert "resuming after step 2" in printed and "stopped after step 3 of" in printed


@pytest.mark.slow
def test_train_codec_photos_preset_trains_on_crops_of_the_train_folder(tmp_path, capsys):
    """One step of the photo settings (256x256 crops) on a set split into train/ and val/."""
    from PIL import Image

    from aelib.config import CODEC_TRAINING

    rng = np.random.default_rng(0)
    for split, count in (("train", 2), ("val", 1)):
        (tmp_path / "photos" / split).mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 256, (270, 300, 3), np.uint8)
            Image.fromarray(pixels).save(tmp_path / "photos" / split / f"{i}.png")
    command = ["train-codec", "--preset", "photos", "--data", str(tmp_path / "photos"), "--out", str(tmp_path)]
    assert main([*command, "--name", "photo", "--stop-after", "1"]) == 0
    printed = capsys.readouterr().out
    steps = CODEC_TRAINING["photos"].steps
    assert "2 train / 1 validation images of 256x256" in printed and f"stopped after step 1 of {steps}" in printed
    assert main(["train-codec", "--preset", "photos", "--out", str(tmp_path)]) == 2
    assert "--preset photos needs --data" in capsys.readouterr().err


_WITHOUT = (
    "import sys\n"
    "for name in sys.argv[1].split(','):\n"
    "    sys.modules[name] = None  # import name now raises ModuleNotFoundError, as if not installed\n"
    "from aelib.apps.cli import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)
STUDY_AND_PANEL = "pandas,matplotlib,seaborn,sklearn,papermill,tabulate,IPython,ipywidgets,nbformat,voila"


@pytest.mark.slow
def test_the_codec_runs_without_the_study_and_panel_extras(photo_folder, tmp_path):
    """compress, info and decompress with a hyperprior model, every study and panel package unimportable."""
    model = Path(__file__).resolve().parent / "expected" / "hyper_tiny.keras"
    packed, unpacked = tmp_path / "aec", tmp_path / "png"

    def run(*args):
        return subprocess.run(
            [sys.executable, "-c", _WITHOUT, STUDY_AND_PANEL, *args], capture_output=True, text=True, timeout=300
        )

    assert run("compress", str(photo_folder), "--model", str(model), "--out", str(packed)).returncode == 0
    files = sorted(packed.rglob("*.aec"))
    assert len(files) == 2 and run("info", *map(str, files)).returncode == 0
    result = run("decompress", *map(str, files), "--out", str(unpacked), "--models-dir", str(model.parent))
    assert result.returncode == 0, result.stderr
    assert len(list(unpacked.rglob("*.png"))) == 2


@pytest.mark.slow
def test_a_command_whose_extra_is_missing_says_which_to_install(photo_folder, tmp_path):
    model = Path(__file__).resolve().parent / "expected" / "hyper_tiny.keras"
    args = ["compress", str(photo_folder), "--model", str(model), "--out", str(tmp_path / "aec")]
    result = subprocess.run([sys.executable, "-c", _WITHOUT, "tensorflow", *args], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "aelib: error: TensorFlow is not installed: pip install 'aelib[cpu]' (or 'aelib[gpu]' with an NVIDIA GPU)"
    )
    evaluate = ["evaluate", "--model", str(model)]
    result = subprocess.run([sys.executable, "-c", _WITHOUT, "pandas", *evaluate], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "needs pandas, which the study extra installs: pip install 'aelib[study]'" in result.stderr


def test_a_transparent_png_is_named_and_skipped_the_rest_of_the_batch_is_written(photo_folder, tmp_path, capsys):
    model = Path(__file__).resolve().parent / "expected" / "hyper_tiny.keras"
    rgba = np.dstack([np.asarray(Image.open(photo_folder / "a.png")), np.full((64, 64), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(photo_folder / "logo.png")
    result = _in_process(capsys, "compress", str(photo_folder), "--model", str(model), "--out", str(tmp_path / "aec"))
    assert result.returncode == 1
    assert "logo.png has transparent pixels" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in (tmp_path / "aec").rglob("*.aec")) == ["a.aec", "b.aec"]


def test_a_grey_png_comes_back_a_grey_png_and_its_ratio_is_against_8_bits(tmp_path, photos, capsys):
    model = Path(__file__).resolve().parent / "expected" / "hyper_tiny.keras"
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(photos[2].mean(axis=-1).astype(np.uint8), "L").save(folder / "grey.png")
    result = _in_process(capsys, "compress", str(folder), "--model", str(model), "--out", str(tmp_path / "aec"))
    assert result.returncode == 0, result.stderr
    size = (tmp_path / "aec" / "grey.aec").stat().st_size
    assert f"ratio {64 * 64 / size:.2f}" in result.stdout  # 8-bit grey, not 24-bit RGB
    info = _in_process(capsys, "info", str(tmp_path / "aec" / "grey.aec"))
    assert "grey image 64x64" in info.stdout
    result = _in_process(
        capsys, "decompress", str(tmp_path / "aec"), "--out", str(tmp_path / "png"), "--models-dir", str(model.parent)
    )
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "png" / "grey.png") as decoded:
        assert decoded.mode == "L" and decoded.size == (64, 64)


def test_models_lists_the_committed_zoo_with_the_numbers_of_its_tables():
    from aelib.config import project_root

    results = project_root() / "results"
    listed = _run("models")
    assert listed.returncode == 0, listed.stderr
    committed = sorted(p.name for p in (results / "models").glob("*.keras"))
    blocks = [line for line in listed.stdout.splitlines() if not line.startswith(" ")]
    assert sorted(line.split()[0] for line in blocks) == committed
    # The recommended models first, the photo model (compress's default) before the face model.
    from aelib.config import RECOMMENDED_MODELS

    def recommended(use: str) -> str:
        return next(name for name in RECOMMENDED_MODELS[use] if f"{name}.keras" in committed)

    assert blocks[0].startswith(f"{recommended('photos')}.keras  [recommended for photos")
    if recommended("faces") != recommended("photos"):
        assert blocks[1].startswith(f"{recommended('faces')}.keras  [recommended for faces]")
    points = pd.read_csv(results / "tables" / "rd_points_test.csv", comment="#")
    row = points[
        (points["method"] == "ours (mse)") & (pd.to_numeric(points["setting"], errors="coerce") == 0.018)
    ].iloc[0]
    assert f"{row['bpp']:.3f} bpp, PSNR {row['psnr']:.2f} dB, SSIM {row['ssim']:.4f}" in listed.stdout
    table1 = pd.read_csv(results / "tables" / "table1_3L_test.csv", comment="#").iloc[0]
    assert f"{table1['bits_per_pixel']:.3f} bpp, PSNR {table1['psnr']:.2f} dB" in listed.stdout
    assert "reproducing the paper (no rate control); not for use" in listed.stdout


@pytest.mark.slow
def test_compress_without_a_model_uses_the_one_for_photos_and_a_face_model_says_what_it_is_for(photo_folder, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "aelib.apps.cli", "compress", str(photo_folder), "--out", "aec"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "no --model given: rd_mse_0.018.keras, the committed model recommended for photos" in result.stderr
    assert result.stderr.count("was trained on 128x128 faces") == 1  # said once, not per image
    assert sorted(p.name for p in (tmp_path / "aec").rglob("*.aec")) == ["a.aec", "b.aec"]
