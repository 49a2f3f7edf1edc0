"""Writing outputs safely: nothing half-written, nothing overwritten by accident.

Every file aelib writes (models, tables, caches, ``.aec`` files, decoded PNGs,
histories) goes through :func:`atomic_output`, and every command that would
replace existing files asks :func:`refuse_overwrite` first.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

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


def refuse_overwrite(paths: Iterable[Path], force: bool) -> None:
    """Raises a one-line error naming the first existing path (and how many more), unless force."""
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing and not force:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise InputError(f"{existing[0]}{more} already exist(s); pass --force to overwrite")
