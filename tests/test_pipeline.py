"""The reproduction pipeline: the notebooks as committed, resuming, failures, and a smoke run of every notebook."""

import json
import shutil

import nbformat
import numpy as np
import pandas as pd
import papermill
import pytest
from PIL import Image

from aelib.apps.reproduce import (
    DATA_NOTEBOOK,
    DEPTH_NOTEBOOKS,
    FINAL_NOTEBOOKS,
    NOTEBOOKS_DIR,
    ReproduceSettings,
    execute_notebook,
    plan_steps,
    run_reproduce,
)
from aelib.config import PROFILES
from aelib.errors import AelibError
from aelib.measure.curves import CLASSICAL_SWEEPS

pytestmark = pytest.mark.slow  # the notebooks through papermill

NOTEBOOKS = [DATA_NOTEBOOK, *DEPTH_NOTEBOOKS, *FINAL_NOTEBOOKS, "05_compress_panel.ipynb"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_are_committed_clean_with_one_parameters_cell(name):
    notebook = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")


def test_every_parameter_the_pipeline_passes_is_declared_by_a_notebook(tmp_path):
    settings = ReproduceSettings()
    declared = {name: set(papermill.inspect_notebook(str(NOTEBOOKS_DIR / name))) for name in NOTEBOOKS}
    assert set(settings.notebook_parameters(DATA_NOTEBOOK, None, tmp_path, "cmd")) == declared[DATA_NOTEBOOK]
    passed = set().union(*(settings.notebook_parameters(name, 3, tmp_path, "cmd") for name in DEPTH_NOTEBOOKS))
    assert set().union(*(declared[name] for name in DEPTH_NOTEBOOKS)) == passed
    final = ReproduceSettings(test_images=5).notebook_parameters(FINAL_NOTEBOOKS[0], None, tmp_path, "cmd")
    assert set(final) <= declared[FINAL_NOTEBOOKS[0]]
    assert (final["rd_base_steps"], final["rd_finetune_steps"]) == PROFILES["study"].embedded_rd_steps
    assert final["rd_test_images"] == final["rd_lpips_images"] == 5


def test_steps_are_data_once_then_each_depth():
    keys = [step.key for step in plan_steps((5, 3))]
    assert keys == [
        "01_data_prep",
        "depth-5/02_model_building",
        "depth-5/03_training",
        "depth-5/04_evaluation",
        "depth-3/02_model_building",
        "depth-3/03_training",
        "depth-3/04_evaluation",
        "06_rate_distortion",
    ]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"profile": "fast"}, "unknown profile 'fast'"),
        ({"data_dir": "/no/such/folder"}, "not a folder: /no/such/folder"),
        ({"depths": ()}, "depths must be positive"),
    ],
)
def test_bad_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(AelibError, match=message):
        ReproduceSettings(**kwargs)


def test_profiles_choose_epochs_by_data(tmp_path):
    assert (ReproduceSettings().training_epochs, ReproduceSettings().training_batch_size) == (6, 16)
    folder = ReproduceSettings(data_dir=str(tmp_path))
    assert (folder.training_epochs, folder.training_batch_size) == (3, 64)
    paper = ReproduceSettings(profile="paper")
    assert (paper.training_epochs, paper.training_batch_size) == (40, 64)
    assert ReproduceSettings(epochs=2, batch_size=8).training_epochs == 2
    assert ReproduceSettings(epochs=2, batch_size=8).training_batch_size == 8


def test_a_failing_notebook_is_named_with_its_error(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("raise ValueError('no data here')")]
    path = tmp_path / "broken.ipynb"
    nbformat.write(notebook, path)
    with pytest.raises(AelibError, match=r"broken.ipynb failed in cell 2: ValueError: no data here") as error:
        execute_notebook(path, tmp_path / "out" / "broken.ipynb", {})
    assert "\n" not in str(error.value)


