"""The one error every command raises to stop: kept apart so that ``sovgw`` itself and light
commands (``scan``) start without importing the configuration model."""

from __future__ import annotations


class CommandError(Exception):
    """A command cannot finish as asked: ``main`` prints ``error: <message>`` on stderr and
    exits with ``status`` (2: a usage error, the default; 1: refused or failed)."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status
