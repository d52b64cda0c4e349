"""What a failure looks like to a ``woox-host`` user: one line on stderr and an exit code.

2 for bad input (options, symbols, times, URLs the policy refuses), 1 for the exchange, the
network or the disk, 130 after Ctrl-C; never a traceback. What a plugin logs (a retry, a gap it
cannot fill) is shown the same way, one line per record, repeats within a few seconds dropped.
Notes added to an exception on its way out (``outfile``: nothing was written) end its line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from typing import TextIO

import aiohttp

from host_stub.endpoints import EndpointError
from host_stub.outfile import OutPathError
from host_stub.spec import DatasourceError, InvalidRequest, NetworkNotAllowed, UnknownSymbol
from host_stub.store.errors import StoreError
from host_stub.streaming import NeverConnected
from host_stub.times import TimeSyntaxError

PROG = "woox-host"

BAD_INPUT = 2
FAILED = 1
INTERRUPTED = 130


class UsageError(Exception):
    """The command line asks for something that cannot be done; the message says what."""


_BAD_INPUT = (
    UsageError,
    EndpointError,
    OutPathError,
    TimeSyntaxError,
    InvalidRequest,
    UnknownSymbol,
    NetworkNotAllowed,
)


def notes(exc: BaseException) -> str:
    """Notes added on the way out (``nothing was written to ...``), also from the exception a
    KeyboardInterrupt replaced."""
    found: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        found += getattr(seen, "__notes__", [])
        seen = seen.__context__
    return "".join(f"; {note}" for note in dict.fromkeys(found))


def failure(exc: Exception) -> tuple[int, str]:
    """The exit code and the one line for ``exc``."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, _BAD_INPUT):
        return BAD_INPUT, f"error: {text}"
    if isinstance(exc, StoreError):
        return FAILED, f"candle store: {text}"
    if isinstance(exc, DatasourceError | NeverConnected):
        return FAILED, f"{type(exc).__name__}: {text}"
    if isinstance(exc, aiohttp.ClientError | TimeoutError | ConnectionError):
        return FAILED, f"network failure: {text}"
    if isinstance(exc, OSError):
        where = repr(exc.filename) if exc.filename else "the output"
        return FAILED, f"cannot write {where}: {exc.strerror or text}"
    return FAILED, f"internal error: {type(exc).__name__}: {text} (a bug: please report it)"


def report(exc: BaseException, target: TextIO) -> int:
    """Say what went wrong on one line and return the exit code."""
    if isinstance(exc, KeyboardInterrupt):
        sys.stderr.write(f"{PROG}: interrupted{notes(exc)}\n")
        return INTERRUPTED
    if isinstance(exc, BrokenPipeError):  # the reader went away (``| head``): not a failure
        return flush_output(target) or 0
    assert isinstance(exc, Exception)
    code, line = failure(exc)
    flush_output(target, quiet=True)
    sys.stderr.write(f"{PROG}: {line}{notes(exc)}\n")
    return code


class _OneLine(logging.Formatter):
    """Plugin log records as ``woox-host: message``, an exception as its one-line summary."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            message += f": {record.exc_info[1]!r}"
        return f"{PROG}: {' '.join(message.split())}"


class _Repeats(logging.Filter):
    """Drops a message already shown in the last few seconds (eight windows retrying at once
    say the same thing eight times)."""

    def __init__(self, window_s: float = 5.0) -> None:
        super().__init__()
        self._window = window_s
        self._shown: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        message = record.getMessage()
        if now - self._shown.get(message, -self._window) < self._window:
            return False
        self._shown[message] = now
        return True


@contextlib.contextmanager
def plugin_logs() -> Iterator[None]:
    """Show what plugins log at WARNING and above (retries, unfillable gaps) on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    handler.addFilter(_Repeats())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def flush_output(target: TextIO, *, quiet: bool = False) -> int | None:
    """Flush the data; a full disk or closed pipe behind stdout is reported here, once (unless
    ``quiet``: another failure is being reported), and stdout is pointed at /dev/null so that the
    interpreter does not report it again at exit. Returns the exit code when flushing failed."""
    try:
        target.flush()
        return None
    except BrokenPipeError:
        code = 0
    except OSError as exc:
        if not quiet:
            sys.stderr.write(f"{PROG}: cannot write the output: {exc.strerror}\n")
        code = 1
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, target.fileno())
        os.close(devnull)
    return code
