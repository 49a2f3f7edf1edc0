"""The results folder's layout: its names match the committed study, and nothing else spells them."""

import ast
import json
import re
from pathlib import Path

import pytest

from aelib.config import ENTROPY_SUFFIX, PAPER_DEPTHS, project_root
from aelib.layout import (
    ResultsLayout,
    checkpoint_file,
    evaluation_tables,
    model_files,
    paper_model_depth,
    paper_model_name,
    rd_model_family,
    rd_model_name,
)

ROOT = project_root()
RESULTS = ResultsLayout(ROOT / "results")

RESULT_NAMES = re.compile(
    r"\brd_points_|\brd_per_image_|\btable1_|\bper_image_|_history\.csv|\bautoencoder_\d|\bautoencoder_\{|"
    r"\brd_bd_rate|\brd_equal_quality|\brd_ladder|\brd_codecs|\brd_settings|\barchitecture_|manifest\.json|"
    r"reproduce\.log|reproduction\.(md|csv)|\.resume\.npz|\bdata_samples|\brd_curves_|\brd_base\b"
)
"""Fragments of the results folder's file names, as code would spell them."""


def test_paths_of_a_results_folder():
    layout = ResultsLayout("out")
    assert layout.model("hp_faces") == Path("out/models/hp_faces.keras")
    assert layout.paper_model(3) == Path("out/models/autoencoder_3L.keras")
    assert layout.entropy_tables("rd_base") == Path(f"out/models/rd_base{ENTROPY_SUFFIX}")
    assert layout.history("hp_faces") == Path("out/models/hp_faces_history.csv")
    assert layout.checkpoint("hp_faces") == checkpoint_file("out/models", "hp_faces")
    assert layout.table1(3, "test") == Path("out/tables/table1_3L_test.csv")
    assert layout.rd_points("kodak") == Path("out/tables/rd_points_kodak.csv")
    assert layout.rd_ladder_figure("test") == Path("out/figures/rd_ladder_test.png")
    assert layout.manifest == Path("out/runs/manifest.json")
    assert layout.relative(layout.rd_bd_rate) == "tables/rd_bd_rate.csv"
    assert model_files("m", "x") == (Path("m/x.keras"), Path(f"m/x{ENTROPY_SUFFIX}"), Path("m/x_history.csv"))
    assert evaluation_tables(Path("e"), "x") == (Path("e/x_table1.csv"), Path("e/x_per_image.csv"))


def test_model_names_read_back():
    for depth in PAPER_DEPTHS:
        assert paper_model_depth(paper_model_name(depth)) == depth
    assert paper_model_depth("hp_faces") is None and paper_model_depth("autoencoder_L") is None
    assert rd_model_family(rd_model_name("mse", 0.018)) == ("mse", 0.018)
    assert rd_model_family("rd_base") is None and rd_model_family("hp_faces") is None


def test_the_committed_study_has_every_file_the_layout_names():
    """The layout was written after these files: it must name what the study's code wrote, file by file."""
    manifest = json.loads(RESULTS.manifest.read_text())
    test_sets = ["test", "kodak"]
    expected = [RESULTS.readme, RESULTS.data_table, RESULTS.data_samples_figure, RESULTS.log.parent]
    for depth in PAPER_DEPTHS:
        assert f"depth-{depth}/03_training" in manifest["steps"]
        expected += [
            RESULTS.executed_notebook(f"depth-{depth}/03_training"),
            RESULTS.paper_model(depth),
            RESULTS.entropy_tables(paper_model_name(depth)),
            RESULTS.history(paper_model_name(depth)),
            RESULTS.architecture(depth),
            RESULTS.training_figure(depth),
        ]
        for test_set in test_sets:
            expected += [RESULTS.table1(depth, test_set), RESULTS.per_image(depth, test_set)]
            expected += [RESULTS.evaluation_figure(k, depth, test_set) for k in ("bars", "distributions", "examples")]
    for test_set in test_sets:
        expected += [
            RESULTS.table1_all_depths(test_set),
            RESULTS.depths(test_set),
            RESULTS.depths_figure(test_set),
            RESULTS.rd_points(test_set),
            RESULTS.rd_per_image(test_set),
            RESULTS.rd_curves_figure(test_set),
            RESULTS.rd_ladder_figure(test_set),
        ]
    expected += [RESULTS.rd_codecs, RESULTS.rd_bd_rate, RESULTS.rd_bd_rate_ours, RESULTS.rd_equal_quality]
    expected += [RESULTS.rd_ladder, RESULTS.rd_settings, RESULTS.rd_base_training_figure, RESULTS.model("rd_base")]
    expected += [RESULTS.model(rd_model_name("mse", 0.018)), RESULTS.model("hp_faces")]
    missing = [RESULTS.relative(path) for path in expected if not path.exists()]
    assert not missing
    per_image = {RESULTS.per_image(d, s) for d in PAPER_DEPTHS for s in test_sets}  # CSV only: too long to read
    tables = [path for path in expected if path.parent == RESULTS.tables and path not in per_image]
    assert all(path.with_suffix(".md").is_file() for path in tables)


def _code_strings(source: str) -> list[str]:
    """The string constants of Python source, f-strings' literal parts included, docstrings left out (a string
    standing as a statement: a module's, class's or function's docstring, or a constant's)."""
    tree = ast.parse(source)
    docstrings = {
        id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def _package_sources() -> dict[str, str]:
    sources = {
        path.relative_to(ROOT).as_posix(): path.read_text()
        for path in (ROOT / "aelib").rglob("*.py")
        if path.name != "layout.py"
    }
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        sources[notebook.relative_to(ROOT).as_posix()] = "\n".join(
            line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))
        )
    return sources


@pytest.mark.parametrize("name", sorted(_package_sources()))
def test_no_code_but_the_layout_spells_a_results_file_name(name):
    spelled = [s for s in _code_strings(_package_sources()[name]) if RESULT_NAMES.search(s)]
    assert not spelled, f"{name} spells results file names; ask aelib.layout.ResultsLayout: {spelled}"


def test_the_search_finds_what_it_looks_for():
    """The check above would catch a name spelled in code, in an f-string too (and not in a docstring)."""
    source = 'def f(d):\n    """Reads tables/rd_points_test.csv."""\n    return d / f"rd_points_{d}.csv"\n'
    assert [s for s in _code_strings(source) if RESULT_NAMES.search(s)] == ["rd_points_"]
