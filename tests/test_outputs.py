import os

import pytest

from aelib.errors import AelibError
from aelib.outputs import atomic_output, refuse_overwrite


def test_atomic_output_replaces_only_on_success(tmp_path):
    target = tmp_path / "sub" / "model.keras"
    with atomic_output(target) as temporary:
        assert temporary.name.endswith("model.keras") and temporary.parent == target.parent
        temporary.write_text("first")
    assert target.read_text() == "first"

    with pytest.raises(RuntimeError), atomic_output(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "first"
    assert [p.name for p in target.parent.iterdir()] == ["model.keras"]  # no temporary left behind


def test_refuse_overwrite_names_the_first_existing_file_and_counts_the_rest(tmp_path):
    files = [tmp_path / f"{n}.aec" for n in "abc"]
    for path in files[:2]:
        path.write_bytes(b"x")
    with pytest.raises(AelibError, match=r"a\.aec and 1 more already exist\(s\); pass --force"):
        refuse_overwrite(files, force=False)
    refuse_overwrite(files, force=True)
    refuse_overwrite(files[2:], force=False)


def test_a_temporary_left_by_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    import subprocess
    import sys

    from aelib.outputs import atomic_output

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = tmp_path / f".{int(dead.stdout)}-out.bin"
    leftover.write_bytes(b"half")
    mine = tmp_path / f".{os.getpid()}-other.bin"  # a live writer's temporary of another file stays
    mine.write_bytes(b"busy")
    with atomic_output(tmp_path / "out.bin") as temporary:
        temporary.write_bytes(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == [mine.name, "out.bin"]


_COUNT_TO_FIFTY = (
    "from aelib.outputs import progress_bar\n"
    "for _ in progress_bar(range(50), 50, 'reading', 'img', leave=True):\n"
    "    pass\n"
)


def test_a_progress_bar_is_drawn_on_a_terminal_and_nothing_reaches_a_log_file(tmp_path):
    import fcntl
    import pty
    import struct
    import subprocess
    import sys
    import termios

    log = tmp_path / "run.log"
    with open(log, "w") as stream:
        subprocess.run([sys.executable, "-c", _COUNT_TO_FIFTY], stdout=stream, stderr=stream, check=True)
    assert log.read_text() == ""

    leader, follower = pty.openpty()
    # A new pseudo-terminal is 0 columns wide, and tqdm draws nothing into 0 columns: give it 80.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    subprocess.run([sys.executable, "-c", _COUNT_TO_FIFTY], stdout=follower, stderr=follower, check=True)
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal's other end is closed: all was read
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    assert b"reading" in drawn and b"50/50" in drawn
