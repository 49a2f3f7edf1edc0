"""The compress-and-compare panel, driven through its callbacks on temporary folders (no browser)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aelib.apps.panel import COMPLETE_MESSAGE, CompressPanel, check_output_folder, compress_folder, find_models
from aelib.codec.codec import decode, load_codec_model
from aelib.errors import AelibError
from aelib.measure.metrics import psnr


@pytest.fixture
def folders(tmp_path, photos):
    """An input folder with three photos (one in a sub-folder) and a path for the output."""
    source = tmp_path / "photos"
    (source / "holiday").mkdir(parents=True)
    Image.fromarray(photos[0]).save(source / "a.png")
    Image.fromarray(photos[1]).save(source / "b.jpg", quality=95)
    Image.fromarray(photos[2][:40, :56]).save(source / "holiday" / "c.png")
    return source, tmp_path / "out"


def _snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_picker_lists_models_with_their_tables(saved, tmp_path):
    (tmp_path / "orphan.keras").write_bytes(b"no tables beside me")
    assert find_models(saved.parent) == [saved]
    assert find_models(tmp_path) == []
    panel = CompressPanel(models_dir=saved.parent)
    kind = "the paper's 3-layer autoencoder (hybrid loss, no rate term)"
    assert panel.model_picker.options == ((f"{saved.name} ({kind})", str(saved)),)


def test_fields_validate_as_you_type(saved, folders, tmp_path):
    source, out = folders
    panel = CompressPanel(models_dir=saved.parent)
    panel.input_dir.value = str(source)
    assert panel.input_note.value == "3 images found"
    panel.input_dir.value = str(tmp_path / "nowhere")
    assert "image folder not found" in panel.input_note.value
    panel.input_dir.value = str(source)
    panel.output_dir.value = str(source / "inside")
    assert "outside the input folder" in panel.output_note.value
    panel.output_dir.value = str(out)
    assert "does not exist; tick 'create the folder'" in panel.output_note.value.replace("&#x27;", "'")
    panel.create.value = True
    assert panel.output_note.value == "ok"
    panel.output_dir.value = str(out) + "2"  # another path: the tick was for the last one
    assert not panel.create.value and "does not exist" in panel.output_note.value


def test_compress_writes_files_shows_the_gallery_and_leaves_the_input_alone(saved, folders):
    source, out = folders
    before = _snapshot(source)
    panel = CompressPanel(models_dir=saved.parent, input_dir=str(source), output_dir=str(out))
    panel.create.value = True
    panel.compress_button.click()

    assert COMPLETE_MESSAGE in panel.status.value
    assert "3 images" in panel.status.value
    assert panel.gallery.value.count("<img") == 6  # original and reconstruction per image
    assert panel.progress.value == panel.progress.max == 3
    assert not panel.compare_button.disabled
    assert _snapshot(source) == before
    codec = load_codec_model(saved)
    for name in ("a", "b", "holiday/c"):
        data = (out / "aec" / f"{name}.aec").read_bytes()
        with Image.open(out / "decoded" / f"{name}.png") as png:
            assert np.array_equal(np.asarray(png), decode(data, codec))
    shown = panel.run.results[0]
    assert f"PSNR {psnr(shown.original, shown.decoded):.2f} dB" in panel.gallery.value

    panel.compare_button.click()
    assert f"JPEG q{panel.run.jpeg_quality}" in panel.status.value
    assert panel.gallery.value.count("<img") == 9
    assert len(panel.run.jpeg_results) == 3


def test_existing_results_are_kept_unless_replace_is_ticked(saved, folders):
    source, out = folders
    compress_folder(saved, source, out)
    stamp = (out / "aec" / "a.aec").stat().st_mtime_ns
    panel = CompressPanel(models_dir=saved.parent, input_dir=str(source), output_dir=str(out))
    panel.compress_button.click()
    assert "already exist" in panel.status.value and "aelib-status" in panel.status.value
    assert "tick &#x27;replace existing results&#x27;" in panel.status.value  # the panel's words, not the CLI's
    assert (out / "aec" / "a.aec").stat().st_mtime_ns == stamp
    panel.overwrite.value = True
    panel.compress_button.click()
    assert COMPLETE_MESSAGE in panel.status.value


@pytest.mark.parametrize("problem", ["no folder", "no images", "foreign model", "output is a file", "no model"])
def test_problems_are_status_messages_not_tracebacks(saved, folders, tmp_path, problem):
    source, out = folders
    model = str(saved)
    if problem == "no folder":
        source = tmp_path / "missing"
    elif problem == "no images":
        source = tmp_path / "empty"
        source.mkdir()
        (source / "notes.txt").write_text("hello")
    elif problem == "foreign model":
        model = str(tmp_path / "foreign.keras")
        (tmp_path / "foreign.keras").write_bytes(b"PK\x03\x04 not a model")
    elif problem == "output is a file":
        out.write_text("a file")
    panel = CompressPanel(models_dir=tmp_path / "none", input_dir=str(source), output_dir=str(out))
    panel.model_path.value = "" if problem == "no model" else model
    panel.compress_button.click()
    assert "#b00020" in panel.status.value  # shown as an error
    assert COMPLETE_MESSAGE not in panel.status.value
    assert panel.gallery.value == ""


def test_an_unwritable_output_folder_is_a_status_message(saved, folders, monkeypatch):
    source, out = folders
    monkeypatch.setattr("aelib.apps.panel.os.access", lambda path, mode: False)  # as for a user without rights
    with pytest.raises(AelibError, match="cannot write to"):
        check_output_folder(str(out), str(source), create=True)
    panel = CompressPanel(models_dir=saved.parent, input_dir=str(source), output_dir=str(out))
    panel.create.value = True
    assert "cannot write to" in panel.output_note.value
    panel.model_path.value = str(saved)
    panel.compress_button.click()
    assert "cannot write to" in panel.status.value
    assert not out.exists()


def test_the_picker_says_what_each_model_is_and_opens_on_the_best(saved, tmp_path):
    import shutil

    import pandas as pd

    from aelib.apps.panel import best_model, describe_models
    from aelib.config import ENTROPY_SUFFIX

    models, tables = tmp_path / "models", tmp_path / "tables"
    models.mkdir()
    tables.mkdir()
    for name in ("autoencoder_3L", "autoencoder_5L", "rd_mse_0.018", "rd_base"):
        shutil.copy(saved, models / f"{name}.keras")
        shutil.copy(saved.with_name(saved.stem + ENTROPY_SUFFIX), models / f"{name}{ENTROPY_SUFFIX}")

    def table(name: str, **columns) -> None:
        pd.DataFrame(columns | {"images": 600}).to_csv(tables / name, index=False)

    table(
        "table1_3L_test.csv",
        method=["3-layer", "JPEG q95"],
        psnr=[29.0, 44.0],
        ssim=[0.91, 0.99],
        bits_per_pixel=[0.8, 3.0],
    )
    table("table1_5L_test.csv", method=["5-layer"], psnr=[30.0], ssim=[0.95], bits_per_pixel=[0.5])
    table("rd_points_test.csv", method=["ours (mse)"], setting=["0.018"], psnr=[31.5], bpp=[0.47], ssim=[0.97])
    choices = describe_models(find_models(models))
    labels = {c.path.stem: c.label for c in choices}
    kind = "the paper's 3-layer autoencoder (hybrid loss, no rate term)"
    assert (
        labels["autoencoder_3L"]
        == f"autoencoder_3L.keras ({kind}; 0.800 bpp, PSNR 29.00 dB, SSIM 0.9100 on 600 test images)"
    )
    assert labels["rd_mse_0.018"] == (
        "rd_mse_0.018.keras (GDN transform, factorized prior, R + λ·D (mse, λ = 0.018), recommended for photos, "
        "faces; 0.470 bpp, PSNR 31.50 dB, SSIM 0.9700 on 600 test images)"
    )
    assert labels["rd_base"] == "rd_base.keras (GDN factorized base model (MSE, middle λ))"
    # The same order and words as `aelib models`: the recommended model first, and the panel opens on it.
    from aelib.codec.zoo import zoo

    assert [c.path for c in choices] == [entry.path for entry in zoo(tmp_path)]
    assert best_model(choices).path.stem == "rd_mse_0.018"
    panel = CompressPanel(models_dir=models)
    assert panel.model_picker.value == str(models / "rd_mse_0.018.keras")


def test_the_panel_lists_and_codes_with_an_exported_hyperprior_model(tmp_path):
    import shutil

    from PIL import Image

    from aelib.apps.panel import compress_folder, describe_models, find_models

    expected = Path(__file__).resolve().parent / "expected"
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(expected / "hyper_tiny.keras", models / "hyper_tiny.keras")
    (models / "not_a_codec.keras").write_bytes(b"nothing")
    assert find_models(models) == [models / "hyper_tiny.keras"]
    assert describe_models(find_models(models))[0].kind.startswith("mean–scale hyperprior")
    source = tmp_path / "in"
    source.mkdir()
    Image.open(expected / "hyper_face.png").save(source / "face.png")
    run = compress_folder(models / "hyper_tiny.keras", source, tmp_path / "out")
    assert run.method == "hyper_tiny (hyperprior)"
    assert run.results[0].decoded.shape == run.results[0].original.shape
    assert (tmp_path / "out" / "aec" / "face.aec").read_bytes()[4] == 3


def test_the_output_folder_is_never_the_root_the_home_folder_a_folder_of_other_files_or_one_holding_the_input(
    folders, tmp_path, monkeypatch
):
    source, out = folders
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    refusals = {
        "/": "filesystem root",
        str(home): "home folder",
        "~": "home folder",
        str(tmp_path): "holds the input folder",  # also holds other files
        str(source.parent.parent): "holds the input folder",
        str(source / "holiday"): "outside the input folder",
    }
    for folder, reason in refusals.items():
        with pytest.raises(AelibError, match=reason):
            check_output_folder(folder, str(source), create=True)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "notes").mkdir(parents=True)
    with pytest.raises(AelibError, match=r"holds other files \(notes\)"):
        check_output_folder(str(elsewhere), str(source), create=True)
    with pytest.raises(AelibError, match="does not exist"):
        check_output_folder(str(out), str(source))
    assert check_output_folder(str(out), str(source), create=True) == out.resolve()
    (out / "aec").mkdir(parents=True)  # an earlier run's folder is fine
    assert check_output_folder(str(out), str(source)) == out.resolve()


def test_every_prefix_of_a_path_typed_character_by_character_is_refused(folders, saved):
    """A click at any moment of typing the output path writes nothing: only the whole path is accepted."""
    source, out = folders
    out.mkdir()
    panel = CompressPanel(models_dir=saved.parent, input_dir=str(source))
    typed = str(out)
    for end in range(1, len(typed)):
        panel.output_dir.value = typed[:end]
        panel.compress_button.click()
        assert "#b00020" in panel.status.value, typed[:end]
    panel.output_dir.value = typed
    panel.compress_button.click()
    assert COMPLETE_MESSAGE in panel.status.value
    assert sorted(p.name for p in out.iterdir()) == ["aec", "decoded"]
    assert not panel.compress_button.disabled  # enabled again once the work is done


def test_a_folder_scan_stops_early_and_a_huge_input_folder_is_refused(tmp_path, monkeypatch):
    from aelib.apps import panel as panel_module

    folder = tmp_path / "many"
    (folder / "a" / "b" / "c" / "d" / "e").mkdir(parents=True)
    for index in range(12):
        (folder / f"{index:02d}.png").write_bytes(b"")
    (folder / "a" / "b" / "c" / "d" / "deep.png").write_bytes(b"")  # 4 levels down: seen
    (folder / "a" / "b" / "c" / "d" / "e" / "deeper.png").write_bytes(b"")  # 5 levels down: not looked at
    found = panel_module.scan_images(folder, limit=100)
    assert len(found) == 13 and folder / "a" / "b" / "c" / "d" / "deep.png" in found
    assert len(panel_module.scan_images(folder, limit=5)) == 6  # stops once it has more than the limit
    monkeypatch.setattr(panel_module, "SCAN_LIMIT", 5)
    with pytest.raises(AelibError, match="more than 5 images"):
        panel_module.check_input_folder(str(folder))


def test_an_uploaded_image_is_coded_in_memory_and_compared_with_jpeg(saved, photos, tmp_path, monkeypatch):
    import datetime
    import io

    monkeypatch.chdir(tmp_path)
    buffer = io.BytesIO()
    Image.fromarray(photos[0]).save(buffer, format="PNG")
    panel = CompressPanel(models_dir=saved.parent)
    upload = {
        "name": "mine.png",
        "type": "image/png",
        "size": buffer.tell(),
        "content": memoryview(buffer.getvalue()),
        "last_modified": datetime.datetime(2026, 12, 5, tzinfo=datetime.timezone.utc),
    }
    panel.upload.value = (upload,)
    assert COMPLETE_MESSAGE in panel.status.value and "mine.png" in panel.status.value
    assert panel.upload_result.value.count("<img") == 3  # the upload, its reconstruction and JPEG
    assert list(tmp_path.iterdir()) == []  # nothing written
    panel.upload.value = ({**upload, "name": "notes.png", "content": memoryview(b"not an image")},)
    assert "#b00020" in panel.status.value and "notes.png" in panel.status.value


def test_voila_started_from_the_repository_culls_idle_kernels(monkeypatch):
    from voila.app import Voila

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    app = Voila()
    app.load_config_file("voila", path=app.config_file_paths)
    culling = app.config.MappingKernelManager
    assert culling.cull_idle_timeout == 600 and culling.cull_interval == 60 and not culling.cull_connected


def test_a_gdn_factorized_model_is_named_for_what_it_is(images):
    import keras

    from aelib.codec.codec import make_codec_model
    from aelib.experiments.table1 import model_method
    from aelib.nn.models import build_gdn_autoencoder

    keras.utils.set_random_seed(3)
    codec = make_codec_model(build_gdn_autoencoder(4, 4, name="rd_mse_0.018"), images[:4])
    assert model_method(codec) == "rd_mse_0.018 (GDN, factorized)"  # not the paper's "4-layer"
