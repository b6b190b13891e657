"""The data cache: where registry files live, their checksums, and downloads that are checked before they are kept.

:func:`cache_dir` is ``$LOSSLAB_DATA``, else the user cache folder. A missing file is
downloaded from its official address, checked against its recorded checksum and moved into
place atomically (:func:`download`); files already in the cache are checked too
(:func:`verify_files`), so a corrupt or different release fails loudly rather than giving
different numbers.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import LosslabError

__all__ = ["Bundle", "Remote", "bundle_digest", "cache_dir", "download", "file_digest", "split_checksum", "uses_local_copy", "verify_files"]


def cache_dir() -> Path:
    """The data cache: ``$LOSSLAB_DATA`` if set, else the platform's user cache folder.

    ``~/.cache/losslab`` on Linux (``$XDG_CACHE_HOME/losslab`` when set),
    ``~/Library/Caches/losslab`` on macOS, ``%LOCALAPPDATA%\\losslab\\Cache`` on Windows.
    The folder is not created here (it may be a read-only shared folder).
    """
    env = os.environ.get("LOSSLAB_DATA", "").strip()
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
        return base / "losslab" / "Cache"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "losslab"
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else home / ".cache") / "losslab"


# --------------------------------------------------------------------------- checksums
_DIGESTS: dict[tuple[str, int, int, str], str] = {}


def file_digest(path: Path, algo: str = "sha256") -> str:
    """Hex digest of a file, memoised on (path, size, mtime) so a process hashes each file once."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, algo)
    if key not in _DIGESTS:
        h = hashlib.new(algo)
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def bundle_digest(paths: list[Path]) -> str:
    """sha256 of the manifest ``"<sha256>  <file name>\\n"`` over files sorted by name.

    Equal to ``sha256sum <files> | sha256sum`` when the shell sorts the names the same way;
    used for the many small split-index files of the UCI sets.
    """
    lines = "".join(f"{file_digest(p)}  {p.name}\n" for p in sorted(paths, key=lambda p: p.name))
    return hashlib.sha256(lines.encode()).hexdigest()


def split_checksum(checksum: str) -> tuple[str, str]:
    """``("md5" | "sha256", hex digest)`` of a recorded checksum ``"<algo>:<hex>"``."""
    algo, _, hexdigest = checksum.partition(":")
    if algo not in ("md5", "sha256") or not hexdigest:
        raise LosslabError(f"checksum {checksum!r}; expected 'md5:<hex>' or 'sha256:<hex>'")
    return algo, hexdigest.lower()


@dataclass(frozen=True)
class Remote:
    """One file of an entry: its path under the cache, where to download it, its checksum."""

    path: str  # relative to cache_dir(), "/"-separated
    url: str | None = None  # None: not distributed, only a local copy can provide it
    checksum: str | None = None  # "md5:<hex>" or "sha256:<hex>"


@dataclass(frozen=True)
class Bundle:
    """A checksum over several small files (see :func:`bundle_digest`)."""

    paths: tuple[str, ...]
    checksum: str  # "sha256:<hex>"


def uses_local_copy(spec: Any, root: Path) -> bool:
    """Whether the entry's local copy (which replaces its files) is in the cache, all of it."""
    return bool(spec.local_copy) and all((root / r.path).is_file() for r in spec.local_copy)


def download(url: str, dest: Path, checksum: str | None, what: str) -> None:
    """Stream ``url`` to a temporary file beside ``dest``, check it, then rename it into place."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LosslabError(f"cannot create the cache folder {dest.parent} ({exc.strerror}); set LOSSLAB_DATA") from None
    algo, want = split_checksum(checksum) if checksum else ("sha256", None)
    h = hashlib.new(algo)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - official https/file URLs
                    for block in iter(lambda: resp.read(1 << 20), b""):
                        h.update(block)
                        out.write(block)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or exc
                raise LosslabError(
                    f"cannot download {what} from {url} ({reason}); with no network, put the file at {dest} "
                    f"or point LOSSLAB_DATA at a folder that holds it"
                ) from None
        got = h.hexdigest()
        if want is not None and got != want:
            raise LosslabError(
                f"the download of {what} from {url} has {algo} {got}, not the recorded {want}; the file was not kept"
            )
        os.replace(tmp, dest)  # atomic on one file system: a reader never sees half a file
    finally:
        if tmp.exists():
            tmp.unlink()


def verify_files(spec: Any, root: Path, remotes: tuple[Remote, ...], bundles: tuple[Bundle, ...]) -> None:
    """Check each file and bundle under ``root`` against its recorded checksum; a one-line error naming the first that differs."""
    for r in remotes:
        if r.checksum is None:
            continue
        algo, want = split_checksum(r.checksum)
        p = root / r.path
        got = file_digest(p, algo)
        if got != want:
            raise LosslabError(
                f"{p}: {algo} checksum {got} does not match the recorded {want} for {spec.name}; the file is corrupt "
                f"or another release: delete it and call losslab.data.fetch({spec.name!r})"
            )
    for b in bundles:
        _, want = split_checksum(b.checksum)
        got = bundle_digest([root / p for p in b.paths])
        if got != want:
            folder = root / os.path.commonpath(list(b.paths))
            raise LosslabError(
                f"{folder}: the {len(b.paths)} split/index files of {spec.name} have bundle sha256 {got}, not the "
                f"recorded {want}; delete them and call losslab.data.fetch({spec.name!r})"
            )
