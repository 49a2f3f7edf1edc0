"""The ``aelib`` command line: train, calibrate, evaluate, compress, decompress, info, reproduce.

Every problem with the user's input ends in one line on stderr and exit
status 2, never a traceback. Existing outputs are kept unless ``--force``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import time
from pathlib import Path

from aelib import show_progress
from aelib.config import (
    CODEC_TRAINING,
    DEFAULT_FEATURE_LAYERS,
    DEFAULT_SEED,
    EMBEDDED_TEST_SET,
    IMAGE_SIZE,
    MAX_PIXELS,
    PAPER_DEPTHS,
    LossWeights,
    TrainConfig,
)
from aelib.errors import AelibError, InputError
from aelib.layout import CHECKPOINT_SUFFIX, ResultsLayout, evaluation_tables, model_files, paper_model_name
from aelib.outputs import refuse_overwrite


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="folder of images, searched recursively (default: the embedded data set)")
    parser.add_argument("--size", type=int, default=IMAGE_SIZE, help="image side in pixels (default %(default)s)")
    parser.add_argument("--limit", type=int, help="use only this many images (a fixed random subset)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the split and of training")


@contextlib.contextmanager
def _native_stderr_silenced():
    """Points file descriptor 2 at /dev/null: TensorFlow's C++ start-up lines ignore TF_CPP_MIN_LOG_LEVEL."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _import_tensorflow_quietly() -> None:
    """Imports TensorFlow and runs one op (which logs once more) with its start-up logging silenced.

    In a cluster (``TF_CONFIG`` set) the multi-worker strategy is made first: TensorFlow wants it
    before any other op.
    """
    with _native_stderr_silenced():
        import tensorflow as tf

        if os.environ.get("TF_CONFIG"):
            from aelib.training.autoencoder import distribution_strategy

            distribution_strategy()
        tf.constant(0) + 0


def _add_shard_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shard",
        metavar="I/N",
        help="code only every N-th file of the sorted inputs, from the I-th (0-based): run I = 0 … N-1 "
        "in N processes or on N machines to split a collection, no file twice",
    )


def _add_stop_on_error_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stop-on-error",
        action="store_true",
        help="stop at the first unreadable or corrupt input (default: write the others, list the failures at the "
        "end, exit status 1; a rerun retries only what is missing)",
    )


def _add_max_pixels_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=MAX_PIXELS,
        help="refuse images with more pixels than this; about 7 bytes of memory per pixel (default %(default)s)",
    )


def _train(args: argparse.Namespace) -> None:
    from aelib.data import describe_source, load_dataset

    a, b, c = args.loss_weights
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        patience=args.patience,
        seed=args.seed,
        loss_weights=LossWeights(a, b, c),
        feature_layers=tuple(args.feature_layers),
        rate_weight=args.rate_weight,
    )
    out = Path(args.out)
    name = paper_model_name(args.depth)
    refuse_overwrite(model_files(out, name), args.force)
    dataset = load_dataset(args.data, size=args.size, seed=args.seed, limit=args.limit)
    print(f"data: {describe_source(args.data)}: {len(dataset.train)} train / {len(dataset.val)} validation images")
    _import_tensorflow_quietly()
    from aelib.training.autoencoder import train_autoencoder  # TensorFlow loads only once the input is known to be good

    start = time.perf_counter()
    initial = None
    if args.init_model:
        from aelib.nn.models import load_model

        initial = load_model(args.init_model)
    result = train_autoencoder(
        args.depth, dataset.train, dataset.val, config, out_dir=out, verbose=args.verbose, initial_model=initial
    )
    from aelib.codec.codec import export_factorized

    codec = export_factorized(result.model, dataset.train, result.model_path)
    best = result.history["val_loss"].min()
    seconds = time.perf_counter() - start
    print(f"trained {name} for {len(result.history)} epoch(s) in {seconds:.0f} s; best val_loss {best:.4f}")
    print(f"saved {result.model_path} (fingerprint {codec.fingerprint}) and {result.history_path}")


