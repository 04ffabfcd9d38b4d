"""The harness's one exception family, and the one place arguments are checked."""

from __future__ import annotations


class GradproofError(Exception):
    """Base of every error the harness raises on purpose."""


class InvalidArgument(GradproofError, ValueError):
    """An argument, architecture or array is not what the harness accepts.

    The message says what was given, what was expected and what to do next.
    """


def check_argument(condition: bool, message: str) -> None:
    """Raise :class:`InvalidArgument` with ``message`` unless ``condition``."""
    if not condition:
        raise InvalidArgument(message)
