"""What the ``infonas`` command groups share: one-line failures, list options, JSON output, logging.

Only ``infonas.cli`` and ``infonas.cli_bench`` import this module; keeping it apart lets the
``bench`` group live in its own module without an import cycle between the two.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, NoReturn

import click

from infonas.exceptions import InfonasError

#: Errors a command reports as one line, without a traceback. ``ValueError`` stays for the
#: argument checks of the library that do not raise an ``InfonasError`` yet; ``OSError`` for
#: files that cannot be read or written.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (InfonasError, ValueError, OSError)


def fail(message: str) -> NoReturn:
    """End the command with ``Error: message`` on stderr and exit status 1."""
    raise click.ClickException(message)


def parse_list(text: str) -> list[str]:
    """The non-empty items of a comma-separated option value."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise click.BadParameter("expected a comma-separated list")
    return items


def write_json(path: str | Path, payload: Any) -> None:
    """Write ``payload`` as indented JSON, atomically (a crash leaves the old file or none)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(payload, indent=2) + "\n")
    temporary.replace(path)


class _EchoHandler(logging.Handler):
    """Writes records with ``click.echo`` to the stderr of the moment, not the one at setup."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:  # a log line must never end a command
            self.handleError(record)


def configure_logging(level: int = logging.WARNING) -> None:
    """Show the library's log records of ``level`` and above as bare lines on stderr.

    The library only logs (``logging.getLogger(__name__)``); the CLI owns the process, so it
    decides where records go. Does nothing if the root logger already has handlers.
    """
    handler = _EchoHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