@pytest.mark.longest
def test_smoke_run_of_every_notebook_then_resume(tmp_path, photos, capfd):
    second = tmp_path / "second"
    second.mkdir()
    for index, photo in enumerate(photos[:2]):
        Image.fromarray(np.tile(photo, (1, 2, 1))).save(second / f"photo{index}.png")
    settings = ReproduceSettings(
        depths=(3,), epochs=1, limit=40, test_images=3, second_test_set=str(second), rd_steps=1
    )
    out = tmp_path / "results"

    readme = run_reproduce(settings, out, command="smoke test")
    shown = capfd.readouterr()
    # One status line per step on the terminal; papermill's cell log and TensorFlow's start-up lines go to the log.
    assert "Executing Cell" not in shown.out + shown.err and "oneDNN" not in shown.out + shown.err
    assert "[3/5] depth-3/03_training · finished in" in shown.out
    log = (out / "runs" / "reproduce.log").read_text()
    assert "Executing Cell" in log and "autoencoder_3L epoch 1/1" in log

    expected = [
        "runs/01_data_prep.ipynb",
        "runs/depth-3/02_model_building.ipynb",
        "runs/depth-3/03_training.ipynb",
        "runs/depth-3/04_evaluation.ipynb",
        "models/autoencoder_3L.keras",
        "models/autoencoder_3L.entropy.npz",
        "tables/data.csv",
        "tables/architecture_3L.csv",
        "tables/table1_test.csv",
        "tables/table1_test.md",
        "tables/table1_second.csv",
        "tables/per_image_3L_test.csv",
        "tables/depths_test.csv",
        "figures/data_samples.png",
        "figures/training_3L.png",
        "figures/bars_3L_test.png",
        "figures/distributions_3L_test.png",
        "figures/examples_3L_test.png",
        "figures/examples_3L_second.png",
        "figures/depths_test.png",
        "runs/06_rate_distortion.ipynb",
        "models/rd_base.keras",
        "models/rd_mse_0.2.entropy.npz",
        "models/rd_hybrid_0.3.keras",
        "tables/rd_points_test.csv",
        "tables/rd_points_second.csv",
        "tables/rd_bd_rate.md",
        "tables/rd_codecs.md",
        "tables/rd_bd_rate_ours.csv",
        "tables/rd_equal_quality.csv",
        "figures/rd_curves_test.png",
        "figures/rd_curves_second.png",
        "tables/rd_ladder.csv",
        "figures/rd_ladder_test.png",
        "figures/rd_ladder_second.png",
    ]
    assert [name for name in expected if not (out / name).is_file()] == []
    table = pd.read_csv(out / "tables" / "table1_test.csv")
    assert table["method"][0] == "3-layer"
    assert table["method"][1].startswith("JPEG q") and table["method"][1].endswith("(SSIM-matched to 3-layer)")
    assert list(table["method"][2:]) == ["JPEG q95", "JPEG q75", "JPEG q20", "JPEG q13"]
    assert {"psnr", "ssim", "compression_ratio", "bits_per_pixel", "time_per_image_s", "total_time_s"} <= set(table)
    assert {"paper_psnr", "paper_ssim", "paper_compression_ratio", "matched_jpeg_quality"} <= set(table)
    assert list(table["images"]) == [3] * 6
    assert list(pd.read_csv(out / "tables" / "table1_second.csv")["images"]) == [2] * 6
    text = readme.read_text()
    assert "smoke test" in text and "embedded default" in text and "![" in text
    assert "## Rate–distortion (notebook 06)" in text and "rd_curves_second.png" in text
    points = pd.read_csv(out / "tables" / "rd_points_test.csv")
    assert {*CLASSICAL_SWEEPS, "ours (hybrid)", "ours (mse)", "3-layer", "3-layer, Δ sweep"} == set(points["method"])
    ladder = pd.read_csv(out / "tables" / "rd_ladder.csv")
    assert ladder["method"].tolist() == ["3-layer, Δ sweep", "ours (mse)", "ours (hybrid)"] * 2
    assert (ladder["decode_ms"] > 0).all()
    assert (points.groupby("method").size().drop("3-layer") >= 5).all()
    assert points[["bpp", "psnr", "ssim", "ms_ssim", "lpips"]].notna().all().all()
    assert set(pd.read_csv(out / "tables" / "rd_bd_rate.csv")["test_set"]) == {"test", "second"}
    assert (
        "Strongest classical codec" in text
        and "JPEG rows: JPEG 4:2:0: libjpeg-turbo" in (out / "tables" / "table1_test.md").read_text()
    )
    manifest = json.loads((out / "runs" / "manifest.json").read_text())
    assert set(manifest["steps"]) == {step.key for step in plan_steps((3,))}

    capfd.readouterr()
    stamp = (out / "runs" / "depth-3" / "03_training.ipynb").stat().st_mtime_ns
    run_reproduce(settings, out, command="smoke test")
    assert capfd.readouterr().out.count("skipped") == 5
    assert (out / "runs" / "depth-3" / "03_training.ipynb").stat().st_mtime_ns == stamp

    with pytest.raises(AelibError, match=r"holds a run with other settings \(epochs 1 → 2"):
        run_reproduce(ReproduceSettings(depths=(3,), epochs=2, limit=40, second_test_set=str(second)), out)

    # A finished copy compared number by number with the first: the steps are skipped, the combined tables written
    # again from the copied runs, and the report and verdict come out (the comparison itself: test_reproduction.py).
    again = tmp_path / "again"
    shutil.copytree(out, again)
    run_reproduce(settings, again, command="smoke test", compare_with=out)
    said = capfd.readouterr().out
    assert said.count("skipped") == 5
    report = (again / "runs" / "reproduction.md").read_text()
    assert "**Verdict: identical: all " in report, report[:2000]
    assert f"perceptual loss in {manifest['environment']['perceptual_precision']}, " in report
    assert f"against {out}: identical: all " in said
    run_reproduce(settings, again, command="smoke test", compare_with=out)  # finished: the report, shown again
    assert capfd.readouterr().out.count("identical: all ") == 1


