"""Atomic output files: write to a temporary sibling, then move it into place.

Without ``force`` the move is a hard link, which fails if the name exists, so two writers
racing for one path cannot both win; with ``force`` it is a rename over the old file. An
output is never written over one of the inputs (same file by device and inode, so hard and
symbolic links count), even with ``force``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from nwcodec.errors import NwcodecError


class OutputExistsError(NwcodecError):
    """The output exists and overwriting was not asked for."""


class SameFileError(NwcodecError):
    """The output is one of the inputs."""


def file_id(path: str | os.PathLike[str] | int) -> tuple[int, int] | None:
    """(device, inode) of a path or open descriptor, following links; None if there is none."""
    try:
        st = os.fstat(path) if isinstance(path, int) else os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def _check_target(target: Path, force: bool, protect: Iterable[tuple[int, int]]) -> None:
    if target.is_dir():
        raise NwcodecError(f"{target} is a directory; give a file name for the output")
    if (ident := file_id(target)) is not None and ident in set(protect):
        raise SameFileError(f"{target} is an input file; refusing to write over it")
    if target.exists() and not force:
        raise OutputExistsError(f"{target} exists (use --force to overwrite)")


def _place(tmp: str, target: Path, force: bool) -> None:
    """Move ``tmp`` to ``target``: a rename if ``force``, else a link that refuses to replace."""
    if force:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise OutputExistsError(f"{target} appeared while it was written; left untouched") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        # No hard links here (some network and FUSE file systems): claim the name with an
        # exclusive create, which refuses just as atomically, then rename over the claim.
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            raise OutputExistsError(f"{target} exists (use --force to overwrite)") from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike[str],
    force: bool = False,
    protect: Iterable[tuple[int, int]] = (),
) -> Iterator[BinaryIO]:
    """Yield a binary file that appears at ``path`` only if the block completes.

    On any exception (a termination signal included, see ``cli.common``) the temporary file
    is removed and ``path`` is left untouched, so a failed encode never leaves a half-written
    file behind. ``protect`` holds :func:`file_id` s of inputs that must never be replaced.
    """
    target = Path(path)
    protect = list(protect)
    _check_target(target, force, protect)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise NwcodecError(f"output directory {parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=parent)
    except OSError as exc:
        raise NwcodecError(f"cannot write to {parent}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.chmod(tmp, 0o644)
        _check_target(target, force, protect)  # the input may have been linked there meanwhile
        _place(tmp, target, force)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
