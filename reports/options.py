"""What every ``gradproof`` command sets up the same way: comma-separated name
options, and where Hypothesis and JAX keep their files."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click


def comma_separated(known: Sequence[str], what: str = ""
                    ) -> Callable[[Any, Any, str | None], tuple[str, ...] | None]:
    """A click callback that splits ``a,b,c`` and refuses names not in ``known``
    (``None``, an option left unset, passes through)."""
    label = f"{what}: " if what else ""

    def parse(ctx: Any, param: Any, value: str | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        names = tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
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
    """Logging for a command, and Hypothesis's files in the user's cache."""
    set_up_logging(verbose)
    keep_hypothesis_files_in_cache()


def set_up_logging(verbose: bool) -> None:
    """Warnings, or with ``verbose`` what the harness does, on stderr."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def keep_hypothesis_files_in_cache() -> None:
    """Hypothesis's files in the user's cache instead of ``.hypothesis`` in the
    current folder (unless the user chose a place)."""
    from hypothesis.configuration import set_hypothesis_home_dir

    if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        set_hypothesis_home_dir(cache_directory() / "hypothesis")


def check_outputs(paths: dict[str, str | os.PathLike[str] | None]) -> None:
    """Refuse output paths, by option name, that could not be written, before any
    work is done: empty, not a regular file, in a folder that cannot be
    written, or one file named by two options.

    A folder is tried as the writers will use it: a temporary file is created
    in it and removed (an existing output is left untouched; a folder still to
    be made is tried at its nearest existing ancestor)."""
    from manual_backprop import InvalidArgument
    from reports.outputs import check_output_path

    given = {flag: path for flag, path in paths.items() if path is not None}
    for flag, path in given.items():
        if not str(path).strip():
            raise InvalidArgument(f"{flag} is empty: give a file name")
        try:
            check_output_path(path)
        except OSError as error:
            raise InvalidArgument(f"{flag} {path}: {error.strerror}; choose a file "
                                  "name") from None
        ancestor = Path(os.path.realpath(path)).parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        reason = None if ancestor.is_dir() else "not a folder"
        if reason is None:
            try:
                _try_writing_in(ancestor, Path(os.path.realpath(path)).name)
            except OSError as error:
                reason = f"making a file there failed: {error.strerror or error}"
        if reason is not None:
            raise InvalidArgument(f"{flag} {path}: cannot write in {ancestor} "
                                  f"({reason}); choose a writable folder")
    resolved = [os.path.realpath(p) for p in given.values()]
    if len(set(resolved)) < len(resolved):
        raise InvalidArgument(f"{', '.join(given)} name the same file; give each "
                              "its own")


def _try_writing_in(folder: Path, name: str) -> None:
    """Create a temporary file next to where ``name`` goes in ``folder``, as the
    writers do, and remove it; ``OSError`` if it cannot be created."""
    import tempfile

    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.",
                                         suffix=".tmp")
    os.close(handle)
    os.unlink(temporary)
