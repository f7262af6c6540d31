"""Helpers shared by the CLI verbs: exit codes, the error mapping, and repeated options.

Exit codes:
    0 when the verb did what was asked; ``USAGE_ERROR_EXIT`` (2) when an option value or an input
    layout is wrong, before anything long runs; ``RUNTIME_ERROR_EXIT`` (1) when a run with good
    options fails (an unreadable or unwritable path, too many bad inputs). Both end in an
    ``Error: ...`` line that names the path or value at fault.

One place maps exceptions to those codes: :func:`maps_errors`, applied to every verb right under
``@click.command``::

    @click.command("preprocess")
    @maps_errors(usage=(LayoutError,))
    @data_dir_option(help="The dataset as its publisher ships it.")
    def command(data_dir: str) -> None: ...

Inside a verb, raise :class:`UsageProblem` or :class:`RuntimeProblem` (or let a library's error
listed in ``usage``/``runtime`` propagate) with a message that names the value or path; the
decorator turns it into the right click exception. ``click.UsageError``/``click.BadParameter``
raised directly pass through unchanged (exit 2). Anything else is a bug and keeps its traceback.

Options that several verbs share (same name, type and meaning everywhere) are decorator factories
here: ``--data-dir`` (:func:`data_dir_option`), ``--output-dir`` (:func:`output_dir_option`),
``--num-classes`` (:func:`num_classes_option`) and ``--video-frames`` (:func:`video_frames_option`,
the length of a synthetic video, as opposed to ``--frames``, the frames per clip fed to a model).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

USAGE_ERROR_EXIT = 2  # click.UsageError.exit_code
RUNTIME_ERROR_EXIT = 1  # click.ClickException.exit_code

F = TypeVar("F", bound=Callable[..., Any])
ExceptionTypes = tuple[type[BaseException], ...]


class UsageProblem(ValueError):
    """A wrong option value or input layout: exit 2. The message names the value or path."""


class RuntimeProblem(RuntimeError):
    """A run with good options that failed: exit 1. The message names the path at fault."""


def maps_errors(usage: ExceptionTypes = (), runtime: ExceptionTypes = ()) -> Callable[[F], F]:
    """Maps a verb's exceptions to click's exit codes; the one place that does so.

    Args:
        usage: Extra exception types that mean a usage error (exit 2), e.g. a library's
            ``LayoutError``. Checked before the runtime types, so listing ``FileNotFoundError``
            here makes a missing input a usage error although it is an ``OSError``.
        runtime: Extra exception types that mean a runtime failure (exit 1).

    Returns:
        A decorator for a click command's callback. Always mapped as well: :class:`UsageProblem`
        to exit 2; :class:`RuntimeProblem` and ``OSError`` to exit 1. click's own exceptions and
        ``ctx.exit()`` pass through, even when a listed type (say ``RuntimeError``) covers them.
    """
    usage_types = (UsageProblem, *usage)
    runtime_types = (RuntimeProblem, OSError, *runtime)

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except (click.ClickException, click.exceptions.Exit, click.Abort):
                raise
            except usage_types as error:
                raise click.UsageError(_message(error)) from error
            except runtime_types as error:
                raise click.ClickException(_message(error)) from error

        return wrapper  # type: ignore[return-value]

    return decorate


def _message(error: BaseException) -> str:
    """``error``'s text; an ``OSError`` reads ``PATH: reason`` like other Unix tools' errors."""
    if isinstance(error, OSError) and error.strerror and error.filename is not None:
        paths = (path for path in (error.filename, error.filename2) if path is not None)
        return f"{' -> '.join(map(str, paths))}: {error.strerror}"
    return str(error) or type(error).__name__


def data_dir_option(*, help: str, required: bool = True) -> Callable[[F], F]:
    """``--data-dir``: an input dataset directory (raw for preprocess, TFRecords for fit)."""
    return click.option(
        "--data-dir", required=required, type=click.Path(file_okay=False), help=help
    )


def output_dir_option(*, help: str) -> Callable[[F], F]:
    """``--output-dir``: the directory a verb writes; ``--output`` is kept for single files."""
    return click.option("--output-dir", required=True, type=click.Path(file_okay=False), help=help)


def num_classes_option(*, help: str, default: int | None = None) -> Callable[[F], F]:
    """``--num-classes``: a class count, at least 1; ``None`` leaves it to the verb."""
    return click.option("--num-classes", default=default, type=click.IntRange(min=1), help=help)


def video_frames_option(*, help: str, default: int = 32) -> Callable[[F], F]:
    """``--video-frames``: the length of a synthetic video (two frames make the shortest motion)."""
    return click.option("--video-frames", default=default, type=click.IntRange(min=2), help=help)