def _train_codec(args: argparse.Namespace) -> None:
    from aelib.data import describe_source, load_dataset, load_photo_splits

    out = Path(args.out)
    model_path = model_files(out, args.name)[0]
    refuse_overwrite([model_path], args.force)
    if args.preset == "photos":
        if args.data is None:
            raise InputError("--preset photos needs --data: a folder of photos split into train/ and val/")
        train, val = load_photo_splits(args.data)
    else:
        dataset = load_dataset(args.data, size=args.size, seed=args.seed, limit=args.limit)
        train, val = dataset.train, dataset.val
    height, width = train.shape[1:3]
    print(f"data: {describe_source(args.data)}: {len(train)} train / {len(val)} validation images of {width}x{height}")
    _import_tensorflow_quietly()
    from aelib.codec.hyper import export_codec
    from aelib.training.hyperprior import train_hyperprior

    settings = dataclasses.replace(CODEC_TRAINING[args.preset], seed=args.seed)
    result = train_hyperprior(train, val, settings, out, args.name, stop_after=args.stop_after)
    if not result.finished:
        print(
            f"stopped after step {result.steps_done} of {settings.steps}; "
            "the same command continues from the checkpoint"
        )
        return
    description = {
        "trained_on": f"{describe_source(args.data)}: {len(train)} training images of {width}x{height}",
        "training": f"{settings.steps} steps (aelib.config.CODEC_TRAINING[{args.preset!r}]), "
        f"λ {list(settings.lambdas)}",
    }
    codec = export_codec(result.network, model_path, description)
    print(f"saved {model_path} (fingerprint {codec.fingerprint}, quality settings 0 … {codec.qualities - 1})")


def _calibrate(args: argparse.Namespace) -> None:
    from aelib.data import describe_source, load_dataset

    if not Path(args.model).is_file():
        raise InputError(f"model file not found: {args.model}")
    out = Path(args.out)
    if out.suffix != ".keras":
        raise InputError(f"--out must name a .keras file, got {out}")
    refuse_overwrite(model_files(out.parent, out.stem)[:2], args.force)
    dataset = load_dataset(args.data, size=args.size, seed=args.seed, limit=args.limit)
    print(f"data: {describe_source(args.data)}: {len(dataset.train)} training images")
    _import_tensorflow_quietly()
    from aelib.codec.codec import load_codec_model, make_codec_model, save_codec_model
    from aelib.nn.calibration import calibrate_output

    autoencoder = load_codec_model(args.model).autoencoder
    calibration = calibrate_output(autoencoder, dataset.train)
    codec = make_codec_model(autoencoder, dataset.train)
    save_codec_model(codec, out)
    print(f"output calibration: {calibration.describe()}")
    print(f"saved {out} (fingerprint {codec.fingerprint})")


def _evaluate(args: argparse.Namespace) -> None:
    from aelib.data import describe_source, load_dataset

    if not Path(args.model).is_file():
        raise InputError(f"model file not found: {args.model}")
    out = Path(args.out) if args.out else None
    if out is not None:
        table1, per_image = evaluation_tables(out, Path(args.model).stem)
        refuse_overwrite([table1, table1.with_suffix(".md"), per_image], args.force)
    dataset = load_dataset(args.data, size=args.size, seed=args.seed, limit=args.limit)
    print(f"data: {describe_source(args.data)}: {len(dataset.test)} test images")
    _import_tensorflow_quietly()
    from aelib.codec.codec import load_codec_model
    from aelib.codec.format import read_model_card
    from aelib.experiments.table1 import evaluate_model
    from aelib.report.tables import format_markdown, write_csv, write_table

    if read_model_card(args.model) is not None:
        from aelib.codec.hyper import load_hyper_codec
        from aelib.experiments.table1 import evaluate_hyperprior

        table = evaluate_hyperprior(load_hyper_codec(args.model), dataset.test)
        print(format_markdown(table))
        print(
            f"written payload against the model's own estimate: {table['rate_gap'].min():+.2%} … "
            f"{table['rate_gap'].max():+.2%}; {int(table['escapes'].sum())} value(s) coded as escapes"
        )
        if out is not None:
            provenance = (
                f"Data: {describe_source(args.data)}, {len(dataset.test)} test images. "
                f"Command: aelib {' '.join(sys.argv[1:])}"
            )
            write_table(table, table1, provenance)
            print(f"wrote tables to {out}")
        return

    evaluation = evaluate_model(load_codec_model(args.model), dataset.test, dataset.test_names)
    print(format_markdown(evaluation.summary))
    print(f"JPEG quality matching the model's mean SSIM: {evaluation.matched_jpeg_quality}")
    if out is not None:
        provenance = (
            f"Data: {describe_source(args.data)}, {len(dataset.test)} test images. "
            f"Command: aelib {' '.join(sys.argv[1:])}"
        )
        write_table(evaluation.summary, table1, provenance)
        write_csv(evaluation.per_image, per_image)
        print(f"wrote tables to {out}")