def _tracked_files_for_a_clone(destination):
    """The repository's tracked files, less the committed results but for the embedded run's manifest."""
    import subprocess

    root = NOTEBOOKS_DIR.parent
    listed = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    keep = [name for name in listed if not name.startswith("results/")] + ["results/embedded/runs/manifest.json"]
    for name in keep:
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, destination / name)


def test_make_reproduce_on_a_fresh_clone_asks_for_the_committed_embedded_run(tmp_path):
    """README's first command, in a copy with nothing beside it, resolves to the settings the committed run used."""
    import shlex
    import subprocess

    from aelib.apps.cli import build_parser, reproduce_settings

    clone = tmp_path / "alone" / "aelib"
    _tracked_files_for_a_clone(clone)
    assert not (clone.parent.parent / "shared").exists() and not (clone.parent / "shared").exists()
    dry_run = subprocess.run(["make", "-n", "reproduce"], cwd=clone, capture_output=True, text=True, check=True)
    line = next(line for line in dry_run.stdout.splitlines() if "aelib reproduce" in line)
    arguments = shlex.split(line.split("aelib", 1)[1])
    settings = reproduce_settings(build_parser().parse_args(arguments))
    committed = json.loads((clone / "results" / "embedded" / "runs" / "manifest.json").read_text())
    assert settings.resume_key() == committed["settings"]
    assert "--out results/embedded" in line


