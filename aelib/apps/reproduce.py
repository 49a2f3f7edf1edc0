"""The reproduction pipeline: the numbered notebooks run by papermill, then the study's summary.

``aelib reproduce`` (and ``make reproduce``) executes ``01_data_prep`` once,
``02_model_building``, ``03_training`` and ``04_evaluation`` for each encoder
depth, then ``06_rate_distortion`` once, writing under one output folder:

- ``runs/``: the executed notebooks (``runs/depth-N/…``) and ``manifest.json``,
  which records the settings, each finished step and how long it took;
- ``models/``, ``tables/``, ``figures/``: what the notebooks write;
- ``README.md``: Table 1, the figures, which data, which command, which machine, how long.

A step already finished with the same settings is skipped, so an interrupted
run resumes where it stopped; ``force`` redoes everything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import platform
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from aelib.config import (
    DEFAULT_SEED,
    EMBEDDED_TEST_SET,
    IMAGE_SIZE,
    PAPER_DEPTHS,
    PRECISION_VARIABLE,
    PROFILES,
    RATE_DISTORTION_STEP,
    LossWeights,
    TrainConfig,
    cpu_has_native_bfloat16,
    portable_path,
    project_root,
    resolve_precision,
)
from aelib.errors import InputError
from aelib.layout import ResultsLayout
from aelib.outputs import atomic_output

NOTEBOOKS_DIR = project_root() / "notebooks"
DATA_NOTEBOOK = "01_data_prep.ipynb"
DEPTH_NOTEBOOKS = ("02_model_building.ipynb", "03_training.ipynb", "04_evaluation.ipynb")
FINAL_NOTEBOOKS = (f"{RATE_DISTORTION_STEP}.ipynb",)


@dataclass(frozen=True)
class ReproduceSettings:
    """What a reproduction runs on and how; everything but depths must match to resume a run.

    Attributes:
        data_dir: folder of images, or None for the embedded default.
        depths: encoder depths to train and evaluate.
        profile: a key of :data:`PROFILES`.
        epochs: maximum epochs, overriding the profile's.
        limit: use only this many images of the data (a fixed random subset).
        test_images: evaluate only the first this many test images.
        second_test_set: a folder of images evaluated at their own size (Kodak), or
            ``EMBEDDED_TEST_SET``; with the embedded default data, None means the latter,
            so that the embedded run depends on nothing outside the installed packages.
        batch_size: batch size, overriding the profile's.
        image_size, seed: as in :class:`aelib.config.TrainConfig`.
        rd_steps: training steps of every rate–distortion model, overriding the profile's (for smoke runs).
    """

    data_dir: str | None = None
    depths: tuple[int, ...] = PAPER_DEPTHS
    profile: str = "study"
    epochs: int | None = None
    limit: int | None = None
    test_images: int | None = None
    second_test_set: str | None = None
    image_size: int = IMAGE_SIZE
    seed: int = DEFAULT_SEED
    batch_size: int | None = None
    rd_steps: int | None = None

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise InputError(f"unknown profile {self.profile!r}; choose one of {', '.join(PROFILES)}")
        if self.data_dir is None and self.second_test_set is None:
            object.__setattr__(self, "second_test_set", EMBEDDED_TEST_SET)
        for folder in (self.data_dir, self.second_test_set):
            if folder is not None and folder != EMBEDDED_TEST_SET and not Path(folder).is_dir():
                raise InputError(f"not a folder: {folder}")
        if not self.depths or any(depth < 1 for depth in self.depths):
            raise InputError(f"depths must be positive integers, got {list(self.depths)}")

    @property
    def training_epochs(self) -> int:
        profile = PROFILES[self.profile]
        if self.epochs is not None:
            return self.epochs
        return profile.embedded_epochs if self.data_dir is None else profile.epochs

    @property
    def training_batch_size(self) -> int:
        if self.batch_size is not None:
            return self.batch_size
        return PROFILES[self.profile].embedded_batch_size if self.data_dir is None else TrainConfig.batch_size

    @property
    def rate_distortion_steps(self) -> tuple[int, int]:
        """(base, per-λ) steps of the rate–distortion families."""
        if self.rd_steps is not None:
            return self.rd_steps, self.rd_steps
        profile = PROFILES[self.profile]
        return profile.embedded_rd_steps if self.data_dir is None else profile.rd_steps

    def resume_key(self) -> dict:
        """The settings every finished step depends on.

        The depths are left out: each depth is a step of its own, so a run may add depths to a
        folder. Notebook 06, which draws every depth, records the depths it ran with in its
        manifest entry and runs again when they change (:func:`run_reproduce`).
        """
        key = dataclasses.asdict(self)
        del key["depths"]
        key["training_epochs"] = self.training_epochs
        key["training_batch_size"] = self.training_batch_size
        return key

    def notebook_parameters(self, notebook: str, depth: int | None, output_dir: Path, command: str) -> dict:
        """The papermill parameters of one notebook run.

        The notebooks run in notebooks/, so paths are given from there
        (:func:`aelib.config.portable_path`: relative inside the checkout's folder,
        so that the executed notebooks record no machine's absolute paths).
        """
        weights = LossWeights()
        second_test_set = self.second_test_set
        if second_test_set not in (None, EMBEDDED_TEST_SET):
            second_test_set = portable_path(second_test_set, NOTEBOOKS_DIR)
        parameters = {
            "data_dir": None if self.data_dir is None else portable_path(self.data_dir, NOTEBOOKS_DIR),
            "image_size": self.image_size,
            "seed": self.seed,
            "limit": self.limit,
            "output_dir": portable_path(output_dir, NOTEBOOKS_DIR),
            "command": command,
            "force": True,
        }
        if notebook in FINAL_NOTEBOOKS:
            base_steps, finetune_steps = self.rate_distortion_steps
            parameters |= {
                "depths": list(self.depths),
                "second_test_set": second_test_set,
                "rd_base_steps": base_steps,
                "rd_finetune_steps": finetune_steps,
            }
            if self.data_dir is None:
                profile = PROFILES[self.profile]
                lpips_test, lpips_second = profile.embedded_lpips_images
                parameters |= {
                    "rd_test_images": profile.embedded_rd_test_images,
                    "rd_lpips_images": lpips_test,
                    "rd_lpips_second": lpips_second,
                }
            if self.test_images is not None:
                parameters |= {"rd_test_images": self.test_images, "rd_lpips_images": self.test_images}
        if depth is not None:
            parameters |= {
                "depth": depth,
                "epochs": self.training_epochs,
                "batch_size": self.training_batch_size,
                "patience": TrainConfig.patience,
                "loss_weights": [weights.ssim, weights.perceptual, weights.mse],
                "rate_weight": PROFILES[self.profile].rate_weight,
                "schedule_steps": list(PROFILES[self.profile].schedule),
                "test_images": self.test_images,
                "second_test_set": second_test_set,
            }
        return parameters


@dataclass(frozen=True)
class Step:
    """One notebook run: the data notebook (depth None) or a per-depth notebook."""

    notebook: str
    depth: int | None

    @property
    def key(self) -> str:
        stem = Path(self.notebook).stem
        return stem if self.depth is None else f"depth-{self.depth}/{stem}"

    def output_path(self, output_dir: Path) -> Path:
        return ResultsLayout(output_dir).executed_notebook(self.key)


def plan_steps(depths: tuple[int, ...]) -> list[Step]:
    """01 once, then 02–04 for each depth in the given order, then 06 once."""
    return (
        [Step(DATA_NOTEBOOK, None)]
        + [Step(nb, depth) for depth in depths for nb in DEPTH_NOTEBOOKS]
        + [Step(nb, None) for nb in FINAL_NOTEBOOKS]
    )


def cpu_model() -> str:
    """The processor's model name from /proc/cpuinfo, or what the platform module knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_description() -> str:
    """CPU model, cores, memory, OS and Python version, for the results' provenance."""
    memory = ""
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        memory = f", {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB RAM"
    return (
        f"{cpu_model()}, {os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def run_environment() -> dict:
    """What can change a number from one machine to another: the perceptual loss's resolved precision, the
    versions of TensorFlow, Keras and NumPy, and whether the CPU has native bfloat16 (from package metadata and
    /proc/cpuinfo, without importing TensorFlow)."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(*names: str) -> str:
        for name in names:
            try:
                return version(name)
            except PackageNotFoundError:
                continue
        return "not installed"

    return {
        "perceptual_precision": resolve_precision(TrainConfig.perceptual_precision),
        "tensorflow": installed("tensorflow-cpu", "tensorflow"),
        "keras": installed("keras"),
        "numpy": installed("numpy"),
        "cpu_native_bfloat16": cpu_has_native_bfloat16(),
    }


def is_committed_example(output_dir: Path) -> bool:
    """Whether output_dir is a results folder that ships with the project: ``results/`` or ``results/embedded/``."""
    shipped = project_root() / "results"
    return Path(output_dir).resolve() in (shipped, shipped / "embedded")


def read_manifest(output_dir: Path) -> dict | None:
    path = ResultsLayout(output_dir).manifest
    return json.loads(path.read_text()) if path.is_file() else None


def _write_manifest(output_dir: Path, manifest: dict) -> None:
    with atomic_output(ResultsLayout(output_dir).manifest) as temporary:
        temporary.write_text(json.dumps(manifest, indent=2) + "\n")


def _start_manifest(output_dir: Path, settings: ReproduceSettings, command: str, force: bool) -> dict:
    manifest = read_manifest(output_dir)
    if manifest is not None and manifest["settings"] != settings.resume_key() and not force:
        differences = ", ".join(
            f"{name} {manifest['settings'].get(name)!r} → {value!r}"
            for name, value in settings.resume_key().items()
            if manifest["settings"].get(name) != value
        )
        if is_committed_example(output_dir):
            raise InputError(
                f"{output_dir} holds the example results that come with aelib, made by `{manifest['command']}`; "
                f"your settings differ ({differences}). Run that command to regenerate them, write your run "
                "elsewhere with --out (make: OUT=results/mine), or replace them with --force (make: FORCE=1)"
            )
        raise InputError(
            f"{output_dir} holds a run with other settings ({differences}); "
            "pass --force (make: FORCE=1) to replace it, or --out (make: OUT=…) for another folder"
        )
    environment = run_environment()
    recorded = (manifest or {}).get("environment", {}).get("perceptual_precision")
    if manifest is not None and not force and recorded not in (None, environment["perceptual_precision"]):
        raise InputError(
            f"{output_dir} was run with the perceptual loss in {recorded}; this machine resolves "
            f"{environment['perceptual_precision']}, and resuming would go on in another precision: set "
            f"{PRECISION_VARIABLE}={recorded} to continue as it began, or pass --force (make: FORCE=1) to redo the run"
        )
    if manifest is None or force:  # a run begun before environments were recorded keeps none: it cannot know
        manifest = {"settings": settings.resume_key(), "steps": {}, "machine": machine_description()}
        manifest["environment"] = environment
    manifest["command"] = command
    return manifest


def _record_machine(manifest: dict) -> None:
    """Adds this machine to the manifest's machines, once it has run a step: a run that only skips leaves them."""
    here = machine_description()
    machines = [m for m in manifest.get("machine", "").split("; ") if m]
    if here not in machines:
        manifest["machine"] = "; ".join([*machines, here])


def execute_notebook(notebook: Path, output: Path, parameters: dict) -> None:
    """Runs notebook with papermill into output; a failing cell becomes one AelibError line.

    Only the parameters that the notebook's ``parameters`` cell declares are
    passed. The notebook's output lines are logged to the "papermill" logger.
    """
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    parameters = {name: value for name, value in parameters.items() if name in declared}
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(  # the executed notebook records both paths: relative ones, where it can
            portable_path(notebook),
            portable_path(output),
            parameters=parameters,
            cwd=str(notebook.parent),
            kernel_name="python3",
            progress_bar=False,
            log_output=True,
        )
    except papermill.PapermillExecutionError as error:
        raise InputError(
            f"{notebook.name} failed in cell {error.exec_count}: {error.ename}: {error.evalue.strip()} "
            f"(the executed notebook with the traceback: {output})"
        ) from None


_EPOCH_LINE = re.compile(
    r"^\s*(?P<model>\S+) epoch (?P<epoch>\d+)/(?P<epochs>\d+):.*?(?: at most (?P<left>.+?) left)?$"
)


class RunDisplay(logging.Handler):
    """The terminal shows one status line for the whole run; everything else goes to the log file.

    While a notebook runs, file descriptors 1 and 2 point at ``runs/reproduce.log``
    (so the kernel's TensorFlow messages land there too), and the status line —
    step k of n, notebook, depth, epoch, elapsed time and the training's time
    left — is written to the terminal the run was started from. It is a
    logging handler of papermill's logger: each output line of a notebook is
    appended to the log, and the training's epoch lines update the status.
    """

    def __init__(self, log_path: Path, steps: int):
        super().__init__()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(log_path, "a", buffering=1)  # noqa: SIM115 (closed in close())
        self.terminal = os.fdopen(os.dup(1), "w", buffering=1)
        self.interactive = self.terminal.isatty()
        self.steps, self.started = steps, time.perf_counter()
        self.label, self.detail = "", ""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.log.write(message + "\n")
        match = _EPOCH_LINE.match(message.strip().splitlines()[-1]) if message.strip() else None
        if match:
            left = f", at most {match['left']} left in training" if match["left"] else ""
            self.status(self.label, f"epoch {match['epoch']}/{match['epochs']}{left}")

    def status(self, label: str, detail: str = "", final: bool = False) -> None:
        """Shows "label · detail · elapsed"; in place on a terminal, as a new line elsewhere."""
        self.label, self.detail = label, detail
        elapsed = _format_duration(time.perf_counter() - self.started)
        line = " · ".join(part for part in (label, detail, f"{elapsed} elapsed") if part)
        if self.interactive:
            self.terminal.write("\r\033[K" + line + ("\n" if final else ""))
        else:
            self.terminal.write(line + "\n")
        self.terminal.flush()

    @contextlib.contextmanager
    def capturing(self):
        """Points file descriptors 1 and 2 at the log file for the duration of a notebook."""
        sys.stdout.flush(), sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(self.log.fileno(), 1), os.dup2(self.log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])

    def close(self) -> None:
        self.log.close()
        self.terminal.close()
        super().close()


def _format_duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min {int(seconds % 60):02d} s"


def run_reproduce(
    settings: ReproduceSettings,
    output_dir: str | Path,
    force: bool = False,
    command: str = "aelib reproduce",
    compare_with: str | Path | None = None,
) -> Path:
    """Runs every step not yet finished, then writes the combined tables, figures and README.

    Args:
        settings: what to run on and how.
        output_dir: the results folder.
        force: redo finished steps (and replace a run made with other settings).
        command: the command line, recorded in every output.
        compare_with: a results folder (the committed run) to compare every table with at the end
            (:mod:`aelib.experiments.reproduction`): the report goes to ``runs/reproduction.md``, the verdict to the
            terminal; a finished run shows them again.

    Returns:
        The path of the written README.md.
    """
    from aelib.report.summary import write_summary

    output_dir = Path(output_dir)
    manifest = _start_manifest(output_dir, settings, command, force)
    steps = plan_steps(settings.depths)
    depths = list(settings.depths)
    # The log holds everything the notebooks and their kernels print (papermill's cell log, TensorFlow's
    # start-up lines), which the terminal does not show.
    log = ResultsLayout(output_dir).log
    display = RunDisplay(log, len(steps))
    logger = logging.getLogger("papermill")
    logger.addHandler(display)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def publish() -> Path:
        """The combined tables, figures and the results folder's README from the steps finished so far."""
        with display.capturing():  # the summary's tables may start TensorFlow, whose start-up lines go to the log
            return write_summary(output_dir, settings, manifest)

    try:
        display.log.write(f"\n=== {dt.datetime.now().isoformat(' ', 'seconds')}: {command}\n")
        for number, step in enumerate(steps, start=1):
            output = step.output_path(output_dir)
            label = f"[{number}/{len(steps)}] {step.key}"
            done = manifest["steps"].get(step.key)
            if done and output.is_file() and done.get("depths", depths) == depths:
                display.status(label, f"done before in {manifest['steps'][step.key]['seconds']:.0f} s, skipped", True)
                continue
            display.status(label, "running")
            _record_machine(manifest)
            start = time.perf_counter()
            with display.capturing():
                execute_notebook(
                    NOTEBOOKS_DIR / step.notebook,
                    output,
                    settings.notebook_parameters(step.notebook, step.depth, output_dir, command),
                )
            seconds = time.perf_counter() - start
            manifest["steps"][step.key] = {
                "seconds": round(seconds, 1),
                "finished": dt.datetime.now().isoformat(" ", "seconds"),
            } | ({"depths": depths} if step.notebook in FINAL_NOTEBOOKS else {})
            _write_manifest(output_dir, manifest)
            publish()  # a run that spans sittings leaves its tables and READMEs in step with its manifest
            display.status(label, f"finished in {_format_duration(seconds)}", True)
        _write_manifest(output_dir, manifest)
        readme = publish()
        display.status(f"wrote {readme}; the notebooks' output is in {log}", final=True)
        if compare_with is not None:
            from aelib.experiments.reproduction import compare_runs
            from aelib.report.reproduction import write_report

            comparison = compare_runs(compare_with, output_dir)
            precision = manifest.get("environment", {}).get("perceptual_precision", "an unrecorded precision")
            machine = f"{machine_description()}, perceptual loss in {precision}"
            report = write_report(comparison, Path(compare_with), output_dir, machine)
            display.status(f"against {compare_with}: {comparison.verdict}; report: {report}", final=True)
    finally:
        logger.removeHandler(display)
        display.close()
    return readme