def _report_batch(results, stop_on_error: bool) -> None:
    """The summary line, then one line per failed input; exit status 1 when any failed."""
    from aelib.codec.files import failure_lines, summary_line

    print(summary_line(results))
    failures = failure_lines(results)
    for line in failures:
        print(line, file=sys.stderr)
    if failures:
        raise BatchFailed(len(failures))


def _screened(screen, inputs, args, shard) -> None:
    """Checks the inputs' headers before TensorFlow loads: with --stop-on-error the first bad one stops the run;
    otherwise the run stops here only when no input is good (the failures are listed, exit status 1)."""
    count, failures = screen(inputs, args.max_pixels, shard)
    if failures and args.stop_on_error:
        raise InputError(failures[0])
    if count and len(failures) == count:
        for line in failures:
            print(f"failed: {line}", file=sys.stderr)
        print(f"{count} file(s): none written; {count} failed (listed above)")
        raise BatchFailed(count)


def _compress(args: argparse.Namespace) -> None:
    from aelib.codec.files import compress_files, parse_shard, screen_images

    shard = parse_shard(args.shard) if args.shard else None

    inputs = args.inputs
    if args.test_split:
        from aelib.data import load_dataset

        folders = [Path(item) for item in inputs]
        if not all(folder.is_dir() for folder in folders):
            raise InputError("--test-split takes folders only")
        inputs = [folder / name for folder in folders for name in load_dataset(folder, seed=args.seed).test_names]
    if args.model is None:
        args.model = str(_default_model())
    if not Path(args.model).is_file():
        raise InputError(f"model file not found: {args.model}")
    if args.quality is not None and not 0 <= args.quality <= 100:
        raise InputError(f"--quality must lie in 0 … 100, got {args.quality:g}")
    if args.target_bpp is not None and not args.target_bpp > 0:
        raise InputError(f"--target-bpp must be positive, got {args.target_bpp:g}")
    _screened(screen_images, inputs, args, shard)
    _say_what_a_face_model_is_for(Path(args.model), inputs)
    _import_tensorflow_quietly()
    from aelib.codec.codec import has_qualities, load_any_codec

    codec = load_any_codec(args.model)
    quality = None
    if args.quality is not None:
        if not has_qualities(codec):
            raise InputError(f"{args.model} writes one rate only; --quality needs a hyperprior model")
        from aelib.codec.hyper import quality_setting

        quality = quality_setting(args.quality, codec)
    results = compress_files(
        inputs,
        codec,
        args.out,
        args.force,
        args.max_pixels,
        shard,
        quality=quality,
        target_bpp=args.target_bpp,
        stop_on_error=args.stop_on_error,
    )
    _report_batch(results, args.stop_on_error)


def _committed_results() -> Path:
    from aelib.config import project_root

    return project_root() / "results"


def _zoo_entry(model: Path):
    """The zoo's entry of a model among committed results (None for a model of the user's own)."""
    from aelib.codec.zoo import zoo

    results = model.resolve().parent.parent
    return next((entry for entry in zoo(results) if entry.path.resolve() == model.resolve()), None)


def _models(args: argparse.Namespace) -> None:
    from aelib.codec.zoo import zoo, zoo_markdown

    results = Path(args.results) if args.results else _committed_results()
    models = ResultsLayout(results).models
    if not models.is_dir():
        raise InputError(f"no models folder in {results}")
    entries = zoo(results)
    if not entries:
        raise InputError(f"no codec models in {models}")
    if args.markdown:
        print(zoo_markdown(entries))
        return
    for entry in entries:
        recommended = f"  [recommended for {', '.join(entry.recommended_for)}]" if entry.recommended_for else ""
        measured = (
            f"{entry.bits_per_pixel} bpp, PSNR {entry.psnr} dB, SSIM {entry.ssim} on {entry.measured_on}"
            if entry.bits_per_pixel
            else "not measured"
        )
        print(f"{entry.path.name}{recommended}")
        print(f"    {entry.kind}; trained on {entry.trained_on}")
        print(f"    for {entry.use}; qualities: {entry.qualities}; {measured}")