def test_a_committed_example_run_explains_itself_and_a_users_run_stays_protected(tmp_path):
    from aelib.apps.reproduce import _start_manifest, project_root

    example = project_root() / "results" / "embedded"
    other = ReproduceSettings(epochs=1)
    with pytest.raises(AelibError, match=r"example results that come with aelib, made by `aelib reproduce") as caught:
        _start_manifest(example, other, "aelib reproduce --epochs 1", force=False)
    assert "OUT=results/mine" in str(caught.value) and "\n" not in str(caught.value)

    mine = tmp_path / "mine"
    (mine / "runs").mkdir(parents=True)
    (mine / "runs" / "manifest.json").write_text(
        json.dumps({"settings": ReproduceSettings().resume_key(), "steps": {}})
    )
    with pytest.raises(AelibError, match=r"holds a run with other settings \(epochs None → 1"):
        _start_manifest(mine, other, "aelib reproduce --epochs 1", force=False)


def test_notebook_06_runs_again_when_the_depths_change(tmp_path, monkeypatch):
    """Each depth is its own step, so depths can be added; notebook 06 draws them all and follows."""
    import aelib.apps.reproduce as pipeline
    import aelib.report.summary as report

    ran = []

    def fake_notebook(notebook, output, parameters):
        ran.append(output.relative_to(tmp_path / "runs").as_posix())
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text("{}")

    monkeypatch.setattr(pipeline, "execute_notebook", fake_notebook)
    monkeypatch.setattr(report, "write_summary", lambda output_dir, settings, manifest: output_dir / "README.md")
    run_reproduce(ReproduceSettings(depths=(3,)), tmp_path)
    assert ran[-1] == "06_rate_distortion.ipynb" and "depth-3/03_training.ipynb" in ran
    ran.clear()
    manifest_path = tmp_path / "runs" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps(manifest | {"machine": "the machine that ran it"}))
    run_reproduce(ReproduceSettings(depths=(3,)), tmp_path)
    assert ran == []
    assert json.loads(manifest_path.read_text())["machine"] == "the machine that ran it"  # skipping is not running
    run_reproduce(ReproduceSettings(depths=(3, 5)), tmp_path)
    depth_5 = [f"depth-5/{nb.removesuffix('.ipynb')}.ipynb" for nb in DEPTH_NOTEBOOKS]
    assert ran == [*depth_5, "06_rate_distortion.ipynb"]
    machines = json.loads(manifest_path.read_text())["machine"].split("; ")
    assert machines[0] == "the machine that ran it" and len(machines) == 2


def test_notebooks_are_given_paths_from_notebooks_so_their_records_hold_no_absolute_path(monkeypatch):
    from aelib.config import project_root

    root = project_root()
    monkeypatch.chdir(root)  # where make runs the command; the folders are named from there
    settings = ReproduceSettings(data_dir="tests/data", second_test_set=str(root / "results" / "figures"))
    parameters = settings.notebook_parameters(FINAL_NOTEBOOKS[0], None, root / "results", "cmd")
    assert parameters["data_dir"] == "../tests/data"
    assert parameters["second_test_set"] == "../results/figures"
    assert parameters["output_dir"] == "../results"


def test_a_run_is_not_resumed_in_another_precision_of_the_perceptual_loss(tmp_path, monkeypatch):
    from aelib.apps.reproduce import _start_manifest, run_environment
    from aelib.config import PRECISION_VARIABLE

    monkeypatch.setenv(PRECISION_VARIABLE, "mixed_bfloat16")
    settings = ReproduceSettings()
    manifest = _start_manifest(tmp_path, settings, "aelib reproduce", force=False)
    assert manifest["environment"] == run_environment()
    assert manifest["environment"]["perceptual_precision"] == "mixed_bfloat16"
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv(PRECISION_VARIABLE, "float32")  # another machine, or forced to float32
    with pytest.raises(
        AelibError, match="run with the perceptual loss in mixed_bfloat16; this machine resolves float32"
    ):
        _start_manifest(tmp_path, settings, "aelib reproduce", force=False)
    redone = _start_manifest(tmp_path, settings, "aelib reproduce", force=True)
    assert redone["environment"]["perceptual_precision"] == "float32" and redone["steps"] == {}
