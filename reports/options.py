"""What every ``gradproof`` command sets up the same way: comma-separated name
options, and where Hypothesis and JAX keep their files."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
from hypothesis.configuration import set_hypothesis_home_dir


def comma_separated(known: Sequence[str], what: str = ""
                    ) -> Callable[[Any, Any, str | None], tuple[str, ...] | None]:
    """A click callback that splits ``a,b,c`` and refuses names not in ``known``
    (``None``, an option left unset, passes through)."""
    label = f"{what}: " if what else ""

    def parse(ctx: Any, param: Any, value: str | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        names = tuple(n.strip() for n in value.split(",") if n.strip())
        unknown = [n for n in names if n not in known]
        if unknown or not names:
            raise click.BadParameter(f"got {value!r}; expected a comma-separated list "
                                     f"of {label}{', '.join(known)}")
        return names
    return parse


def cache_directory() -> Path:
    """gradproof's folder in the user's cache (``$XDG_CACHE_HOME`` or ``~/.cache``)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "gradproof"


def set_up_command(verbose: bool) -> None:
    """Logging for a command, and Hypothesis's files in the user's cache instead
    of ``.hypothesis`` in the current folder (unless the user chose a place)."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        set_hypothesis_home_dir(cache_directory() / "hypothesis")