def _default_model() -> Path:
    """The committed model recommended for photos, said on stderr; a one-line error when there is none."""
    from aelib.codec.zoo import recommendations, zoo

    layout = ResultsLayout(_committed_results())
    entries = zoo(layout.root) if layout.models.is_dir() else []
    name = recommendations(entries).get("photos")
    if name is None:
        raise InputError("no --model given and no committed model to recommend; pass --model MODEL.keras")
    path = layout.model(name)
    print(f"aelib: no --model given: {path.name}, the committed model recommended for photos", file=sys.stderr)
    return path


def _say_what_a_face_model_is_for(model: Path, inputs: list[str]) -> None:
    """One note on stderr when a face model codes images other than 128×128 faces."""
    from aelib.codec.files import image_files
    from aelib.data import image_size

    entry = _zoo_entry(model)
    if entry is None or not entry.faces:
        return
    for path in image_files(inputs):
        try:
            size = image_size(path)
        except AelibError:
            continue
        if size != (IMAGE_SIZE, IMAGE_SIZE):
            print(
                f"aelib: note: {model.name} was trained on {IMAGE_SIZE}x{IMAGE_SIZE} faces ({entry.trained_on}); "
                f"it codes other images too, at more bits for the same quality than a photo codec "
                f"(`aelib models`, results/README.md)",
                file=sys.stderr,
            )
            return


def _decompress(args: argparse.Namespace) -> None:
    from aelib.codec.files import decompress_files, parse_shard, screen_aec_files

    shard = parse_shard(args.shard) if args.shard else None
    if args.model and not Path(args.model).is_file():
        raise InputError(f"model file not found: {args.model}")
    _screened(screen_aec_files, args.inputs, args, shard)
    _import_tensorflow_quietly()
    codec = None
    if args.model:
        from aelib.codec.codec import load_any_codec

        codec = load_any_codec(args.model)
    from aelib.config import model_search_path

    search = args.models_dir or model_search_path()
    results = decompress_files(
        args.inputs, args.out, codec, search, args.force, args.max_pixels, shard, args.stop_on_error
    )
    _report_batch(results, args.stop_on_error)


def _model_info(path: str) -> str:
    """One line on a ``.keras`` model from its card (or its tables' fingerprint), without TensorFlow."""
    from aelib.codec.codec import read_fingerprint
    from aelib.codec.format import read_model_card

    card = read_model_card(path)
    if card is not None:
        trained = f", trained on {card['trained_on']}" if "trained_on" in card else ""
        return (
            f"{path}: {card['kind_name']} model {card['fingerprint']}, writes .aec v{card['format_version']}, "
            f"quality settings 0 … {card['qualities'] - 1} (--quality 0 … 100 maps onto them), "
            f"N = {card['channels']}, M = {card['latent_channels']}{trained}"
        )
    fingerprint = read_fingerprint(path)
    if fingerprint is None:
        raise InputError(f"{path}: neither an exported model (no model card) nor a model with .entropy.npz tables")
    return f"{path}: factorized model {fingerprint} (tables in .entropy.npz), writes .aec v2, one rate"


def _info(args: argparse.Namespace) -> None:
    from aelib.codec.files import read_bytes
    from aelib.codec.format import KINDS, Header3, header_size, read_any_header
    from aelib.measure.metrics import bits_per_pixel, compression_ratio

    for path in args.files:
        if str(path).endswith(".keras"):
            print(_model_info(path))
            continue
        data = read_bytes(path)
        try:
            header = read_any_header(data)
        except AelibError as error:
            raise InputError(f"{path}: {error}") from None
        if isinstance(header, Header3):
            level, eighths = divmod(header.quality, 8)
            channels = 1 if header.grey else 3
            print(
                f"{path}: .aec v3, {KINDS[header.kind]} model {header.fingerprint}, "
                f"{'grey ' if header.grey else ''}image {header.width}x{header.height} (width x height), "
                f"quality {header.quality} (gain level {level} + {eighths}/8), "
                f"payload {len(data) - header_size(data)} bytes (CRC32 {header.crc32:08x}), file {len(data)} bytes = "
                f"{bits_per_pixel(header.height, header.width, len(data)):.3f} bpp, "
                f"ratio {compression_ratio(header.height, header.width, len(data), channels):.2f}"
            )
            continue
        h, w, c = header.latent_shape
        print(
            f"{path}: .aec v{header.version}, model {header.fingerprint}, image {header.width}x{header.height} "
            f"(width x height), latent {h}x{w}x{c} (height x width x channels), "
            f"payload {header.payload_length} bytes (CRC32 {header.crc32:08x}), "
            f"file {len(data)} bytes = {bits_per_pixel(header.height, header.width, len(data)):.3f} bpp, "
            f"ratio {compression_ratio(header.height, header.width, len(data)):.2f}"
        )


