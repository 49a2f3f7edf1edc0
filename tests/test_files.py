"""Batches of files on disk: outputs kept, interrupted batches finished, bad inputs refused before any work."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aelib.codec.files import check_aec_files, check_images, compress_files, decompress_files, summary_line
from aelib.errors import AelibError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from large_images import header_bomb, png_bomb, run_measured  # noqa: E402 - the benchmark's own helpers


@pytest.fixture
def folder(tmp_path, photos):
    images = tmp_path / "photos"
    images.mkdir()
    for index in range(12):
        Image.fromarray(np.roll(photos[index % 4], index, axis=1)).save(images / f"{index:02d}.png")
    return images


def test_existing_outputs_of_this_model_are_kept_and_counted(codec, folder, tmp_path):
    out = tmp_path / "aec"
    first = compress_files([folder], codec, out)
    stamps = {r.output: r.output.stat().st_mtime_ns for r in first}
    again = compress_files([folder], codec, out)
    assert all(r.skipped for r in again) and {r.output: r.output.stat().st_mtime_ns for r in again} == stamps
    assert [r.compressed_bytes for r in again] == [r.compressed_bytes for r in first]
    assert "12 file(s) (12 already there, kept)" in summary_line(again)

    pngs = tmp_path / "png"
    decompress_files([out], pngs, codec)
    assert all(r.skipped for r in decompress_files([out], pngs, codec))
    (pngs / "00.png").write_bytes(b"half a png")
    with pytest.raises(AelibError, match="00.png exists and is not the 64x64 PNG of .*--force replaces it"):
        decompress_files([out], pngs, codec)


def test_outputs_of_another_model_are_not_taken_for_done(codec, folder, tmp_path, images):
    import keras

    from aelib.codec.codec import make_codec_model
    from aelib.nn.models import build_autoencoder

    keras.utils.set_random_seed(99)
    other = make_codec_model(build_autoencoder(3), images)
    compress_files([folder / "00.png"], other, tmp_path)
    with pytest.raises(AelibError, match=f"written by model {other.fingerprint}, not {codec.fingerprint}"):
        compress_files([folder / "00.png"], codec, tmp_path)


@pytest.mark.slow  # kills a compressing process
def test_a_batch_killed_midway_finishes_when_run_again(saved, folder, tmp_path):
    out = tmp_path / "aec"
    command = [
        sys.executable,
        "-m",
        "aelib.apps.cli",
        "compress",
        str(folder),
        "--model",
        str(saved),
        "--out",
        str(out),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.glob("[0-9]*.aec")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in out.glob("[0-9]*.aec")}
    assert done, "the batch was killed before it wrote anything"

    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    # A file being written when the kill came is left as a hidden temporary; the rerun removes it.
    assert sorted(p.name for p in out.iterdir()) == [f"{i:02d}.aec" for i in range(12)]
    assert {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in done} == done
    assert f"12 file(s) ({len(done)} already there, kept)" in again.stdout


def test_an_unwritable_output_folder_is_one_line(codec, folder, tmp_path):
    blocker = tmp_path / "a file"
    blocker.write_text("in the way")
    with pytest.raises(AelibError, match="cannot create the folder"):
        compress_files([folder / "00.png"], codec, blocker / "out")


def test_inputs_are_checked_from_their_headers_before_any_work(tmp_path, folder):
    assert check_images([folder]) == 12
    png_bomb(tmp_path / "bomb.png", 30000)
    assert (tmp_path / "bomb.png").stat().st_size < 100
    with pytest.raises(AelibError, match="bomb.png is too large for Pillow"):
        check_images([tmp_path / "bomb.png"])
    png_bomb(tmp_path / "big.png", 12000)
    with pytest.raises(AelibError, match="big.png is 12000x12000, 144,000,000 pixels; the limit is 100,000,000"):
        check_images([tmp_path / "big.png"], max_pixels=100_000_000)

    header_bomb(tmp_path / "huge.aec")
    with pytest.raises(AelibError, match="huge.aec: header claims a 16384x16384 image"):
        check_aec_files([tmp_path / "huge.aec"])


@pytest.mark.parametrize(
    "command, message",
    [("decompress", "16384x16384"), ("info", "16384x16384"), ("compress", "too large for Pillow")],
)
@pytest.mark.slow  # a process per bomb, memory measured
def test_size_bombs_end_in_one_line_in_little_memory(saved, tmp_path, command, message):
    """The attacks of issue 14; their time is measured by benchmarks/large_images.py."""
    bomb = tmp_path / ("bomb.png" if command == "compress" else "bomb.aec")
    png_bomb(bomb, 30000) if command == "compress" else header_bomb(bomb)
    assert bomb.stat().st_size < 100
    model = [] if command == "info" else ["--model", str(saved), "--out", str(tmp_path / "out")]
    result = run_measured(command, str(bomb), *model)
    # info stops with a usage error; a batch lists the bomb as its one failed input
    assert result["status"] == (2 if command == "info" else 1)
    assert len(result["stderr_lines"]) == 1 and message in result["stderr_lines"][0]
    assert result["peak_mb"] < 500
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_two_shards_write_exactly_the_files_of_one_unsharded_run(saved, folder, tmp_path):
    """The done-when of issue 16: --shard 0/2 and 1/2, each in its own process, byte for byte the whole run."""
    whole, split = tmp_path / "whole", tmp_path / "split"
    base = [sys.executable, "-m", "aelib.apps.cli", "compress", str(folder), "--model", str(saved)]
    subprocess.run([*base, "--out", str(whole)], check=True, capture_output=True, timeout=120)
    shards = [
        subprocess.Popen([*base, "--out", str(split), "--shard", f"{index}/2"], stdout=subprocess.PIPE, text=True)
        for index in range(2)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in shards]
    assert [process.returncode for process in shards] == [0, 0]
    assert [out.startswith("6 file(s)") for out in outputs] == [True, True]

    def contents(root):
        return {path.relative_to(root): path.read_bytes() for path in sorted(root.rglob("*.aec"))}

    assert contents(split) == contents(whole) and len(contents(whole)) == 12


@pytest.mark.parametrize("text", ["2/2", "1", "-1/2", "a/b", "0/0"])
def test_a_bad_shard_is_one_line(text):
    from aelib.codec.files import parse_shard

    with pytest.raises(AelibError, match="--shard takes i/n"):
        parse_shard(text)


def test_shards_partition_the_sorted_files():
    from aelib.codec.files import take_shard

    files = list(range(11))
    parts = [take_shard(files, (index, 3)) for index in range(3)]
    assert sorted(sum(parts, [])) == files and parts[0] == [0, 3, 6, 9]


def test_an_empty_shard_says_so(codec, folder, tmp_path):
    results = compress_files([folder / "00.png"], codec, tmp_path, shard=(1, 2))
    assert results == [] and summary_line(results).startswith("0 file(s)")


def test_the_tf_data_reader_streams_each_files_bytes_in_order(folder, tmp_path):
    from aelib.codec.files import READ_AHEAD, stream_file_bytes

    paths = sorted(folder.glob("*.png"))
    assert len(paths) > READ_AHEAD
    assert list(stream_file_bytes(paths)) == [path.read_bytes() for path in paths]
    assert list(stream_file_bytes([])) == []
    with pytest.raises(AelibError, match="cannot read .*missing.png"):
        list(stream_file_bytes([paths[0], tmp_path / "missing.png"]))
