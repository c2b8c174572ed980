"""What every command shares: one-line errors, stdin/stdout as '-', atomic outputs."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

import click

from nwcodec.errors import NwcodecError
from nwcodec.files import atomic_output, file_id


class NwcGroup(click.Group):
    """A click group that reports failures as one line on stderr and exits non-zero."""

    def invoke(self, ctx: click.Context) -> Any:
        clean_up_on_signals()
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Terminated as exc:
            name = signal.Signals(exc.signum).name
            _fail(f"stopped by {name}; unfinished outputs removed", code=128 + exc.signum)
        except NwcodecError as exc:
            _fail(str(exc))
        except FileNotFoundError as exc:
            _fail(f"no such file: {exc.filename}")
        except PermissionError as exc:
            _fail(f"permission denied: {exc.filename}")
        except BrokenPipeError:
            _stdout_closed()
        except OSError as exc:
            _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        except KeyboardInterrupt:
            _fail("interrupted", code=130)
        except Exception as exc:  # a bug: still one line, the traceback only on request
            if os.environ.get("NWC_DEBUG"):
                traceback.print_exc()
            _fail(f"internal error ({type(exc).__name__}: {exc}); set NWC_DEBUG=1 for details")


class Terminated(BaseException):
    """A termination signal arrived. A BaseException, like KeyboardInterrupt, so that it
    unwinds through every ``atomic_output`` (removing its temporary file) and no
    ``except Exception`` stops it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, frame: object) -> None:
    raise Terminated(signum)


def clean_up_on_signals() -> None:
    """Turn SIGTERM and SIGHUP (``timeout``, ``kill``, a closed terminal) into
    :class:`Terminated`, as SIGINT already becomes KeyboardInterrupt."""
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _terminate)


def _stdout_closed() -> None:
    """The reader of stdout went away (``nwc info x.nwc | head``): stop quietly, as cat does.
    stdout is pointed at /dev/null so the interpreter's final flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(1)


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"nwc: error: {message}", err=True)
    sys.exit(code)


@contextlib.contextmanager
def open_input(path: str) -> Iterator[BinaryIO]:
    """Open ``path`` for binary reading; '-' is stdin."""
    if path == "-":
        yield sys.stdin.buffer
        return
    if os.path.isdir(path):
        raise NwcodecError(f"{path} is a directory")
    with open(path, "rb") as handle:
        yield handle


@contextlib.contextmanager
def open_output(
    path: str, force: bool, protect: Iterable[tuple[int, int]] = ()
) -> Iterator[BinaryIO]:
    """Open ``path`` for atomic binary writing; '-' is stdout. ``protect``: ids
    (:func:`nwcodec.files.file_id`) of inputs that the output must never replace."""
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with atomic_output(path, force=force, protect=protect) as handle:
        yield handle


def input_ids(paths: Iterable[str]) -> set[tuple[int, int]]:
    """File ids of the inputs ('-' is stdin's file, if it is one) for ``protect``."""
    ids = (file_id(0 if p == "-" else p) for p in paths)
    return {i for i in ids if i is not None}