def reproduce_settings(args: argparse.Namespace):
    """The :class:`aelib.apps.reproduce.ReproduceSettings` that ``aelib reproduce`` runs with for parsed arguments."""
    from aelib.apps.reproduce import ReproduceSettings

    return ReproduceSettings(
        data_dir=args.data,
        depths=tuple(args.depths),
        profile=args.profile,
        epochs=args.epochs,
        limit=args.limit,
        test_images=args.test_images,
        second_test_set=args.second_test_set,
        image_size=args.size,
        seed=args.seed,
    )


def _reproduce(args: argparse.Namespace) -> None:
    from aelib.apps.reproduce import is_committed_example, run_reproduce
    from aelib.config import project_root
    from aelib.experiments.reproduction import rerun_folder

    # --force changes which steps run, not what they compute, so the recorded command leaves it out: a fresh
    # clone's plain `make reproduce` then matches the committed example's provenance word for word.
    command = " ".join(["aelib", *(word for word in sys.argv[1:] if word != "--force")])
    if is_committed_example(Path(args.out)) and not args.force:
        # The committed run stays as it is: this one recomputes it in a folder of its own and compares.
        rerun = rerun_folder(args.out)
        print(
            f"{args.out} holds the committed run: recomputing it in {rerun.relative_to(project_root())}, then "
            "comparing every table with it (--force, make FORCE=1, replaces the committed run instead)"
        )
        run_reproduce(reproduce_settings(args), rerun, command=command, compare_with=args.out)
        return
    run_reproduce(reproduce_settings(args), args.out, force=args.force, command=command)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aelib")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aelib", description="Image compression with convolutional autoencoders.")
    parser.add_argument("--version", action="version", version=f"aelib {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train an autoencoder with the hybrid loss",
        description="Train an autoencoder with the hybrid loss (paper's settings by default).",
    )
    _add_data_arguments(train)
    train.add_argument("--depth", type=int, default=3, help="number of encoder convolutions (default %(default)s)")
    train.add_argument("--epochs", type=int, default=TrainConfig.epochs, help="maximum epochs (default %(default)s)")
    train.add_argument("--batch-size", type=int, default=TrainConfig.batch_size, help="default %(default)s")
    train.add_argument(
        "--patience", type=int, default=TrainConfig.patience, help="early-stopping patience (default %(default)s)"
    )
    defaults = LossWeights()
    train.add_argument(
        "--loss-weights",
        type=float,
        nargs=3,
        metavar=("A", "B", "C"),
        default=(defaults.ssim, defaults.perceptual, defaults.mse),
        help="weights of SSIM, perceptual and MSE loss, summing to 1 (default %(default)s)",
    )
    train.add_argument(
        "--feature-layers", nargs="+", default=list(DEFAULT_FEATURE_LAYERS), help="VGG16 layers of the perceptual loss"
    )
    train.add_argument(
        "--rate-weight",
        type=float,
        default=TrainConfig.rate_weight,
        help="λ of loss = hybrid + λ·bits per pixel; 0 (default) is the paper's loss",
    )
    train.add_argument("--init-model", help="fine-tune this .keras model (same depth) instead of starting afresh")
    train.add_argument("--out", default="results/models", help="output folder (default %(default)s)")
    train.add_argument("--force", action="store_true", help="overwrite an existing model")
    train.add_argument(
        "--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras progress: 0 none, 1 bar, 2 a line per epoch"
    )
    train.set_defaults(run=_train)

    calibrate = commands.add_parser(
        "calibrate",
        help="fit a trained model's output colours on its training split",
        description=(
            "Fit each output channel's gain and offset on the training split (aelib.nn.calibration) and save the "
            "model with refitted entropy tables. Training already does this; use it on models trained before."
        ),
    )
    calibrate.add_argument("--model", required=True, help="a .keras model with its .entropy.npz tables beside it")
    _add_data_arguments(calibrate)
    calibrate.add_argument("--out", required=True, help="the calibrated .keras file to write")
    calibrate.add_argument("--force", action="store_true", help="overwrite an existing model (e.g. --out = --model)")
    calibrate.set_defaults(run=_calibrate)

    evaluate = commands.add_parser(
        "evaluate",
        help="compare a trained model with JPEG (Table 1)",
        description="Compare a trained model with JPEG on the test split (the paper's Table 1).",
    )
    evaluate.add_argument("--model", required=True, help="a .keras file written by `aelib train`")
    _add_data_arguments(evaluate)
    evaluate.add_argument("--out", help="folder for the CSV and Markdown tables")
    evaluate.add_argument("--force", action="store_true", help="overwrite existing tables")
    evaluate.set_defaults(run=_evaluate)

    train_codec = commands.add_parser(
        "train-codec",
        help="train and export the mean-scale hyperprior codec (resumable)",
        description=(
            "Train the mean-scale hyperprior network with per-quality gain levels (settings: "
            "aelib.config.HyperpriorTraining), then export NAME.keras with its coding tables inside. "
            f"A checkpoint NAME{CHECKPOINT_SUFFIX} is written as it goes; the same command continues from it."
        ),
    )
    _add_data_arguments(train_codec)
    train_codec.add_argument("--out", default="results/models", help="output folder (default %(default)s)")
    train_codec.add_argument("--name", default="hyperprior", help="model name (default %(default)s)")
    train_codec.add_argument(
        "--preset",
        choices=sorted(CODEC_TRAINING),
        default="faces",
        help="faces: 128x128 images (--size); photos: random 256x256 crops of photos at their own size, from the "
        "train/ and val/ folders of --data (default %(default)s)",
    )
    train_codec.add_argument("--stop-after", type=int, help="stop, checkpointed, once this many steps are done")
    train_codec.add_argument("--force", action="store_true", help="overwrite an exported NAME.keras")
    train_codec.set_defaults(run=_train_codec)

    compress = commands.add_parser(
        "compress",
        help="write one .aec file per image",
        description="Compress images into .aec files (folders are searched recursively; their layout is kept).",
    )
    compress.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    compress.add_argument(
        "--model",
        help="an exported .keras model, or one with its .entropy.npz tables beside it "
        "(default: the committed model recommended for photos; `aelib models` lists them)",
    )
    rate = compress.add_mutually_exclusive_group()
    rate.add_argument(
        "--quality",
        type=float,
        help="0 … 100, like cwebp -q: a hyperprior model's quality settings, lowest rate first (default: highest)",
    )
    rate.add_argument(
        "--target-bpp", type=float, help="each image at the highest quality whose file fits this many bits per pixel"
    )
    compress.add_argument("--out", required=True, help="output folder")
    compress.add_argument(
        "--force", action="store_true", help="overwrite existing .aec files (default: keep those of this model, skip)"
    )
    _add_max_pixels_argument(compress)
    _add_shard_argument(compress)
    _add_stop_on_error_argument(compress)
    compress.add_argument(
        "--test-split",
        action="store_true",
        help="compress only the held-out test images of each folder (the split of train/evaluate)",
    )
    compress.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of that split")
    compress.set_defaults(run=_compress)

    decompress = commands.add_parser(
        "decompress", help="write one PNG per .aec file", description="Decompress .aec files into PNG images."
    )
    decompress.add_argument("inputs", nargs="+", metavar="FILE.aec", help=".aec files or folders of them")
    decompress.add_argument("--out", required=True, help="output folder")
    decompress.add_argument("--model", help="the model that wrote the files (default: found by fingerprint)")
    decompress.add_argument(
        "--models-dir",
        nargs="+",
        help="where to look for models by fingerprint (default: $AELIB_MODELS, ~/.cache/aelib/models and this "
        "checkout's committed results/, wherever the command runs)",
    )
    decompress.add_argument(
        "--force", action="store_true", help="overwrite existing PNG files (default: keep complete ones, skip)"
    )
    _add_max_pixels_argument(decompress)
    _add_shard_argument(decompress)
    _add_stop_on_error_argument(decompress)
    decompress.set_defaults(run=_decompress)

    reproduce = commands.add_parser(
        "reproduce",
        help="run the numbered notebooks for every depth and write the study's results",
        description=(
            "Run the numbered notebooks with papermill (01 once, 02-04 per depth, then 06), then write the combined "
            "Table 1, Figure 14, the rate-distortion tables and README.md. Finished steps are skipped unless --force."
        ),
    )
    _add_data_arguments(reproduce)
    reproduce.add_argument(
        "--depths", type=int, nargs="+", default=list(PAPER_DEPTHS), help="encoder depths (default %(default)s)"
    )
    reproduce.add_argument(
        "--profile",
        choices=("study", "paper"),
        default="study",
        help="study: few epochs and a rate term, sized for 2 CPU cores; paper: the paper's 40 epochs and loss",
    )
    reproduce.add_argument("--epochs", type=int, help="maximum epochs, overriding the profile")
    reproduce.add_argument("--test-images", type=int, help="evaluate only the first this many test images")
    reproduce.add_argument(
        "--second-test-set",
        help=f"a folder of images evaluated at their own size as well (e.g. Kodak); '{EMBEDDED_TEST_SET}': the "
        "images shipped with scikit-image (the default with the embedded data)",
    )
    reproduce.add_argument("--out", default="results", help="results folder (default %(default)s)")
    reproduce.add_argument("--force", action="store_true", help="redo finished steps; replace a run of other settings")
    reproduce.set_defaults(run=_reproduce)

    info = commands.add_parser(
        "info",
        help="print the header of .aec files or what a .keras model is",
        description="Print the header of .aec files, or a .keras model's kind and quality settings.",
    )
    info.add_argument("files", nargs="+", metavar="FILE.aec|MODEL.keras")
    info.set_defaults(run=_info)

    models = commands.add_parser(
        "models",
        help="list the committed models: what each is for and how it measured",
        description="The model zoo: every committed codec model, what it was trained on, what it is for, its bits "
        "per pixel, PSNR and SSIM on its test set, its quality settings, and which aelib recommends.",
    )
    models.add_argument(
        "--results", help="a results folder holding models/ and tables/ (default: the checkout's results/)"
    )
    models.add_argument("--markdown", action="store_true", help="print a Markdown table")
    models.set_defaults(run=_models)
    return parser


