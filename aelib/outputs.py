"""Writing outputs safely: nothing half-written, nothing overwritten by accident, no noise in logs.

Every file aelib writes (models, tables, caches, ``.aec`` files, decoded PNGs,
histories) goes through :func:`atomic_output`, and every command that would
replace existing files asks :func:`refuse_overwrite` first. Every loop that
shows progress does so through :func:`progress_bar`, which draws on a terminal
or in a notebook and stays silent on a redirected stream.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tqdm.auto import tqdm

from aelib.errors import InputError


def _process_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _remove_stale_temporaries(path: Path) -> None:
    """Removes ``.PID-name`` files beside path that processes no longer running left behind."""
    for leftover in path.parent.glob(f".*-{path.name}"):
        pid = leftover.name[1:].split("-", 1)[0]
        if pid.isdigit() and leftover.name == f".{pid}-{path.name}" and not _process_is_alive(int(pid)):
            with suppress(OSError):
                leftover.unlink()


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside path; renames it onto path when the block succeeds.

    The temporary name keeps path's ending (Keras insists on ``.keras`` and
    ``.weights.h5``), so any writer can use it. If the block fails, the
    temporary file is removed and path is left as it was; one left behind by
    a killed process (SIGKILL runs no clean-up) is removed by the next write
    of the same path. A folder that cannot be created or written ends in a
    one-line :class:`AelibError`.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create the folder {path.parent} ({error.strerror or error})") from None
    _remove_stale_temporaries(path)
    temporary = path.with_name(f".{os.getpid()}-{path.name}")
    try:
        yield temporary
        os.replace(temporary, path)
    except OSError as error:
        raise InputError(f"cannot write {path} ({error.strerror or error})") from None
    finally:
        with suppress(OSError):
            temporary.unlink(missing_ok=True)


def refuse_overwrite(paths: Iterable[Path], force: bool, how: str = "pass --force to overwrite") -> None:
    """Raises a one-line error naming the first existing path (and how many more), unless force.

    how: what the user does to overwrite, in the words of the interface they use.
    """
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing and not force:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise InputError(f"{existing[0]}{more} already exist(s); {how}")


def progress_bar(
    items: Iterable | None = None,
    total: int | None = None,
    description: str = "",
    unit: str = "it",
    leave: bool = False,
) -> tqdm:
    """A tqdm bar over items, drawn on a terminal or in a notebook, and disabled on a redirected stream.

    A bar written into a log file is thousands of carriage-return updates on
    one line (a ``train-codec … > log`` run wrote 6,000 of them while reading
    its data); a log should hold the log records only. The bar is drawn where
    a person watches it: standard error is a terminal, or a Jupyter kernel
    runs the code.
    """
    interactive = sys.stderr.isatty() or "ipykernel" in sys.modules
    return tqdm(items, total=total, desc=description, unit=unit, leave=leave, disable=not interactive)
