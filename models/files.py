"""Atomic file writes that keep the permissions of the file they replace."""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterator


def _default_mode() -> int:
    # The umask can only be read by setting it; this runs once per write, never concurrently with
    # another umask change in this codebase.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_file(path: Path, sync: bool = False) -> Iterator[BinaryIO]:
    """A file to write `path` through: a temporary file renamed into place when the block ends without an
    exception (removed if it does not), so a crash never leaves half a file.

    The new file gets the mode of the one it replaces (or what the umask gives a new file):
    mkstemp's private 0600 would otherwise lock out every other user of a shared model dir.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = _default_mode()
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, write: Callable[[BinaryIO], None], sync: bool = False) -> None:
    """`write(f)` to `path` through `atomic_file`."""
    with atomic_file(path, sync) as f:
        write(f)