EXTRA_OF_MODULE = {
    "tensorflow": "cpu",
    "pandas": "study",
    "tabulate": "study",
    "matplotlib": "study",
    "seaborn": "study",
    "sklearn": "study",
    "papermill": "study",
    "nbformat": "study",
    "IPython": "panel",
    "ipywidgets": "panel",
    "voila": "panel",
}
"""The extra of pyproject.toml that installs each package a command may need beyond the codec's own."""


def missing_extra_message(module: str) -> str | None:
    """One line naming the extra that installs module, or None for a module no extra installs."""
    extra = EXTRA_OF_MODULE.get(module.split(".")[0])
    if extra is None:
        return None
    if extra == "cpu":
        return "TensorFlow is not installed: pip install 'aelib[cpu]' (or 'aelib[gpu]' with an NVIDIA GPU)"
    return f"this command needs {module.split('.')[0]}, which the {extra} extra installs: pip install 'aelib[{extra}]'"


class BatchFailed(Exception):
    """Some inputs of a batch could not be coded; the others were written and the failures listed."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``aelib`` console script; returns the exit status.

    0: done; 1: a batch finished but some inputs failed (each named on standard error); 2: a usage
    or input error stopped the command (one line); 130: interrupted.
    """
    args = build_parser().parse_args(argv)
    # The command is the application: it shows aelib's progress lines and keeps TensorFlow's start-up quiet.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    show_progress()
    try:
        args.run(args)
    except BatchFailed:
        return 1
    except AelibError as error:
        print(f"aelib: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`aelib models | head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:  # a disk or permission problem that no check above could foresee
        print(f"aelib: error: {error}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:
        message = missing_extra_message(error.name or "")
        if message is None:
            raise
        print(f"aelib: error: {message}", file=sys.stderr)
        return 2
    except MemoryError:
        print("aelib: error: out of memory; try a smaller image or --max-pixels", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aelib: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
