"""Errors a user can act on.

An ``AoError`` is printed as one line (no traceback) by the CLI and shown in a
notification by the TUI. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class AoError(Exception):
    """A user-facing error: one line saying what is wrong and where."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class ConfigError(AoError):
    """The config file is malformed or names something that does not exist.

    ``location`` reads ``file:line`` and ``field`` is the dotted key path.
    """

    exit_code = 2

    def __init__(self, file: str, line: int | None, field: str | None, problem: str) -> None:
        where = f"{file}:{line}" if line else file
        what = f" {field}:" if field else ""
        super().__init__(f"{where}:{what} {problem}")
        self.file, self.line, self.field, self.problem = file, line, field, problem


class NotFound(AoError):
    exit_code = 3


class InvalidName(AoError):
    """A session id, branch or path that could escape its root or break a command."""

    exit_code = 2


class TransitionRefused(AoError):
    """The state machine refused an impossible status change."""

    exit_code = 4


class PluginError(AoError):
    exit_code = 5
