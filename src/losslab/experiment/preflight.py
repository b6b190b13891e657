"""Pre-flight checks: fail in a second, before any training, when results could not be written.

A comparison can run for hours; an output folder that cannot be written, or a disk
with no room left, should stop it at the start with one line that says so, not at
the end with a traceback and nothing saved.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from .._errors import LosslabError

__all__ = ["MIN_FREE_BYTES", "check_writable", "check_store_path"]

#: free space a comparison needs at the least: the run store (arrays of every run) and the report's figures
MIN_FREE_BYTES = 50 * 2**20

#: bytes written (and synced) by the probe: enough that a full disk refuses them
_PROBE_BYTES = 64 * 1024


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def check_writable(path: str | os.PathLike, *, what: str = "output folder", min_free: int = MIN_FREE_BYTES,
                   create: bool = True) -> Path:
    """Make sure ``path`` is a folder where files can be written, with ``min_free`` bytes free; return it.

    Creates the folder (and its parents) when ``create`` is true, writes a 64 KB probe file
    in it, syncs it to disk and removes it, then checks the free space with
    :func:`shutil.disk_usage`. Any failure raises a one-line
    :class:`~losslab.LosslabError` naming ``what``, the folder and the cause.

    Args:
        path: the folder.
        what: how the folder is named in the error (e.g. ``"--out folder"``).
        min_free: bytes that must remain free (default :data:`MIN_FREE_BYTES`, 50 MB).
        create: create the folder when it does not exist (otherwise that is an error).

    Returns:
        the folder as a :class:`~pathlib.Path`.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     check_writable(Path(d) / "out", min_free=0).name
    'out'
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise LosslabError(f"{what} {str(folder)!r} is a file, expected a folder")
    if not folder.exists():
        if not create:
            raise LosslabError(f"{what} {str(folder)!r} does not exist")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LosslabError(f"{what} {str(folder)!r} cannot be created ({_reason(e)})") from None
    fd, probe = -1, None
    try:
        fd, probe = tempfile.mkstemp(prefix=".losslab-probe-", dir=folder)
        os.write(fd, b"\0" * _PROBE_BYTES)
        os.fsync(fd)
    except OSError as e:
        raise LosslabError(f"{what} {str(folder)!r} is not writable ({_reason(e)})") from None
    finally:
        if fd >= 0:
            os.close(fd)
        if probe is not None:
            try:
                os.unlink(probe)
            except OSError:
                pass
    free = shutil.disk_usage(folder).free
    if free < min_free:
        raise LosslabError(
            f"{what} {str(folder)!r} has {_human(free)} free, below the {_human(min_free)} a comparison needs "
            f"(run store and report); free some space or choose another folder"
        )
    return folder


def check_store_path(path: str | os.PathLike, *, min_free: int = MIN_FREE_BYTES) -> None:
    """Make sure a run store can be created or updated at ``path`` (its folder writable, with room to grow).

    ``":memory:"`` passes. The folder must exist (it is not created: a mistyped ``--store``
    path should not grow folders); SQLite also writes ``-wal`` and ``-shm`` files beside the
    store, so the folder itself must be writable, not only the file.

    >>> check_store_path(":memory:")
    """
    if str(path) == ":memory:":
        return
    p = Path(path)
    if p.is_dir():
        raise LosslabError(f"store {str(p)!r} is a folder, expected a file path (e.g. {str(p / 'runs.sqlite')!r})")
    check_writable(p.parent, what=f"store {str(p)!r}: folder", min_free=min_free, create=False)
    if p.exists() and not os.access(p, os.W_OK):
        raise LosslabError(f"store {str(p)!r} is read-only; expected a file losslab can write")


def _reason(e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return "no space left on the device"
    if e.errno == errno.EROFS:
        return "read-only file system"
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return e.strerror or type(e).__name__
