"""``--out FILE`` that never loses a file: all or nothing.

The data goes to a temporary file beside the target, which replaces the target only once
everything was written and synced. Until then the old file is untouched; on any failure
(an error, Ctrl-C, a full disk) the temporary file is removed and the error carries a note saying
that nothing was written. A target that is not a regular file (``/dev/stdout``, a FIFO,
``/dev/full``) cannot be replaced and is written directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import AsyncIterator
from typing import TextIO


class OutPathError(ValueError):
    """The ``--out`` path cannot be written at all (missing directory, no permission)."""


@contextlib.asynccontextmanager
async def output_file(path: str | None, default: TextIO) -> AsyncIterator[TextIO]:
    """Yield where to write: ``default`` when ``path`` is None, else a file that becomes
    ``path`` only when the block completes."""
    if path is None:
        yield default
        return
    if await asyncio.to_thread(_is_special, path):
        handle = await asyncio.to_thread(_open_direct, path)
        try:
            with handle:
                yield handle
        except OSError as exc:
            raise _naming(exc, path) from None
        return
    handle, temp, existed = await asyncio.to_thread(_open_temp, path)
    try:
        with handle:
            yield handle
            handle.flush()
            await asyncio.to_thread(os.fsync, handle.fileno())
        await asyncio.to_thread(_commit, temp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        unchanged = " (the existing file is unchanged)" if existed else ""
        failure = _naming(exc, path) if isinstance(exc, OSError) else exc
        failure.add_note(f"nothing was written to {path!r}{unchanged}")
        if failure is exc:
            raise
        raise failure from None


_DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS})


def _naming(exc: OSError, path: str) -> OSError:
    """A disk error names the target (the user never heard of the temporary file); any other
    OSError (a network failure inside the block) stays as it is."""
    if exc.errno not in _DISK_ERRORS:
        return exc
    return OSError(exc.errno, exc.strerror, path)


def _is_special(path: str) -> bool:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _open_direct(path: str) -> TextIO:
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise OutPathError(f"cannot write --out {path!r}: {exc.strerror}") from None


def _open_temp(path: str) -> tuple[TextIO, str, bool]:
    directory, name = os.path.split(os.path.abspath(path))
    if os.path.isdir(path):
        raise OutPathError(f"--out {path!r} is a directory; give a file name")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
    except OSError as exc:
        raise OutPathError(f"cannot write --out {path!r}: {exc.strerror}") from None
    handle = open(fd, "w", encoding="utf-8", newline="", closefd=True)  # noqa: SIM115
    return handle, temp, os.path.lexists(path)


def _commit(temp: str, path: str) -> None:
    """Give the new file the old one's permissions (or the umask's default, not mkstemp's 0600),
    then move it into place in one step."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(temp, mode)
    os.replace(temp, path)
